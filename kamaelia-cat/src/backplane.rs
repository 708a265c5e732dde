//! The Backplane: a named many-to-many bus built on CAT services.

use crate::Cat;
use axon_core::{
    Boxes, Component, ComponentError, Control, FailureInfo, Inbox, InboxRef, Next, Outbox,
    TrySendError,
};
use std::collections::VecDeque;

/// What a subscriber does when it falls behind by its bound.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Policy {
    /// The publisher waits (backpressure through the bus): nothing is lost, the slowest
    /// subscriber sets the pace.
    Block,
    /// The oldest waiting value is dropped and counted (`backplane.<name>.dropped`).
    DropOldest,
    /// The subscriber is removed and told why (`Control::Failed` on its `signal`): right for
    /// streams such as Ogg pages, where a gap corrupts what follows.
    Disconnect,
}

/// Where a backplane delivers to one subscriber.
pub struct Subscription<T> {
    /// The subscriber's data inbox.
    pub data: InboxRef<T>,
    /// The subscriber's control inbox: the end of the bus arrives here.
    pub control: InboxRef<Control>,
}

impl<T> std::fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

/// Sent to `backplane.<name>.requests`.
pub enum BackplaneRequest<T> {
    /// Start delivering to this subscriber.
    Subscribe(Subscription<T>),
    /// Stop delivering to the subscriber with this data inbox.
    Unsubscribe(InboxRef<T>),
}

impl<T> std::fmt::Debug for BackplaneRequest<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackplaneRequest::Subscribe(_) => f.write_str("Subscribe(..)"),
            BackplaneRequest::Unsubscribe(_) => f.write_str("Unsubscribe(..)"),
        }
    }
}

/// A named bus: values published to it (through [`PublishTo`], or by anyone holding the
/// `backplane.<name>` service) reach every current subscriber ([`SubscribeTo`]). Values are
/// cloned per subscriber — for `bytes::Bytes` that is a reference-count increment, never a copy.
/// `ProducerFinished` (or a shutdown) on `control` ends the bus and reaches every subscriber
/// after the values published before it.
///
/// Activate the backplane before its publishers and subscribers: they find it by name when they
/// start.
#[derive(Boxes)]
pub struct Backplane<T: Clone + 'static> {
    /// Values to publish (registered as the service `backplane.<name>`).
    pub inbox: Inbox<T>,
    /// Subscriptions (registered as `backplane.<name>.requests`).
    pub requests: Inbox<BackplaneRequest<T>>,
    /// `ProducerFinished` / `ShutdownMicroprocess` end the bus.
    pub control: Inbox<Control>,
    name: String,
}

impl<T: Clone + 'static> Backplane<T> {
    /// A bus called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Backplane {
            inbox: Inbox::new(),
            requests: Inbox::new(),
            control: Inbox::new(),
            name: name.into(),
        }
    }
}

fn apply<T: 'static>(subscribers: &mut Vec<Subscription<T>>, request: BackplaneRequest<T>) {
    match request {
        BackplaneRequest::Subscribe(s) => subscribers.push(s),
        BackplaneRequest::Unsubscribe(gone) => subscribers.retain(|s| !s.data.same_inbox(&gone)),
    }
}

