//! Framing over arbitrary bytes: no panic, frames round-trip in any split, and no allocation
//! beyond the maximum frame however large a length prefix claims to be.

use bytes::Bytes;
use kamaelia_net::framing::{FrameDecoder, FrameError, encode_frame};
use proptest::prelude::*;

const MAX: usize = 4096;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_never_buffer_past_the_limit(
        data in prop::collection::vec(any::<u8>(), 0..20_000),
        splits in prop::collection::vec(1usize..300, 1..50),
    ) {
        let mut decoder = FrameDecoder::new(MAX);
        let mut rest = &data[..];
        let mut split = splits.iter().cycle();
        while !rest.is_empty() {
            let n = (*split.next().unwrap()).min(rest.len());
            decoder.push(&rest[..n]);
            rest = &rest[n..];
            loop {
                match decoder.next_frame() {
                    Ok(Some(frame)) => prop_assert!(frame.len() <= MAX),
                    Ok(None) => break,
                    Err(FrameError::TooLong { max }) => {
                        prop_assert_eq!(max, MAX);
                        return Ok(());
                    }
                    Err(e) => return Err(TestCaseError::fail(e.to_string())),
                }
            }
            // Only what the stream delivered is held: never a buffer sized by a length prefix.
            prop_assert!(decoder.buffered() <= MAX + 4 + 300);
        }
    }

    #[test]
    fn frames_round_trip_in_any_split(
        messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..MAX), 0..20),
        split in 1usize..97,
    ) {
        let stream: Vec<u8> = messages
            .iter()
            .flat_map(|m| encode_frame(Bytes::from(m.clone()), MAX).unwrap().to_vec())
            .collect();
        let mut decoder = FrameDecoder::new(MAX);
        let mut got = Vec::new();
        for piece in stream.chunks(split) {
            decoder.push(piece);
            while let Some(frame) = decoder.next_frame().unwrap() {
                got.push(frame.to_vec());
            }
        }
        prop_assert!(decoder.finish().is_ok());
        prop_assert_eq!(got, messages);
    }
}

#[test]
fn an_oversize_prefix_is_an_error_without_allocating_it() {
    let mut decoder = FrameDecoder::new(MAX);
    decoder.push(&u32::MAX.to_be_bytes()); // claims a 4 GiB frame
    decoder.push(b"tiny");
    assert!(matches!(
        decoder.next_frame(),
        Err(FrameError::TooLong { max: MAX })
    ));
    assert!(decoder.buffered() < 64);
    assert!(encode_frame(Bytes::from(vec![0u8; MAX + 1]), MAX).is_err());
}

#[test]
fn a_stream_ending_inside_a_frame_is_reported() {
    let mut decoder = FrameDecoder::new(MAX);
    decoder.push(&10u32.to_be_bytes());
    decoder.push(b"abc");
    assert_eq!(decoder.next_frame().unwrap(), None);
    assert!(matches!(
        decoder.finish(),
        Err(FrameError::Truncated { pending: 7 })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Lines come back as sent, whatever the split, with `\r\n` or `\n` endings.
    #[test]
    fn lines_round_trip_in_any_split(
        lines in prop::collection::vec("[^\r\n]{0,40}", 0..20),
        crlf in any::<bool>(),
        split in 1usize..50,
    ) {
        let ending = if crlf { "\r\n" } else { "\n" };
        let text: String = lines.iter().map(|l| format!("{l}{ending}")).collect();
        let mut decoder = kamaelia_net::framing::LineDecoder::new(200);
        let mut got = Vec::new();
        for piece in text.as_bytes().chunks(split) {
            decoder.push(piece);
            while let Some(line) = decoder.next_line().unwrap() {
                got.push(String::from_utf8(line.to_vec()).unwrap());
            }
        }
        prop_assert_eq!(decoder.finish(), None);
        prop_assert_eq!(got, lines);
    }
}

#[test]
fn a_line_over_the_maximum_is_an_error_before_it_ends() {
    let mut decoder = kamaelia_net::framing::LineDecoder::new(8);
    decoder.push(b"short\nmuch too long for it");
    assert_eq!(decoder.next_line().unwrap().as_deref(), Some(&b"short"[..]));
    assert!(
        decoder.next_line().is_err(),
        "found without waiting for a newline"
    );
    assert_eq!(decoder.buffered(), 0, "its bytes are dropped");
    // A last line without a newline is given at the end.
    decoder.push(b"tail");
    assert_eq!(decoder.next_line().unwrap(), None);
    assert_eq!(decoder.finish().as_deref(), Some(&b"tail"[..]));
}
