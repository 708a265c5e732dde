//! Composition: Pipeline, Graphline, Carousel, Seq, Par, and the small components.

mod common;

use axon_core::components::{Collect, DataSource, Detuple, NullSink, Splitter, filter, map};
use axon_core::{
    Control, Graphline, Inbox, LinkError, Outbox, Par, Pipeline, Scheduler, link, link_named,
    pipeline,
};
use bytes::Bytes;
use common::{Relay, block_on};

#[test]
fn pipelines_work_across_types_and_nest() {
    block_on(async {
        let (sink, out) = Collect::<Bytes>::new();
        let inner = pipeline!(map(|n: u64| n + 1), map(|n: u64| format!("<{n}>"))).unwrap();
        let outer = pipeline!(
            DataSource::new(0..3u64),
            inner, // a pipeline is a stage
            map(|s: String| Bytes::from(s.into_bytes())),
            sink,
        )
        .unwrap();
        let scheduler = Scheduler::new();
        scheduler.activate(outer);
        scheduler.run().await;
        assert_eq!(
            out.take(),
            [Bytes::from("<1>"), Bytes::from("<2>"), Bytes::from("<3>")]
        );
    });
}

#[test]
fn a_pipeline_passes_its_own_boxes_through() {
    block_on(async {
        let middle = pipeline!(Relay::<u32>::default(), map(|n: u32| n * 2)).unwrap();
        let source = DataSource::new([1u32, 2, 3]);
        let (sink, out) = Collect::new();
        link(&source.outbox, &middle.inbox).unwrap();
        link(&source.signal, &middle.control).unwrap();
        link(&middle.outbox, &sink.inbox).unwrap();
        link(&middle.signal, &sink.control).unwrap();
        let inbox_ref = middle.inbox.to_ref();
        let scheduler = Scheduler::new();
        scheduler.activate(source);
        scheduler.activate(middle);
        scheduler.activate(sink);
        scheduler.run().await;
        assert_eq!(out.take(), [2, 4, 6]);
        assert_eq!(
            inbox_ref.pushes(),
            0,
            "the pipeline's own inbox never held a message"
        );
    });
}

#[test]
fn topology_shows_nesting_and_dot_draws_clusters() {
    block_on(async {
        let p = pipeline!(Relay::<u8>::default(), Relay::<u8>::default()).unwrap();
        let scheduler = Scheduler::new();
        let handle = scheduler.activate(p);
        let run = scheduler.run();
        let look = async {
            for _ in 0..5 {
                tokio::task::yield_now().await;
            }
            let topo = scheduler.topology();
            let children: Vec<_> = topo
                .components
                .iter()
                .filter(|c| c.parent == Some(handle.id()))
                .collect();
            assert_eq!(children.len(), 2);
            let dot = topo.to_dot();
            assert!(dot.contains("subgraph cluster_"), "{dot}");
            scheduler.shutdown();
        };
        futures::join!(run, look);
    });
}

#[test]
fn graphline_wires_named_children_and_signals_when_done() {
    block_on(async {
        let (sink, out) = Collect::<String>::new();
        let graph = Graphline::<u32, String>::builder()
            .child("double", map(|n: u32| n * 2))
            .child("text", map(|n: u32| n.to_string()))
            .link(("self", "inbox"), ("double", "inbox"))
            .link(("double", "outbox"), ("text", "inbox"))
            .link(("double", "signal"), ("text", "control"))
            .link(("text", "outbox"), ("self", "outbox"))
            .build()
            .unwrap();
        let feed = DataSource::new([1u32, 2]);
        link(&feed.outbox, &graph.inbox).unwrap();
        link(&feed.signal, &graph.control).unwrap(); // forwarded to `double` (no control link)
        link(&graph.outbox, &sink.inbox).unwrap();
        link(&graph.signal, &sink.control).unwrap();
        let scheduler = Scheduler::new();
        scheduler.activate(feed);
        scheduler.activate(graph);
        scheduler.activate(sink);
        scheduler.run().await;
        assert_eq!(out.take(), ["2", "4"]);
    });
}

#[test]
fn a_bad_graphline_table_is_a_clear_error_at_construction() {
    let unknown = Graphline::<(), ()>::builder()
        .child("a", Relay::<u8>::default())
        .link(("a", "outbox"), ("b", "inbox"))
        .build()
        .err()
        .unwrap();
    assert!(
        matches!(unknown, LinkError::NoSuchComponent { .. }),
        "{unknown}"
    );

    let no_box = Graphline::<(), ()>::builder()
        .child("a", Relay::<u8>::default())
        .child("b", Relay::<u8>::default())
        .link(("a", "outbax"), ("b", "inbox"))
        .build()
        .err()
        .unwrap();
    assert!(matches!(no_box, LinkError::NoSuchBox { .. }), "{no_box}");
    assert!(
        no_box.to_string().contains("outbox"),
        "lists what exists: {no_box}"
    );

    let mismatch = Graphline::<(), ()>::builder()
        .child("a", Relay::<u8>::default())
        .child("b", Relay::<String>::default())
        .link(("a", "outbox"), ("b", "inbox"))
        .build()
        .err()
        .unwrap();
    match &mismatch {
        LinkError::TypeMismatch {
            from,
            from_type,
            to,
            to_type,
        } => {
            assert_eq!((&*from.component, *from_type), ("a", "u8"));
            assert_eq!(&*to.component, "b");
            assert!(to_type.contains("String"));
        }
        other => panic!("expected TypeMismatch, got {other}"),
    }

    let duplicate = Graphline::<(), ()>::builder()
        .child("a", Relay::<u8>::default())
        .child("b", Relay::<u8>::default())
        .child("c", Relay::<u8>::default())
        .link(("a", "outbox"), ("b", "inbox"))
        .link(("a", "outbox"), ("c", "inbox"))
        .build()
        .err()
        .unwrap();
    assert!(
        matches!(duplicate, LinkError::AlreadyLinked { .. }),
        "{duplicate}"
    );
}

