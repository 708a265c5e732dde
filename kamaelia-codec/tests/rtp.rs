//! Ogg Vorbis over RTP (RFC 5215): packets → RTP → packets identical, on the project's files
//! (and ../shared/media when present); timestamps against granule positions; reordering, loss
//! and in-band configuration; decoded audio; arbitrary input never panics.

use base64::Engine;
use bytes::Bytes;
use kamaelia_codec::rtp::{
    DepayEvent, PayloadKind, RtpPacket, VorbisConfig, VorbisDepayloader, VorbisPayloader,
};
use kamaelia_codec::{OggDemuxer, OggEvent, OggPacket, PcmSamples, VorbisDecoder};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn files() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = [
        "tone_44k_stereo.ogg",
        "pluck_22k_mono.ogg",
        "chained_stereo_mono.ogg",
    ]
    .iter()
    .map(|f| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(f)
    })
    .collect();
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/media");
    for name in [
        "music_44k_stereo_128k.ogg",
        "speech_22k_mono.ogg",
        "short_5s_48k.ogg",
        "chained_44k2_22k1.ogg",
    ] {
        let path = shared.join(name);
        if path.exists() {
            found.push(path);
        }
    }
    found
}

fn packets(path: &Path) -> Vec<OggPacket> {
    let bytes = std::fs::read(path).unwrap();
    let mut demuxer = OggDemuxer::new();
    demuxer.push(&bytes);
    let mut out = Vec::new();
    while let Some(event) = demuxer.next_event() {
        match event {
            OggEvent::Packet(p) => out.push(p),
            OggEvent::Damage(d) => panic!("{}: {d:?}", path.display()),
        }
    }
    out
}

/// Everything the payloader makes for `packets`, as RTP packets (in-band configuration at
/// each new configuration when `inband`).
fn payload_all(
    packets: &[OggPacket],
    max_payload: usize,
    inband: bool,
) -> (Vec<RtpPacket>, Vec<VorbisConfig>) {
    let mut pay = VorbisPayloader::new(max_payload);
    let (mut rtp, mut configs) = (Vec::new(), Vec::new());
    let mut sequence = 65_000u16; // wraps during the stream
    let mut take = |pay: &mut VorbisPayloader, rtp: &mut Vec<RtpPacket>| {
        while let Some(payload) = pay.next_payload() {
            assert!(
                payload.data.len() <= max_payload,
                "payload within its limit"
            );
            rtp.push(RtpPacket {
                marker: false,
                payload_type: 96,
                sequence,
                timestamp: 12_345u32.wrapping_add(payload.position as u32),
                ssrc: 7,
                payload: payload.data,
            });
            sequence = sequence.wrapping_add(1);
        }
    };
    for (i, packet) in packets.iter().enumerate() {
        if let Some(config) = pay.push(packet).unwrap() {
            configs.push(config);
            if inband {
                pay.send_config();
            }
        }
        if i % 3 == 0 {
            pay.flush(); // as a live source would when its input runs dry
        }
        take(&mut pay, &mut rtp);
    }
    pay.flush();
    take(&mut pay, &mut rtp);
    (rtp, configs)
}

fn depayload(
    rtp: Vec<RtpPacket>,
    mut depay: VorbisDepayloader,
) -> (Vec<OggPacket>, Vec<DepayEvent>) {
    let (mut packets, mut notices) = (Vec::new(), Vec::new());
    let mut take = |depay: &mut VorbisDepayloader| {
        while let Some(event) = depay.next_event() {
            match event {
                DepayEvent::Packet(p) => packets.push(p),
                other => notices.push(other),
            }
        }
    };
    for packet in rtp {
        // Through the wire format and back.
        depay.push(RtpPacket::parse(&packet.to_bytes()).unwrap());
        take(&mut depay);
    }
    depay.finish();
    take(&mut depay);
    (packets, notices)
}

fn data(packets: &[OggPacket]) -> Vec<Bytes> {
    packets.iter().map(|p| p.data.clone()).collect()
}

#[test]
fn packets_survive_rtp_unchanged_with_in_band_configuration() {
    for path in files() {
        let source = packets(&path);
        for max_payload in [1400, 200, 40] {
            let (rtp, configs) = payload_all(&source, max_payload, true);
            let (out, notices) = depayload(rtp, VorbisDepayloader::new());
            assert_eq!(
                data(&out),
                data(&source),
                "{} at {max_payload}",
                path.display()
            );
            let configured = notices
                .iter()
                .filter(|n| matches!(n, DepayEvent::Configured(_)))
                .count();
            assert_eq!(configured, configs.len(), "{}", path.display());
            assert!(
                !notices
                    .iter()
                    .any(|n| matches!(n, DepayEvent::Lost(_) | DepayEvent::Damaged(_))),
                "{}: {notices:?}",
                path.display()
            );
            // Each stream starts with its headers, the first marked.
            assert!(out[0].bos && !out[1].bos);
        }
    }
}

