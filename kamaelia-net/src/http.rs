//! Just enough HTTP/1.1 for a public streaming endpoint: reading one request head under a size
//! and a time limit, and writing a response head. Parsing is `httparse`'s (the parser under
//! hyper, fuzzed there); what is ours is the limits and the error mapping.

use std::fmt;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Limits on reading a request head: a client that sends too much, or too slowly (slowloris),
/// is answered with an error status and closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestLimits {
    /// Bytes in the request line and headers together (default 8 KiB).
    pub max_head_bytes: usize,
    /// Time allowed from connection to the end of the request head (default 10 s).
    pub head_timeout: Duration,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_head_bytes: 8 * 1024,
            head_timeout: Duration::from_secs(10),
        }
    }
}

/// The parts of a request a streaming server routes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`, …, as sent.
    pub method: String,
    /// The path, without any query string.
    pub path: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// The query string (after `?`, before any `#`), as sent; empty when there is none.
    pub query: String,
    /// The headers, in order, as sent (values that are not UTF-8 are read lossily).
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first value of header `name` (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    /// The first value of query parameter `key`, percent- and `+`-decoded.
    pub fn query_param(&self, key: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }
}

/// Why a request could not be read; each maps to the status a client is sent.
#[derive(Debug)]
pub enum RequestError {
    /// Not HTTP/1.x, or malformed (400).
    Malformed(String),
    /// The head exceeded [`RequestLimits::max_head_bytes`] or had too many headers (431).
    TooLarge,
    /// The head did not arrive within [`RequestLimits::head_timeout`] (408).
    Timeout,
    /// The client closed or reset the connection first (no response possible).
    Closed,
}

impl RequestError {
    /// The response status for this error, if the client can still be sent one.
    pub fn status(&self) -> Option<u16> {
        match self {
            RequestError::Malformed(_) => Some(400),
            RequestError::TooLarge => Some(431),
            RequestError::Timeout => Some(408),
            RequestError::Closed => None,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Malformed(why) => write!(f, "malformed request: {why}"),
            RequestError::TooLarge => write!(f, "request head too large"),
            RequestError::Timeout => write!(f, "request head not received in time"),
            RequestError::Closed => write!(f, "client closed the connection"),
        }
    }
}

impl std::error::Error for RequestError {}

/// Most headers a request may carry.
const MAX_HEADERS: usize = 64;

/// Parses a request head from the start of `bytes`: `Ok(None)` while it is incomplete,
/// `Ok(Some((request, head_length)))` once complete. Never panics, whatever the bytes.
pub fn parse_request(bytes: &[u8]) -> Result<Option<(Request, usize)>, RequestError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(bytes) {
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(length)) => {
            let (Some(method), Some(target), Some(minor_version)) =
                (request.method, request.path, request.version)
            else {
                return Err(RequestError::Malformed("incomplete request line".into()));
            };
            // The absolute form (`GET http://host/path`, as sent to proxies) names the same path.
            let target = ["http://", "https://"]
                .iter()
                .find_map(|scheme| {
                    let head = target.get(..scheme.len())?;
                    head.eq_ignore_ascii_case(scheme)
                        .then(|| &target[scheme.len()..])
                })
                .map_or(target, |rest| match rest.find(['/', '?', '#']) {
                    Some(at) if rest[at..].starts_with('/') => &rest[at..],
                    _ => "/", // no path: the root (whatever query follows)
                });
            let target = target.split('#').next().unwrap_or_default();
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let headers = request
                .headers
                .iter()
                .map(|h| {
                    let value = String::from_utf8_lossy(h.value).into_owned();
                    (h.name.to_string(), value)
                })
                .collect();
            Ok(Some((
                Request {
                    method: method.to_string(),
                    path: path.to_string(),
                    minor_version,
                    query: query.to_string(),
                    headers,
                },
                length,
            )))
        }
        Err(httparse::Error::TooManyHeaders) => Err(RequestError::TooLarge),
        Err(e) => Err(RequestError::Malformed(e.to_string())),
    }
}

/// Reads one request head from `stream` within `limits` (a head of exactly
/// `max_head_bytes` is accepted; one byte more is [`RequestError::TooLarge`]). Meant for
/// requests without a body: bytes read past the head (a body, or pipelined requests) are
/// dropped; [`read_request_head`] keeps them.
pub async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    limits: RequestLimits,
) -> Result<Request, RequestError> {
    read_request_head(stream, limits)
        .await
        .map(|(request, _)| request)
}

