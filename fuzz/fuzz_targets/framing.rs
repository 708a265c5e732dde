//! Length-prefixed framing over arbitrary bytes in arbitrary splits: never panics, never
//! returns a frame over the maximum, and what it decodes re-encodes to the bytes it came from.
#![no_main]

use kamaelia_net::framing::{FrameDecoder, encode_frame};
use libfuzzer_sys::fuzz_target;

const MAX: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let mut decoder = FrameDecoder::new(MAX);
    let mut consumed = 0;
    for piece in bytes.chunks(usize::from(split).max(1)) {
        decoder.push(piece);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= MAX);
                    let encoded = encode_frame(frame, MAX).expect("a decoded frame re-encodes");
                    assert_eq!(&bytes[consumed..consumed + encoded.len()], &encoded[..]);
                    consumed += encoded.len();
                }
                Ok(None) => break,
                Err(_) => return, // an oversize prefix ends the stream
            }
        }
    }
    let _ = decoder.finish();
});
