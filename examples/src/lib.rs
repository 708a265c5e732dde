//! Runnable examples for Kamaelia for Rust. Each example is a binary target of this crate with
//! its own documented command line; this library holds only what several of them share.
#![forbid(unsafe_code)]
