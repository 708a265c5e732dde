//! A Vorbis stream's configuration as RTP carries it (RFC 5215 §3): the three header packets,
//! the 24-bit ident that names them, their packed form (for SDP's `configuration=` and in-band
//! delivery), and what the RTP timestamps need — each audio packet's length in samples.

use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};
use std::fmt;

/// Why header packets (or a packed configuration) cannot configure a Vorbis stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub(crate) String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad Vorbis configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

fn bad(why: impl Into<String>) -> ConfigError {
    ConfigError(why.into())
}

/// Headers longer than this together travel with a minimal comment header (base64 in an SDP
/// line grows by a third: this keeps the line under 16 KiB).
const MAX_PACKED_HEADERS: usize = 11 * 1024;

/// A comment header with no vendor and no comments.
const MINIMAL_COMMENT: &[u8] = b"\x03vorbis\x00\x00\x00\x00\x00\x00\x00\x00\x01";

/// The three Vorbis header packets of one stream and what RTP needs from them.
#[derive(Clone, PartialEq, Eq)]
pub struct VorbisConfig {
    ident: u32,
    headers: [Bytes; 3],
    sample_rate: u32,
    channels: u8,
    /// Short and long block sizes, in samples.
    blocksizes: (u32, u32),
    /// Per mode: uses the long block.
    long_modes: Vec<bool>,
}

impl fmt::Debug for VorbisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VorbisConfig")
            .field("ident", &format_args!("{:#08x}", self.ident))
            .field("sample_rate", &self.sample_rate)
            .field("channels", &self.channels)
            .field("modes", &self.long_modes.len())
            .finish()
    }
}

impl VorbisConfig {
    /// Checks the identification, comment and setup headers (with lewton) and reads what the
    /// payload format needs. The ident is derived from the headers, so the same headers (a
    /// looping source's next link) keep the same ident.
    pub fn from_headers(id: Bytes, comment: Bytes, setup: Bytes) -> Result<Self, ConfigError> {
        let ident_header = lewton::header::read_header_ident(&id)
            .map_err(|e| bad(format!("identification header: {e:?}")))?;
        crate::vorbis::read_comment_header(&comment)
            .map_err(|e| bad(format!("comment header: {e}")))?;
        crate::vorbis::read_setup_header(
            &setup,
            ident_header.audio_channels,
            (ident_header.blocksize_0, ident_header.blocksize_1),
        )
        .map_err(|e| bad(format!("setup header: {e}")))?;
        let long_modes = mode_blockflags(&setup)
            .ok_or_else(|| bad("setup header: the mode list at its end cannot be found"))?;
        // A comment header with cover art would make the SDP line longer than players read
        // (ffmpeg stops at 16 KiB): RTP carries a minimal one instead (RFC 5215 allows it).
        let comment = if id.len() + comment.len() + setup.len() > MAX_PACKED_HEADERS {
            Bytes::from_static(MINIMAL_COMMENT)
        } else {
            comment
        };
        let mut config = VorbisConfig {
            ident: 0,
            headers: [id, comment, setup],
            sample_rate: ident_header.audio_sample_rate,
            channels: ident_header.audio_channels,
            blocksizes: (1 << ident_header.blocksize_0, 1 << ident_header.blocksize_1),
            long_modes,
        };
        config.ident = crate::ogg_crc(&config.packed_header(0)) & 0x00ff_ffff;
        Ok(config)
    }

    /// The same headers under another ident (24 bits; higher bits are dropped).
    pub fn with_ident(mut self, ident: u32) -> Self {
        self.ident = ident & 0x00ff_ffff;
        self
    }

    /// The 24-bit ident that names this configuration in every payload.
    pub fn ident(&self) -> u32 {
        self.ident
    }

    /// Identification, comment and setup header packets.
    pub fn headers(&self) -> &[Bytes; 3] {
        &self.headers
    }

    /// Samples per second per channel (the RTP clock rate).
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Audio channels.
    pub fn channels(&self) -> u8 {
        self.channels
    }

    /// The samples an audio packet adds after the previous one: a quarter of each of the two
    /// blocks that overlap (`previous_long`: the previous packet's block; `None` for the first
    /// packet of a stream, which adds none). `None` when it is not a valid audio packet.
    pub fn packet_samples(
        &self,
        packet: &[u8],
        previous_long: Option<bool>,
    ) -> Option<(u32, bool)> {
        let long = self.is_long(packet)?;
        let size = |long: bool| {
            if long {
                self.blocksizes.1
            } else {
                self.blocksizes.0
            }
        };
        let samples = previous_long.map_or(0, |previous| size(previous) / 4 + size(long) / 4);
        Some((samples, long))
    }

