//! ReadFile (chunked, bitrate without drift, looping, errors) and WavWriter.

use axon_core::components::Collect;
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Scheduler, link, pipeline};
use bytes::Bytes;
use kamaelia_codec::VorbisDecode;
use kamaelia_media::{ReadFile, ReadMode, WavWriter};
use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("kamaelia-media-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

#[tokio::test(flavor = "current_thread")]
async fn chunked_reading_delivers_the_whole_file_then_finishes() {
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let path = temp_file("chunked", &content);
    let (sink, chunks) = Collect::<Bytes>::new();
    let system = pipeline!(
        ReadFile::new(&path).mode(ReadMode::Chunked { chunk_size: 7000 }),
        sink
    )
    .unwrap();
    let scheduler = Scheduler::new();
    scheduler.activate(system);
    scheduler.run().await;
    let got: Vec<u8> = chunks.take().iter().flat_map(|c| c.to_vec()).collect();
    assert_eq!(got, content);
    let _ = std::fs::remove_file(path);
}

/// Records when each chunk arrives (tokio time) and how big it is.
#[derive(Boxes)]
struct Timing {
    inbox: Inbox<Bytes>,
    arrivals: Rc<RefCell<Vec<(Duration, usize)>>>,
}

impl Component for Timing {
    async fn main(mut self) -> Result<(), ComponentError> {
        let start = tokio::time::Instant::now();
        loop {
            let chunk = self.inbox.recv().await;
            self.arrivals
                .borrow_mut()
                .push((start.elapsed(), chunk.len()));
        }
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn bitrate_mode_holds_its_rate_for_a_simulated_minute_without_drift() {
    let path = temp_file("bitrate", &vec![0x55u8; 100_003]); // an odd size, looped
    let reader = ReadFile::new(&path)
        .mode(ReadMode::Bitrate {
            bits_per_second: 400_000,
            chunks_per_second: 7,
        })
        .looping(true);
    let stop = reader.control.to_ref();
    let arrivals = Rc::new(RefCell::new(Vec::new()));
    let timing = Timing {
        inbox: Inbox::new(),
        arrivals: arrivals.clone(),
    };
    link(&reader.outbox, &timing.inbox).unwrap();
    let scheduler = Scheduler::new();
    scheduler.activate(reader);
    scheduler.activate(timing);
    let run = scheduler.run();
    let drive = async {
        tokio::time::sleep(Duration::from_secs(61)).await;
        stop.send(Control::ShutdownMicroprocess).await.unwrap();
        scheduler.shutdown();
    };
    tokio::join!(run, drive);
    let arrivals = arrivals.borrow();
    let by_60s: usize = arrivals
        .iter()
        .filter(|(at, _)| *at <= Duration::from_secs(60))
        .map(|(_, n)| n)
        .sum();
    let target = 400_000 / 8 * 60;
    let error = (by_60s as f64 - target as f64).abs() / target as f64;
    assert!(
        error < 0.005,
        "{by_60s} bytes by 60 s, target {target} ({:.3} %)",
        error * 100.0
    );
    // Paced, not bursty: about 7 chunks a second.
    let chunks_by_60s = arrivals
        .iter()
        .filter(|(at, _)| *at <= Duration::from_secs(60))
        .count();
    assert!((415..=425).contains(&chunks_by_60s), "{chunks_by_60s}");
    let _ = std::fs::remove_file(path);
}

#[tokio::test(flavor = "current_thread")]
async fn a_missing_file_is_a_clear_failure() {
    let reader = ReadFile::new("/nonexistent/file.ogg");
    let (watch, seen) = Collect::<Control>::new();
    link(&reader.signal, &watch.inbox).unwrap();
    let stop = watch.control.to_ref();
    let scheduler = Scheduler::new();
    scheduler.activate(reader);
    scheduler.activate(watch);
    let drive = async {
        while seen.is_empty() {
            tokio::task::yield_now().await;
        }
        stop.send(Control::ProducerFinished).await.unwrap();
    };
    tokio::join!(scheduler.run(), drive);
    match &seen.take()[..] {
        [Control::Failed(info)] => assert!(
            info.message.contains("cannot open /nonexistent/file.ogg"),
            "{info}"
        ),
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn ogg_to_wav_writes_one_file_per_link_with_exact_lengths() {
    let out = std::env::temp_dir().join(format!("kamaelia-media-{}-out.wav", std::process::id()));
    let writer = WavWriter::new(&out);
    let (report, written) = Collect::<(PathBuf, u32, u16, u64)>::new();
    link(&writer.written, &report.inbox).unwrap();
    let system = pipeline!(
        ReadFile::new(testdata("chained_stereo_mono.ogg"))
            .mode(ReadMode::Chunked { chunk_size: 1000 }),
        VorbisDecode::default(),
        writer,
    )
    .unwrap();
    link(&system.signal, &report.control).unwrap();
    let scheduler = Scheduler::new();
    scheduler.activate(system);
    scheduler.activate(report);
    scheduler.run().await;
    let written = written.take();
    assert_eq!(written.len(), 2);
    assert_eq!(
        (written[0].1, written[0].2, written[0].3),
        (44100, 2, 44100)
    );
    assert_eq!(
        (written[1].1, written[1].2, written[1].3),
        (22050, 1, 44100)
    );
    let first = std::fs::read(&written[0].0).unwrap();
    assert_eq!(&first[..4], b"RIFF");
    assert_eq!(first.len(), 44 + 44100 * 2 * 2);
    // The samples are the decoder's, exactly (kamaelia-codec's tests hold the decoder to
    // oggdec's output within 1).
    let reference =
        decoded_first_link(&std::fs::read(testdata("chained_stereo_mono.ogg")).unwrap());
    assert_eq!(reference.len(), 44100 * 2);
    let samples: Vec<i16> = first[44..]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(samples, reference);
    for (path, ..) in written {
        let _ = std::fs::remove_file(path);
    }
}

/// The 16-bit samples of the first link of an Ogg Vorbis file, decoded by kamaelia-codec.
fn decoded_first_link(ogg: &[u8]) -> Vec<i16> {
    use kamaelia_codec::{OggDemuxer, OggEvent, PcmSamples, VorbisDecoder};
    let mut demuxer = OggDemuxer::new();
    let mut decoder = VorbisDecoder::new();
    demuxer.push(ogg);
    let mut samples = Vec::new();
    let mut links = 0;
    while let Some(OggEvent::Packet(packet)) = demuxer.next_event() {
        if packet.bos {
            links += 1;
        }
        if links > 1 {
            break;
        }
        if let (_, Some(block)) = decoder.packet(&packet) {
            match block.samples {
                PcmSamples::I16(s) => samples.extend_from_slice(&s),
                PcmSamples::F32(_) => unreachable!("a 16-bit decoder"),
            }
        }
    }
    samples
}
