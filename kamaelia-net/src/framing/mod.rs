//! Framing for byte streams: length-prefixed frames, lines ([`LineSplitter`]) and fixed-size
//! chunks. A frame or line larger than the maximum, or a malformed stream, is a clear error on
//! `signal` and ends that one stream.
//!
//! The components run kamaelia-codec's pure decoders ([`FrameDecoder`], [`LineDecoder`],
//! re-exported here), which never hold more than what has arrived (a forged length prefix
//! costs nothing) and cap any maximum at [`MAX_FRAME_CEILING`].

use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Next, Outbox};
use bytes::Bytes;
use kamaelia_codec::FixedChunks;

mod lines;
pub use kamaelia_codec::framing::{
    DEFAULT_MAX_FRAME, FrameDecoder, FrameError, MAX_FRAME_CEILING, encode_frame,
};
pub use kamaelia_codec::lines::{DEFAULT_MAX_LINE, LineDecoder, LineTooLong};
pub use lines::LineSplitter;

/// Messages in, length-prefixed frames out. A message over the maximum frame size is an
/// error on `signal` (and the end of the stream).
#[derive(Boxes)]
pub struct Framer {
    /// Messages.
    pub inbox: Inbox<Bytes>,
    /// `ProducerFinished` ends it after the inbox is drained.
    pub control: Inbox<Control>,
    /// Frames.
    pub outbox: Outbox<Bytes>,
    /// Forwards the end, or says why it stopped.
    pub signal: Outbox<Control>,
    max_frame: usize,
}

impl Framer {
    /// A framer for messages of at most `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Framer {
            inbox: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            max_frame,
        }
    }
}

impl Component for Framer {
    async fn main(mut self) -> Result<(), ComponentError> {
        loop {
            match self.inbox.next_or_control(&mut self.control).await {
                Next::Data(message) => match encode_frame(message, self.max_frame) {
                    Ok(frame) => self.outbox.send(frame).await?,
                    Err(e) => {
                        self.signal.send(Control::failed("Framer", e)).await?;
                        return Ok(());
                    }
                },
                Next::Control(c) => {
                    self.signal.send(c).await?;
                    return Ok(());
                }
            }
        }
    }
}

/// A byte stream in (any split), the messages of its length-prefixed frames out. An oversize
/// length prefix, or a stream ending inside a frame, is an error on `signal` and stops it.
#[derive(Boxes)]
pub struct Deframer {
    /// Stream bytes.
    pub inbox: Inbox<Bytes>,
    /// `ProducerFinished` at end of stream.
    pub control: Inbox<Control>,
    /// Messages.
    pub outbox: Outbox<Bytes>,
    /// Forwards the end, or says why it stopped.
    pub signal: Outbox<Control>,
    decoder: FrameDecoder,
}

impl Deframer {
    /// A deframer accepting frames of at most `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Deframer {
            inbox: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            decoder: FrameDecoder::new(max_frame),
        }
    }
}

impl Component for Deframer {
    async fn main(mut self) -> Result<(), ComponentError> {
        let outbox = &self.outbox;
        kamaelia_codec::drive(
            "Deframer",
            &mut self.decoder,
            &mut self.inbox,
            &mut self.control,
            &self.signal,
            async |message| Ok(outbox.send(message).await?),
        )
        .await
    }
}

/// A byte stream in, chunks of exactly `size` bytes out (the last one shorter, at the end):
/// the paper's chunking of a stream into fixed-size pieces for framing or datagrams.
#[derive(Boxes)]
pub struct Chunker {
    /// Stream bytes.
    pub inbox: Inbox<Bytes>,
    /// `ProducerFinished` flushes the last, shorter chunk.
    pub control: Inbox<Control>,
    /// Chunks.
    pub outbox: Outbox<Bytes>,
    /// Forwards the end.
    pub signal: Outbox<Control>,
    size: usize,
}

impl Chunker {
    /// Chunks of `size` bytes (at least 1).
    pub fn new(size: usize) -> Self {
        Chunker {
            inbox: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            size: size.max(1),
        }
    }
}

impl Component for Chunker {
    async fn main(mut self) -> Result<(), ComponentError> {
        let outbox = &self.outbox;
        kamaelia_codec::drive(
            "Chunker",
            &mut FixedChunks::new(self.size),
            &mut self.inbox,
            &mut self.control,
            &self.signal,
            async |chunk| Ok(outbox.send(chunk).await?),
        )
        .await
    }
}