    /// Whether an audio packet uses the long block (its mode's flag).
    fn is_long(&self, packet: &[u8]) -> Option<bool> {
        let first = *packet.first()?;
        if first & 1 != 0 {
            return None; // a header packet
        }
        let bits = ilog(self.long_modes.len() as u32 - 1);
        let mut mode = 0usize;
        for i in 0..bits {
            let at = 1 + i as usize;
            let bit = packet.get(at / 8).map_or(0, |b| (b >> (at % 8)) & 1);
            mode |= usize::from(bit) << i;
        }
        self.long_modes.get(mode).copied()
    }

    /// One packed header (RFC 5215 §3.2.1): ident, the headers' total length, how many
    /// headers follow minus one and the first two lengths (base-128), then the headers.
    fn packed_header(&self, ident: u32) -> Bytes {
        let [id, comment, setup] = &self.headers;
        let total = id.len() + comment.len() + setup.len();
        let mut out = BytesMut::with_capacity(total + 16);
        out.put_uint(u64::from(ident), 3);
        out.put_u16(total.min(usize::from(u16::MAX)) as u16);
        put_base128(&mut out, 2);
        put_base128(&mut out, id.len());
        put_base128(&mut out, comment.len());
        out.extend_from_slice(id);
        out.extend_from_slice(comment);
        out.extend_from_slice(setup);
        out.freeze()
    }

    /// The packed configuration for SDP: a count of packed headers (one), then this one.
    pub fn packed(&self) -> Bytes {
        let header = self.packed_header(self.ident);
        let mut out = BytesMut::with_capacity(header.len() + 4);
        out.put_u32(1);
        out.extend_from_slice(&header);
        out.freeze()
    }

    /// The packed headers as an in-band configuration payload's data (RFC 5215 §3.1): the
    /// headers' total length (which doubles as the payload's packet length), then the lacing
    /// and the headers. Fragmented, the pieces carry what follows that length (each piece has
    /// its own), as GStreamer and VLC read them.
    pub(crate) fn inband(&self) -> Bytes {
        self.packed_header(self.ident).slice(3..)
    }

    /// SDP `a=rtpmap` and `a=fmtp` lines for payload type `pt` (ffmpeg needs the
    /// `configuration=` parameter).
    ///
    /// ```no_run
    /// # fn f(config: kamaelia_codec::rtp::VorbisConfig) {
    /// let lines = config.sdp_attributes(96);
    /// assert!(lines.contains("a=rtpmap:96 vorbis/44100/2"));
    /// # }
    /// ```
    pub fn sdp_attributes(&self, pt: u8) -> String {
        let configuration = base64::engine::general_purpose::STANDARD.encode(self.packed());
        format!(
            "a=rtpmap:{pt} vorbis/{}/{}\r\na=fmtp:{pt} delivery-method=inline; configuration={configuration};\r\n",
            self.sample_rate, self.channels
        )
    }

