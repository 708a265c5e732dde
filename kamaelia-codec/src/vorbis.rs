//! `VorbisDecode`: Ogg Vorbis packets (or raw Ogg bytes) to PCM, with lewton.

use crate::ogg::{OggDemuxer, OggEvent, OggPacket};
use crate::page::OggDamage;
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, LogLimit, Next, Outbox};
use bytes::Bytes;
use lewton::audio::{PreviousWindowRight, read_audio_packet_generic};
use lewton::header::{
    IdentHeader, SetupHeader, read_header_comment, read_header_ident, read_header_setup,
};
use lewton::samples::InterleavedSamples;

/// Decoded samples, interleaved by channel.
#[derive(Clone, Debug, PartialEq)]
pub enum PcmSamples {
    /// 16-bit signed.
    I16(Vec<i16>),
    /// 32-bit float in −1.0 ..= 1.0.
    F32(Vec<f32>),
}

impl PcmSamples {
    /// Samples in all channels together.
    pub fn len(&self) -> usize {
        match self {
            PcmSamples::I16(s) => s.len(),
            PcmSamples::F32(s) => s.len(),
        }
    }
    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A block of decoded audio.
#[derive(Clone, Debug, PartialEq)]
pub struct PcmBlock {
    /// Frames per second.
    pub sample_rate: u32,
    /// Channels, interleaved in `samples`.
    pub channels: u16,
    /// The samples.
    pub samples: PcmSamples,
}

impl PcmBlock {
    /// Frames (samples per channel) in the block.
    pub fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels.max(1))
    }
}

/// What the decoder tells its listeners besides audio.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeNotice {
    /// A stream starts (or a chained link changes format): what the PCM that follows is.
    Format {
        /// The logical stream's serial number.
        serial: u32,
        /// Frames per second.
        sample_rate: u32,
        /// Channels.
        channels: u16,
    },
    /// Audio arrived before a complete set of headers (a stream joined mid-way): it is skipped
    /// until the next stream start.
    WaitingForHeaders {
        /// The serial of the audio being skipped.
        serial: u32,
    },
    /// A packet could not be decoded (damage); it is skipped and decoding goes on.
    BadPacket {
        /// The stream.
        serial: u32,
        /// Why.
        reason: String,
    },
    /// The Ogg layer skipped damaged bytes.
    Damage {
        /// Input offset of the damage.
        offset: u64,
        /// Bytes skipped.
        skipped: u64,
        /// Why.
        reason: &'static str,
    },
}

impl std::fmt::Display for DecodeNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeNotice::Format {
                serial,
                sample_rate,
                channels,
            } => write!(
                f,
                "stream {serial:#x}: {sample_rate} Hz, {channels} channel(s)"
            ),
            DecodeNotice::WaitingForHeaders { serial } => write!(
                f,
                "stream {serial:#x}: audio before its headers is skipped until a stream starts"
            ),
            DecodeNotice::BadPacket { serial, reason } => {
                write!(
                    f,
                    "stream {serial:#x}: a packet could not be decoded ({reason}); skipped"
                )
            }
            DecodeNotice::Damage {
                offset,
                skipped,
                reason,
            } => write!(
                f,
                "{skipped} damaged byte(s) skipped at offset {offset}: {reason}"
            ),
        }
    }
}

impl From<OggDamage> for DecodeNotice {
    fn from(d: OggDamage) -> Self {
        DecodeNotice::Damage {
            offset: d.offset,
            skipped: d.skipped,
            reason: d.reason,
        }
    }
}

enum State {
    /// No stream start seen yet (or the last one ended).
    Idle,
    Ident(Box<IdentHeader>),
    Comment(Box<IdentHeader>),
    Ready {
        ident: Box<IdentHeader>,
        setup: Box<SetupHeader>,
        window: PreviousWindowRight,
        /// Granule position reached so far (None until the first audio packet).
        position: Option<u64>,
    },
}

