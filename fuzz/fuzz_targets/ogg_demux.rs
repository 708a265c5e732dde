//! Ogg demux over arbitrary bytes in arbitrary splits: never panics, memory bounded by the
//! packet limit, and every packet it returns fits that limit.
#![no_main]

use kamaelia_codec::{OggDemuxer, OggEvent};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the split size, so the same input is tried in many splits.
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let mut demuxer = OggDemuxer::new().max_packet(LIMIT);
    for piece in bytes.chunks(usize::from(split).max(1)) {
        demuxer.push(piece);
        while let Some(event) = demuxer.next_event() {
            if let OggEvent::Packet(packet) = event {
                assert!(packet.data.len() <= LIMIT);
            }
        }
    }
    let _ = demuxer.finish();
});
