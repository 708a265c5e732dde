//! RTSP 1.0 messages (RFC 2326): requests read from a byte buffer under a size limit,
//! interleaved binary frames (`$`, channel, length) told apart from them, and responses.
//! httparse insists on `HTTP/1.x`, so the small request grammar is ours (and fuzzed).

use bytes::Bytes;
use std::fmt;

/// One request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtspRequest {
    /// `OPTIONS`, `DESCRIBE`, `SETUP`, …
    pub method: String,
    /// The request URI (`rtsp://host:port/path`, or `*`).
    pub uri: String,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes).
    pub body: Bytes,
}

impl RtspRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `CSeq`, echoed in the response.
    pub fn cseq(&self) -> Option<&str> {
        self.header("CSeq")
    }
}

/// What arrived on an RTSP connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A request.
    Request(RtspRequest),
    /// An interleaved binary frame (RTCP from a client playing over TCP).
    Frame {
        /// Its channel.
        channel: u8,
        /// Its bytes.
        data: Bytes,
    },
}

/// Why bytes are not an RTSP request; the status a client is answered with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageError {
    /// Malformed (400).
    Malformed(&'static str),
    /// Not RTSP/1.0 (505).
    Version,
    /// The head (or body) is larger than allowed (400, then the connection closes).
    TooLarge,
}

impl MessageError {
    /// The response status.
    pub fn status(&self) -> u16 {
        match self {
            MessageError::Version => 505,
            _ => 400,
        }
    }
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::Malformed(why) => write!(f, "malformed request: {why}"),
            MessageError::Version => write!(f, "not RTSP/1.0"),
            MessageError::TooLarge => write!(f, "request too large"),
        }
    }
}

impl std::error::Error for MessageError {}

/// Most header fields a request may carry.
const MAX_HEADERS: usize = 64;

/// Reads one message from the start of `buffer`: `Ok(None)` while it is incomplete, else the
/// message and the bytes it used. `max_head` bounds a request's head and body alike.
///
/// ```
/// use kamaelia_net::rtsp::{Incoming, parse_message};
/// let (message, used) = parse_message(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n", 8192)
///     .unwrap()
///     .unwrap();
/// let Incoming::Request(request) = message else { unreachable!() };
/// assert_eq!((request.method.as_str(), request.cseq(), used), ("OPTIONS", Some("1"), 31));
/// assert_eq!(parse_message(b"OPTIONS * RTSP/1.0\r\n", 8192), Ok(None));
/// ```
pub fn parse_message(
    buffer: &[u8],
    max_head: usize,
) -> Result<Option<(Incoming, usize)>, MessageError> {
    if buffer.first() == Some(&b'$') {
        if buffer.len() < 4 {
            return Ok(None);
        }
        let length = usize::from(u16::from_be_bytes([buffer[2], buffer[3]]));
        if buffer.len() < 4 + length {
            return Ok(None);
        }
        let data = Bytes::copy_from_slice(&buffer[4..4 + length]);
        return Ok(Some((
            Incoming::Frame {
                channel: buffer[1],
                data,
            },
            4 + length,
        )));
    }
    let Some(end) = find_head_end(buffer) else {
        return if buffer.len() > max_head {
            Err(MessageError::TooLarge)
        } else {
            Ok(None)
        };
    };
    if end > max_head {
        return Err(MessageError::TooLarge);
    }
    let head = std::str::from_utf8(&buffer[..end])
        .map_err(|_| MessageError::Malformed("the head is not UTF-8"))?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ').filter(|p| !p.is_empty());
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(MessageError::Malformed(
            "the request line is not METHOD URI VERSION",
        ));
    };
    if !method
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(MessageError::Malformed("the method is not a token"));
    }
    if !version.starts_with("RTSP/") {
        return Err(MessageError::Malformed("the version is not RTSP/x.y"));
    }
    if version != "RTSP/1.0" {
        return Err(MessageError::Version);
    }
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(MessageError::Malformed("a header line without a colon"));
        };
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(MessageError::Malformed("a header name that is not a token"));
        }
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(MessageError::Malformed(
                "a control character in a header value",
            ));
        }
        if headers.len() == MAX_HEADERS {
            return Err(MessageError::TooLarge);
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let length = match headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
    {
        Some((_, v)) => v
            .parse::<usize>()
            .map_err(|_| MessageError::Malformed("Content-Length is not a number"))?,
        None => 0,
    };
    if length > max_head {
        return Err(MessageError::TooLarge);
    }
    let body_start = head_len(buffer, end);
    if buffer.len() < body_start + length {
        return Ok(None);
    }
    let body = Bytes::copy_from_slice(&buffer[body_start..body_start + length]);
    Ok(Some((
        Incoming::Request(RtspRequest {
            method: method.to_string(),
            uri: uri.to_string(),
            headers,
            body,
        }),
        body_start + length,
    )))
}

/// Where the head's text ends (before the blank line), if the blank line has arrived.
fn find_head_end(buffer: &[u8]) -> Option<usize> {
    (0..buffer.len())
        .find(|&i| buffer[i..].starts_with(b"\r\n\r\n") || buffer[i..].starts_with(b"\n\n"))
}

/// The head's length with its blank line.
fn head_len(buffer: &[u8], end: usize) -> usize {
    if buffer[end..].starts_with(b"\r\n\r\n") {
        end + 4
    } else {
        end + 2
    }
}

/// The reason phrase of a status.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        454 => "Session Not Found",
        455 => "Method Not Valid in This State",
        459 => "Aggregate Operation Not Allowed",
        461 => "Unsupported Transport",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "RTSP Version Not Supported",
        _ => "Unknown",
    }
}

/// A response: status line, `CSeq` (when the request had one), `headers`, then `body`.
pub fn response(status: u16, cseq: Option<&str>, headers: &[(&str, String)], body: &str) -> String {
    let mut out = format!("RTSP/1.0 {status} {}\r\n", reason(status));
    if let Some(cseq) = cseq {
        out.push_str(&format!("CSeq: {cseq}\r\n"));
    }
    out.push_str("Server: kamaelia-net\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out
}