/// Reads a comment header with lewton after checking that every length in it fits the packet:
/// lewton allocates what the vendor length says before reading it, so a forged header could
/// ask for 4 GiB (found by fuzzing the RTP depayloader).
pub(crate) fn read_comment_header(packet: &[u8]) -> Result<lewton::header::CommentHeader, String> {
    fn fits(packet: &[u8]) -> bool {
        let u32_at = |at: usize| {
            packet
                .get(at..at + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        };
        let Some(vendor) = u32_at(7) else {
            return false;
        };
        let mut at = 11usize.saturating_add(vendor);
        let Some(count) = u32_at(at) else {
            return false;
        };
        at += 4;
        if count > packet.len().saturating_sub(at) / 4 {
            return false;
        }
        for _ in 0..count {
            let Some(length) = u32_at(at) else {
                return false;
            };
            at = at.saturating_add(4).saturating_add(length);
        }
        at <= packet.len()
    }
    if !fits(packet) {
        return Err("a length in the comment header runs past its end".into());
    }
    read_header_comment(packet).map_err(|e| format!("{e:?}"))
}

/// Values the codebooks of one setup header may expand to (4 bytes each once decoded):
/// real encoders use a few thousand; a forged header could ask lewton for petabytes.
const MAX_CODEBOOK_VALUES: u64 = 1 << 22;

/// Entries all the codebooks of one setup header may have: lewton builds a Huffman tree node
/// per entry (real encoders' headers total tens of thousands; a 16-byte ordered codebook can
/// announce 16 M).
const MAX_CODEBOOK_ENTRIES: u64 = 1 << 21;

/// Reads a setup header with lewton after walking its codebooks to check that what lewton
/// would allocate is bounded: the multiplicands a codebook announces must be in the packet,
/// and all codebooks together may expand to at most [`MAX_CODEBOOK_VALUES`] values.
pub(crate) fn read_setup_header(
    packet: &[u8],
    channels: u8,
    blocksizes: (u8, u8),
) -> Result<SetupHeader, String> {
    check_codebooks(packet)?;
    read_header_setup(packet, channels, blocksizes).map_err(|e| format!("{e:?}"))
}

/// LSB-first bits, as Vorbis packs them.
struct Bits<'a> {
    bytes: &'a [u8],
    at: u64,
}

impl Bits<'_> {
    fn left(&self) -> u64 {
        (self.bytes.len() as u64 * 8).saturating_sub(self.at)
    }
    fn read(&mut self, bits: u32) -> Result<u64, String> {
        if u64::from(bits) > self.left() {
            return Err("the setup header ends inside a codebook".into());
        }
        let mut value = 0u64;
        for k in 0..bits {
            let at = self.at + u64::from(k);
            let bit = (self.bytes[(at / 8) as usize] >> (at % 8)) & 1;
            value |= u64::from(bit) << k;
        }
        self.at += u64::from(bits);
        Ok(value)
    }
}

fn check_codebooks(packet: &[u8]) -> Result<(), String> {
    let mut bits = Bits {
        bytes: packet,
        at: 7 * 8,
    };
    let count = bits.read(8)? + 1;
    let (mut total, mut all_entries) = (0u64, 0u64);
    for _ in 0..count {
        if bits.read(24)? != 0x56_4342 {
            return Err("a codebook without its sync pattern".into());
        }
        let dimensions = bits.read(16)?;
        let entries = bits.read(24)?;
        all_entries += entries;
        if all_entries > MAX_CODEBOOK_ENTRIES {
            return Err("the codebooks have more than 2 M entries".into());
        }
        if bits.read(1)? == 1 {
            bits.read(5)?;
            let mut entry = 0;
            while entry < entries {
                entry += bits.read(64 - (entries - entry).leading_zeros())?;
            }
        } else {
            let sparse = bits.read(1)? == 1;
            for _ in 0..entries {
                if !sparse || bits.read(1)? == 1 {
                    bits.read(5)?;
                }
            }
        }
        let lookup = bits.read(4)?;
        if lookup == 0 {
            continue;
        }
        bits.read(64)?;
        let value_bits = bits.read(4)? + 1;
        bits.read(1)?;
        if dimensions == 0 {
            return Err("a codebook with a lookup table of no dimensions".into());
        }
        let values = if lookup == 1 {
            // lookup1_values: the largest r with r^dimensions <= entries.
            let fits = |r: u64| {
                r.checked_pow(dimensions as u32)
                    .is_some_and(|p| p <= entries)
            };
            let mut r = (entries as f64).powf(1.0 / dimensions as f64).floor() as u64;
            while r > 0 && !fits(r) {
                r -= 1;
            }
            while fits(r + 1) {
                r += 1;
            }
            r
        } else {
            entries.saturating_mul(dimensions)
        };
        if values.saturating_mul(value_bits) > bits.left() {
            return Err("a codebook announces more values than the header holds".into());
        }
        bits.at += values * value_bits;
        total = total.saturating_add(entries.saturating_mul(dimensions));
        if total > MAX_CODEBOOK_VALUES {
            return Err("the codebooks would expand to more than 4 M values".into());
        }
    }
    Ok(())
}

