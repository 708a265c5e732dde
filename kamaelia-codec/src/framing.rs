//! Length-prefixed frames (a 4-byte big-endian length, then the payload): a push decoder for
//! bytes in any split, and the encoder. kamaelia-net's `Framer` and `Deframer` components run
//! them on sockets.
//!
//! The decoder is ours rather than tokio-util's `LengthDelimitedCodec`: that codec reserves the
//! whole announced frame as soon as the length prefix arrives, so one forged prefix costs the
//! maximum frame size in memory before a byte of payload is sent. Here the buffer grows only as
//! payload arrives, and the maximum itself is capped at [`MAX_FRAME_CEILING`].

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Largest frame accepted when none is given: 1 MiB.
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;

/// The largest maximum frame size a decoder or encoder accepts: 64 MiB. A larger maximum is
/// lowered to this (and refused by the example servers' `--max-frame`): every connection may
/// hold one frame this size while it arrives.
pub const MAX_FRAME_CEILING: usize = 64 << 20;

/// Bytes in a frame's length prefix (big-endian `u32`).
const PREFIX: usize = 4;

/// A push parser for length-prefixed frames (4-byte big-endian length, then the payload), for
/// bytes arriving in any split. Memory held is what has arrived of the current frame, never
/// what its prefix announces.
///
/// ```
/// use kamaelia_codec::framing::FrameDecoder;
///
/// let mut decoder = FrameDecoder::new(1024);
/// decoder.push(&[0, 0, 0, 5, b'h', b'e']);
/// assert_eq!(decoder.next_frame().unwrap(), None);
/// decoder.push(b"llo");
/// assert_eq!(decoder.next_frame().unwrap().as_deref(), Some(&b"hello"[..]));
/// assert!(decoder.finish().is_ok());
/// ```
#[derive(Debug)]
pub struct FrameDecoder {
    max_frame: usize,
    buffer: BytesMut,
    /// The length of the frame whose prefix has been read and whose payload is awaited.
    expecting: Option<usize>,
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
    /// A decoder accepting frames of at most `max_frame` bytes (at most
    /// [`MAX_FRAME_CEILING`]: a larger value is lowered to it).
    pub fn new(max_frame: usize) -> Self {
        FrameDecoder {
            max_frame: max_frame.min(MAX_FRAME_CEILING),
            buffer: BytesMut::new(),
            expecting: None,
        }
    }

    /// The largest frame accepted.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Adds bytes from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete frame, if one is buffered. After an error the stream cannot be
    /// resynchronised (a length prefix has no capture pattern): stop reading it.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        let length = match self.expecting {
            Some(length) => length,
            None => {
                if self.buffer.len() < PREFIX {
                    return Ok(None);
                }
                let length = u32::from_be_bytes([
                    self.buffer[0],
                    self.buffer[1],
                    self.buffer[2],
                    self.buffer[3],
                ]) as usize;
                if length > self.max_frame {
                    return Err(FrameError::TooLong {
                        max: self.max_frame,
                    });
                }
                self.buffer.advance(PREFIX);
                self.expecting = Some(length);
                length
            }
        };
        if self.buffer.len() < length {
            return Ok(None);
        }
        self.expecting = None;
        Ok(Some(self.buffer.split_to(length).freeze()))
    }

    /// At end of stream: an error if a frame was left unfinished.
    pub fn finish(&self) -> Result<(), FrameError> {
        let prefix = if self.expecting.is_some() { PREFIX } else { 0 };
        match self.buffer.len() + prefix {
            0 => Ok(()),
            pending => Err(FrameError::Truncated { pending }),
        }
    }

    /// Bytes buffered and not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }
}

/// Encodes one frame (4-byte big-endian length, then the payload); a payload over `max_frame`
/// (or over [`MAX_FRAME_CEILING`]) is refused.
pub fn encode_frame(payload: Bytes, max_frame: usize) -> Result<Bytes, FrameError> {
    let max = max_frame.min(MAX_FRAME_CEILING);
    if payload.len() > max {
        return Err(FrameError::TooLong { max });
    }
    let mut out = BytesMut::with_capacity(payload.len() + PREFIX);
    out.put_u32(payload.len() as u32);
    out.extend_from_slice(&payload);
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announced_frame_is_not_reserved_before_it_arrives() {
        let mut decoder = FrameDecoder::new(MAX_FRAME_CEILING);
        decoder.push(&((60u32 << 20).to_be_bytes()));
        decoder.push(b"0123456789");
        assert!(matches!(decoder.next_frame(), Ok(None)));
        assert!(
            decoder.buffer.capacity() < 4096,
            "{} bytes reserved for 10 that arrived",
            decoder.buffer.capacity()
        );
    }

    #[test]
    fn a_maximum_above_the_ceiling_is_lowered_to_it() {
        let mut decoder = FrameDecoder::new(usize::MAX);
        assert_eq!(decoder.max_frame(), MAX_FRAME_CEILING);
        decoder.push(&[0xff; 4]);
        assert!(matches!(
            decoder.next_frame(),
            Err(FrameError::TooLong {
                max: MAX_FRAME_CEILING
            })
        ));
    }
}
