//! RTSP 1.0 (RFC 2326) serving live Ogg Vorbis over RTP (RFC 3550, RFC 5215): the paper's next
//! protocol. The payload format is kamaelia-codec's (`kamaelia_codec::rtp`); this module owns
//! the sockets — the RTSP connection, interleaved RTP, UDP — and the sessions.
//!
//! - [`RtspServer`]: accepts connections, one session component each.
//! - [`RtspStream`]: one path's packets, fanned out by reference to its playing sessions.
//! - [`RtspClient`]: plays a URL (over TCP or UDP), for `RtpVorbisDepay`.
//! - [`RtpSender`]: RTP and RTCP sender reports to a UDP destination or multicast group
//!   (with [`describe_multicast`] for the SDP file a receiver opens).
//! - [`parse_message`], [`choose_transport`]: the request grammar and the `Transport` header.
//! - [`describe`]: the SDP.
//!
//! A live source in front of it: `OggPacer` (audio time) → `OggDemux` → `RtpVorbisPay` →
//! `RtspStream` (its `outbox` to `inbox`, its `config` to `config`).

mod client;
mod message;
mod sdp;
mod sender;
mod server;
mod session;
mod stream;
mod transport;

pub use client::RtspClient;
pub use message::{Incoming, MessageError, RtspRequest, parse_message, reason, response};
pub use sdp::{VORBIS_PAYLOAD_TYPE, describe, describe_multicast};
pub use sender::RtpSender;
pub use server::{RtspConfig, RtspServer};
pub use stream::RtspStream;
pub use transport::{Delivery, choose_transport, transport_reply};