/// The decoding state machine behind [`VorbisDecode`]: feed it Ogg packets in order.
pub struct VorbisDecoder {
    state: State,
    serial: Option<u32>,
    f32: bool,
    waiting_reported: bool,
    /// The current stream's header packets, to recognise a repeat of them.
    headers: Vec<Bytes>,
}

impl std::fmt::Debug for VorbisDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VorbisDecoder").finish_non_exhaustive()
    }
}

impl Default for VorbisDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl VorbisDecoder {
    /// A decoder producing 16-bit samples.
    pub fn new() -> Self {
        VorbisDecoder {
            state: State::Idle,
            serial: None,
            f32: false,
            waiting_reported: false,
            headers: Vec::new(),
        }
    }

    /// A decoder producing 32-bit float samples.
    pub fn new_f32() -> Self {
        VorbisDecoder {
            f32: true,
            ..Self::new()
        }
    }

    /// Decodes one packet: maybe a notice, maybe audio.
    pub fn packet(&mut self, packet: &OggPacket) -> (Option<DecodeNotice>, Option<PcmBlock>) {
        if self.is_repeated_header(packet) {
            // A sender repeating its headers for late joiners (multicast): nothing changes.
            return (None, None);
        }
        if packet.bos {
            self.headers.clear();
            self.headers.push(packet.data.clone());
            self.serial = Some(packet.serial);
            self.waiting_reported = false;
            return match read_header_ident(&packet.data) {
                Ok(ident) => {
                    self.state = State::Ident(Box::new(ident));
                    (None, None)
                }
                Err(e) => {
                    self.state = State::Idle;
                    (
                        Some(bad(packet.serial, format!("not a Vorbis stream: {e:?}"))),
                        None,
                    )
                }
            };
        }
        if self.serial != Some(packet.serial) {
            // Another logical stream (or a stream joined mid-way): not ours to decode.
            return (self.waiting(packet.serial), None);
        }
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Idle => (self.waiting(packet.serial), None),
            State::Ident(ident) => match read_comment_header(&packet.data) {
                Ok(_) => {
                    self.headers.push(packet.data.clone());
                    self.state = State::Comment(ident);
                    (None, None)
                }
                Err(e) => (
                    Some(bad(packet.serial, format!("bad comment header: {e}"))),
                    None,
                ),
            },
            State::Comment(ident) => {
                match read_setup_header(
                    &packet.data,
                    ident.audio_channels,
                    (ident.blocksize_0, ident.blocksize_1),
                ) {
                    Ok(setup) => {
                        self.headers.push(packet.data.clone());
                        let notice = DecodeNotice::Format {
                            serial: packet.serial,
                            sample_rate: ident.audio_sample_rate,
                            channels: u16::from(ident.audio_channels),
                        };
                        self.state = State::Ready {
                            ident,
                            setup: Box::new(setup),
                            window: PreviousWindowRight::new(),
                            position: None,
                        };
                        (Some(notice), None)
                    }
                    Err(e) => (
                        Some(bad(packet.serial, format!("bad setup header: {e}"))),
                        None,
                    ),
                }
            }
            State::Ready {
                ident,
                setup,
                mut window,
                position,
            } => {
                let result = self.audio(&ident, &setup, &mut window, position, packet);
                let (notice, block, position) = match result {
                    Ok((block, position)) => (None, block, position),
                    Err(reason) => (Some(bad(packet.serial, reason)), None, position),
                };
                if !packet.eos {
                    self.state = State::Ready {
                        ident,
                        setup,
                        window,
                        position,
                    };
                }
                (notice, block)
            }
        }
    }

    /// Decodes an audio packet; the block (none for the first, which only primes the window)
    /// and the new position.
    fn audio(
        &self,
        ident: &IdentHeader,
        setup: &SetupHeader,
        window: &mut PreviousWindowRight,
        position: Option<u64>,
        packet: &OggPacket,
    ) -> Result<(Option<PcmBlock>, Option<u64>), String> {
        let channels = usize::from(ident.audio_channels);
        let page_position = u64::try_from(packet.granule).ok();
        // The first audio packet only primes the overlap window: it has no output, and the
        // stream's sample count starts at 0 after it. (Taking the page's granule position here
        // instead would be wrong when that page is also the last: the end-of-stream trim would
        // then cut real audio.)
        let Some(position) = position else {
            read_audio_packet_generic::<Vec<Vec<f32>>>(ident, setup, &packet.data, window)
                .map_err(|e| format!("{e:?}"))?;
            return Ok((None, Some(0)));
        };
        // lewton interleaves as it decodes; the stream's last packet is then trimmed.
        let trim = |decoded: usize| frames_to_keep(decoded, position, page_position, packet.eos);
        let samples = if self.f32 {
            PcmSamples::F32(decode_interleaved(ident, setup, window, packet, trim)?)
        } else {
            PcmSamples::I16(decode_interleaved(ident, setup, window, packet, trim)?)
        };
        let frames = samples.len() / channels.max(1);
        // The page's granule position is authoritative where a page ends; between, count.
        let next = if packet.last_in_page {
            page_position.or(Some(position + frames as u64))
        } else {
            Some(position + frames as u64)
        };
        Ok((
            Some(PcmBlock {
                sample_rate: ident.audio_sample_rate,
                channels: u16::from(ident.audio_channels),
                samples,
            }),
            next,
        ))
    }

    /// A header packet identical to one of the current stream's, while decoding it. (Audio
    /// packets have the low bit of their first byte clear; header packets have it set.)
    fn is_repeated_header(&self, packet: &OggPacket) -> bool {
        matches!(self.state, State::Ready { .. })
            && self.serial == Some(packet.serial)
            && packet.data.first().is_some_and(|b| b & 1 == 1)
            && self.headers.contains(&packet.data)
    }

    fn waiting(&mut self, serial: u32) -> Option<DecodeNotice> {
        if self.waiting_reported {
            return None;
        }
        self.waiting_reported = true;
        Some(DecodeNotice::WaitingForHeaders { serial })
    }
}

