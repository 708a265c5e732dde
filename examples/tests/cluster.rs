//! The cluster node as separate processes on a real nats-server: two processes linked both
//! ways, and a live stream served by edges (one joining late), heard as a listener hears it —
//! decoded, against the wall clock. Needs nats-server (and ffmpeg for one check); skipped
//! without them unless `KAMAELIA_REQUIRE_ALL` is set.

mod common;
#[path = "../../kamaelia-net/tests/support/nats_server.rs"]
mod nats_server;

use axon_core::components::Collect;
use axon_core::{Control, Scheduler, link};
use common::{Server, assert_real_time, audio_seconds, data, have, listen_http, one_page};
use kamaelia_net::nats::{Cluster, RemoteInbox, RemoteOutbox};
use nats_server::NatsServer;
use std::process::{Command, Stdio};
use std::time::Duration;

const NODE: &str = env!("CARGO_BIN_EXE_cluster_node");

#[test]
fn two_processes_linked_both_ways_carry_every_value_and_the_end() {
    let Some(server) = NatsServer::start(false) else {
        return;
    };
    let url = server.url();
    let mut echo = Command::new(NODE)
        .args(["echo", "--nats", &url, "--from", "ping", "--to", "pong"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let got = runtime.block_on(async {
        let cluster = Cluster::connect(&url).await.unwrap();
        let out = RemoteOutbox::<String>::new(&cluster, "ping").unwrap();
        let back = RemoteInbox::<String>::new(&cluster, "pong").unwrap();
        let (sink, got) = Collect::<String>::new();
        link(&back.outbox, &sink.inbox).unwrap();
        link(&back.signal, &sink.control).unwrap();
        let (feed, finish) = (out.inbox.to_ref(), out.control.to_ref());
        let scheduler = Scheduler::new();
        scheduler.activate(back);
        scheduler.activate(out);
        scheduler.activate(sink);
        let produce = async move {
            for i in 0..5_000 {
                feed.send(format!("message {i}")).await.unwrap();
            }
            finish.send(Control::ProducerFinished).await.unwrap();
        };
        tokio::time::timeout(Duration::from_secs(60), async {
            tokio::join!(scheduler.run(), produce)
        })
        .await
        .expect("the round trip ended: ProducerFinished crossed both ways");
        got.take()
    });
    let expected: Vec<String> = (0..5_000).map(|i| format!("MESSAGE {i}")).collect();
    assert_eq!(got, expected);
    // The echo process ended by itself, because the end of the stream reached it.
    let status = echo.wait().unwrap();
    assert!(status.success(), "echo exited with {status}");
}

#[test]
fn edges_serve_the_live_stream_in_real_time_and_a_late_edge_starts_clean() {
    let Some(server) = NatsServer::start(false) else {
        return;
    };
    let url = server.url();
    let file = data("demo.ogg");
    let mut source = Command::new(NODE)
        .args(["source", "--nats", &url, "--loop", "--file", &file])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let edge = |bind: &str| Server::start(NODE, &["edge", "--nats", &url, "--bind", bind]);
    let early = edge("127.0.0.1:0");
    // A full burst is there to be had at both edges; the second joins the stream mid-way.
    std::thread::sleep(Duration::from_millis(3_000));
    let late = edge("127.0.0.1:0");
    std::thread::sleep(Duration::from_millis(2_500));
    let wall = 5.0;
    let (body_early, body_late) = std::thread::scope(|s| {
        let a = s.spawn(|| listen_http(&early.addr, Duration::from_secs_f64(wall)));
        let b = s.spawn(|| listen_http(&late.addr, Duration::from_secs_f64(wall)));
        (a.join().unwrap(), b.join().unwrap())
    });
    let slack = 2.0 + one_page("demo.ogg");
    assert_real_time("early edge", audio_seconds(&body_early), wall, slack);
    assert_real_time("late edge", audio_seconds(&body_late), wall, slack);
    // A third-party decoder reads the late edge's stream without a complaint.
    if have("ffmpeg") {
        let path = std::env::temp_dir().join(format!("cluster-late-{}.ogg", std::process::id()));
        std::fs::write(&path, &body_late).unwrap();
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&path)
            .args(["-f", "null", "-"])
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(
            out.status.success(),
            "ffmpeg failed on the late edge's stream"
        );
        let complaints = String::from_utf8_lossy(&out.stderr);
        assert!(complaints.trim().is_empty(), "ffmpeg: {complaints}");
    }
    early.interrupt();
    late.interrupt();
    let _ = source.kill();
    let _ = source.wait();
}

#[test]
fn a_service_in_three_processes_spreads_calls_and_survives_a_kill() {
    let Some(server) = NatsServer::start(false) else {
        return;
    };
    let url = server.url();
    let mut instances: Vec<std::process::Child> = (0..3)
        .map(|id| {
            Command::new(NODE)
                .args([
                    "service",
                    "--nats",
                    &url,
                    "--name",
                    "upper",
                    "--id",
                    &id.to_string(),
                ])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let cluster = Cluster::connect(&url).await.unwrap();
        // Until all three answer.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2_000 {
            if let Ok(answer) = cluster.call::<String, String>("upper", &"hi".into()).await {
                seen.insert(answer);
            }
            if seen.len() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(seen.len(), 3, "not every instance answered: {seen:?}");
        let mut per_instance = [0u32; 3];
        for i in 0..300 {
            let answer: String = cluster.call("upper", &format!("call {i}")).await.unwrap();
            let (id, text) = answer.split_once(':').unwrap();
            assert_eq!(text, format!("CALL {i}"));
            per_instance[id.parse::<usize>().unwrap()] += 1;
        }
        assert!(
            per_instance.iter().all(|&n| n >= 30),
            "calls were not spread: {per_instance:?}"
        );
        // kill -9 one instance: every later call is still answered, by the other two. A call
        // the broker routes to the dead instance before it has noticed the closed connection
        // is lost (NATS does not redeliver a request), so the caller first retries a short
        // call until one is answered, as a client of a real service would.
        instances[1].kill().unwrap();
        instances[1].wait().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while cluster
            .call_within::<String, String>(
                "upper",
                &"settle".to_string(),
                Duration::from_millis(200),
            )
            .await
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "no instance answered after the kill"
            );
        }
        let mut failed = 0;
        for i in 0..300 {
            match cluster
                .call::<String, String>("upper", &format!("after {i}"))
                .await
            {
                Ok(answer) => assert!(!answer.starts_with("1:"), "a killed instance answered"),
                Err(e) => {
                    failed += 1;
                    eprintln!("call {i} after the kill: {e}");
                }
            }
        }
        assert_eq!(failed, 0, "calls failed after one instance was killed");
    });
    for mut instance in instances {
        let _ = instance.kill();
        let _ = instance.wait();
    }
}

