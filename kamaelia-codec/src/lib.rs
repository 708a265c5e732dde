//! Pure transformation components for Kamaelia: no sockets, no devices.
//!
//! Ogg Vorbis bytes to PCM, from bytes in any split, with damage reported rather than fatal:
//!
//! ```
//! use kamaelia_codec::{OggDemuxer, OggEvent, VorbisDecoder};
//!
//! let ogg = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/tone_44k_stereo.ogg"))?;
//! let (mut demuxer, mut decoder) = (OggDemuxer::new(), VorbisDecoder::new());
//! demuxer.push(&ogg);
//! let mut frames = 0;
//! while let Some(event) = demuxer.next_event() {
//!     if let OggEvent::Packet(packet) = event {
//!         if let (_, Some(pcm)) = decoder.packet(&packet) {
//!             frames += pcm.frames();
//!         }
//!     }
//! }
//! assert_eq!(frames, 44_100); // one second at 44.1 kHz
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! As components, [`OggDemux`] and [`VorbisDecode`] do the same inside a pipeline.
//!
//! Built so far:
//! - [`MimeDict`]: an RFC 2822-style header block plus a body — header order and repeated
//!   headers kept, folded lines unfolded on parse, and an exact round trip for what it renders.
//! - [`Marshaller`]: the paper's generic marshalling component (`marshall` / `demarshall` in,
//!   `marshalled` / `demarshalled` out) for any [`Marshal`] type.
//! - [`OggDemux`]: bytes in any split → Ogg packets, CRC-checked, resynchronising after damage.
//! - [`OggPager`]: bytes → whole Ogg pages marked for live serving (header pages, join points),
//!   with fresh serials per chain link for looping sources and header repeats for multicast.
//! - [`ChainWriter`]: one chained Ogg stream from origins that come and go (a live source, its
//!   fallback, a relay), each a link players keep decoding across, and a new title as a new
//!   link whose [`Comments`] name it.
//! - [`framing`] and [`lines`]: length-prefixed frames and lines, as push decoders that never
//!   hold more than what arrived (kamaelia-net runs them on sockets).
//! - [`probe`]: codec, rate, channels, bit rate and duration of an Ogg audio file, as a
//!   [`StreamInfo`].
//! - [`VorbisDecode`]: Ogg Vorbis packets or bytes → PCM blocks (lewton), announcing each
//!   stream's format, skipping and reporting damage.
#![forbid(unsafe_code)]

mod chain;
mod comments;
pub mod framing;
pub mod lines;
mod marshaller;
mod mimedict;
mod ogg;
mod page;
mod pager;
mod probe;
mod push;
pub mod rtp;
mod vorbis;

pub use chain::ChainWriter;
pub use comments::Comments;
pub use marshaller::{Marshal, Marshaller};
pub use mimedict::{MimeDict, MimeError, MimeErrorKind};
pub use ogg::{DEFAULT_MAX_PACKET, OggDemux, OggDemuxer, OggEvent, OggPacket};
pub use page::{OggDamage, OggPage, ogg_crc};
pub use pager::{OggPageReader, OggPager, PageEvent};
pub use probe::{AudioCodec, StreamInfo, probe};
pub use push::{FixedChunks, PushDecoder, drive};
pub use vorbis::{DecodeNotice, PcmBlock, PcmSamples, VorbisDecode, VorbisDecoder};