#[test]
fn graphline_makes_the_self_boxes_a_link_names() {
    block_on(async {
        // ("self", "numbers") → doubler, and doubler → ("self", "doubled"): neither box exists
        // on a Graphline until the table names it; both take the child's item type.
        let graph = Graphline::<(), ()>::builder()
            .child("doubler", map(|n: u32| n * 2))
            .link(("self", "numbers"), ("doubler", "inbox"))
            .link(("doubler", "outbox"), ("self", "doubled"))
            .build()
            .unwrap();
        let (sink, out) = Collect::<u32>::new();
        let scheduler = Scheduler::new();
        let graph = scheduler.activate(graph);
        let sink = scheduler.activate(sink);
        link_named((&graph, "doubled"), (&sink, "inbox")).unwrap();
        let numbers = graph.inbox::<u32>("numbers").unwrap();
        assert!(
            graph.inbox::<String>("numbers").is_err(),
            "typed like the child's inbox"
        );
        let topology = scheduler.topology();
        assert!(topology.find_box(graph.id(), "doubled").is_some());
        let run = scheduler.run();
        let drive = async {
            for n in 1..=3 {
                numbers.send(n).await.unwrap();
            }
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
            graph.stop();
            sink.stop();
        };
        futures::join!(run, drive);
        assert_eq!(out.take(), [2, 4, 6]);
    });
}

#[test]
fn graphline_forwards_shutdown_and_reports_it() {
    block_on(async {
        let graph = Graphline::<(), ()>::builder()
            .child("a", Relay::<u8>::default())
            .child("b", Relay::<u8>::default())
            .link(("a", "outbox"), ("b", "inbox"))
            .build()
            .unwrap();
        let (watch, seen) = Collect::<Control>::new();
        link(&graph.signal, &watch.inbox).unwrap();
        let ctl: Outbox<Control> = Outbox::new();
        link(&ctl, &graph.control).unwrap();
        let watch_control = watch.control.to_ref();
        let scheduler = Scheduler::new();
        scheduler.activate(graph);
        scheduler.activate(watch);
        let run = scheduler.run();
        let drive = async {
            ctl.send(Control::ShutdownMicroprocess).await.unwrap();
            while seen.is_empty() {
                tokio::task::yield_now().await;
            }
            watch_control.send(Control::ProducerFinished).await.unwrap();
        };
        futures::join!(run, drive);
        assert_eq!(seen.take(), [Control::ShutdownMicroprocess]);
    });
}

#[test]
fn par_runs_a_group_and_finishes_after_all() {
    block_on(async {
        let (sink, out) = Collect::new();
        let (a, b) = (DataSource::new(0..100u32), DataSource::new(100..200u32));
        link(&a.outbox, &sink.inbox).unwrap();
        link(&b.outbox, &sink.inbox).unwrap();
        let par = Par::new().with(a).with(b);
        link(&par.signal, &sink.control).unwrap();
        let scheduler = Scheduler::new();
        scheduler.activate(par);
        scheduler.activate(sink);
        scheduler.run().await;
        let mut got = out.take();
        got.sort();
        assert_eq!(got, (0..200).collect::<Vec<_>>());
    });
}

#[test]
fn filter_splitter_detuple_and_null_sink() {
    block_on(async {
        let scheduler = Scheduler::new();
        let source = DataSource::new((0..10u32).map(|n| ((), n)));
        let detuple = Detuple::<(), u32>::default();
        let evens = filter(|n: &u32| n.is_multiple_of(2));
        let splitter = Splitter::<u32>::default();
        let (first, first_out) = Collect::new();
        let (second, second_out) = Collect::new();
        let null = NullSink::<u32>::new();
        let discarded = null.counter();
        let adder: Outbox<axon_core::InboxRef<u32>> = Outbox::new();
        link(&adder, &splitter.add_sink).unwrap();
        adder.try_send(first.inbox.to_ref()).unwrap();
        adder.try_send(second.inbox.to_ref()).unwrap();
        adder.try_send(null.inbox.to_ref()).unwrap();
        let first_control = first.control.to_ref();
        let second_control = second.control.to_ref();
        let null_control = null.control.to_ref();
        let chain = pipeline!(source, detuple, evens, splitter).unwrap();
        let (finish, finished) = Collect::<()>::new();
        link(&chain.signal, &finish.control).unwrap();
        scheduler.activate(chain);
        scheduler.activate(finish);
        scheduler.activate(first);
        scheduler.activate(second);
        scheduler.activate(null);
        let run = scheduler.run();
        let drive = async {
            while first_out.len() < 5 || second_out.len() < 5 || discarded.get() < 5 {
                tokio::task::yield_now().await;
            }
            for c in [&first_control, &second_control, &null_control] {
                c.send(Control::ProducerFinished).await.unwrap();
            }
        };
        futures::join!(run, drive);
        assert!(finished.is_empty());
        assert_eq!(first_out.take(), [0, 2, 4, 6, 8]);
        assert_eq!(second_out.take(), [0, 2, 4, 6, 8]);
        assert_eq!(discarded.get(), 5);
    });
}