/// As [`read_request`], and also returns the bytes read past the head: the start of a body.
pub async fn read_request_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    limits: RequestLimits,
) -> Result<(Request, bytes::Bytes), RequestError> {
    let read = async {
        let mut head: Vec<u8> = Vec::with_capacity(512);
        let mut piece = [0u8; 512];
        loop {
            // Read no further than the limit allows, so an oversize head is caught exactly.
            let room = limits
                .max_head_bytes
                .saturating_add(1)
                .saturating_sub(head.len())
                .clamp(1, piece.len());
            let n = match stream.read(&mut piece[..room]).await {
                Ok(0) | Err(_) => return Err(RequestError::Closed),
                Ok(n) => n,
            };
            head.extend_from_slice(&piece[..n]);
            if let Some((request, length)) = parse_request(&head)? {
                if length > limits.max_head_bytes {
                    return Err(RequestError::TooLarge);
                }
                head.drain(..length);
                return Ok((request, head.into()));
            }
            if head.len() > limits.max_head_bytes {
                return Err(RequestError::TooLarge);
            }
        }
    };
    tokio::time::timeout(limits.head_timeout, read)
        .await
        .unwrap_or(Err(RequestError::Timeout))
}

/// The reason phrase for the statuses this crate sends.
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        401 => "Unauthorized",
        403 => "Forbidden",
        415 => "Unsupported Media Type",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// A response head: status line, the given headers, `Connection: close`, blank line.
pub fn response_head(status: u16, headers: &[(&str, &str)]) -> String {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    head
}

/// A complete response with a short text (or JSON) body.
pub fn response(status: u16, content_type: &str, body: &str, head_only: bool) -> String {
    let length = body.len().to_string();
    let mut out = response_head(
        status,
        &[("Content-Type", content_type), ("Content-Length", &length)],
    );
    if !head_only {
        out.push_str(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_parsed_once_complete() {
        let raw = b"GET /stream.ogg?x=1 HTTP/1.1\r\nHost: a\r\nIcy-MetaData: 1\r\n\r\nrest";
        assert!(parse_request(&raw[..20]).unwrap().is_none());
        let (request, length) = parse_request(raw).unwrap().unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, "/stream.ogg");
        assert_eq!(request.minor_version, 1);
        assert_eq!(length, raw.len() - 4);
    }

    #[test]
    fn the_absolute_form_names_the_same_path() {
        let (request, _) =
            parse_request(b"GET http://radio.example:8000/stream.ogg?a HTTP/1.1\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(request.path, "/stream.ogg");
        let (request, _) = parse_request(b"GET http://radio.example HTTP/1.1\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(request.path, "/");
        let (request, _) = parse_request(b"GET HTTP://radio.example?a=/b HTTP/1.1\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(request.path, "/");
    }

    #[test]
    fn garbage_is_malformed() {
        let error = parse_request(b"\x16\x03\x01 hello\r\n\r\n").unwrap_err();
        assert_eq!(error.status(), Some(400));
    }

    #[tokio::test]
    async fn an_oversize_head_is_refused_at_the_limit() {
        let limits = RequestLimits {
            max_head_bytes: 100,
            ..RequestLimits::default()
        };
        let raw = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 200]].concat();
        let error = read_request(&mut &raw[..], limits).await.unwrap_err();
        assert!(matches!(error, RequestError::TooLarge), "{error}");
    }

    #[tokio::test]
    async fn a_head_of_exactly_the_limit_is_accepted_and_one_byte_more_is_not() {
        let head = |len: usize| {
            let start = b"GET / HTTP/1.1\r\nX: ";
            let filler = len - start.len() - 4;
            [start.as_slice(), &vec![b'a'; filler], b"\r\n\r\n"].concat()
        };
        let limits = RequestLimits {
            max_head_bytes: 100,
            ..RequestLimits::default()
        };
        let exact = head(100);
        assert_eq!(exact.len(), 100);
        assert!(read_request(&mut &exact[..], limits).await.is_ok());
        let over = head(101);
        let error = read_request(&mut &over[..], limits).await.unwrap_err();
        assert!(matches!(error, RequestError::TooLarge), "{error}");
    }
}
