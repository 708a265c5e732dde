//! A request body as encoders send it: until the connection closes (ffmpeg), of a
//! `Content-Length` (`curl -T file`), or chunked (`curl -T -`). Pushed in any split; chunk
//! sizes parsed by `httparse`.

use crate::http::Request;

/// How the body is delimited, and where the reader is in it.
#[derive(Debug)]
enum Mode {
    UntilClose,
    Length(u64),
    Chunked(Chunk),
}

#[derive(Debug)]
enum Chunk {
    /// Reading a size line.
    Size,
    /// Bytes of chunk data left.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines after the last chunk, up to an empty line.
    Trailers,
    Done,
}

/// The longest chunk-size line (with extensions) or trailer line taken.
const MAX_LINE: usize = 4096;

/// Decodes one request body.
#[derive(Debug)]
pub(crate) struct BodyReader {
    mode: Mode,
    /// A line being read (chunk size or trailer).
    line: Vec<u8>,
}

impl BodyReader {
    /// The body `request` announces. A length that is not a number, or a transfer coding other
    /// than chunked, is an error (the request is answered 400).
    pub(crate) fn for_request(request: &Request) -> Result<BodyReader, String> {
        let mode = if let Some(coding) = request.header("Transfer-Encoding") {
            if !coding.eq_ignore_ascii_case("chunked") {
                return Err(format!("transfer coding {coding:?} is not supported"));
            }
            Mode::Chunked(Chunk::Size)
        } else if let Some(length) = request.header("Content-Length") {
            Mode::Length(
                length
                    .parse()
                    .map_err(|_| format!("Content-Length {length:?} is not a number"))?,
            )
        } else {
            Mode::UntilClose
        };
        Ok(BodyReader {
            mode,
            line: Vec::new(),
        })
    }

    /// Whether the body has ended (by its length or its last chunk).
    pub(crate) fn done(&self) -> bool {
        matches!(self.mode, Mode::Length(0) | Mode::Chunked(Chunk::Done))
    }

    /// Whether the body runs until the connection closes.
    pub(crate) fn until_close(&self) -> bool {
        matches!(self.mode, Mode::UntilClose)
    }

    /// Decodes `input`, appending the body's bytes to `out`. Bytes after the body's end are
    /// ignored. A malformed chunked body is an error.
    pub(crate) fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        while !input.is_empty() {
            match &mut self.mode {
                Mode::UntilClose => {
                    out.extend_from_slice(input);
                    return Ok(());
                }
                Mode::Length(left) => {
                    let take = (*left).min(input.len() as u64) as usize;
                    out.extend_from_slice(&input[..take]);
                    *left -= take as u64;
                    return Ok(());
                }
                Mode::Chunked(chunk) => match chunk {
                    Chunk::Size => {
                        let Some(line) = take_line(&mut self.line, &mut input)? else {
                            continue;
                        };
                        let size = match httparse::parse_chunk_size(&line) {
                            Ok(httparse::Status::Complete((_, size))) => size,
                            _ => {
                                let shown = String::from_utf8_lossy(&line);
                                return Err(format!("bad chunk size line {shown:?}"));
                            }
                        };
                        *chunk = if size == 0 {
                            Chunk::Trailers
                        } else {
                            Chunk::Data(size)
                        };
                    }
                    Chunk::Data(left) => {
                        let take = (*left).min(input.len() as u64) as usize;
                        out.extend_from_slice(&input[..take]);
                        input = &input[take..];
                        *left -= take as u64;
                        if *left == 0 {
                            *chunk = Chunk::DataEnd;
                        }
                    }
                    Chunk::DataEnd => {
                        let Some(line) = take_line(&mut self.line, &mut input)? else {
                            continue;
                        };
                        if line != b"\r\n" {
                            return Err("chunk data longer than its size".into());
                        }
                        *chunk = Chunk::Size;
                    }
                    Chunk::Trailers => {
                        let Some(line) = take_line(&mut self.line, &mut input)? else {
                            continue;
                        };
                        if line == b"\r\n" {
                            *chunk = Chunk::Done;
                        }
                    }
                    Chunk::Done => return Ok(()),
                },
            }
        }
        Ok(())
    }
}

/// Moves bytes from `input` into `line` up to and including a LF; returns the line once whole.
fn take_line(line: &mut Vec<u8>, input: &mut &[u8]) -> Result<Option<Vec<u8>>, String> {
    let end = input.iter().position(|&b| b == b'\n');
    let take = end.map_or(input.len(), |at| at + 1);
    line.extend_from_slice(&input[..take]);
    *input = &input[take..];
    if line.len() > MAX_LINE {
        return Err("chunk size or trailer line too long".into());
    }
    Ok(end.map(|_| std::mem::take(line)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_request;

    fn reader(head: &str) -> BodyReader {
        let (request, _) = parse_request(head.as_bytes()).unwrap().unwrap();
        BodyReader::for_request(&request).unwrap()
    }

    #[test]
    fn a_chunked_body_decodes_in_any_split() {
        let body = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: a\r\n\r\nextra";
        for split in 1..body.len() {
            let mut decoder = reader("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
            let mut out = Vec::new();
            for piece in body.chunks(split) {
                decoder.push(piece, &mut out).unwrap();
            }
            assert_eq!(out, b"hello world", "split {split}");
            assert!(decoder.done());
        }
    }

    #[test]
    fn a_length_body_stops_at_its_length() {
        let mut decoder = reader("PUT / HTTP/1.1\r\nContent-Length: 4\r\n\r\n");
        let mut out = Vec::new();
        decoder.push(b"ab", &mut out).unwrap();
        assert!(!decoder.done());
        decoder.push(b"cdef", &mut out).unwrap();
        assert_eq!(out, b"abcd");
        assert!(decoder.done());
    }

    #[test]
    fn malformed_bodies_are_errors() {
        let mut decoder = reader("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert!(decoder.push(b"zz\r\n", &mut Vec::new()).is_err());
        let mut decoder = reader("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert!(decoder.push(b"2\r\nabc\r\n", &mut Vec::new()).is_err());
        let mut decoder = reader("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert!(decoder.push(&[b'1'; 5000], &mut Vec::new()).is_err());
        let (request, _) = parse_request(b"PUT / HTTP/1.1\r\nContent-Length: x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(BodyReader::for_request(&request).is_err());
        let (request, _) = parse_request(b"PUT / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(BodyReader::for_request(&request).is_err());
    }
}
