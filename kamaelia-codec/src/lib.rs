//! Pure transformation components for Kamaelia: no sockets, no devices.
//!
//! Built so far:
//! - [`MimeDict`]: an RFC 2822-style header block plus a body — header order and repeated
//!   headers kept, folded lines unfolded on parse, and an exact round trip for what it renders.
//! - [`Marshaller`]: the paper's generic marshalling component (`marshall` / `demarshall` in,
//!   `marshalled` / `demarshalled` out) for any [`Marshal`] type.
//! - [`OggDemux`]: bytes in any split → Ogg packets, CRC-checked, resynchronising after damage.
//! - [`OggPager`]: bytes → whole Ogg pages marked for live serving (header pages, join points),
//!   with fresh serials per chain link for looping sources and header repeats for multicast.
//! - [`VorbisDecode`]: Ogg Vorbis packets or bytes → PCM blocks (lewton), announcing each
//!   stream's format, skipping and reporting damage.
#![forbid(unsafe_code)]

mod marshaller;
mod mimedict;
mod ogg;
mod page;
mod pager;
mod vorbis;

pub use marshaller::{Marshal, Marshaller};
pub use mimedict::{MimeDict, MimeError, MimeErrorKind};
pub use ogg::{DEFAULT_MAX_PACKET, OggDamage, OggDemux, OggDemuxer, OggEvent, OggPacket};
pub use page::{OggPage, ogg_crc};
pub use pager::{OggPageReader, OggPager, PageEvent};
pub use vorbis::{DecodeNotice, PcmBlock, PcmSamples, VorbisDecode, VorbisDecoder};
