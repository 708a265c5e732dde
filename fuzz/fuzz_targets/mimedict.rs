//! MimeDict: whatever parses renders, and parse → render → parse is the identity.
#![no_main]

use kamaelia_codec::MimeDict;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(dict) = MimeDict::parse(text) {
        let rendered = dict
            .render()
            .unwrap_or_else(|e| panic!("{text:?} parsed to {dict:?}, which does not render: {e}"));
        assert_eq!(MimeDict::parse(&rendered).as_ref(), Ok(&dict));
    }
});
