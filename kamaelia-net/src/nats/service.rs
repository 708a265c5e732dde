//! CAT services across machines: [`ClusterService`] offers one under a cluster-wide name, and
//! [`Cluster::call`] calls it from any process. Instances of one service share a NATS queue
//! group, so each call goes to one of them and the load spreads; a call to a service nobody
//! offers fails at once ("no responders"), not after a timeout.

use super::{Cluster, ClusterError, check_name, wire};
use async_nats::{Client, RequestErrorKind, Subject};
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

/// How long [`Cluster::call`] waits for an answer.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// What a service answers: its response, or why it could not give one.
#[derive(Serialize, Deserialize)]
enum Answer<R> {
    Ok(R),
    Err(String),
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceError {
    /// Nobody offers the service (answered at once by the server).
    NoSuchService {
        /// The service.
        service: String,
    },
    /// Somebody offers it but no answer came in time.
    TimedOut {
        /// The service.
        service: String,
        /// How long the caller waited.
        after: Duration,
    },
    /// The service answered that it could not serve the call (a request it could not read,
    /// or its handler's own refusal).
    Refused {
        /// The service.
        service: String,
        /// What it said.
        reason: String,
    },
    /// The answer was not a response of the expected type.
    Malformed {
        /// The service.
        service: String,
        /// Why it could not be read.
        reason: String,
    },
    /// The request could not be encoded, the name is not a subject token, or NATS failed.
    Request {
        /// The service.
        service: String,
        /// What went wrong.
        reason: String,
    },
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceError::NoSuchService { service } => {
                write!(f, "no process offers the service {service:?}")
            }
            ServiceError::TimedOut { service, after } => write!(
                f,
                "the service {service:?} did not answer within {:.1} s",
                after.as_secs_f64()
            ),
            ServiceError::Refused { service, reason } => {
                write!(f, "the service {service:?} refused the call: {reason}")
            }
            ServiceError::Malformed { service, reason } => {
                write!(
                    f,
                    "the service {service:?} answered something unreadable: {reason}"
                )
            }
            ServiceError::Request { service, reason } => {
                write!(f, "calling the service {service:?} failed: {reason}")
            }
        }
    }
}

impl std::error::Error for ServiceError {}

impl Cluster {
    /// Calls the service `name` with `request` and waits (at most
    /// [`DEFAULT_CALL_TIMEOUT`]) for its response.
    ///
    /// ```no_run
    /// # async fn example(cluster: kamaelia_net::nats::Cluster) {
    /// match cluster.call::<String, String>("upper", &"hello".to_string()).await {
    ///     Ok(loud) => println!("{loud}"),
    ///     Err(e) => eprintln!("{e}"), // e.g. "no process offers the service \"upper\""
    /// }
    /// # }
    /// ```
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        name: &str,
        request: &Req,
    ) -> Result<Resp, ServiceError> {
        self.call_within(name, request, DEFAULT_CALL_TIMEOUT).await
    }

    /// [`call`](Cluster::call), waiting at most `timeout`.
    pub async fn call_within<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        name: &str,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, ServiceError> {
        let refuse = |reason: String| ServiceError::Request {
            service: name.to_string(),
            reason,
        };
        check_name("service", name).map_err(|e| refuse(e.to_string()))?;
        let payload = wire::encode(request).map_err(|e| refuse(e.to_string()))?;
        // The client's own request timeout (10 s) would cut a longer wait short.
        let asked = self.client.send_request(
            self.subject("svc", name),
            async_nats::Request::new()
                .payload(payload)
                .timeout(Some(timeout)),
        );
        let reply = match tokio::time::timeout(timeout, asked).await {
            Err(_) => {
                return Err(ServiceError::TimedOut {
                    service: name.to_string(),
                    after: timeout,
                });
            }
            Ok(Err(e)) => {
                return Err(match e.kind() {
                    RequestErrorKind::NoResponders => ServiceError::NoSuchService {
                        service: name.to_string(),
                    },
                    RequestErrorKind::TimedOut => ServiceError::TimedOut {
                        service: name.to_string(),
                        after: timeout,
                    },
                    RequestErrorKind::Other => refuse(e.to_string()),
                });
            }
            Ok(Ok(reply)) => reply,
        };
        match wire::decode::<Answer<Resp>>(&reply.payload) {
            Ok(Answer::Ok(response)) => Ok(response),
            Ok(Answer::Err(reason)) => Err(ServiceError::Refused {
                service: name.to_string(),
                reason,
            }),
            Err(e) => Err(ServiceError::Malformed {
                service: name.to_string(),
                reason: e.to_string(),
            }),
        }
    }
}