/// Decodes one audio packet to interleaved samples, keeping `keep(decoded frames)` frames.
fn decode_interleaved<S: lewton::samples::Sample>(
    ident: &IdentHeader,
    setup: &SetupHeader,
    window: &mut PreviousWindowRight,
    packet: &OggPacket,
    keep: impl Fn(usize) -> usize,
) -> Result<Vec<S>, String> {
    let mut decoded: InterleavedSamples<S> =
        read_audio_packet_generic(ident, setup, &packet.data, window)
            .map_err(|e| format!("{e:?}"))?;
    let channels = decoded.channel_count.max(1);
    let frames = keep(decoded.samples.len() / channels);
    decoded.samples.truncate(frames * channels);
    Ok(decoded.samples)
}

/// The last packet of a stream is cut so the stream ends exactly at its final granule position
/// (what the Vorbis specification asks, and what libvorbis does).
fn frames_to_keep(decoded: usize, position: u64, page_position: Option<u64>, eos: bool) -> usize {
    match (eos, page_position) {
        (true, Some(end)) => decoded.min(end.saturating_sub(position) as usize),
        _ => decoded,
    }
}

fn bad(serial: u32, reason: String) -> DecodeNotice {
    DecodeNotice::BadPacket { serial, reason }
}

/// Ogg Vorbis to PCM blocks. Takes Ogg packets on `packets` (from an [`OggDemux`](crate::OggDemux))
/// or raw Ogg bytes on `inbox`; sends [`PcmBlock`]s on `outbox`, and on `notices` a
/// [`DecodeNotice::Format`] before the audio of each stream (a chained file's next link may
/// change rate and channels), damage and bad packets (skipped; decoding goes on), and
/// [`DecodeNotice::WaitingForHeaders`] when audio arrives before any headers (a stream joined
/// mid-way). `ProducerFinished` on `control` ends it after everything queued.
#[derive(Boxes)]
#[doc(alias = "OggVorbisDecode")]
pub struct VorbisDecode {
    /// Raw Ogg bytes, in any split.
    pub inbox: Inbox<Bytes>,
    /// Ogg packets.
    pub packets: Inbox<OggPacket>,
    /// `ProducerFinished` at the end of the input.
    pub control: Inbox<Control>,
    /// Decoded audio.
    pub outbox: Outbox<PcmBlock>,
    /// Formats, damage, and waits for headers (logged instead when nothing is linked here:
    /// damage and bad packets as warnings).
    pub notices: Outbox<DecodeNotice>,
    /// Forwards the end of the input.
    pub signal: Outbox<Control>,
    decoder: VorbisDecoder,
    demuxer: OggDemuxer,
}

