//! RTCP (RFC 3550 §6): the sender report a server sends every few seconds (wall clock ↔ RTP
//! time, packets and bytes sent) with the SDES CNAME a compound packet must carry, and the
//! receiver report a client sends back (loss and jitter).

use bytes::{BufMut, Bytes, BytesMut};

/// Seconds from 1900 (NTP's epoch) to 1970 (Unix's).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A wall-clock time as NTP's 64-bit fixed point (seconds since 1900 . fraction).
pub fn ntp_time(at: std::time::SystemTime) -> u64 {
    let since = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs() + NTP_UNIX_OFFSET;
    let fraction = (u64::from(since.subsec_nanos()) << 32) / 1_000_000_000;
    (seconds << 32) | fraction
}

/// What a sender report says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderReport {
    /// The sender's SSRC.
    pub ssrc: u32,
    /// Wall-clock time of the report ([`ntp_time`]).
    pub ntp: u64,
    /// The RTP timestamp that corresponds to `ntp`.
    pub rtp_time: u32,
    /// RTP packets sent so far.
    pub packets: u32,
    /// Payload bytes sent so far.
    pub octets: u32,
}

impl SenderReport {
    /// The compound packet: the report, then SDES with `cname`.
    ///
    /// ```
    /// use kamaelia_codec::rtp::{SenderReport, parse_sender_report};
    /// let report = SenderReport { ssrc: 9, ntp: 1 << 40, rtp_time: 48_000, packets: 10, octets: 4000 };
    /// assert_eq!(parse_sender_report(&report.to_bytes("server@example")), Some(report));
    /// ```
    pub fn to_bytes(&self, cname: &str) -> Bytes {
        let mut out = BytesMut::with_capacity(64);
        out.put_u8(0x80); // V=2, no padding, no reception blocks
        out.put_u8(200);
        out.put_u16(6);
        out.put_u32(self.ssrc);
        out.put_u64(self.ntp);
        out.put_u32(self.rtp_time);
        out.put_u32(self.packets);
        out.put_u32(self.octets);
        put_sdes(&mut out, self.ssrc, cname);
        out.freeze()
    }
}

/// One reception report block: how a receiver hears a source.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceptionReport {
    /// The source reported on.
    pub ssrc: u32,
    /// Fraction lost since the last report, out of 256.
    pub fraction_lost: u8,
    /// Packets lost in all (24 bits).
    pub lost: u32,
    /// Highest sequence number received, extended with its wrap count.
    pub highest_sequence: u32,
    /// Interarrival jitter, in RTP timestamp units.
    pub jitter: u32,
}

/// A receiver report from `ssrc` about one source, with SDES `cname`.
pub fn receiver_report(ssrc: u32, block: &ReceptionReport, cname: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(64);
    out.put_u8(0x81); // V=2, one reception block
    out.put_u8(201);
    out.put_u16(7);
    out.put_u32(ssrc);
    out.put_u32(block.ssrc);
    out.put_u8(block.fraction_lost);
    out.put_uint(u64::from(block.lost.min(0x00ff_ffff)), 3);
    out.put_u32(block.highest_sequence);
    out.put_u32(block.jitter);
    out.put_u32(0); // last SR: not tracked
    out.put_u32(0); // delay since last SR
    put_sdes(&mut out, ssrc, cname);
    out.freeze()
}

fn put_sdes(out: &mut BytesMut, ssrc: u32, cname: &str) {
    let cname = &cname.as_bytes()[..cname.len().min(255)];
    // SSRC, CNAME item (type, length, text), end of items, padded to 32 bits.
    let items = 4 + 2 + cname.len() + 1;
    let padded = items.div_ceil(4) * 4;
    out.put_u8(0x81);
    out.put_u8(202);
    out.put_u16((padded / 4) as u16);
    out.put_u32(ssrc);
    out.put_u8(1);
    out.put_u8(cname.len() as u8);
    out.extend_from_slice(cname);
    out.put_bytes(0, padded - items + 1);
}

/// The sender report in a compound RTCP packet, if there is one.
pub fn parse_sender_report(bytes: &[u8]) -> Option<SenderReport> {
    let mut rest = bytes;
    while rest.len() >= 4 {
        let length = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        if rest[0] >> 6 != 2 || length > rest.len() {
            return None;
        }
        if rest[1] == 200 && length >= 28 {
            let word = |at: usize| {
                u32::from_be_bytes([rest[at], rest[at + 1], rest[at + 2], rest[at + 3]])
            };
            return Some(SenderReport {
                ssrc: word(4),
                ntp: (u64::from(word(8)) << 32) | u64::from(word(12)),
                rtp_time: word(16),
                packets: word(20),
                octets: word(24),
            });
        }
        rest = &rest[length..];
    }
    None
}

/// True when `bytes` look like RTCP (version 2, a packet type of 200–204) rather than RTP.
pub fn is_rtcp(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && bytes[0] >> 6 == 2 && (200..=204).contains(&bytes[1])
}
