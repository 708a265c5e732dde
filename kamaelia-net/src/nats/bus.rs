//! The Backplane across processes. The process that holds a bus runs an [`ExportBackplane`]
//! beside it; a subscriber elsewhere ([`RemoteSubscribeTo`]) asks it for a feed, and the
//! exporter subscribes a local `SubscribeTo` *with the subscriber's policy and bound* and links
//! it to a credit link back to the subscriber. So the policies mean what they mean locally:
//! `Block` holds the bus while a remote subscriber is slow (credit stops, the local subscriber
//! fills), `DropOldest` drops at the exporter, `Disconnect` cuts the subscriber off and it is
//! told why. A publisher elsewhere ([`RemotePublishTo`]) sends over a credit link that the
//! exporter republishes into the bus.

use super::link::{Join, RemoteInbox, RemoteOutbox};
use super::{Cluster, ClusterError, check_name, wire};
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox, Policy, link};
use futures::StreamExt;
use kamaelia_cat::{PublishTo, SubscribeTo};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A subscriber's request to an exporter.
#[derive(Serialize, Deserialize, Debug)]
pub(super) struct JoinRequest {
    /// The link the feed goes to.
    pub(super) link: String,
    pub(super) policy: WirePolicy,
    pub(super) bound: u32,
}

/// [`Policy`] on the wire.
#[derive(Serialize, Deserialize, Debug, Clone, Copy)]
pub(super) enum WirePolicy {
    Block,
    DropOldest,
    Disconnect,
}

impl From<Policy> for WirePolicy {
    fn from(policy: Policy) -> Self {
        match policy {
            Policy::Block => WirePolicy::Block,
            Policy::DropOldest => WirePolicy::DropOldest,
            Policy::Disconnect => WirePolicy::Disconnect,
        }
    }
}

impl From<WirePolicy> for Policy {
    fn from(policy: WirePolicy) -> Self {
        match policy {
            WirePolicy::Block => Policy::Block,
            WirePolicy::DropOldest => Policy::DropOldest,
            WirePolicy::Disconnect => Policy::Disconnect,
        }
    }
}

fn join_subject(cluster: &Cluster, name: &str) -> String {
    format!("{}.join", cluster.subject("bus", name))
}

fn publish_link(name: &str) -> String {
    format!("bus.{name}.publish")
}

/// Where an exporter (of a bus or a live stream) hears join requests, and answers them.
pub(super) struct Joins {
    requests: async_nats::Subscriber,
    client: async_nats::Client,
    /// Links already fed: a join asked again (its answer came late) is answered, not fed twice.
    fed: std::collections::HashSet<String>,
}

impl Joins {
    /// Listens on `subject` (a queue group of the same name), the subscription in place at the
    /// server when this returns.
    pub(super) async fn listen(cluster: &Cluster, subject: String) -> Result<Joins, ClusterError> {
        let client = cluster.client().clone();
        let requests = client
            .queue_subscribe(subject.clone(), subject)
            .await
            .map_err(ClusterError::nats)?;
        let _ = client.flush().await;
        Ok(Joins {
            requests,
            client,
            fed: std::collections::HashSet::new(),
        })
    }

    pub(super) async fn next(&mut self) -> Option<async_nats::Message> {
        self.requests.next().await
    }

    /// Feeds the link a request names (once), and answers the request.
    pub(super) async fn answer(
        &mut self,
        message: async_nats::Message,
        feed: impl FnOnce(JoinRequest) -> Result<(), String>,
    ) {
        let answer = match wire::decode::<JoinRequest>(&message.payload) {
            Ok(request) if self.fed.contains(&request.link) => Ok(()),
            Ok(request) => {
                let link = request.link.clone();
                let fed = feed(request);
                if fed.is_ok() {
                    self.fed.insert(link);
                }
                fed
            }
            Err(e) => Err(format!("the join request is not readable: {e}")),
        };
        if let (Some(reply), Ok(payload)) = (message.reply, wire::encode(&answer)) {
            let _ = self.client.publish(reply, payload).await;
        }
    }
}

/// Makes the Backplane `name` of this process reachable from every process of the cluster:
/// remote subscribers ([`RemoteSubscribeTo`]) get a feed with their own policy, and remote
/// publishers ([`RemotePublishTo`]) publish into it. Activate it after the `Backplane`, in
/// the same scheduler. One process in the cluster exports a given bus name.
#[derive(Boxes)]
pub struct ExportBackplane<T: Clone + Serialize + DeserializeOwned + 'static> {
    /// `ShutdownMicroprocess` (or any end) stops exporting (feeds already given go on).
    pub control: Inbox<Control>,
    /// `ProducerFinished` once it stopped.
    pub signal: Outbox<Control>,
    cluster: Cluster,
    name: String,
    _values: std::marker::PhantomData<fn(T)>,
}

