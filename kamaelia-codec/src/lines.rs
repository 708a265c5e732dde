//! Line framing: a byte stream cut at `\n` (a `\r` before it dropped too), each line at most a
//! maximum length, so a sender that never sends a newline cannot grow memory. kamaelia-net's
//! `LineSplitter` runs it on sockets.

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
/// use kamaelia_codec::lines::LineDecoder;
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
