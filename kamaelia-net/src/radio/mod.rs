//! `RadioServer`: live radio as people run Icecast for — encoders push live Ogg streams into
//! mount points, listeners on any player tune in, the now-playing title updates, a mount
//! falls back while its source is away, and a mount can relay another server's.
//!
//! - `config.rs`: what the server is told, checked whole.
//! - `mount.rs`: one mount point — who feeds it, the chain it makes of them, its listeners.
//! - `connection.rs`: one connection — routed to a listener, a source, or a status page.
//! - `source.rs`: an encoder's connection (`PUT` / `SOURCE`), `body.rs`: its body.
//! - `relay.rs`: a mount pulling another server's stream.
//! - `status.rs`: `/status-json.xsl` (Icecast's) and `/stats`.

mod body;
mod config;
mod connection;
mod mount;
mod relay;
mod source;
mod status;

pub use config::{Fallback, MountConfig, PagesFactory, RadioConfig};

use crate::http::Request;
use crate::live::counters::{Counters, Open};
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox};
use base64::Engine as _;
use connection::Connection;
use kamaelia_cat::Cat;
use mount::{Feed, Mount};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Serves live radio over HTTP: sources push Ogg Vorbis or Opus streams into mount points,
/// listeners tune in, as with Icecast (and with the clients that speak to Icecast).
///
/// **Sources** (`PUT /mount`, or the legacy `SOURCE /mount`; `Expect: 100-continue`
/// honoured; body until close, by `Content-Length` or chunked): Basic credentials with the
/// mount's source password or the server's (the user name is not checked; encoders send
/// `source`). There is no default password: a mount nobody set a password for takes no
/// source. One source per mount (another gets 403). `ice-name`, `ice-description`,
/// `ice-genre`, `ice-url` and `ice-public` are kept for listeners and the status page. A
/// stream that is not Ogg Vorbis or Ogg Opus is refused (415 when the client still waits for
/// an answer). A source that sends nothing for [`source_timeout`](RadioConfig::source_timeout)
/// is disconnected.
///
/// **Listeners** (`GET /mount`, `HEAD`): the stream's header pages, then the recent
/// [`burst`](RadioConfig::burst) from a join point, then the live stream; with
/// `Icy-MetaData: 1`, the title every [`icy_metaint`](RadioConfig::icy_metaint) bytes. They
/// stay connected while a source comes and goes: each change of feeder (source, fallback,
/// relay, a new title) is a new link of a chained Ogg stream. A mount with nothing to play
/// answers 404; one at its listener limit, 503.
///
/// **Administration**: `GET /admin/metadata?mount=/m&mode=updinfo&song=T` (user `admin` with
/// the admin password, or the mount's source credentials) sets the title: ICY listeners see it
/// at their next block, and the Ogg stream gets a new link whose comments carry it, so a late
/// joiner's player shows it too. `GET /status-json.xsl` is Icecast's status JSON; `GET /stats`
/// our counters. Each connection event is one log line
/// (see [`ConnectionRecord`](crate::ConnectionRecord)).
///
/// `ShutdownMicroprocess` or `ProducerFinished` on `control` stops it: listeners are told the
/// stream has ended, then every connection closes.
///
/// ```no_run
/// use axon_core::Scheduler;
/// use kamaelia_net::{MountConfig, RadioConfig, RadioServer};
///
/// # async fn example() -> std::io::Result<()> {
/// let config = RadioConfig::new("127.0.0.1:8000".parse().unwrap())
///     .source_password("hackme-not")
///     .admin_password("admin-secret")
///     .mount(MountConfig::new("/live.ogg").max_listeners(5000));
/// let server = RadioServer::bind(config)?;
/// println!("sources: ffmpeg -re -i in.ogg -c copy -f ogg icecast://source:hackme-not@{}/live.ogg",
///     server.local_addr());
/// let scheduler = Scheduler::new();
/// scheduler.activate(server);
/// scheduler.run().await;
/// # Ok(()) }
/// ```
#[derive(Boxes)]
#[doc(alias("Icecast", "SHOUTcast"))]
pub struct RadioServer {
    /// `ShutdownMicroprocess` or `ProducerFinished`: stop.
    pub control: Inbox<Control>,
    /// The message that stopped it, once every connection has closed.
    pub signal: Outbox<Control>,
    socket: Option<std::net::TcpListener>,
    local: SocketAddr,
    config: RadioConfig,
}

impl RadioServer {
    /// Checks the configuration (an error of kind `InvalidInput` says what is wrong), binds and
    /// listens now; serves once activated.
    pub fn bind(config: RadioConfig) -> std::io::Result<Self> {
        config
            .validate()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let socket = crate::server::listen_with(config.bind, config.backlog, false)?;
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        Ok(RadioServer {
            control: Inbox::new(),
            signal: Outbox::new(),
            socket: Some(socket),
            local,
            config,
        })
    }

