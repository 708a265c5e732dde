//! `ogg_to_wav IN.ogg OUT.wav`: ReadFile → VorbisDecode → WavWriter. Prints the sample rate,
//! channels and frames of each file written. A chained file (whose links may differ in rate or
//! channels) is written one WAV per link: OUT.wav, OUT-2.wav, … — nothing is resampled.
//! Exit status 0 on success; a clear message on stderr and status 1 on failure.

use axon_core::components::Collect;
use axon_core::{Control, Scheduler, link, pipeline};
use kamaelia_codec::{DecodeNotice, VorbisDecode};
use kamaelia_examples::run_until_finished;
use kamaelia_media::{ReadFile, WavWriter};
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = &args[..] else {
        eprintln!("usage: ogg_to_wav IN.ogg OUT.wav");
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (written, ending, notices) = runtime.block_on(async {
        let decode = VorbisDecode::default();
        let writer = WavWriter::new(output);
        let (report, written) = Collect::<(PathBuf, u32, u16, u64)>::new();
        let (notice_sink, notices) = Collect::<DecodeNotice>::new();
        let (end, ending) = Collect::<Control>::new();
        link(&writer.written, &report.inbox).unwrap();
        link(&decode.notices, &notice_sink.inbox).unwrap();
        let notices_done = notice_sink.control.to_ref();
        let system = pipeline!(ReadFile::new(input), decode, writer).expect("fresh stages link");
        link(&system.signal, &end.inbox).unwrap();
        let end_done = end.control.to_ref();
        let report_done = report.control.to_ref();
        let scheduler = Scheduler::new();
        let system = scheduler.activate(system);
        scheduler.activate(report);
        scheduler.activate(notice_sink);
        scheduler.activate(end);
        run_until_finished(&scheduler, &system, &[notices_done, end_done, report_done]).await;
        (written.take(), ending.take(), notices.take())
    });
    for notice in &notices {
        if !matches!(notice, DecodeNotice::Format { .. }) {
            eprintln!("ogg_to_wav: {notice}");
        }
    }
    if let Some(Control::Failed(info)) = ending.first() {
        eprintln!("ogg_to_wav: {}", info.message);
        std::process::exit(1);
    }
    if written.is_empty() {
        // Every byte skipped as damage from the start: there was no Ogg page at all.
        let size = std::fs::metadata(input).map_or(0, |m| m.len());
        let no_page = notices.iter().any(
            |n| matches!(n, DecodeNotice::Damage { offset: 0, skipped, .. } if *skipped == size),
        );
        if no_page || size == 0 {
            eprintln!("ogg_to_wav: {input} is not an Ogg stream (no Ogg page found)");
        } else {
            eprintln!("ogg_to_wav: no Vorbis audio found in {input}");
        }
        std::process::exit(1);
    }
    for (path, rate, channels, frames) in written {
        println!(
            "{}: {rate} Hz, {channels} channel(s), {frames} frames",
            path.display()
        );
    }
}
