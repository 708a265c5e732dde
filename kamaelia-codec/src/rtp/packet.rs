//! RTP packets (RFC 3550 §5.1): the fixed header, CSRCs, an optional header extension and
//! padding around a payload. Parsing never panics and refuses what is not version 2.

use bytes::{BufMut, Bytes, BytesMut};
use std::fmt;

/// The fixed RTP header's size.
pub const RTP_HEADER: usize = 12;

/// One RTP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpPacket {
    /// The marker bit (its meaning is the payload format's; RFC 5215 leaves it clear).
    pub marker: bool,
    /// Payload type (dynamic types are 96–127).
    pub payload_type: u8,
    /// Sequence number: +1 per packet, wrapping.
    pub sequence: u16,
    /// Media time of the payload's first sample, at the payload format's clock rate.
    pub timestamp: u32,
    /// Synchronisation source: the sender's random id.
    pub ssrc: u32,
    /// The payload, without padding.
    pub payload: Bytes,
}

/// Why bytes are not an RTP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpError(&'static str);

impl fmt::Display for RtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an RTP packet: {}", self.0)
    }
}

impl std::error::Error for RtpError {}

impl RtpPacket {
    /// Parses one packet (a whole datagram, or one interleaved frame).
    ///
    /// ```
    /// use kamaelia_codec::rtp::RtpPacket;
    /// let packet = RtpPacket { marker: false, payload_type: 96, sequence: 7, timestamp: 960,
    ///     ssrc: 0x1234, payload: bytes::Bytes::from_static(b"vorbis") };
    /// assert_eq!(RtpPacket::parse(&packet.to_bytes()), Ok(packet));
    /// assert!(RtpPacket::parse(b"GET / HTTP/1.1").is_err());
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<RtpPacket, RtpError> {
        if bytes.len() < RTP_HEADER {
            return Err(RtpError("shorter than the 12-byte header"));
        }
        if bytes[0] >> 6 != 2 {
            return Err(RtpError("version is not 2"));
        }
        let padding = bytes[0] & 0x20 != 0;
        let extension = bytes[0] & 0x10 != 0;
        let csrcs = usize::from(bytes[0] & 0x0f);
        let mut start = RTP_HEADER + 4 * csrcs;
        if extension {
            let Some(words) = bytes.get(start + 2..start + 4) else {
                return Err(RtpError("header extension cut short"));
            };
            start += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
        }
        let mut end = bytes.len();
        if padding {
            let pad = usize::from(*bytes.last().unwrap_or(&0));
            if pad == 0 || pad > end.saturating_sub(start) {
                return Err(RtpError("padding longer than the payload"));
            }
            end -= pad;
        }
        if start > end {
            return Err(RtpError("headers longer than the packet"));
        }
        Ok(RtpPacket {
            marker: bytes[1] & 0x80 != 0,
            payload_type: bytes[1] & 0x7f,
            sequence: u16::from_be_bytes([bytes[2], bytes[3]]),
            timestamp: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            ssrc: u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
            payload: Bytes::copy_from_slice(&bytes[start..end]),
        })
    }

    /// The packet on the wire (no CSRCs, extension or padding).
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(RTP_HEADER + self.payload.len());
        out.put_u8(0x80);
        out.put_u8(u8::from(self.marker) << 7 | (self.payload_type & 0x7f));
        out.put_u16(self.sequence);
        out.put_u32(self.timestamp);
        out.put_u32(self.ssrc);
        out.extend_from_slice(&self.payload);
        out.freeze()
    }
}
