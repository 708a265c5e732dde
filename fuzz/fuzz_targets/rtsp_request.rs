//! The RTSP request parser and the Transport header over arbitrary bytes: never panics, never
//! claims more bytes than it was given, and a request it returns respects the size limit.
#![no_main]

use kamaelia_net::rtsp::{Incoming, choose_transport, parse_message};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 8 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((message, used))) = parse_message(rest, LIMIT) {
        assert!(used > 0 && used <= rest.len());
        if let Incoming::Request(request) = &message {
            assert!(request.body.len() <= LIMIT);
            if let Some(transport) = request.header("Transport") {
                let _ = choose_transport(transport);
            }
        }
        rest = &rest[used..];
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = choose_transport(text);
    }
});
