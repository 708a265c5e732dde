//! Pure transformation components for Kamaelia: Ogg demux, Vorbis decode, MimeDict marshalling and framing.
//!
//! **Not built yet.** This crate will hold OggDemux, VorbisDecode (lewton), Marshaller and MimeDict, and chunk framing. Nothing in it works yet; see issue 7 of the project.
#![forbid(unsafe_code)]
