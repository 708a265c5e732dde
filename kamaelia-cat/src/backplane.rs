//! The Backplane: a named many-to-many bus built on CAT services and axon-core's [`Fanout`].

use crate::Cat;
use axon_core::{
    Boxes, Component, ComponentError, Control, FailureInfo, Fanout, Inbox, InboxRef, Next, Outbox,
};
pub use axon_core::{Policy, Subscription};

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

fn apply<T: Clone + 'static>(subscribers: &mut Fanout<T>, request: BackplaneRequest<T>) {
    match request {
        BackplaneRequest::Subscribe(s) => subscribers.subscribe(s),
        BackplaneRequest::Unsubscribe(gone) => {
            subscribers.unsubscribe(&gone);
        }
    }
}

impl<T: Clone + 'static> Component for Backplane<T> {
    async fn main(mut self) -> Result<(), ComponentError> {
        let cat = Cat::current()?;
        let name = &self.name;
        let data_service = format!("backplane.{name}");
        let request_service = format!("backplane.{name}.requests");
        let subscribers_value = format!("backplane.{name}.subscribers");
        let published_value = format!("backplane.{name}.published");
        cat.register_service(&data_service, self.inbox.to_ref())?;
        cat.register_service(&request_service, self.requests.to_ref())?;
        cat.set_value(&subscribers_value, 0)?;
        cat.set_value(&published_value, 0)?;
        let mut subscribers = Fanout::new();
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
                        let outcome = subscribers.publish(value).await;
                        if outcome.dropped > 0 {
                            cat.add_to_value(&format!("backplane.{name}.dropped"), outcome.dropped as i64);
                        }
                        for lagging in outcome.lagging {
                            cat.add_to_value(&format!("backplane.{name}.disconnected"), 1);
                            let why = format!(
                                "disconnected from backplane {name:?}: fell more than {} values behind",
                                lagging.data.capacity()
                            );
                            tracing::warn!("{why}");
                            let mut info = FailureInfo::new("Backplane", why);
                            info.id = format!("backplane {name}");
                            lagging.tell(Control::Failed(Box::new(info)));
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
        for subscriber in subscribers.drain() {
            if let Some(control) = &subscriber.control {
                let _ = control.send(ending.clone()).await;
            }
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
/// `outbox`. Its `inbox` holds at most `bound` values waiting for the consumer; when it is full
/// the bus applies the [`Policy`] — memory never grows without bound.
#[derive(Boxes)]
pub struct SubscribeTo<T: Clone + 'static> {
    /// Values from the bus (at most `bound` waiting).
    pub inbox: Inbox<T>,
    /// The end of the bus, a disconnection, or a shutdown from whoever owns this subscriber.
    pub control: Inbox<Control>,
    /// The values, in order.
    pub outbox: Outbox<T>,
    /// `ProducerFinished` when the bus ends; `Failed` when disconnected for falling behind.
    pub signal: Outbox<Control>,
    name: String,
    policy: Policy,
}

impl<T: Clone + 'static> SubscribeTo<T> {
    /// A subscriber to `name` that may fall `bound` values behind (at least 1) before `policy`
    /// applies.
    pub fn new(name: impl Into<String>, policy: Policy, bound: usize) -> Self {
        SubscribeTo {
            inbox: Inbox::with_capacity(bound.max(1)),
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            name: name.into(),
            policy,
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
        let me = self.inbox.to_ref();
        let subscription =
            Subscription::new(me.clone(), self.policy).with_control(self.control.to_ref());
        requests
            .send(BackplaneRequest::Subscribe(subscription))
            .await?;
        let ending = loop {
            let value = match self.inbox.next_or_control(&mut self.control).await {
                Next::Data(value) => value,
                Next::Control(message) => break (None, Some(message)),
            };
            // While waiting for the consumer, still hear the end or a disconnection.
            tokio::select! {
                biased;
                message = self.control.recv() => break (Some(value), Some(message)),
                permit = self.outbox.reserve() => match permit {
                    Ok(permit) => {
                        let _ = permit.send(value);
                    }
                    Err(_) => break (None, None), // the consumer has gone: so has the point
                },
            }
        };
        let (held, message) = ending;
        let _ = requests.try_send(BackplaneRequest::Unsubscribe(me));
        let Some(message) = message else {
            return Ok(());
        };
        if message.is_producer_finished() {
            // Everything published before the end is already here.
            if let Some(value) = held {
                self.outbox.send(value).await?;
            }
            while let Some(value) = self.inbox.try_recv() {
                self.outbox.send(value).await?;
            }
        }
        self.signal.send(message).await?;
        Ok(())
    }
}