#[test]
#[cfg(feature = "process")]
fn a_unix_process_is_a_component() {
    use axon_core::components::UnixProcess;
    block_on(async {
        let sort = UnixProcess::new("sort", Vec::<String>::new());
        let source = DataSource::new([
            Bytes::from("pear\n"),
            Bytes::from("apple\n"),
            Bytes::from("fig\n"),
        ]);
        let (sink, out) = Collect::<Bytes>::new();
        let (status_sink, status) = Collect::<Option<i32>>::new();
        link(&source.outbox, &sort.inbox).unwrap();
        link(&source.signal, &sort.control).unwrap();
        link(&sort.outbox, &sink.inbox).unwrap();
        link(&sort.signal, &sink.control).unwrap();
        link(&sort.status, &status_sink.inbox).unwrap();
        let status_control = status_sink.control.to_ref();
        let scheduler = Scheduler::new();
        scheduler.activate(source);
        scheduler.activate(sort);
        scheduler.activate(sink);
        scheduler.activate(status_sink);
        let run = scheduler.run();
        let stop = async {
            while status.is_empty() {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            status_control
                .send(Control::ProducerFinished)
                .await
                .unwrap();
        };
        futures::join!(run, stop);
        let text: Vec<u8> = out.take().iter().flat_map(|b| b.to_vec()).collect();
        assert_eq!(String::from_utf8(text).unwrap(), "apple\nfig\npear\n");
        assert_eq!(status.take(), [Some(0)]);
    });
}

#[test]
#[cfg(feature = "process")]
fn a_failing_process_reports_failed_on_signal() {
    use axon_core::components::UnixProcess;
    block_on(async {
        let fail = UnixProcess::new("sh", ["-c", "exit 3"]);
        let (watch, seen) = Collect::<Control>::new();
        link(&fail.signal, &watch.inbox).unwrap();
        let ctl: Outbox<Control> = Outbox::new();
        link(&ctl, &fail.control).unwrap();
        ctl.try_send(Control::ProducerFinished).unwrap();
        let watch_control = watch.control.to_ref();
        let scheduler = Scheduler::new();
        scheduler.activate(fail);
        scheduler.activate(watch);
        let run = scheduler.run();
        let stop = async {
            while seen.is_empty() {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            watch_control.send(Control::ProducerFinished).await.unwrap();
        };
        futures::join!(run, stop);
        match &seen.take()[..] {
            [Control::Failed(info)] => assert!(info.message.contains("3"), "{info}"),
            other => panic!("expected Failed, got {other:?}"),
        }
    });
}

#[test]
fn pipeline_builder_reports_already_linked_stages() {
    let a = Relay::<u8>::default();
    let b = Relay::<u8>::default();
    let elsewhere: Inbox<u8> = Inbox::new();
    link(&a.outbox, &elsewhere).unwrap();
    let err = Pipeline::builder(a).then(b).build().err().unwrap();
    assert!(matches!(err, LinkError::AlreadyLinked { .. }), "{err}");
}

#[test]
fn producer_finished_by_says_who_and_travels_like_producer_finished() {
    block_on(async {
        let double = map(|n: u32| n * 2);
        let (sink, out) = Collect::<u32>::new();
        let signals: Inbox<Control> = Inbox::new();
        let (input, control) = (double.inbox.to_ref(), double.control.to_ref());
        link(&double.outbox, &sink.inbox).unwrap();
        link(&double.signal, &signals).unwrap();
        input.try_send(1).unwrap();
        input.try_send(2).unwrap();
        control
            .try_send(Control::finished_by("Tally", Some(String::from("2 sent"))))
            .unwrap();
        let mut signals = signals;
        let scheduler = Scheduler::new();
        scheduler.activate(double);
        let sink = scheduler.activate(sink);
        let run = scheduler.run();
        let drive = async {
            let message = signals.recv().await;
            sink.stop();
            message
        };
        let ((), message) = futures::join!(run, drive);
        assert_eq!(out.take(), [2, 4], "drained before finishing");
        let Control::ProducerFinishedBy(finished) = message else {
            panic!("forwarded as sent, got {message:?}")
        };
        assert_eq!(finished.sender, "Tally");
        assert_eq!(
            finished.last::<String>().map(String::as_str),
            Some("2 sent")
        );
    });
}