impl<T: Clone + 'static> Component for Backplane<T> {
    async fn main(mut self) -> Result<(), ComponentError> {
        let cat = Cat::current()?;
        let data_service = format!("backplane.{}", self.name);
        let request_service = format!("backplane.{}.requests", self.name);
        let subscribers_value = format!("backplane.{}.subscribers", self.name);
        let published_value = format!("backplane.{}.published", self.name);
        cat.register_service(&data_service, self.inbox.to_ref())?;
        cat.register_service(&request_service, self.requests.to_ref())?;
        cat.set_value(&subscribers_value, 0)?;
        cat.set_value(&published_value, 0)?;
        let mut subscribers: Vec<Subscription<T>> = Vec::new();
        let mut published: u64 = 0;
        let ending = loop {
            tokio::select! {
                biased;
                request = self.requests.recv() => {
                    apply(&mut subscribers, request);
                    cat.set_value(&subscribers_value, subscribers.len())?;
                }
                next = self.inbox.next_or_control(&mut self.control) => match next {
                    Next::Data(value) => {
                        // Joins and leaves take effect before the next value.
                        while let Some(request) = self.requests.try_recv() {
                            apply(&mut subscribers, request);
                        }
                        let mut i = 0;
                        while i < subscribers.len() {
                            let data = &subscribers[i].data;
                            // Straight in when there is room; wait (Block) only when not.
                            let delivered = match data.try_send(value.clone()) {
                                Ok(()) => true,
                                Err(TrySendError::Full(v)) => data.send(v).await.is_ok(),
                                Err(_) => false,
                            };
                            if delivered {
                                i += 1;
                            } else {
                                subscribers.swap_remove(i); // its owner exited
                            }
                        }
                        published += 1;
                        if self.inbox.is_empty() {
                            // Stats when the bus is idle, not per value.
                            cat.set_value(&published_value, published)?;
                            cat.set_value(&subscribers_value, subscribers.len())?;
                        }
                    }
                    Next::Control(message) => break message,
                },
            }
        };
        cat.set_value(&published_value, published)?;
        let _ = cat.deregister_service(&data_service);
        let _ = cat.deregister_service(&request_service);
        while let Some(request) = self.requests.try_recv() {
            apply(&mut subscribers, request);
        }
        for subscriber in &subscribers {
            let _ = subscriber.control.send(ending.clone()).await;
        }
        cat.set_value(&subscribers_value, 0)?;
        Ok(())
    }
}

/// Publishes everything on its `inbox` to the backplane `name`. Its own `ProducerFinished` ends
/// only this publisher, not the bus.
#[derive(Boxes)]
pub struct PublishTo<T: 'static> {
    /// Values to publish.
    pub inbox: Inbox<T>,
    /// `ProducerFinished` ends this publisher.
    pub control: Inbox<Control>,
    name: String,
}

impl<T: 'static> PublishTo<T> {
    /// A publisher to the backplane `name`.
    pub fn new(name: impl Into<String>) -> Self {
        PublishTo {
            inbox: Inbox::new(),
            control: Inbox::new(),
            name: name.into(),
        }
    }
}

impl<T: 'static> Component for PublishTo<T> {
    async fn main(mut self) -> Result<(), ComponentError> {
        let bus = Cat::current()?.retrieve_service::<T>(&format!("backplane.{}", self.name))?;
        while let Some(value) = self.inbox_or_finished().await {
            bus.send(value).await?;
        }
        Ok(())
    }
}

/// Receives everything published to the backplane `name` from the moment it starts, on its
/// `outbox`. Between the bus and the consumer sits a queue of at most `bound` values with a
/// [`Policy`] for when the consumer falls behind — memory never grows without bound.
#[derive(Boxes)]
pub struct SubscribeTo<T: Clone + 'static> {
    /// Values from the bus.
    pub inbox: Inbox<T>,
    /// The end of the bus, or a shutdown from whoever owns this subscriber.
    pub control: Inbox<Control>,
    /// The values, in order.
    pub outbox: Outbox<T>,
    /// `ProducerFinished` when the bus ends; `Failed` when disconnected for falling behind.
    pub signal: Outbox<Control>,
    name: String,
    policy: Policy,
    bound: usize,
}

impl<T: Clone + 'static> SubscribeTo<T> {
    /// A subscriber to `name` that may fall `bound` values behind (at least 1) before `policy`
    /// applies.
    pub fn new(name: impl Into<String>, policy: Policy, bound: usize) -> Self {
        SubscribeTo {
            inbox: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            name: name.into(),
            policy,
            bound: bound.max(1),
        }
    }
}

