//! Framing for byte streams: length-prefixed frames, lines ([`LineSplitter`]) and fixed-size
//! chunks. A frame or line larger than the maximum, or a malformed stream, is a clear error on
//! `signal` and ends that one stream.
//!
//! The components run kamaelia-codec's pure decoders ([`FrameDecoder`], [`LineDecoder`],
//! re-exported here), which never hold more than what has arrived (a forged length prefix
//! costs nothing) and cap any maximum at [`MAX_FRAME_CEILING`].

use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Next, Outbox};
use bytes::{Bytes, BytesMut};
use kamaelia_codec::PushDecoder;

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
        let boxes = (
            &mut self.inbox,
            &mut self.control,
            &self.outbox,
            &self.signal,
        );
        decode_stream("Deframer", &mut self.decoder, boxes).await
    }
}

/// The loop of every decoding component here: bytes from `inbox` into the decoder, its items
/// out on `outbox`; a decoding error is `Failed` on `signal` (the stream cannot resynchronise);
/// at the end, the decoder's last word, then the end passed on.
pub(crate) async fn decode_stream<D: PushDecoder<Item = Bytes>>(
    component: &str,
    decoder: &mut D,
    (inbox, control, outbox, signal): (
        &mut Inbox<Bytes>,
        &mut Inbox<Control>,
        &Outbox<Bytes>,
        &Outbox<Control>,
    ),
) -> Result<(), ComponentError> {
    loop {
        match inbox.next_or_control(control).await {
            Next::Data(bytes) => {
                decoder.push(&bytes);
                loop {
                    match decoder.next_item() {
                        Ok(Some(item)) => outbox.send(item).await?,
                        Ok(None) => break,
                        Err(e) => {
                            signal.send(Control::failed(component, e)).await?;
                            return Ok(());
                        }
                    }
                }
            }
            Next::Control(c) => {
                let mut last = c;
                if last.is_producer_finished() {
                    match decoder.finish_stream() {
                        Ok(Some(item)) => outbox.send(item).await?,
                        Ok(None) => {}
                        Err(e) => last = Control::failed(component, e),
                    }
                }
                signal.send(last).await?;
                return Ok(());
            }
        }
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
        let mut pending = BytesMut::new();
        loop {
            match self.inbox.next_or_control(&mut self.control).await {
                Next::Data(bytes) => {
                    pending.extend_from_slice(&bytes);
                    while pending.len() >= self.size {
                        self.outbox
                            .send(pending.split_to(self.size).freeze())
                            .await?;
                    }
                }
                Next::Control(c) => {
                    if !pending.is_empty() && c.is_producer_finished() {
                        self.outbox.send(pending.split().freeze()).await?;
                    }
                    self.signal.send(c).await?;
                    return Ok(());
                }
            }
        }
    }
}
