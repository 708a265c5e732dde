//! The live server's pager over arbitrary bytes in arbitrary splits, with header repeats and
//! fresh serials on: never panics, and every page it returns is a whole checksummed page.
#![no_main]

use kamaelia_codec::{OggPageReader, PageEvent, ogg_crc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let mut reader = OggPageReader::new().unique_serials().repeat_headers(4);
    for piece in bytes.chunks(usize::from(split).max(1)) {
        reader.push(piece);
        while let Some(event) = reader.next_event() {
            if let PageEvent::Page(page) = event {
                let mut whole = page.bytes().to_vec();
                let stored = u32::from_le_bytes([whole[22], whole[23], whole[24], whole[25]]);
                whole[22..26].fill(0);
                assert_eq!(ogg_crc(&whole), stored, "a page with a wrong checksum");
                let _ = (page.is_join_point(), page.granule(), page.body().len());
            }
        }
    }
    let _ = reader.finish();
});
