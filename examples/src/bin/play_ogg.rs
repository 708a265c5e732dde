//! `play_ogg IN.ogg`: ReadFile → VorbisDecode → AudioPlayback — plays a file on the default
//! audio output. Exits 0 when it has played; with no audio device (or a build without the
//! `playback` feature) it says so on stderr and exits 1.

use axon_core::components::Collect;
use axon_core::{Control, Scheduler, link, pipeline};
use kamaelia_codec::VorbisDecode;
use kamaelia_examples::run_until_finished;
use kamaelia_media::{AudioPlayback, ReadFile};

fn main() {
    let Some(input) = std::env::args().nth(1) else {
        eprintln!("usage: play_ogg IN.ogg");
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ending = runtime.block_on(async {
        let system = pipeline!(
            ReadFile::new(&input),
            VorbisDecode::default(),
            AudioPlayback::default()
        )
        .expect("fresh stages link");
        let (end, ending) = Collect::<Control>::new();
        link(&system.signal, &end.inbox).unwrap();
        let end_control = end.control.to_ref();
        let scheduler = Scheduler::new();
        let system = scheduler.activate(system);
        scheduler.activate(end);
        run_until_finished(&scheduler, &system, &[end_control]).await;
        ending.take()
    });
    match ending.first() {
        Some(c) if c.is_producer_finished() => {}
        Some(Control::Failed(info)) => {
            eprintln!("play_ogg: {}", info.message);
            std::process::exit(1);
        }
        other => {
            eprintln!("play_ogg: stopped: {other:?}");
            std::process::exit(1);
        }
    }
}