impl Default for VorbisDecode {
    fn default() -> Self {
        Self::with_decoder(VorbisDecoder::new())
    }
}

impl VorbisDecode {
    /// A decoder producing 32-bit float samples instead of 16-bit.
    pub fn f32() -> Self {
        Self::with_decoder(VorbisDecoder::new_f32())
    }

    /// Sets the most bytes held for Ogg packets not yet complete (see
    /// [`OggDemuxer::max_packet`]; default [`DEFAULT_MAX_PACKET`](crate::DEFAULT_MAX_PACKET)).
    pub fn max_packet(mut self, bytes: usize) -> Self {
        self.demuxer = self.demuxer.max_packet(bytes);
        self
    }

    fn with_decoder(decoder: VorbisDecoder) -> Self {
        VorbisDecode {
            inbox: Inbox::new(),
            packets: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            notices: Outbox::new(),
            signal: Outbox::new(),
            decoder,
            demuxer: OggDemuxer::new(),
        }
    }

    /// Notices are information and never block audio: sent when something listens on
    /// `notices`, else (or when it is full) logged — damage and bad packets as warnings, the
    /// rest at debug level — so nothing is skipped silently.
    fn notice(&self, notice: DecodeNotice) {
        let undelivered = self.notices.offer(notice);
        match undelivered {
            Some(n @ (DecodeNotice::BadPacket { .. } | DecodeNotice::Damage { .. })) => {
                static LIMIT: LogLimit = LogLimit::new(std::time::Duration::from_secs(1));
                if let Some(held_back) = LIMIT.check() {
                    tracing::warn!(notice = %n, held_back, "VorbisDecode skipped input");
                }
            }
            Some(n) => tracing::debug!(notice = ?n, "VorbisDecode"),
            None => {}
        }
    }

    async fn decode(&mut self, packet: &OggPacket) -> Result<(), ComponentError> {
        let (notice, block) = self.decoder.packet(packet);
        if let Some(notice) = notice {
            self.notice(notice);
        }
        if let Some(block) = block.filter(|b| !b.samples.is_empty()) {
            self.outbox.send(block).await?;
        }
        Ok(())
    }

    async fn drain_demuxer(&mut self) -> Result<(), ComponentError> {
        while let Some(event) = self.demuxer.next_event() {
            match event {
                OggEvent::Packet(packet) => self.decode(&packet).await?,
                OggEvent::Damage(d) => self.notice(d.into()),
            }
        }
        Ok(())
    }
}

impl Component for VorbisDecode {
    async fn main(mut self) -> Result<(), ComponentError> {
        loop {
            tokio::select! {
                biased;
                packet = self.packets.recv() => self.decode(&packet).await?,
                next = self.inbox.next_or_control(&mut self.control) => match next {
                    Next::Data(bytes) => {
                        self.demuxer.push(&bytes);
                        self.drain_demuxer().await?;
                    }
                    Next::Control(message) => {
                        while let Some(packet) = self.packets.try_recv() {
                            self.decode(&packet).await?;
                        }
                        if let Some(d) = self.demuxer.finish() {
                            self.notice(d.into());
                        }
                        self.signal.send(message).await?;
                        return Ok(());
                    }
                },
            }
        }
    }
}
