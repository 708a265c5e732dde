//! `Fanout`: one value to many inboxes, with a policy for a subscriber that falls behind.
//!
//! An outbox feeds one destination, so fan-out is a job of its own. The `Splitter`, the
//! Backplane (kamaelia-cat) and the live HTTP server (kamaelia-net) are all this one type with a
//! different front: they differ in how subscribers join, not in how a value reaches them.

use crate::control::Control;
use crate::error::TrySendError;
use crate::inbox::InboxRef;
use std::fmt;

/// What happens when a subscriber's inbox is full as a value is published to it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Policy {
    /// The publisher waits for room (backpressure through the fan-out): nothing is lost, and the
    /// slowest subscriber sets the pace.
    Block,
    /// The oldest value waiting in the subscriber's inbox is dropped (and counted) to make room:
    /// the subscriber always gets the newest values.
    DropOldest,
    /// The subscriber is removed and handed back to the publisher to be told why: right for
    /// streams such as Ogg pages, where a gap corrupts everything after it.
    Disconnect,
}

/// Where a fan-out delivers to one subscriber, and what it does when that subscriber lags.
pub struct Subscription<T> {
    /// The subscriber's data inbox.
    pub data: InboxRef<T>,
    /// The subscriber's control inbox, if it has one: where it is told the stream ended, or
    /// why it was disconnected.
    pub control: Option<InboxRef<Control>>,
    /// What to do when `data` is full.
    pub policy: Policy,
}

impl<T> Clone for Subscription<T> {
    fn clone(&self) -> Self {
        Subscription {
            data: self.data.clone(),
            control: self.control.clone(),
            policy: self.policy,
        }
    }
}

impl<T> fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// What [`Subscription::offer`] did with one value.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer<T> {
    /// It is in the subscriber's inbox.
    Delivered,
    /// It is in the inbox, and to make room the oldest waiting value (returned) was dropped.
    Displaced(T),
    /// The inbox is full and the policy is [`Policy::Block`]: the value is handed back, to be
    /// sent when there is room.
    Full(T),
    /// The inbox is full and the policy is [`Policy::Disconnect`]: the value is handed back and
    /// the subscriber should be dropped.
    Lagging(T),
    /// The subscriber has exited.
    Gone(T),
}

impl<T: 'static> Subscription<T> {
    /// A subscription to `data` with no control inbox.
    pub fn new(data: InboxRef<T>, policy: Policy) -> Self {
        Subscription {
            data,
            control: None,
            policy,
        }
    }

    /// Also tells `control` when the stream ends or the subscriber is disconnected.
    pub fn with_control(mut self, control: InboxRef<Control>) -> Self {
        self.control = Some(control);
        self
    }

    /// Offers `value` now, under this subscription's policy; never waits.
    pub fn offer(&self, value: T) -> Offer<T> {
        match self.data.try_send(value) {
            Ok(()) => Offer::Delivered,
            Err(TrySendError::Closed(v)) => Offer::Gone(v),
            Err(TrySendError::Full(v)) => match self.policy {
                Policy::Block => Offer::Full(v),
                Policy::Disconnect => Offer::Lagging(v),
                Policy::DropOldest => match self.data.send_displacing(v) {
                    Ok(Some(oldest)) => Offer::Displaced(oldest),
                    Ok(None) => Offer::Delivered,
                    Err(v) => Offer::Gone(v),
                },
            },
        }
    }

    /// Sends `message` to the control inbox, if there is one and it has room (a control inbox
    /// that is full or gone is already being told something that ends it).
    pub fn tell(&self, message: Control) {
        if let Some(control) = &self.control {
            let _ = control.try_send(message);
        }
    }
}

/// How one [`Fanout::publish`] went.
#[derive(Debug)]
pub struct Published<T> {
    /// Subscribers that received the value.
    pub delivered: usize,
    /// Old values dropped to make room ([`Policy::DropOldest`]).
    pub dropped: usize,
    /// Subscribers that had exited, now forgotten.
    pub gone: usize,
    /// Subscribers removed for falling behind ([`Policy::Disconnect`]): tell them why (for
    /// example with [`Subscription::tell`] and [`Control::failed`]).
    pub lagging: Vec<Subscription<T>>,
}

impl<T> Default for Published<T> {
    fn default() -> Self {
        Published {
            delivered: 0,
            dropped: 0,
            gone: 0,
            lagging: Vec::new(),
        }
    }
}

