//! The radio mount's chain writer over arbitrary bytes (pages found in them, with cuts, titles
//! and mid-stream joins at points the input picks): never panics; every page out is a whole
//! checksummed page; within each output serial, page sequence numbers have no gaps. And any
//! comment header it meets reads back as it is written.
#![no_main]

use kamaelia_codec::{ChainWriter, Comments, OggDemuxer, OggEvent, OggPageReader, PageEvent, ogg_crc};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let Some((&choices, bytes)) = data.split_first() else {
        return;
    };
    let mut reader = OggPageReader::new();
    reader.push(bytes);
    let mut chain = ChainWriter::with_first_serial(1);
    let mut out = Vec::new();
    let mut n = 0u32;
    while let Some(event) = reader.next_event() {
        let PageEvent::Page(page) = event else { continue };
        n += 1;
        match (u32::from(choices) + n) % 11 {
            3 => chain.set_title("fuzz"),
            5 => chain.cut(&mut out),
            7 => {
                let headers = chain.header_pages().to_vec();
                chain.join_mid_stream(&headers, &mut out);
            }
            _ => {}
        }
        chain.push(&page, &mut out);
    }
    let mut next: HashMap<u32, u32> = HashMap::new();
    let mut demuxer = OggDemuxer::new();
    for page in &out {
        let mut whole = page.bytes().to_vec();
        let stored = u32::from_le_bytes([whole[22], whole[23], whole[24], whole[25]]);
        whole[22..26].fill(0);
        assert_eq!(ogg_crc(&whole), stored, "a page with a wrong checksum");
        if let Some(expected) = next.insert(page.serial(), page.sequence().wrapping_add(1)) {
            assert_eq!(expected, page.sequence(), "a gap in the page sequence");
        }
        demuxer.push(page.bytes());
    }
    while let Some(event) = demuxer.next_event() {
        if let OggEvent::Packet(packet) = event
            && let Some(comments) = Comments::parse(&packet.data)
        {
            let again = Comments::parse(&comments.to_packet()).expect("our own packet reads back");
            assert_eq!(again.entries, comments.entries);
        }
    }
});