    /// The address it is bound to (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Component for RadioServer {
    async fn main(mut self) -> Result<(), ComponentError> {
        let socket = self.socket.take().expect("a server runs once");
        let listener = tokio::net::TcpListener::from_std(socket)?;
        let cat = Cat::current()?;
        let station = Rc::new(Station::new(self.config.clone(), self.local));
        station.start();
        let prefix = format!("net.radio.{}", self.local);
        let publish_stats = || {
            for (name, value) in station.counters.named() {
                let _ = cat.set_value(&format!("{prefix}.{name}"), value);
            }
            for mount in station.mounts.borrow().values() {
                let name = format!("{prefix}.mount.{}.listeners", mount.path);
                let _ = cat.set_value(&name, mount.listeners.get());
            }
        };
        publish_stats();
        let mut stats_tick = tokio::time::interval(Duration::from_millis(500));
        let ending = loop {
            tokio::select! {
                message = self.control.recv() => break message,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => station.admit(stream, peer),
                    Err(e) => {
                        crate::access::accept_failed(&e);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                _ = stats_tick.tick() => publish_stats(),
            }
        };
        drop(listener);
        station.ended.set(true);
        for mount in station.mounts.borrow().values() {
            mount.stop_fallback();
            for listener in mount.audience.borrow().everyone() {
                listener.tell(Control::ProducerFinished);
            }
        }
        let children = axon_core::children();
        let grace = Duration::from_secs(2);
        if tokio::time::timeout(grace, children.all_done())
            .await
            .is_err()
        {
            children.shutdown(Duration::from_secs(1)).await;
        }
        publish_stats();
        self.signal.send(ending).await?;
        Ok(())
    }
}

/// What the server and its connections share (one thread: cells, no locks).
pub(crate) struct Station {
    config: RadioConfig,
    local: SocketAddr,
    counters: Arc<Counters>,
    /// Every mount: those configured, and those a source has created.
    mounts: RefCell<BTreeMap<String, Rc<Mount>>>,
    started: SystemTime,
    next_id: Cell<u64>,
    /// The server is stopping: no one new is admitted.
    ended: Cell<bool>,
}

impl Station {
    fn new(config: RadioConfig, local: SocketAddr) -> Self {
        Station {
            config,
            local,
            counters: Arc::default(),
            mounts: RefCell::default(),
            started: SystemTime::now(),
            next_id: Cell::new(1),
            ended: Cell::new(false),
        }
    }

    /// Creates the configured mounts; starts their relays and fallbacks.
    fn start(self: &Rc<Self>) {
        for config in &self.config.mounts {
            self.add_mount(config.clone());
        }
        let mounts: Vec<Rc<Mount>> = self.mounts.borrow().values().cloned().collect();
        for mount in &mounts {
            if let Some(other) = self.fallback_of(mount) {
                other.add_dependent(mount);
            }
        }
        for mount in &mounts {
            if let Some(url) = &mount.config.relay {
                let url = config::RelayUrl::parse(url).expect("validated");
                axon_core::activate(relay::Relay::new(self.clone(), mount.clone(), url));
            } else {
                self.release(mount, Feed::Nobody);
            }
        }
    }

    fn add_mount(&self, config: MountConfig) -> Rc<Mount> {
        let mount = Rc::new(Mount::new(
            config,
            self.config.burst,
            self.config.max_lag,
            self.counters.clone(),
        ));
        self.mounts
            .borrow_mut()
            .insert(mount.path.clone(), mount.clone());
        mount
    }

    pub(crate) fn mount(&self, path: &str) -> Option<Rc<Mount>> {
        self.mounts.borrow().get(path).cloned()
    }

    /// The mount a source at `path` feeds, created when it is not configured. (Mounts created
    /// so are kept, for the listeners waiting on them; only an authenticated source makes one.)
    pub(crate) fn mount_for_source(&self, path: &str) -> Rc<Mount> {
        match self.mount(path) {
            Some(mount) => mount,
            None => self.add_mount(MountConfig::new(path)),
        }
    }

    /// The password a source for `path` must give: the mount's own, else the server's.
    pub(crate) fn source_password_for(&self, path: &str) -> Option<&str> {
        self.config
            .mounts
            .iter()
            .find(|m| m.path == path)
            .and_then(|m| m.source_password.as_deref())
            .or(self.config.source_password.as_deref())
    }

    fn fallback_of(&self, mount: &Mount) -> Option<Rc<Mount>> {
        match &mount.config.fallback {
            Some(Fallback::Mount(path)) => self.mount(path),
            _ => None,
        }
    }

    /// `feed` no longer feeds `mount`: it falls back, or goes quiet.
    pub(crate) fn release(&self, mount: &Rc<Mount>, feed: Feed) {
        if self.ended.get() {
            return;
        }
        let fallback = self.fallback_of(mount);
        mount.release(feed, fallback.as_ref());
    }

    pub(crate) fn next_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// A new connection: its component, or 503 at the connection limit.
    fn admit(self: &Rc<Self>, stream: tokio::net::TcpStream, peer: SocketAddr) {
        let Some(stream) =
            crate::live::within_limit(stream, peer, &self.counters, self.config.max_connections)
        else {
            return;
        };
        let connection = Open::new(&self.counters, |c| &c.connections);
        axon_core::activate(Connection {
            inbox: Inbox::with_capacity(self.config.max_lag),
            control: Inbox::new(),
            stream: Some(stream),
            peer,
            _connection: connection,
            station: self.clone(),
        });
    }
}

/// Whether `request` carries Basic credentials with `password` (and, when `user` is given,
/// that user name).
pub(crate) fn authorized(request: &Request, user: Option<&str>, password: &str) -> bool {
    let Some((given_user, given_password)) = basic_credentials(request) else {
        return false;
    };
    user.is_none_or(|u| u == given_user) && same(given_password.as_bytes(), password.as_bytes())
}

/// The user and password of a `Basic` `Authorization` header.
fn basic_credentials(request: &Request) -> Option<(String, String)> {
    let value = request.header("Authorization")?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Compares secrets in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
