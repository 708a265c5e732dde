//! Line framing over arbitrary bytes in arbitrary splits: never panics, no line over the
//! maximum, and the lines (with the last one `finish` gives) are exactly the input's.
#![no_main]

use kamaelia_net::framing::LineDecoder;
use libfuzzer_sys::fuzz_target;

const MAX: usize = 300;

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let mut decoder = LineDecoder::new(MAX);
    let mut lines = Vec::new();
    for piece in bytes.chunks(usize::from(split).max(1)) {
        decoder.push(piece);
        loop {
            match decoder.next_line() {
                Ok(Some(line)) => {
                    assert!(line.len() <= MAX);
                    lines.push(line);
                }
                Ok(None) => break,
                Err(_) => return, // an over-long line ends the stream
            }
        }
    }
    lines.extend(decoder.finish());
    // Without an over-long line, the lines are the input split at '\n', '\r' before it dropped.
    let mut expected: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if expected.last().is_some_and(|l| l.is_empty() || *l == b"\r") {
        expected.pop();
    }
    let expected: Vec<&[u8]> = expected
        .into_iter()
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect();
    let got: Vec<&[u8]> = lines.iter().map(|l| &l[..]).collect();
    assert_eq!(got, expected);
});
