//! `TcpClient`: a connection made from this end.

use crate::connection::{OnFinish, Settings, run_socket};
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox};
use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Duration;

/// Connects to a server (optionally retrying with exponential backoff), then writes what
/// arrives on `inbox` and sends what it reads on `outbox`. `ProducerFinished` on `control`
/// (after the data) half-closes the connection; reading continues until the server closes,
/// then `ProducerFinished` goes out on `signal`. A failed connection or a reset is a
/// `Control::Failed` on `signal` saying what happened.
#[derive(Boxes)]
#[doc(alias = "TCPClient")]
pub struct TcpClient {
    /// Bytes to send.
    pub inbox: Inbox<Bytes>,
    /// `ProducerFinished`: nothing more to send.
    pub control: Inbox<Control>,
    /// Bytes received.
    pub outbox: Outbox<Bytes>,
    /// `ProducerFinished` when the server closes; `Failed` if connecting fails or the
    /// connection breaks.
    pub signal: Outbox<Control>,
    address: SocketAddr,
    attempts: u32,
    backoff: Duration,
}

impl TcpClient {
    /// A client for `address`, trying once.
    pub fn new(address: SocketAddr) -> Self {
        TcpClient {
            inbox: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            address,
            attempts: 1,
            backoff: Duration::from_millis(100),
        }
    }

    /// Tries up to `attempts` times, waiting `backoff`, then twice that, and so on (capped at
    /// 10 s) between tries.
    pub fn with_retry(mut self, attempts: u32, backoff: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.backoff = backoff;
        self
    }
}

impl Component for TcpClient {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut wait = self.backoff;
        let mut last_error = None;
        let mut stream = None;
        for attempt in 1..=self.attempts {
            match tokio::net::TcpStream::connect(self.address).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => {
                    tracing::debug!(address = %self.address, attempt, error = %e, "connect failed");
                    last_error = Some(e);
                    if attempt < self.attempts {
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(10));
                    }
                }
            }
        }
        let Some(stream) = stream else {
            let why = format!(
                "cannot connect to {} after {} attempt(s): {}",
                self.address,
                self.attempts,
                last_error.map(|e| e.to_string()).unwrap_or_default()
            );
            self.signal.send(Control::failed("TcpClient", why)).await?;
            return Ok(());
        };
        let settings = Settings {
            log_events: false,
            on_finish: OnFinish::HalfClose,
            idle_timeout: None,
            stats: None,
            budget: None,
        };
        run_socket(
            stream,
            &mut self.inbox,
            &mut self.control,
            &self.outbox,
            &self.signal,
            settings,
        )
        .await
    }
}
