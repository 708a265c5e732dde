//! Line framing: a byte stream cut at `\n` (a `\r` before it dropped too), each line at most a
//! maximum length, so a client that never sends a newline cannot grow memory.

use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Next, Outbox};
use bytes::{Buf, Bytes, BytesMut};

/// Longest line accepted when none is given: 64 KiB.
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// A line longer than the maximum arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineTooLong {
    /// The maximum, in bytes, without the line ending.
    pub max: usize,
}

impl std::fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a line is longer than the maximum of {} bytes", self.max)
    }
}

impl std::error::Error for LineTooLong {}

/// A push parser for lines, for bytes arriving in any split. It holds at most one maximum
/// line (plus what arrived with it) at a time.
///
/// ```
/// use kamaelia_net::framing::LineDecoder;
///
/// let mut lines = LineDecoder::new(80);
/// lines.push(b"hello\r\nwor");
/// assert_eq!(lines.next_line().unwrap().as_deref(), Some(&b"hello"[..]));
/// assert_eq!(lines.next_line().unwrap(), None);
/// lines.push(b"ld\n");
/// assert_eq!(lines.next_line().unwrap().as_deref(), Some(&b"world"[..]));
/// ```
#[derive(Debug)]
pub struct LineDecoder {
    max: usize,
    buffer: BytesMut,
    /// Bytes of `buffer` already searched for a newline.
    searched: usize,
}

impl LineDecoder {
    /// Lines of at most `max` bytes (without the line ending).
    pub fn new(max: usize) -> Self {
        LineDecoder {
            max,
            buffer: BytesMut::new(),
            searched: 0,
        }
    }

    /// Adds bytes from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete line, without its ending. A line over the maximum is an error (and
    /// its bytes are dropped), found as soon as more than the maximum has arrived without a
    /// newline.
    pub fn next_line(&mut self) -> Result<Option<Bytes>, LineTooLong> {
        let found = self.buffer[self.searched..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|at| self.searched + at);
        let Some(end) = found else {
            self.searched = self.buffer.len();
            // A `\r` may still be followed by its `\n`: it does not count against the maximum.
            let content = self.buffer.len() - usize::from(self.buffer.ends_with(b"\r"));
            if content > self.max {
                self.buffer.clear();
                self.searched = 0;
                return Err(LineTooLong { max: self.max });
            }
            return Ok(None);
        };
        let mut line = self.buffer.split_to(end + 1);
        self.searched = 0;
        line.truncate(end);
        if line.ends_with(b"\r") {
            line.truncate(line.len() - 1);
        }
        if line.len() > self.max {
            return Err(LineTooLong { max: self.max });
        }
        Ok(Some(line.freeze()))
    }

    /// At the end of the stream: the last line if it had no newline (`None` if nothing is
    /// left). It is within the maximum, or `next_line` would have said so.
    pub fn finish(&mut self) -> Option<Bytes> {
        self.searched = 0;
        let mut rest = std::mem::take(&mut self.buffer);
        if rest.ends_with(b"\r") {
            rest.truncate(rest.len() - 1);
        }
        (!rest.is_empty()).then(|| rest.freeze())
    }

    /// Bytes buffered and not yet returned as lines.
    pub fn buffered(&self) -> usize {
        self.buffer.remaining()
    }
}

/// A byte stream in (any split), its lines out (without their endings; a last line without a
/// newline is sent at the end). A line over the maximum is an error on `signal` and stops it —
/// what a line-based protocol's connection wants.
#[derive(Boxes)]
pub struct LineSplitter {
    /// Stream bytes.
    pub inbox: Inbox<Bytes>,
    /// `ProducerFinished` at end of stream.
    pub control: Inbox<Control>,
    /// Lines.
    pub outbox: Outbox<Bytes>,
    /// Forwards the end, or says why it stopped.
    pub signal: Outbox<Control>,
    decoder: LineDecoder,
}

impl LineSplitter {
    /// Lines of at most `max` bytes.
    pub fn new(max: usize) -> Self {
        LineSplitter {
            inbox: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            decoder: LineDecoder::new(max),
        }
    }
}

impl Default for LineSplitter {
    /// Lines of at most [`DEFAULT_MAX_LINE`] bytes.
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE)
    }
}

impl Component for LineSplitter {
    async fn main(mut self) -> Result<(), ComponentError> {
        loop {
            match self.inbox.next_or_control(&mut self.control).await {
                Next::Data(bytes) => {
                    self.decoder.push(&bytes);
                    loop {
                        match self.decoder.next_line() {
                            Ok(Some(line)) => self.outbox.send(line).await?,
                            Ok(None) => break,
                            Err(e) => {
                                self.signal.send(Control::failed("LineSplitter", e)).await?;
                                return Ok(());
                            }
                        }
                    }
                }
                Next::Control(c) => {
                    if let (Control::ProducerFinished, Some(last)) = (&c, self.decoder.finish()) {
                        self.outbox.send(last).await?;
                    }
                    self.signal.send(c).await?;
                    return Ok(());
                }
            }
        }
    }
}