impl<T: Clone + 'static> Component for SubscribeTo<T> {
    async fn main(mut self) -> Result<(), ComponentError> {
        let cat = Cat::current()?;
        let requests = cat.retrieve_service::<BackplaneRequest<T>>(&format!(
            "backplane.{}.requests",
            self.name
        ))?;
        requests
            .send(BackplaneRequest::Subscribe(Subscription {
                data: self.inbox.to_ref(),
                control: self.control.to_ref(),
            }))
            .await?;
        let me = self.inbox.to_ref();
        let unsubscribe = || BackplaneRequest::Unsubscribe(me.clone());
        let mut queue: VecDeque<T> = VecDeque::new();
        loop {
            // Deliver what is queued while the consumer has room.
            while let Some(value) = queue.pop_front() {
                match self.outbox.try_send(value) {
                    Ok(()) => {}
                    Err(TrySendError::Full(value)) => {
                        queue.push_front(value);
                        break;
                    }
                    Err(_) => {
                        // The consumer is gone: so is the point of subscribing.
                        let _ = requests.try_send(unsubscribe());
                        return Ok(());
                    }
                }
            }
            // Take what has arrived: straight on if the queue is empty, else queued by policy.
            while self.policy != Policy::Block || queue.len() < self.bound {
                let Some(value) = self.inbox.try_recv() else {
                    break;
                };
                let value = if queue.is_empty() {
                    match self.outbox.try_send(value) {
                        Ok(()) => continue,
                        Err(e) => e.into_inner(),
                    }
                } else {
                    value
                };
                if !self.admit(&mut queue, value, &cat).await? {
                    let _ = requests.try_send(unsubscribe());
                    return Ok(());
                }
            }
            let accepting = self.policy != Policy::Block || queue.len() < self.bound;
            tokio::select! {
                biased;
                message = self.control.recv() => {
                    // Everything published before the end is already in the inbox.
                    while let Some(value) = self.inbox.try_recv() {
                        queue.push_back(value);
                    }
                    let _ = requests.try_send(unsubscribe());
                    if matches!(message, Control::ProducerFinished) {
                        for value in queue.drain(..) {
                            self.outbox.send(value).await?;
                        }
                    }
                    self.signal.send(message).await?;
                    return Ok(());
                }
                permit = self.outbox.reserve(), if !queue.is_empty() => {
                    let permit = permit?;
                    if let Some(value) = queue.pop_front() {
                        let _ = permit.send(value);
                    }
                }
                value = self.inbox.recv(), if accepting => {
                    if !self.admit(&mut queue, value, &cat).await? {
                        let _ = requests.try_send(unsubscribe());
                        return Ok(());
                    }
                }
            }
        }
    }
}

impl<T: Clone + 'static> SubscribeTo<T> {
    /// Queues `value`, applying the policy if the queue is at its bound. `false` means this
    /// subscriber has disconnected itself (and said why on `signal`).
    async fn admit(
        &self,
        queue: &mut VecDeque<T>,
        value: T,
        cat: &Cat,
    ) -> Result<bool, ComponentError> {
        if queue.len() >= self.bound {
            match self.policy {
                Policy::Block => {}
                Policy::DropOldest => {
                    queue.pop_front();
                    cat.add_to_value(&format!("backplane.{}.dropped", self.name), 1);
                }
                Policy::Disconnect => {
                    cat.add_to_value(&format!("backplane.{}.disconnected", self.name), 1);
                    let why = format!(
                        "disconnected from backplane {:?}: fell more than {} values behind",
                        self.name, self.bound
                    );
                    tracing::warn!("{why}");
                    self.signal
                        .send(Control::Failed(Box::new(failure(&self.name, why))))
                        .await?;
                    return Ok(false);
                }
            }
        }
        queue.push_back(value);
        Ok(true)
    }
}

fn failure(name: &str, message: String) -> FailureInfo {
    let mut info = FailureInfo::new("SubscribeTo", message);
    info.id = format!("backplane {name}");
    info
}
