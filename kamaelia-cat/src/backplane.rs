//! The Backplane: a named many-to-many bus built on CAT services and axon-core's [`Fanout`].

use crate::{Cat, CatError};
use axon_core::{
    Boxes, Component, ComponentError, Control, CrossInbox, FailureInfo, Fanout, Inbox, InboxRef,
    Next, Outbox, SendError,
};
pub use axon_core::{Policy, Subscription};
use std::future::Future;
use std::pin::Pin;

/// Sent to `backplane.<name>.remote` by a [`SubscribeTo`] on another core: the bus relays to
/// `address` (the subscriber's inbox and control inbox) through a local subscriber of its own,
/// to which `policy` and `bound` apply.
pub struct RemoteSubscribe<T> {
    /// The subscriber's inboxes, on its core.
    pub address: CrossInbox<T>,
    /// What happens when the relay falls `bound` values behind.
    pub policy: Policy,
    /// How far the relay may fall behind.
    pub bound: usize,
}

impl<T> std::fmt::Debug for RemoteSubscribe<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSubscribe")
            .field("policy", &self.policy)
            .field("bound", &self.bound)
            .finish_non_exhaustive()
    }
}

/// How long a publisher or subscriber spanning cores waits for its bus to appear on another
/// core (they may start at the same moment) before it gives up with `NoSuchService`.
const REMOTE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// Registers a spanning bus's data and remote-subscription services for every core.
type Share<T> =
    fn(&Cat, &str, InboxRef<T>, &str, InboxRef<RemoteSubscribe<T>>) -> Result<(), CatError>;

/// What a backplane spanning cores does that needs `T: Send` (chosen where that is known).
struct Spanning<T: 'static> {
    share: Share<T>,
    /// Starts a relay for a remote subscriber and returns its local subscription.
    relay: fn(RemoteSubscribe<T>) -> Subscription<T>,
}

impl<T> Clone for Spanning<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Spanning<T> {}

fn share_on_cores<T: Send + 'static>(
    cat: &Cat,
    data: &str,
    inbox: InboxRef<T>,
    remote: &str,
    requests: InboxRef<RemoteSubscribe<T>>,
) -> Result<(), CatError> {
    cat.register_shared_service(data, inbox)?;
    cat.register_shared_service(remote, requests)
}

fn relay_to<T: Clone + Send + 'static>(request: RemoteSubscribe<T>) -> Subscription<T> {
    let relay = CrossRelay {
        inbox: Inbox::with_capacity(request.bound.max(1)),
        control: Inbox::new(),
        address: request.address,
    };
    let subscription = Subscription::new(relay.inbox.to_ref(), request.policy)
        .with_control(relay.control.to_ref());
    axon_core::activate(relay);
    subscription
}

/// A backplane's subscriber standing in for one on another core: passes each value, and the
/// end of the bus, across; ends when the remote subscriber has gone.
#[derive(Boxes)]
struct CrossRelay<T: Clone + Send + 'static> {
    inbox: Inbox<T>,
    control: Inbox<Control>,
    address: CrossInbox<T>,
}

impl<T: Clone + Send + 'static> Component for CrossRelay<T> {
    async fn main(mut self) -> Result<(), ComponentError> {
        loop {
            tokio::select! {
                next = self.inbox.next_or_control(&mut self.control) => match next {
                    Next::Data(value) => {
                        if self.address.send(value).await.is_err() {
                            return Ok(());
                        }
                    }
                    Next::Control(message) => {
                        let _ = self.address.send_control(message).await;
                        return Ok(());
                    }
                },
                () = self.address.closed() => return Ok(()),
            }
        }
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
/// start (the `spanning_cores` ones, on another core, wait up to 2 s for it to appear).
#[derive(Boxes)]
pub struct Backplane<T: Clone + 'static> {
    /// Values to publish (registered as the service `backplane.<name>`).
    pub inbox: Inbox<T>,
    /// Subscriptions (registered as `backplane.<name>.requests`).
    pub requests: Inbox<BackplaneRequest<T>>,
    /// `ProducerFinished` / `ShutdownMicroprocess` end the bus.
    pub control: Inbox<Control>,
    /// Subscriptions from other cores (registered as `backplane.<name>.remote` for every core,
    /// by a bus made with [`spanning_cores`](Backplane::spanning_cores)).
    pub remote: Inbox<RemoteSubscribe<T>>,
    name: String,
    spanning: Option<Spanning<T>>,
}