    /// Reads the `configuration=` parameter of an SDP `a=fmtp:` line (the text after
    /// `a=fmtp:PT `, parameters separated by `;`).
    pub fn from_fmtp(parameters: &str) -> Result<Self, ConfigError> {
        let encoded = parameters
            .split(';')
            .find_map(|p| p.trim().strip_prefix("configuration="))
            .ok_or_else(|| bad("no configuration= parameter"))?;
        let packed = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|e| bad(format!("configuration= is not base64: {e}")))?;
        Self::from_packed(&packed, true)
    }

    /// Reads a packed configuration: the SDP form (with its count) when `counted`, else one
    /// packed header (ident first).
    pub fn from_packed(bytes: &[u8], counted: bool) -> Result<Self, ConfigError> {
        let mut rest = bytes;
        if counted {
            let count = take(&mut rest, 4)?;
            if count != [0, 0, 0, 1] {
                return Err(bad("only one packed header is supported"));
            }
        }
        let ident = take(&mut rest, 3)?;
        let ident = u32::from_be_bytes([0, ident[0], ident[1], ident[2]]);
        Self::from_inband(ident, rest)
    }

    /// Reads an in-band configuration's data (after the ident): the headers' length, then
    /// the lacing and the headers.
    pub(crate) fn from_inband(ident: u32, bytes: &[u8]) -> Result<Self, ConfigError> {
        let mut rest = bytes;
        let length = take(&mut rest, 2)?;
        let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
        Self::from_laced(ident, rest, Some(length))
    }

    /// Reads the lacing and headers of a configuration (a fragmented in-band one has no length
    /// in front: `length` is `None`).
    pub(crate) fn from_laced(
        ident: u32,
        bytes: &[u8],
        length: Option<usize>,
    ) -> Result<Self, ConfigError> {
        let mut rest = bytes;
        let count = get_base128(&mut rest)?;
        if count != 2 {
            return Err(bad(format!("{} headers, expected 3", count + 1)));
        }
        let first = get_base128(&mut rest)?;
        let second = get_base128(&mut rest)?;
        // `length` counts the headers (clamped to 16 bits when they are longer).
        if length.is_some_and(|l| rest.len() != l && !(l == 65535 && rest.len() > l)) {
            return Err(bad("the headers' length does not match"));
        }
        if first.saturating_add(second) > rest.len() {
            return Err(bad("header lengths exceed the data"));
        }
        let data = Bytes::copy_from_slice(rest);
        let id = data.slice(..first);
        let comment = data.slice(first..first + second);
        let setup = data.slice(first + second..);
        Ok(Self::from_headers(id, comment, setup)?.with_ident(ident))
    }
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], ConfigError> {
    if rest.len() < n {
        return Err(bad("cut short"));
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

/// RFC 5215's length coding: 7 bits a byte, most significant first, high bit set on all but
/// the last byte.
fn put_base128(out: &mut BytesMut, mut value: usize) {
    let mut groups = vec![(value & 0x7f) as u8];
    value >>= 7;
    while value > 0 {
        groups.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    groups.reverse();
    out.extend_from_slice(&groups);
}

fn get_base128(rest: &mut &[u8]) -> Result<usize, ConfigError> {
    let mut value = 0usize;
    for _ in 0..4 {
        let byte = take(rest, 1)?[0];
        value = (value << 7) | usize::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(bad("a length longer than 4 bytes"))
}

/// Bits needed to write `x` (Vorbis I §9.2.1).
fn ilog(x: u32) -> u32 {
    32 - x.leading_zeros()
}

/// The modes' block flags, read from the end of a setup header.
///
/// The modes are the last thing in a setup header — a 6-bit count less one, then per mode a
/// block flag, two 16-bit fields that must be zero and an 8-bit mapping, then the framing bit
/// — but finding their start means parsing every codebook, floor, residue and mapping before
/// them. Instead this walks back from the framing bit over 41-bit entries whose two 16-bit
/// fields are zero, keeping the largest count whose preceding 6-bit field agrees: the approach
/// of liboggz and ffmpeg, and reliable on real encoders' output. The caller checks the result
/// against granule positions, so an unusual stream costs timestamp precision, never a failure.
fn mode_blockflags(setup: &[u8]) -> Option<Vec<bool>> {
    let bit = |i: usize| (setup[i / 8] >> (i % 8)) & 1 == 1;
    let field = |from: usize, bits: usize| {
        (0..bits).fold(0u32, |value, k| value | (u32::from(bit(from + k)) << k))
    };
    let total = setup.len() * 8;
    let framing = (0..total).rev().find(|&i| bit(i))?;
    let floor = 7 * 8; // packet type and "vorbis"
    let mut found = None;
    for count in 1..=64usize {
        let Some(start) = framing.checked_sub(41 * count) else {
            break;
        };
        if start < floor + 6 {
            break;
        }
        // The entry that begins at `start`: flag, window type, transform type, mapping.
        if field(start + 1, 16) != 0 || field(start + 17, 16) != 0 {
            break;
        }
        if field(start - 6, 6) as usize == count - 1 {
            found = Some((start, count));
        }
    }
    let (start, count) = found?;
    Some((0..count).map(|k| bit(start + 41 * k)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base128_round_trips() {
        for value in [0usize, 1, 127, 128, 300, 16_383, 16_384, 1 << 20] {
            let mut out = BytesMut::new();
            put_base128(&mut out, value);
            let mut slice = &out[..];
            assert_eq!(get_base128(&mut slice).unwrap(), value);
            assert!(slice.is_empty());
        }
    }

    #[test]
    fn ilog_matches_the_spec() {
        assert_eq!(
            [ilog(0), ilog(1), ilog(2), ilog(3), ilog(4)],
            [0, 1, 2, 2, 3]
        );
    }
}
