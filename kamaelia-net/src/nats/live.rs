//! A live stream scaled out over processes (Icecast's relays, on a message engine): one source
//! process runs a [`LiveExport`] fed with the stream's [`LiveChunk`]s; each edge process runs a
//! [`LiveEdge`] feeding its own `LiveHttpServer`. An edge that joins late is sent the stream's
//! current header first, then the live chunks, so its listeners start exactly as a local
//! server's would (at a join point after the header).

use super::bus::{JoinRequest, Joins, WirePolicy};
use super::link::{Join, RemoteInbox, RemoteOutbox};
use super::{Cluster, ClusterError, check_name, wire};
use crate::live::{ChunkKind, LiveChunk};
use axon_core::{
    Boxes, Component, ComponentError, Control, Fanout, Inbox, Next, Outbox, Policy, Subscription,
};
use std::time::Duration;

/// Chunks an edge may fall behind (queued at the source for it) before it is cut off.
const EDGE_LAG: usize = 512;

fn join_subject(cluster: &Cluster, name: &str) -> String {
    format!("{}.join", cluster.subject("live", name))
}

/// Publishes the live stream arriving on `inbox` to every [`LiveEdge`] of the name `name`.
/// Each edge gets its own credit link: the header chunks (the latest run), then the stream. An
/// edge more than 512 chunks behind is cut off and told why (its listeners' servers end) —
/// the stream never waits for an edge. `ProducerFinished` on `control` ends the stream for
/// every edge, after the chunks before it.
#[derive(Boxes)]
pub struct LiveExport {
    /// The stream, as a `LiveHttpServer` takes it.
    pub inbox: Inbox<LiveChunk>,
    /// `ProducerFinished`: the stream ended.
    pub control: Inbox<Control>,
    /// `ProducerFinished` once every edge was told.
    pub signal: Outbox<Control>,
    cluster: Cluster,
    name: String,
}

impl LiveExport {
    /// Exports the stream as `name`.
    pub fn new(cluster: &Cluster, name: &str) -> Result<Self, ClusterError> {
        check_name("live stream", name)?;
        Ok(LiveExport {
            inbox: Inbox::new(),
            control: Inbox::new(),
            signal: Outbox::new(),
            cluster: cluster.clone(),
            name: name.to_string(),
        })
    }
}

impl Component for LiveExport {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut joins =
            Joins::listen(&self.cluster, join_subject(&self.cluster, &self.name)).await?;
        let mut edges: Fanout<LiveChunk> = Fanout::new();
        let mut header: Vec<LiveChunk> = Vec::new();
        let mut in_header = false;
        let end = loop {
            tokio::select! {
                biased;
                message = joins.next() => {
                    let Some(message) = message else { break Control::ShutdownMicroprocess };
                    joins
                        .answer(message, |request| self.add_edge(&mut edges, &header, &request.link))
                        .await;
                }
                next = self.inbox.next_or_control(&mut self.control) => match next {
                    Next::Data(chunk) => {
                        if chunk.kind == ChunkKind::Header {
                            if !in_header {
                                header.clear();
                            }
                            header.push(chunk.clone());
                        }
                        in_header = chunk.kind == ChunkKind::Header;
                        let published = edges.publish_now(chunk);
                        for edge in published.lagging {
                            tracing::warn!(stream = %self.name, "an edge fell behind and was cut off");
                            edge.tell(Control::failed(
                                "LiveExport",
                                format!("the edge fell more than {EDGE_LAG} chunks behind the live stream"),
                            ));
                        }
                    }
                    Next::Control(control) => break control,
                },
            }
        };
        edges.tell_all(&end);
        let _ = self.signal.send(Control::ProducerFinished).await;
        Ok(())
    }
}

impl LiveExport {
    /// A credit link to a new edge, primed with the header.
    fn add_edge(
        &self,
        edges: &mut Fanout<LiveChunk>,
        header: &[LiveChunk],
        link_name: &str,
    ) -> Result<(), String> {
        let sender =
            RemoteOutbox::<LiveChunk>::new(&self.cluster, link_name).map_err(|e| e.to_string())?;
        sender.inbox.set_capacity(EDGE_LAG.max(header.len() + 1));
        let data = sender.inbox.to_ref();
        for chunk in header {
            data.try_send(chunk.clone())
                .map_err(|_| "the header does not fit the edge's queue".to_string())?;
        }
        edges.subscribe(
            Subscription::new(data, Policy::Disconnect).with_control(sender.control.to_ref()),
        );
        tracing::info!(stream = %self.name, link = link_name, "an edge joined");
        axon_core::activate(sender);
        Ok(())
    }
}

/// The edge end of a [`LiveExport`]: a receiver whose `outbox` gives the stream `name`, header
/// first, ready to link to a `LiveHttpServer`'s `inbox` (and `signal` to its `control`).
#[derive(Debug)]
pub struct LiveEdge;

impl LiveEdge {
    /// Joins the live stream `name`, waiting for its source as long as it takes. If the source
    /// goes away (3 s without a frame) or cuts this edge off, the edge joins again, and its
    /// listeners stay connected: the new feed starts with its header, a new link of the
    /// chained stream, as when a local source restarts. Only the source's own end of the
    /// stream (or `control`) ends the edge.
    ///
    /// ```no_run
    /// use kamaelia_net::axon_core::{Scheduler, link};
    /// use kamaelia_net::nats::{Cluster, LiveEdge};
    /// use kamaelia_net::{LiveConfig, LiveHttpServer};
    ///
    /// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// let cluster = Cluster::connect("nats://127.0.0.1:4222").await?;
    /// let edge = LiveEdge::join(&cluster, "radio")?;
    /// let server = LiveHttpServer::bind(LiveConfig::new("127.0.0.1:8001".parse()?))?;
    /// link(&edge.outbox, &server.inbox);
    /// link(&edge.signal, &server.control);
    /// let scheduler = Scheduler::new();
    /// scheduler.activate(edge);
    /// scheduler.activate(server);
    /// scheduler.run().await;
    /// # Ok(()) }
    /// ```
    pub fn join(cluster: &Cluster, name: &str) -> Result<RemoteInbox<LiveChunk>, ClusterError> {
        check_name("live stream", name)?;
        let subject = join_subject(cluster, name);
        let edge = RemoteInbox::joining(cluster, &format!("live.{name}.edge"), |link| Join {
            rejoin: true,
            what: format!("the live stream {name:?}"),
            subject,
            payload: wire::encode(&JoinRequest {
                link: link.to_string(),
                policy: WirePolicy::Disconnect,
                bound: EDGE_LAG as u32,
            })
            .expect("a join request always encodes"),
        })?;
        Ok(edge.peer_timeout(Duration::from_secs(3)))
    }
}
