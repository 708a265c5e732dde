//! The request reader, fuzzed: arbitrary bytes never panic and never read past the limit; any
//! well-formed request, in any split, reads back as sent.

use kamaelia_net::http::{RequestError, RequestLimits, parse_request, read_request};
use proptest::prelude::*;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// Yields its pieces one read at a time, then end of stream.
struct Pieces(Vec<Vec<u8>>);

impl AsyncRead for Pieces {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Some(piece) = self.0.first_mut() {
            let n = piece.len().min(buf.remaining());
            buf.put_slice(&piece[..n]);
            piece.drain(..n);
            if piece.is_empty() {
                self.0.remove(0);
            }
        }
        Poll::Ready(Ok(()))
    }
}

fn split(bytes: &[u8], cuts: &[usize]) -> Pieces {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    points.dedup();
    let mut pieces = Vec::new();
    let mut start = 0;
    for p in points.into_iter().chain([bytes.len()]) {
        if p > start {
            pieces.push(bytes[start..p].to_vec());
            start = p;
        }
    }
    Pieces(pieces)
}

fn read(
    pieces: Pieces,
    limits: RequestLimits,
) -> Result<kamaelia_net::http::Request, RequestError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut pieces = pieces;
    rt.block_on(read_request(&mut pieces, limits))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..3000),
                                   cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
        let _ = parse_request(&bytes);
        let limits = RequestLimits { max_head_bytes: 1024, ..RequestLimits::default() };
        match read(split(&bytes, &cuts), limits) {
            Ok(request) => prop_assert!(request.path.len() < 1024),
            Err(RequestError::TooLarge) => prop_assert!(
                bytes.len() > 1024 || matches!(parse_request(&bytes), Err(RequestError::TooLarge))
            ),
            Err(_) => {}
        }
    }

    #[test]
    fn http_like_noise_never_panics(
        line in "(GET|HEAD|POST|\\PC{0,6}) [ -~]{0,40} HTTP/1\\.[0-9]",
        headers in proptest::collection::vec("[ -~]{0,30}(:[ -~]{0,30})?", 0..10),
    ) {
        let raw = format!("{line}\r\n{}\r\n", headers.join("\r\n"));
        let _ = parse_request(raw.as_bytes());
    }

    #[test]
    fn well_formed_requests_read_back_in_any_split(
        method in "GET|HEAD|POST|OPTIONS",
        path in "/[A-Za-z0-9._~/-]{0,60}",
        query in proptest::option::of("[A-Za-z0-9=&]{0,20}"),
        minor in 0u8..2,
        headers in proptest::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,20}", "[ -~&&[^ ]][ -~]{0,40}"), 0..12),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let target = match &query { Some(q) => format!("{path}?{q}"), None => path.clone() };
        let mut raw = format!("{method} {target} HTTP/1.{minor}\r\n");
        for (name, value) in &headers {
            raw.push_str(&format!("{name}: {}\r\n", value.trim_end()));
        }
        raw.push_str("\r\n");
        let request = read(split(raw.as_bytes(), &cuts), RequestLimits::default()).unwrap();
        prop_assert_eq!(request.method, method);
        prop_assert_eq!(request.path, path);
        prop_assert_eq!(request.minor_version, minor);
    }
}

#[test]
fn a_client_that_closes_mid_head_is_closed_not_answered() {
    let error = read(
        Pieces(vec![b"GET / HTTP/1.1\r\nHo".to_vec()]),
        RequestLimits::default(),
    )
    .unwrap_err();
    assert!(matches!(error, RequestError::Closed));
    assert_eq!(error.status(), None);
}
