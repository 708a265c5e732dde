//! Ogg Vorbis over RTP (RFC 3550 packets, RFC 5215 payload format): pure transformations, no
//! sockets — kamaelia-net carries the packets over UDP and RTSP.
//!
//! - [`RtpPacket`]: the RTP header around a payload.
//! - [`VorbisConfig`]: a stream's three headers, their ident and packed form (SDP
//!   `configuration=`, in-band), and each audio packet's length in samples.
//! - [`VorbisPayloader`] / [`RtpVorbisPay`]: Vorbis packets → payloads → RTP packets.
//! - [`VorbisDepayloader`] / [`RtpVorbisDepay`]: RTP packets in any order, some lost →
//!   Vorbis packets for `VorbisDecode`.
//! - [`SenderReport`], [`receiver_report`]: the RTCP reports either end sends.
//!
//! ```
//! use kamaelia_codec::rtp::{DepayEvent, RtpPacket, VorbisDepayloader, VorbisPayloader};
//! use kamaelia_codec::{OggDemuxer, OggEvent};
//!
//! # let ogg = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/tone_44k_stereo.ogg")).unwrap();
//! let mut demuxer = OggDemuxer::new();
//! demuxer.push(&ogg);
//! let (mut pay, mut depay) = (VorbisPayloader::default(), VorbisDepayloader::new());
//! let mut sequence = 0u16;
//! while let Some(OggEvent::Packet(packet)) = demuxer.next_event() {
//!     if pay.push(&packet).unwrap().is_some() {
//!         pay.send_config(); // in-band, for a receiver without the SDP
//!     }
//!     pay.flush();
//!     while let Some(payload) = pay.next_payload() {
//!         depay.push(RtpPacket { marker: false, payload_type: 96, sequence,
//!             timestamp: payload.position as u32, ssrc: 1, payload: payload.data });
//!         sequence = sequence.wrapping_add(1);
//!     }
//! }
//! let mut packets = 0;
//! while let Some(event) = depay.next_event() {
//!     if let DepayEvent::Packet(_) = event { packets += 1; } // on to VorbisDecoder
//! }
//! assert!(packets > 3);
//! ```

mod components;
mod config;
mod depay;
mod packet;
mod pay;
mod rtcp;

pub use components::{RtpVorbisDepay, RtpVorbisPay};
pub use config::{ConfigError, VorbisConfig};
pub use depay::{DEFAULT_JITTER_WINDOW, DepayEvent, MAX_REASSEMBLED, VorbisDepayloader};
pub use packet::{RTP_HEADER, RtpError, RtpPacket};
pub use pay::{DEFAULT_MAX_PAYLOAD, Payload, PayloadKind, VorbisPayloader};
pub use rtcp::{
    ReceptionReport, SenderReport, is_rtcp, ntp_time, parse_sender_report, receiver_report,
};
