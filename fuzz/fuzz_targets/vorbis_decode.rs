//! Ogg → Vorbis decode on mutated real files (the corpus starts from our test files): never
//! panics, whatever the damage.
#![no_main]

use kamaelia_codec::{OggDemuxer, OggEvent, VorbisDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut demuxer = OggDemuxer::new();
    let mut decoder = VorbisDecoder::new();
    demuxer.push(data);
    while let Some(event) = demuxer.next_event() {
        if let OggEvent::Packet(packet) = event {
            let _ = decoder.packet(&packet);
        }
    }
    let _ = demuxer.finish();
});
