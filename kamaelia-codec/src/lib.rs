//! Pure transformation components for Kamaelia: no sockets, no devices.
//!
//! Built so far:
//! - [`MimeDict`]: an RFC 2822-style header block plus a body — header order and repeated
//!   headers kept, folded lines unfolded on parse, and an exact round trip for what it renders.
//! - [`Marshaller`]: the paper's generic marshalling component (`marshall` / `demarshall` in,
//!   `marshalled` / `demarshalled` out) for any [`Marshal`] type.
//!
//! **Not built yet** (issue 7): OggDemux and VorbisDecode.
#![forbid(unsafe_code)]

mod marshaller;
mod mimedict;

pub use marshaller::{Marshal, Marshaller};
pub use mimedict::{MimeDict, MimeError, MimeErrorKind};
