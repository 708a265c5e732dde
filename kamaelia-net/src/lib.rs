//! TCP, UDP and multicast networking components for Kamaelia: a server with a protocol component per connection.
//!
//! **Not built yet.** This crate will hold TcpServer (a protocol component per connection), TcpClient, UDP and multicast transceivers, framing, and the codec-agnostic HTTP live-streaming endpoint. Nothing in it works yet; see issue 6 of the project.
#![forbid(unsafe_code)]