impl<T: Clone + 'static> Backplane<T> {
    /// A bus called `name`, for the components of its own scheduler.
    pub fn new(name: impl Into<String>) -> Self {
        Backplane {
            inbox: Inbox::new(),
            requests: Inbox::new(),
            control: Inbox::new(),
            remote: Inbox::new(),
            name: name.into(),
            spanning: None,
        }
    }
}

impl<T: Clone + Send + 'static> Backplane<T> {
    /// A bus called `name` that every core of its [`Cores`](axon_core::Cores) can reach:
    /// [`PublishTo::spanning_cores`] and [`SubscribeTo::spanning_cores`] on another core find
    /// it through the CAT's shared services, and each value crosses to a remote subscriber's
    /// core once. On a lone scheduler it is an ordinary bus.
    pub fn spanning_cores(name: impl Into<String>) -> Self {
        Backplane {
            spanning: Some(Spanning {
                share: share_on_cores::<T>,
                relay: relay_to::<T>,
            }),
            ..Self::new(name)
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
        let remote_service = format!("backplane.{name}.remote");
        let subscribers_value = format!("backplane.{name}.subscribers");
        let published_value = format!("backplane.{name}.published");
        match self.spanning {
            Some(spanning) => (spanning.share)(
                &cat,
                &data_service,
                self.inbox.to_ref(),
                &remote_service,
                self.remote.to_ref(),
            )?,
            None => cat.register_service(&data_service, self.inbox.to_ref())?,
        }
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
                request = self.remote.recv(), if self.spanning.is_some() => {
                    if let Some(spanning) = self.spanning {
                        subscribers.subscribe((spanning.relay)(request));
                        cat.set_value(&subscribers_value, subscribers.len())?;
                    }
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
        let _ = cat.deregister_service(&remote_service);
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
    /// Finds a bus on another core (set by [`spanning_cores`](PublishTo::spanning_cores)).
    remote: Option<FindBus<T>>,
}

/// Finds a bus on another core by its service name.
type FindBus<T> = fn(&Cat, &str) -> Result<Box<dyn RemoteBus<T>>, CatError>;

/// A bus on another core, as a publisher sends to it.
trait RemoteBus<T> {
    fn send(&self, value: T) -> Pin<Box<dyn Future<Output = Result<(), SendError<T>>> + '_>>;
}

impl<T: Send + 'static> RemoteBus<T> for CrossInbox<T> {
    fn send(&self, value: T) -> Pin<Box<dyn Future<Output = Result<(), SendError<T>>> + '_>> {
        Box::pin(CrossInbox::send(self, value))
    }
}

fn find_remote_bus<T: Send + 'static>(
    cat: &Cat,
    name: &str,
) -> Result<Box<dyn RemoteBus<T>>, CatError> {
    Ok(Box::new(cat.retrieve_cross_service::<T>(name)?))
}

impl<T: 'static> PublishTo<T> {
    /// A publisher to the backplane `name` of its own scheduler.
    pub fn new(name: impl Into<String>) -> Self {
        PublishTo {
            inbox: Inbox::new(),
            control: Inbox::new(),
            name: name.into(),
            remote: None,
        }
    }
}

impl<T: Send + 'static> PublishTo<T> {
    /// A publisher to the backplane `name` on this core or, if it is not here, on another core
    /// of the same [`Cores`](axon_core::Cores) (a bus made with
    /// [`Backplane::spanning_cores`]).
    pub fn spanning_cores(name: impl Into<String>) -> Self {
        PublishTo {
            remote: Some(find_remote_bus::<T>),
            ..Self::new(name)
        }
    }
}