/// One call to a [`ClusterService`]: the request, and where the answer goes. Answer it with
/// [`reply`](ServiceCall::reply) or [`refuse`](ServiceCall::refuse); a call dropped unanswered
/// leaves its caller to time out.
pub struct ServiceCall<Req, Resp> {
    /// What the caller asked.
    pub request: Req,
    reply: Option<Subject>,
    client: Client,
    _response: PhantomData<fn(Resp)>,
}

impl<Req: fmt::Debug, Resp> fmt::Debug for ServiceCall<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceCall")
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

impl<Req, Resp: Serialize> ServiceCall<Req, Resp> {
    /// Sends `response` to the caller.
    pub async fn reply(self, response: &Resp) -> Result<(), ClusterError> {
        self.answer(&Answer::Ok(response)).await
    }

    /// Tells the caller the call cannot be served, and why ([`ServiceError::Refused`]).
    pub async fn refuse(self, reason: impl Into<String>) -> Result<(), ClusterError> {
        self.answer(&Answer::<&Resp>::Err(reason.into())).await
    }

    async fn answer(self, answer: &Answer<&Resp>) -> Result<(), ClusterError> {
        let Some(reply) = self.reply else {
            return Ok(()); // published, not requested: nobody waits for an answer
        };
        let payload = wire::encode(answer).map_err(ClusterError::nats)?;
        self.client
            .publish(reply, payload)
            .await
            .map_err(ClusterError::nats)
    }
}

/// Offers the service `name` to the whole cluster: every call arrives on `outbox` as a
/// [`ServiceCall`] for whatever is linked there (a handler component, or the inbox of a local
/// CAT service) to answer. Run several (in one process or many) to share the load: each call
/// goes to one instance. A request that is not a `Req` is refused at once, never passed on.
#[derive(Boxes)]
#[doc(alias = "CoordinatingAssistantTracker")]
pub struct ClusterService<Req: 'static, Resp: 'static> {
    /// `ShutdownMicroprocess` (or any end) withdraws the service.
    pub control: Inbox<Control>,
    /// The calls.
    pub outbox: Outbox<ServiceCall<Req, Resp>>,
    /// `ProducerFinished` once withdrawn.
    pub signal: Outbox<Control>,
    cluster: Cluster,
    name: String,
}

impl<Req: DeserializeOwned + 'static, Resp: Serialize + 'static> ClusterService<Req, Resp> {
    /// Offers `name` (a NATS subject token).
    pub fn new(cluster: &Cluster, name: &str) -> Result<Self, ClusterError> {
        check_name("service", name)?;
        Ok(ClusterService {
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            cluster: cluster.clone(),
            name: name.to_string(),
        })
    }
}

impl<Req: DeserializeOwned + 'static, Resp: Serialize + 'static> Component
    for ClusterService<Req, Resp>
{
    async fn main(mut self) -> Result<(), ComponentError> {
        let client = self.cluster.client().clone();
        let subject = self.cluster.subject("svc", &self.name);
        let mut calls = client
            .queue_subscribe(subject.clone(), subject)
            .await
            .map_err(ClusterError::nats)?;
        let _ = client.flush().await;
        loop {
            tokio::select! {
                biased;
                _ = self.control.recv() => break,
                message = calls.next() => {
                    let Some(message) = message else { break };
                    let call = ServiceCall {
                        request: (),
                        reply: message.reply,
                        client: client.clone(),
                        _response: PhantomData::<fn(Resp)>,
                    };
                    match wire::decode::<Req>(&message.payload) {
                        Ok(request) => {
                            let call = ServiceCall { request, reply: call.reply, client: call.client, _response: PhantomData };
                            // Waiting for the handler, a stop is still heard.
                            tokio::select! {
                                sent = self.outbox.send(call) => if sent.is_err() { break },
                                _ = self.control.recv() => break,
                            }
                        }
                        Err(e) => {
                            tracing::warn!(service = %self.name, error = %e, "malformed request refused");
                            let _ = call.refuse(format!("the request is not readable: {e}")).await;
                        }
                    }
                }
            }
        }
        let _ = calls.unsubscribe().await;
        let _ = self.signal.send(Control::ProducerFinished).await;
        Ok(())
    }
}