#[test]
fn an_edge_keeps_its_listeners_across_a_restart_of_its_source() {
    let Some(server) = NatsServer::start(false) else {
        return;
    };
    let url = server.url();
    let file = data("demo.ogg");
    let start_source = || {
        Command::new(NODE)
            .args(["source", "--nats", &url, "--loop", "--file", &file])
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut first = start_source();
    let mut edge = Server::start(NODE, &["edge", "--nats", &url, "--bind", "127.0.0.1:0"]);
    std::thread::sleep(Duration::from_millis(2_500));
    let wall = 12.0;
    let addr = edge.addr.clone();
    let listener = std::thread::spawn(move || listen_http(&addr, Duration::from_secs_f64(wall)));
    // Three seconds in, the source dies without a word; another starts a second later.
    std::thread::sleep(Duration::from_secs(3));
    first.kill().unwrap();
    first.wait().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let mut second = start_source();
    let body = listener.join().unwrap();
    let heard = audio_seconds(&body);
    // Before the kill: the burst and 3 s. After: the edge notices the silence (3 s), joins
    // the new source and the same connection plays on — far more than the first part alone.
    assert!(
        heard > 8.0,
        "{heard:.2} s of audio in {wall} s: the listener did not hear the restarted source"
    );
    eprintln!("across a source restart: {heard:.2} s of audio in {wall} s on one connection");
    assert!(edge.child.try_wait().unwrap().is_none(), "the edge exited");
    let _ = second.kill();
    let _ = second.wait();
    let _ = edge.child.kill();
}
