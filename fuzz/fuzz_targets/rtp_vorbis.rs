//! RFC 5215 depayloading over arbitrary datagrams: never panics, every packet it returns fits
//! the reassembly limit. Input: a jitter window byte, then datagrams, each after a 2-byte
//! big-endian length (seeds from `cargo test -p kamaelia-codec --test rtp -- --ignored`).
#![no_main]

use kamaelia_codec::rtp::{DepayEvent, MAX_REASSEMBLED, RtpPacket, VorbisDepayloader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&window, mut rest)) = data.split_first() else {
        return;
    };
    let mut depay = VorbisDepayloader::new().jitter_window(usize::from(window % 32));
    let mut check = |depay: &mut VorbisDepayloader| {
        while let Some(event) = depay.next_event() {
            if let DepayEvent::Packet(packet) = event {
                assert!(packet.data.len() <= MAX_REASSEMBLED);
            }
        }
    };
    while rest.len() >= 2 {
        let length = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let datagram = &rest[2..2 + length];
        rest = &rest[2 + length..];
        if let Ok(packet) = RtpPacket::parse(datagram) {
            depay.push(packet);
            check(&mut depay);
        }
    }
    depay.finish();
    check(&mut depay);
});