impl<T: Clone + Serialize + DeserializeOwned + 'static> ExportBackplane<T> {
    /// Exports the bus `name`.
    pub fn new(cluster: &Cluster, name: &str) -> Result<Self, ClusterError> {
        check_name("bus", name)?;
        Ok(ExportBackplane {
            control: Inbox::new(),
            signal: Outbox::new(),
            cluster: cluster.clone(),
            name: name.to_string(),
            _values: std::marker::PhantomData,
        })
    }
}

impl<T: Clone + Serialize + DeserializeOwned + 'static> Component for ExportBackplane<T> {
    async fn main(mut self) -> Result<(), ComponentError> {
        // Remote publishers: one receiver for all of them, republishing into the bus.
        let publishers =
            RemoteInbox::<T>::new(&self.cluster, &publish_link(&self.name))?.many_senders();
        let into_bus = PublishTo::<T>::new(self.name.clone());
        link(&publishers.outbox, &into_bus.inbox)?;
        let stop_publishers = publishers.control.to_ref();
        let stop_into_bus = into_bus.control.to_ref();
        axon_core::activate(publishers);
        axon_core::activate(into_bus);

        let mut joins =
            Joins::listen(&self.cluster, join_subject(&self.cluster, &self.name)).await?;
        loop {
            tokio::select! {
                biased;
                _ = self.control.recv() => break,
                message = joins.next() => {
                    let Some(message) = message else { break };
                    joins.answer(message, |request| self.feed(request)).await;
                }
            }
        }
        let _ = stop_publishers.send(Control::ShutdownMicroprocess).await;
        let _ = stop_into_bus.send(Control::ProducerFinished).await;
        let _ = self.signal.send(Control::ProducerFinished).await;
        Ok(())
    }
}

impl<T: Clone + Serialize + DeserializeOwned + 'static> ExportBackplane<T> {
    /// Subscribes a local `SubscribeTo` for the remote subscriber, linked to its credit link.
    fn feed(&self, request: JoinRequest) -> Result<(), String> {
        let bound = (request.bound as usize).clamp(1, 1 << 20);
        let subscriber = SubscribeTo::<T>::new(self.name.clone(), request.policy.into(), bound);
        let sender =
            RemoteOutbox::<T>::new(&self.cluster, &request.link).map_err(|e| e.to_string())?;
        link(&subscriber.outbox, &sender.inbox).map_err(|e| e.to_string())?;
        link(&subscriber.signal, &sender.control).map_err(|e| e.to_string())?;
        tracing::debug!(bus = %self.name, link = %request.link, "remote subscriber joined");
        axon_core::activate(sender);
        axon_core::activate(subscriber);
        Ok(())
    }
}

/// A subscriber, in any process, to the Backplane `name` exported by [`ExportBackplane`]
/// somewhere in the cluster.
#[derive(Debug)]
#[doc(alias = "SubscribeTo")]
pub struct RemoteSubscribeTo;

impl RemoteSubscribeTo {
    /// A receiver of everything published to the bus `name` from the moment it joins, on its
    /// `outbox`. `policy` and `bound` apply at the exporter, as they would to a local
    /// `SubscribeTo` (so `Block` paces the whole bus to this subscriber). The bus's end arrives
    /// on `signal` as `ProducerFinished`; a disconnection as `Failed`. If no process exports
    /// the bus within 10 s, `Failed` with [`LinkError::NotJoined`](super::link::LinkError).
    pub fn join<T: DeserializeOwned + 'static>(
        cluster: &Cluster,
        name: &str,
        policy: Policy,
        bound: usize,
    ) -> Result<RemoteInbox<T>, ClusterError> {
        check_name("bus", name)?;
        let subject = join_subject(cluster, name);
        RemoteInbox::joining(cluster, &format!("bus.{name}.sub"), |link| Join {
            rejoin: false,
            what: format!("the bus {name:?}"),
            subject,
            payload: wire::encode(&JoinRequest {
                link: link.to_string(),
                policy: policy.into(),
                bound: bound.min(u32::MAX as usize) as u32,
            })
            .expect("a join request always encodes"),
        })
    }
}

/// A publisher, in any process, to the Backplane `name` exported by [`ExportBackplane`]
/// somewhere in the cluster.
#[derive(Debug)]
#[doc(alias = "PublishTo")]
pub struct RemotePublishTo;

impl RemotePublishTo {
    /// A sender whose `inbox` values are published to the bus `name`, paced by the exporter.
    /// Its own `ProducerFinished` ends only this publisher, never the bus.
    pub fn join<T: Serialize + 'static>(
        cluster: &Cluster,
        name: &str,
    ) -> Result<RemoteOutbox<T>, ClusterError> {
        check_name("bus", name)?;
        RemoteOutbox::new(cluster, &publish_link(name))
    }
}