#[test]
fn the_sdp_configuration_alone_is_enough() {
    let source = packets(&files()[0]);
    let (rtp, configs) = payload_all(&source, 1400, false);
    let line = configs[0].sdp_attributes(96);
    let encoded = line
        .split("configuration=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap();
    let packed = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    let config = VorbisConfig::from_packed(&packed, true).unwrap();
    assert_eq!(config, configs[0]);
    assert!(line.starts_with("a=rtpmap:96 vorbis/44100/2\r\n"), "{line}");
    let (out, _) = depayload(rtp, VorbisDepayloader::new().with_config(config));
    assert_eq!(data(&out), data(&source));
}

#[test]
fn without_any_configuration_audio_waits_and_says_so() {
    let source = packets(&files()[0]);
    let (rtp, _) = payload_all(&source, 1400, false);
    let (out, notices) = depayload(rtp, VorbisDepayloader::new());
    assert!(out.is_empty());
    assert_eq!(
        notices
            .iter()
            .filter(|n| matches!(n, DepayEvent::Damaged(_)))
            .count(),
        1,
        "reported once, not per packet: {notices:?}"
    );
}

#[test]
fn timestamps_are_sample_positions_that_match_the_granules() {
    let mut checked = 0;
    for path in files() {
        let source = packets(&path);
        let mut pay = VorbisPayloader::new(1400);
        let mut link_start = 0;
        for packet in &source {
            if pay.push(packet).unwrap().is_some() || packet.bos {
                link_start = pay.position();
            }
            if packet.last_in_page && packet.granule > 0 && !packet.eos {
                assert_eq!(
                    pay.position() - link_start,
                    packet.granule as u64,
                    "{}: our count from block sizes = the granule",
                    path.display()
                );
                checked += 1;
            }
        }
        assert_eq!(
            pay.granule_corrections(),
            0,
            "{}: never corrected",
            path.display()
        );
    }
    assert!(checked > 0, "some page ended mid-stream");
}

#[test]
fn reordered_packets_are_put_back_in_order() {
    let source = packets(&files()[0]);
    let (mut rtp, _) = payload_all(&source, 200, true);
    // Swap neighbours and move some packets a few places later: all within the window.
    for i in (0..rtp.len().saturating_sub(1)).step_by(2) {
        rtp.swap(i, i + 1);
    }
    for i in (0..rtp.len().saturating_sub(6)).step_by(11) {
        let late = rtp.remove(i);
        rtp.insert(i + 5, late);
    }
    let (out, notices) = depayload(rtp, VorbisDepayloader::new());
    assert_eq!(data(&out), data(&source));
    assert!(!notices.iter().any(|n| matches!(n, DepayEvent::Lost(_))));
}

#[test]
fn a_lost_packet_is_reported_and_only_whole_packets_come_out() {
    let source = packets(&files()[0]);
    let (mut rtp, _) = payload_all(&source, 120, true);
    // Lose one payload in the middle of a fragmented packet, and one elsewhere.
    let fragmented = rtp
        .iter()
        .position(|p| p.payload[3] >> 6 == 2)
        .expect("a continuation fragment at 120 bytes");
    rtp.remove(fragmented);
    rtp.remove(rtp.len() / 2);
    let (out, notices) = depayload(rtp, VorbisDepayloader::new());
    let lost: u64 = notices
        .iter()
        .map(|n| if let DepayEvent::Lost(k) = n { *k } else { 0 })
        .sum();
    assert_eq!(lost, 2);
    // Every packet out is one of the source's, whole, in order.
    let source_data = data(&source);
    let mut at = 0;
    for packet in data(&out) {
        let found = source_data[at..]
            .iter()
            .position(|s| *s == packet)
            .expect("a whole source packet");
        at += found + 1;
    }
    assert!(out.len() < source.len());
}

#[test]
fn decoding_what_rtp_carried_gives_the_source_audio() {
    let source = packets(&files()[0]);
    let (rtp, _) = payload_all(&source, 1400, true);
    let (out, _) = depayload(rtp, VorbisDepayloader::new());
    let decode = |packets: &[OggPacket]| {
        let mut decoder = VorbisDecoder::new();
        let mut samples = Vec::new();
        for p in packets {
            if let (_, Some(block)) = decoder.packet(p)
                && let PcmSamples::I16(s) = block.samples
            {
                samples.extend(s);
            }
        }
        samples
    };
    let (direct, carried) = (decode(&source), decode(&out));
    // RTP has no granule positions, so the last packet is not trimmed to the file's true end:
    // everything before it is sample-for-sample the same.
    assert!(carried.len() >= direct.len());
    assert!(
        carried.len() - direct.len() <= 2 * 2048,
        "at most one long block more"
    );
    assert_eq!(carried[..direct.len()], direct[..]);
}

#[test]
fn payload_headers_say_what_they_carry() {
    let source = packets(&files()[0]);
    let (rtp, configs) = payload_all(&source, 1400, true);
    let ident = configs[0].ident().to_be_bytes();
    for packet in &rtp {
        assert_eq!(
            packet.payload[..3],
            ident[1..],
            "every payload names the configuration"
        );
    }
    let first_kind = (rtp[0].payload[3] >> 4) & 3;
    assert_eq!(
        first_kind,
        PayloadKind::Config as u8,
        "the in-band configuration leads"
    );
    assert!(
        rtp.iter().any(|p| p.payload[3] & 0x0f > 1),
        "small packets share payloads"
    );
}

/// Writes the rtp_vorbis fuzz target's seeds (a jitter window byte, then length-prefixed
/// datagrams): `cargo test -p kamaelia-codec --test rtp -- --ignored`.
#[test]
#[ignore = "writes fuzz/seeds/rtp_vorbis"]
fn write_fuzz_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/rtp_vorbis");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, max_payload) in [("inband_1400", 1400), ("fragmented_120", 120)] {
        let (rtp, _) = payload_all(&packets(&files()[0]), max_payload, true);
        let mut seed = vec![16u8];
        for packet in rtp.iter().take(40) {
            let bytes = packet.to_bytes();
            seed.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
            seed.extend_from_slice(&bytes);
        }
        std::fs::write(dir.join(name), seed).unwrap();
    }
}

