//! `Fanout`: each policy for a subscriber that falls behind, subscribers that leave, and the
//! accounting (delivered + dropped + missed adds up).

mod common;

use common::block_on;

use axon_core::components::Collect;
use axon_core::{Control, Fanout, Inbox, Offer, Policy, Scheduler, Subscription};

fn drain<T: 'static>(inbox: &mut Inbox<T>) -> Vec<T> {
    std::iter::from_fn(|| inbox.try_recv()).collect()
}

#[test]
fn block_waits_for_room_and_loses_nothing() {
    block_on(async {
        let mut slow: Inbox<u32> = Inbox::with_capacity(2);
        let mut fast: Inbox<u32> = Inbox::with_capacity(100);
        let mut fanout = Fanout::new();
        fanout.subscribe(Subscription::new(slow.to_ref(), Policy::Block));
        fanout.subscribe(Subscription::new(fast.to_ref(), Policy::Block));
        let publish = async {
            for n in 0..20 {
                let outcome = fanout.publish(n).await;
                assert_eq!((outcome.delivered, outcome.dropped), (2, 0));
            }
        };
        let read = async {
            let mut got = Vec::new();
            while got.len() < 20 {
                got.push(slow.recv().await);
            }
            got
        };
        let ((), got) = futures::join!(publish, read);
        assert_eq!(got, (0..20).collect::<Vec<_>>());
        assert_eq!(drain(&mut fast), (0..20).collect::<Vec<_>>());
    });
}

#[test]
fn drop_oldest_keeps_the_newest_and_counts_the_rest() {
    block_on(async {
        let mut slow: Inbox<u32> = Inbox::with_capacity(3);
        let mut fanout = Fanout::new();
        fanout.subscribe(Subscription::new(slow.to_ref(), Policy::DropOldest));
        let mut dropped = 0;
        for n in 0..10 {
            dropped += fanout.publish(n).await.dropped;
        }
        let got = drain(&mut slow);
        assert_eq!(got, vec![7, 8, 9]);
        assert_eq!(got.len() + dropped, 10, "received + dropped = published");
    });
}

#[test]
fn disconnect_hands_back_the_lagging_subscriber_and_others_go_on() {
    block_on(async {
        let slow: Inbox<u32> = Inbox::with_capacity(2);
        let mut slow_control: Inbox<Control> = Inbox::new();
        let mut fast: Inbox<u32> = Inbox::with_capacity(100);
        let mut fanout = Fanout::new();
        fanout.subscribe(
            Subscription::new(slow.to_ref(), Policy::Disconnect)
                .with_control(slow_control.to_ref()),
        );
        fanout.subscribe(Subscription::new(fast.to_ref(), Policy::Block));
        let mut lagging = Vec::new();
        for n in 0..5 {
            lagging.extend(fanout.publish(n).await.lagging);
        }
        assert_eq!(lagging.len(), 1, "removed once, when its inbox was full");
        assert!(lagging[0].data.same_inbox(&slow.to_ref()));
        assert_eq!(fanout.len(), 1);
        lagging[0].tell(Control::failed("test", "fell behind"));
        assert!(matches!(slow_control.try_recv(), Some(Control::Failed(_))));
        assert_eq!(drain(&mut fast), (0..5).collect::<Vec<_>>());
    });
}

#[test]
fn publish_now_never_waits_and_reports_a_full_blocking_subscriber() {
    let full: Inbox<u32> = Inbox::with_capacity(1);
    let mut fanout = Fanout::new();
    fanout.subscribe(Subscription::new(full.to_ref(), Policy::Block));
    assert_eq!(fanout.publish_now(1).delivered, 1);
    let outcome = fanout.publish_now(2);
    assert_eq!((outcome.delivered, outcome.lagging.len()), (0, 1));
    assert!(fanout.is_empty());
}

#[test]
fn subscribers_that_exit_or_leave_are_forgotten() {
    block_on(async {
        let scheduler = Scheduler::new();
        let (sink, _) = Collect::<u32>::new();
        let exited = sink.inbox.to_ref();
        sink.control
            .to_ref()
            .try_send(Control::ShutdownMicroprocess)
            .unwrap();
        scheduler.activate(sink);
        scheduler.run().await; // the sink stops, and its inbox closes
        let mut left: Inbox<u32> = Inbox::new();
        let mut fanout = Fanout::new();
        fanout.subscribe(Subscription::new(exited, Policy::Block));
        fanout.subscribe(Subscription::new(left.to_ref(), Policy::Block));
        assert!(fanout.unsubscribe(&left.to_ref()).is_some());
        assert!(fanout.unsubscribe(&left.to_ref()).is_none());
        let outcome = fanout.publish(1).await;
        assert_eq!((outcome.delivered, outcome.gone), (0, 1));
        assert!(fanout.is_empty());
        assert_eq!(drain(&mut left), Vec::<u32>::new());
    });
}

#[test]
fn one_subscription_offers_by_its_policy() {
    let inbox: Inbox<u32> = Inbox::with_capacity(1);
    let block = Subscription::new(inbox.to_ref(), Policy::Block);
    let drop_oldest = Subscription::new(inbox.to_ref(), Policy::DropOldest);
    let disconnect = Subscription::new(inbox.to_ref(), Policy::Disconnect);
    assert_eq!(block.offer(1), Offer::Delivered);
    assert_eq!(block.offer(2), Offer::Full(2));
    assert_eq!(disconnect.offer(3), Offer::Lagging(3));
    assert_eq!(drop_oldest.offer(4), Offer::Displaced(1));
}