/// One value to many subscribers, each with its own [`Policy`] for falling behind. Values are
/// cloned per subscriber, so share payloads (`bytes::Bytes`, `Rc`) to make a clone a
/// reference-count increment. Subscribers join and leave between values.
///
/// ```
/// use axon_core::{Fanout, Inbox, Policy, Subscription};
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// let (mut fast, mut slow) = (Inbox::<u32>::with_capacity(8), Inbox::<u32>::with_capacity(1));
/// let mut fanout = Fanout::new();
/// fanout.subscribe(Subscription::new(fast.to_ref(), Policy::Block));
/// fanout.subscribe(Subscription::new(slow.to_ref(), Policy::DropOldest));
/// for n in 1..=3 {
///     fanout.publish(n).await;
/// }
/// assert_eq!((fast.try_recv(), fast.try_recv(), fast.try_recv()), (Some(1), Some(2), Some(3)));
/// assert_eq!(slow.try_recv(), Some(3)); // 1 and 2 were dropped to make room
/// # });
/// ```
pub struct Fanout<T> {
    subscribers: Vec<Subscription<T>>,
}

impl<T> Default for Fanout<T> {
    fn default() -> Self {
        Fanout {
            subscribers: Vec::new(),
        }
    }
}

impl<T> fmt::Debug for Fanout<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fanout")
            .field("subscribers", &self.subscribers.len())
            .finish()
    }
}

impl<T: Clone + 'static> Fanout<T> {
    /// A fan-out with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a subscriber; it receives every value published from now on.
    pub fn subscribe(&mut self, subscription: Subscription<T>) {
        self.subscribers.push(subscription);
    }

    /// Removes the subscriber with this data inbox, returning its subscription.
    pub fn unsubscribe(&mut self, data: &InboxRef<T>) -> Option<Subscription<T>> {
        let at = self
            .subscribers
            .iter()
            .position(|s| s.data.same_inbox(data))?;
        Some(self.subscribers.swap_remove(at))
    }

    /// Subscribers now.
    pub fn len(&self) -> usize {
        self.subscribers.len()
    }

    /// True with no subscribers.
    pub fn is_empty(&self) -> bool {
        self.subscribers.is_empty()
    }

    /// The current subscribers.
    pub fn iter(&self) -> impl Iterator<Item = &Subscription<T>> {
        self.subscribers.iter()
    }

    /// Removes and returns every subscriber.
    pub fn drain(&mut self) -> impl Iterator<Item = Subscription<T>> {
        self.subscribers.drain(..)
    }

    /// Tells every subscriber `message` on its control inbox (the end of the stream).
    pub fn tell_all(&self, message: &Control) {
        for subscriber in &self.subscribers {
            subscriber.tell(message.clone());
        }
    }

    /// Publishes `value` to every subscriber; waits only for [`Policy::Block`] subscribers that
    /// are full, each in turn. Subscribers that have exited are forgotten; lagging
    /// [`Policy::Disconnect`] ones are removed and returned.
    pub async fn publish(&mut self, value: T) -> Published<T> {
        let mut blocked = Vec::new();
        let mut published = self.deliver(value, |full, value| blocked.push((full, value)));
        for (data, value) in blocked {
            match data.send(value).await {
                Ok(()) => published.delivered += 1,
                Err(_) => {
                    published.gone += 1;
                    self.unsubscribe(&data);
                }
            }
        }
        published
    }

    /// Publishes `value` without waiting. A [`Policy::Block`] subscriber that is full misses
    /// the value and is removed and returned in `lagging`, as a `Disconnect` one would be: a
    /// fan-out that must never wait has no other bounded choice.
    pub fn publish_now(&mut self, value: T) -> Published<T> {
        let mut lagging = Vec::new();
        let mut published = self.deliver(value, |data, _| lagging.push(data));
        for data in lagging {
            if let Some(subscription) = self.unsubscribe(&data) {
                published.lagging.push(subscription);
            }
        }
        published
    }

    /// Offers `value` to everyone; full `Block` subscribers go to `on_full` with their copy.
    fn deliver(&mut self, value: T, mut on_full: impl FnMut(InboxRef<T>, T)) -> Published<T> {
        let mut published = Published::default();
        let mut i = 0;
        while i < self.subscribers.len() {
            match self.subscribers[i].offer(value.clone()) {
                Offer::Delivered => published.delivered += 1,
                Offer::Displaced(_) => {
                    published.delivered += 1;
                    published.dropped += 1;
                }
                Offer::Full(v) => on_full(self.subscribers[i].data.clone(), v),
                Offer::Lagging(_) => {
                    published.lagging.push(self.subscribers.swap_remove(i));
                    continue;
                }
                Offer::Gone(_) => {
                    published.gone += 1;
                    self.subscribers.swap_remove(i);
                    continue;
                }
            }
            i += 1;
        }
        published
    }
}