proptest! {
    #[test]
    fn arbitrary_datagrams_never_panic(datagrams in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..40)) {
        let mut depay = VorbisDepayloader::new().jitter_window(4);
        for datagram in &datagrams {
            if let Ok(packet) = RtpPacket::parse(datagram) {
                depay.push(packet);
            }
            while depay.next_event().is_some() {}
        }
        depay.finish();
        while depay.next_event().is_some() {}
    }

    #[test]
    fn arbitrary_payloads_never_panic(payloads in proptest::collection::vec((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..200)), 0..40)) {
        let config = VorbisConfig::from_packed(&payload_all(&packets(&files()[0]), 1400, false).1[0].packed(), true).unwrap();
        let mut depay = VorbisDepayloader::new().with_config(config);
        for (sequence, payload) in payloads {
            depay.push(RtpPacket { marker: false, payload_type: 96, sequence, timestamp: 0, ssrc: 1, payload: payload.into() });
            while depay.next_event().is_some() {}
        }
    }

    #[test]
    fn arbitrary_packed_configurations_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), counted in any::<bool>()) {
        let _ = VorbisConfig::from_packed(&bytes, counted);
    }

    #[test]
    fn rtp_headers_round_trip(marker in any::<bool>(), pt in 0u8..128, sequence in any::<u16>(), timestamp in any::<u32>(), ssrc in any::<u32>(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let packet = RtpPacket { marker, payload_type: pt, sequence, timestamp, ssrc, payload: payload.into() };
        prop_assert_eq!(RtpPacket::parse(&packet.to_bytes()).unwrap(), packet);
    }
}

#[test]
fn a_comment_header_with_cover_art_travels_minimal_so_the_sdp_stays_readable() {
    let source = packets(&files()[0]);
    let art = "A".repeat(20_000);
    let mut comment = b"\x03vorbis".to_vec();
    comment.extend_from_slice(&4u32.to_le_bytes());
    comment.extend_from_slice(b"test");
    comment.extend_from_slice(&1u32.to_le_bytes());
    let entry = format!("METADATA_BLOCK_PICTURE={art}");
    comment.extend_from_slice(&(entry.len() as u32).to_le_bytes());
    comment.extend_from_slice(entry.as_bytes());
    comment.push(1);
    let config = VorbisConfig::from_headers(
        source[0].data.clone(),
        comment.into(),
        source[2].data.clone(),
    )
    .unwrap();
    assert!(
        config.headers()[1].len() < 32,
        "the comment header was replaced"
    );
    let line = config.sdp_attributes(96);
    assert!(line.len() < 16 * 1024, "{} bytes", line.len());
    let fmtp = line.lines().nth(1).unwrap().split_once(' ').unwrap().1;
    assert_eq!(VorbisConfig::from_fmtp(fmtp).unwrap(), config);
}