impl<T: 'static> Component for PublishTo<T> {
    async fn main(mut self) -> Result<(), ComponentError> {
        let cat = Cat::current()?;
        let service = format!("backplane.{}", self.name);
        match (cat.retrieve_service::<T>(&service), self.remote) {
            (Ok(bus), _) => {
                while let Some(value) = self.inbox_or_finished().await {
                    bus.send(value).await?;
                }
            }
            (Err(CatError::NoSuchService { .. }), Some(find)) => {
                cat.wait_for_shared_service(&service, REMOTE_PATIENCE).await;
                let bus = find(&cat, &service)?;
                while let Some(value) = self.inbox_or_finished().await {
                    bus.send(value).await?;
                }
            }
            (Err(e), _) => return Err(e.into()),
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
    /// Joins a bus on another core (set by [`spanning_cores`](SubscribeTo::spanning_cores)).
    remote: Option<JoinRemote<T>>,
}

/// The request to a bus on another core, made and ready to be sent.
type Joining = Pin<Box<dyn Future<Output = Result<(), ComponentError>>>>;

/// Asks a bus on another core for a relay to this subscriber's inboxes.
type JoinRemote<T> =
    fn(&Cat, &str, Policy, InboxRef<T>, InboxRef<Control>) -> Result<Joining, ComponentError>;

fn join_remote<T: Send + 'static>(
    cat: &Cat,
    name: &str,
    policy: Policy,
    inbox: InboxRef<T>,
    control: InboxRef<Control>,
) -> Result<Joining, ComponentError> {
    let bus =
        cat.retrieve_cross_service::<RemoteSubscribe<T>>(&format!("backplane.{name}.remote"))?;
    let bound = inbox.capacity();
    let address = CrossInbox::of(inbox, control)?;
    let request = RemoteSubscribe {
        address,
        policy,
        bound,
    };
    Ok(Box::pin(async move {
        bus.send(request).await.map_err(|_| {
            ComponentError::msg("the backplane's core is no longer taking subscribers")
        })
    }))
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
            remote: None,
        }
    }
}

impl<T: Clone + Send + 'static> SubscribeTo<T> {
    /// A subscriber to the backplane `name` on this core or, if it is not here, on another core
    /// of the same [`Cores`](axon_core::Cores) (a bus made with
    /// [`Backplane::spanning_cores`]): there the bus relays to this subscriber through a local
    /// one of its own, to which `policy` and `bound` apply, and each value crosses once.
    pub fn spanning_cores(name: impl Into<String>, policy: Policy, bound: usize) -> Self {
        SubscribeTo {
            remote: Some(join_remote::<T>),
            ..Self::new(name, policy, bound)
        }
    }
}

impl<T: Clone + 'static> Component for SubscribeTo<T> {
    async fn main(mut self) -> Result<(), ComponentError> {
        let cat = Cat::current()?;
        let me = self.inbox.to_ref();
        let found = cat
            .retrieve_service::<BackplaneRequest<T>>(&format!("backplane.{}.requests", self.name));
        let requests = match (found, self.remote) {
            (Ok(requests), _) => {
                let subscription =
                    Subscription::new(me.clone(), self.policy).with_control(self.control.to_ref());
                requests
                    .send(BackplaneRequest::Subscribe(subscription))
                    .await?;
                Some(requests)
            }
            // On another core: the bus relays here (leaving is closing this inbox).
            (Err(CatError::NoSuchService { .. }), Some(join)) => {
                let remote = format!("backplane.{}.remote", self.name);
                cat.wait_for_shared_service(&remote, REMOTE_PATIENCE).await;
                join(
                    &cat,
                    &self.name,
                    self.policy,
                    me.clone(),
                    self.control.to_ref(),
                )?
                .await?;
                None
            }
            (Err(e), _) => return Err(e.into()),
        };
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
        if let Some(requests) = requests {
            let _ = requests.try_send(BackplaneRequest::Unsubscribe(me));
        }
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
