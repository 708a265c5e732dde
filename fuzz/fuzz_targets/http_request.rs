//! The HTTP request-head parser over arbitrary bytes: never panics; a head it accepts lies
//! within the input, and its path has the query and fragment cut off.
#![no_main]

use kamaelia_net::http::parse_request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((request, length))) = parse_request(data) {
        assert!(length <= data.len());
        assert!(!request.path.contains(['?', '#']), "{:?}", request.path);
    }
});
