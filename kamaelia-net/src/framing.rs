//! Framing for byte streams: length-prefixed frames (tokio-util's `LengthDelimitedCodec`) and
//! fixed-size chunks. A frame larger than the maximum, or a malformed stream, is a clear error on
//! `signal` and ends that one stream — and nothing is ever allocated from an untrusted length
//! prefix beyond the maximum frame size.

use axon_core::{Boxes, Component, ComponentError, Control, FailureInfo, Inbox, Next, Outbox};
use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

/// Largest frame accepted when none is given: 1 MiB.
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;

fn codec(max_frame: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .max_frame_length(max_frame)
        .big_endian()
        .new_codec()
}

/// A push parser for length-prefixed frames (4-byte big-endian length, then the payload), for
/// bytes arriving in any split.
pub struct FrameDecoder {
    codec: LengthDelimitedCodec,
    buffer: BytesMut,
    /// Bytes pushed and not yet returned in a frame (headers included): the codec keeps a
    /// header it has read in its own state, so the buffer alone cannot say.
    pending: usize,
}

/// Why a stream of frames could not be decoded.
#[derive(Debug)]
#[non_exhaustive]
pub enum FrameError {
    /// A length prefix announced more than the maximum frame size.
    TooLong {
        /// The maximum.
        max: usize,
    },
    /// The stream ended in the middle of a frame.
    Truncated {
        /// Bytes of the unfinished frame (header included).
        pending: usize,
    },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLong { max } => {
                write!(
                    f,
                    "a frame's length prefix exceeds the maximum of {max} bytes"
                )
            }
            FrameError::Truncated { pending } => {
                write!(
                    f,
                    "the stream ended inside a frame ({pending} bytes pending)"
                )
            }
        }
    }
}

impl std::error::Error for FrameError {}

impl FrameDecoder {
    /// A decoder accepting frames of at most `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        FrameDecoder {
            codec: codec(max_frame),
            buffer: BytesMut::new(),
            pending: 0,
        }
    }

    /// Adds bytes from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
        self.pending += bytes.len();
    }

    /// The next complete frame, if one is buffered.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        let max = self.codec.max_frame_length();
        match self.codec.decode(&mut self.buffer) {
            Ok(Some(frame)) => {
                self.pending -= frame.len() + 4;
                Ok(Some(frame.freeze()))
            }
            Ok(None) => Ok(None),
            Err(_) => Err(FrameError::TooLong { max }),
        }
    }

    /// At end of stream: an error if a frame was left unfinished.
    pub fn finish(&self) -> Result<(), FrameError> {
        match self.pending {
            0 => Ok(()),
            pending => Err(FrameError::Truncated { pending }),
        }
    }

    /// Bytes buffered and not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }
}

/// Encodes one frame (4-byte big-endian length, then the payload).
pub fn encode_frame(payload: Bytes, max_frame: usize) -> Result<Bytes, FrameError> {
    let mut out = BytesMut::with_capacity(payload.len() + 4);
    codec(max_frame)
        .encode(payload, &mut out)
        .map_err(|_| FrameError::TooLong { max: max_frame })?;
    Ok(out.freeze())
}

fn failure(component: &str, error: FrameError) -> Control {
    Control::Failed(Box::new(FailureInfo::new(component, error.to_string())))
}

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
                        self.signal.send(failure("Framer", e)).await?;
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
        loop {
            match self.inbox.next_or_control(&mut self.control).await {
                Next::Data(bytes) => {
                    self.decoder.push(&bytes);
                    loop {
                        match self.decoder.next_frame() {
                            Ok(Some(frame)) => self.outbox.send(frame).await?,
                            Ok(None) => break,
                            Err(e) => {
                                self.signal.send(failure("Deframer", e)).await?;
                                return Ok(());
                            }
                        }
                    }
                }
                Next::Control(c) => {
                    let last = match (&c, self.decoder.finish()) {
                        (Control::ProducerFinished, Err(e)) => failure("Deframer", e),
                        _ => c,
                    };
                    self.signal.send(last).await?;
                    return Ok(());
                }
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
                    if !pending.is_empty() && matches!(c, Control::ProducerFinished) {
                        self.outbox.send(pending.split().freeze()).await?;
                    }
                    self.signal.send(c).await?;
                    return Ok(());
                }
            }
        }
    }
}
