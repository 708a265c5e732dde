//! What a radio server is told: where it listens, its passwords, its mount points and their
//! fallbacks and relays, and its limits. Checked whole before the server starts.

use crate::http::RequestLimits;
use axon_core::Pipeline;
use kamaelia_codec::OggPage;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Makes the pages of a fallback stream, afresh each time the fallback starts (a file looped at
/// its own pace, say: `kamaelia_examples::ogg_source` builds one).
pub type PagesFactory = Arc<dyn Fn() -> Result<Pipeline<(), OggPage>, String> + Send + Sync>;

/// What a mount plays while its own source is away.
#[derive(Clone)]
pub enum Fallback {
    /// Another mount's stream (joined at its next join point).
    Mount(String),
    /// A stream made by the factory (started when the source goes, stopped when it returns).
    Pages(PagesFactory),
}

impl fmt::Debug for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fallback::Mount(mount) => f.debug_tuple("Mount").field(mount).finish(),
            Fallback::Pages(_) => f.write_str("Pages(..)"),
        }
    }
}

/// One mount point.
#[derive(Clone, Debug)]
pub struct MountConfig {
    /// Its path, such as `/live.ogg`.
    pub path: String,
    /// The password its source must give (else the server's).
    pub source_password: Option<String>,
    /// Listeners at once; more are answered 503.
    pub max_listeners: Option<usize>,
    /// What it plays while its source is away.
    pub fallback: Option<Fallback>,
    /// Instead of taking a source, it pulls this stream (`http://host:port/mount`, ours or
    /// Icecast's), reconnecting with backoff.
    pub relay: Option<String>,
}

impl MountConfig {
    /// A mount at `path` with no limits, fallback or relay.
    pub fn new(path: impl Into<String>) -> Self {
        MountConfig {
            path: path.into(),
            source_password: None,
            max_listeners: None,
            fallback: None,
            relay: None,
        }
    }

    /// Its own source password.
    pub fn source_password(mut self, password: impl Into<String>) -> Self {
        self.source_password = Some(password.into());
        self
    }

    /// Its listener limit.
    pub fn max_listeners(mut self, limit: usize) -> Self {
        self.max_listeners = Some(limit);
        self
    }

    /// What it plays while its source is away.
    pub fn fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = Some(fallback);
        self
    }

    /// Pulls `url` instead of taking a source.
    pub fn relay(mut self, url: impl Into<String>) -> Self {
        self.relay = Some(url.into());
        self
    }
}

/// How a [`RadioServer`](super::RadioServer) listens, who may send and administer, its mounts
/// and its limits.
#[derive(Clone, Debug)]
pub struct RadioConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// The password a source gives for any mount without its own. There is no default: with
    /// neither this nor a mount's own, no source is accepted.
    pub source_password: Option<String>,
    /// The password of the user `admin` (metadata updates); with none, only a mount's source
    /// credentials may update its title.
    pub admin_password: Option<String>,
    /// Mounts with settings of their own. Any other mount accepts a source that gives the
    /// server's source password.
    pub mounts: Vec<MountConfig>,
    /// Connections open at once (listeners, sources and requests); more are answered 503.
    pub max_connections: Option<usize>,
    /// Chunks (Ogg pages) a listener may fall behind before it is disconnected (default 256).
    pub max_lag: usize,
    /// How much recent audio a new listener gets at once (default 2 s; see
    /// [`LiveConfig::burst`](crate::LiveConfig::burst)).
    pub burst: Duration,
    /// Limits on reading request heads.
    pub request_limits: RequestLimits,
    /// A source that sends nothing for this long is disconnected (default 10 s, as Icecast).
    pub source_timeout: Duration,
    /// Audio bytes between ICY metadata blocks for listeners that ask (default 16,000).
    pub icy_metaint: usize,
    /// Listen backlog (default 4096).
    pub backlog: u32,
    /// How long a page may wait for the next ones before a listener's socket is written
    /// (default 500 ms): pages of a radio stream come a few a second, and writing them in
    /// twos or fours halves the server's work per listener (a write is a system call and a
    /// wake of the reader; see `cargo xtask bench radio`). A listener starts with its burst at
    /// once; it then runs this much behind the live point, at most. Zero: each page as it comes.
    pub coalesce: Duration,
}

impl RadioConfig {
    /// Listens on `bind` with the defaults above, no passwords and no mounts of its own.
    pub fn new(bind: SocketAddr) -> Self {
        RadioConfig {
            bind,
            source_password: None,
            admin_password: None,
            mounts: Vec::new(),
            max_connections: None,
            max_lag: 256,
            burst: Duration::from_secs(2),
            request_limits: RequestLimits::default(),
            source_timeout: Duration::from_secs(10),
            icy_metaint: crate::icy::DEFAULT_METAINT,
            backlog: 4096,
            coalesce: Duration::from_millis(500),
        }
    }

    /// Sets the server's source password.
    pub fn source_password(mut self, password: impl Into<String>) -> Self {
        self.source_password = Some(password.into());
        self
    }

    /// Sets the `admin` user's password.
    pub fn admin_password(mut self, password: impl Into<String>) -> Self {
        self.admin_password = Some(password.into());
        self
    }

    /// Adds a mount with settings of its own.
    pub fn mount(mut self, mount: MountConfig) -> Self {
        self.mounts.push(mount);
        self
    }

    /// Sets the per-listener burst (capped at [`MAX_BURST`](crate::MAX_BURST)).
    pub fn burst(mut self, burst: Duration) -> Self {
        self.burst = burst.min(crate::MAX_BURST);
        self
    }

    /// Sets the connection limit.
    pub fn max_connections(mut self, limit: usize) -> Self {
        self.max_connections = Some(limit);
        self
    }

    /// Checks the whole configuration: every mount path well-formed and named once, fallbacks
    /// naming configured mounts without a loop, relays given as `http://` URLs, a way for
    /// every mount to be fed.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for mount in &self.mounts {
            check_mount_path(&mount.path)?;
            if !seen.insert(mount.path.as_str()) {
                return Err(format!("mount {} is listed twice", mount.path));
            }
            if let Some(url) = &mount.relay {
                RelayUrl::parse(url).map_err(|e| format!("mount {}: {e}", mount.path))?;
            }
            if mount.relay.is_none()
                && mount.source_password.is_none()
                && self.source_password.is_none()
                && mount.fallback.is_none()
            {
                return Err(format!(
                    "mount {} has no source password, and the server has none: \
                     give --source-password or the mount's own",
                    mount.path
                ));
            }
        }
        for mount in &self.mounts {
            let mut at = mount;
            let mut visited = vec![mount.path.as_str()];
            while let Some(Fallback::Mount(next)) = &at.fallback {
                let Some(found) = self.mounts.iter().find(|m| &m.path == next) else {
                    return Err(format!(
                        "mount {}: fallback {next} is not a configured mount",
                        at.path
                    ));
                };
                if visited.contains(&next.as_str()) {
                    visited.push(next);
                    return Err(format!("fallbacks form a loop: {}", visited.join(" -> ")));
                }
                visited.push(next);
                at = found;
            }
        }
        Ok(())
    }
}

/// Reserved paths a mount cannot take.
const RESERVED: [&str; 3] = ["/admin", "/status-json.xsl", "/stats"];

/// A mount path: `/` then at least one character, no query, nothing reserved.
pub(crate) fn check_mount_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') || path.len() < 2 {
        return Err(format!(
            "mount {path:?} must start with / and name something"
        ));
    }
    if path.contains(['?', '#', ' ']) || path.chars().any(char::is_control) {
        return Err(format!("mount {path:?} has a character a path cannot have"));
    }
    if RESERVED
        .iter()
        .any(|r| path == *r || path.starts_with(&format!("{r}/")))
    {
        return Err(format!(
            "mount {path:?} is a path the server answers itself"
        ));
    }
    Ok(())
}

/// Where a relay pulls from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RelayUrl {
    /// `host:port`, as connected to and sent in `Host`.
    pub(crate) authority: String,
    /// The path, with any query.
    pub(crate) path: String,
}

impl RelayUrl {
    pub(crate) fn parse(url: &str) -> Result<RelayUrl, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("relay {url:?}: only http:// URLs can be relayed"))?;
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("relay {url:?}: needs a host (and no credentials)"));
        }
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(RelayUrl {
            authority,
            path: path.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RadioConfig {
        RadioConfig::new("127.0.0.1:0".parse().unwrap()).source_password("pw")
    }

    #[test]
    fn fallback_loops_and_unknown_mounts_are_refused() {
        let looped = config()
            .mount(MountConfig::new("/a.ogg").fallback(Fallback::Mount("/b.ogg".into())))
            .mount(MountConfig::new("/b.ogg").fallback(Fallback::Mount("/a.ogg".into())));
        let error = looped.validate().unwrap_err();
        assert!(error.contains("/a.ogg -> /b.ogg -> /a.ogg"), "{error}");
        let unknown =
            config().mount(MountConfig::new("/a.ogg").fallback(Fallback::Mount("/x".into())));
        assert!(
            unknown
                .validate()
                .unwrap_err()
                .contains("not a configured mount")
        );
        let chain = config()
            .mount(MountConfig::new("/a.ogg").fallback(Fallback::Mount("/b.ogg".into())))
            .mount(MountConfig::new("/b.ogg"));
        assert_eq!(chain.validate(), Ok(()));
    }

    #[test]
    fn paths_passwords_and_relays_are_checked() {
        assert!(config().mount(MountConfig::new("live")).validate().is_err());
        assert!(
            config()
                .mount(MountConfig::new("/admin/x"))
                .validate()
                .is_err()
        );
        assert!(
            config()
                .mount(MountConfig::new("/a"))
                .mount(MountConfig::new("/a"))
                .validate()
                .is_err()
        );
        let no_password =
            RadioConfig::new("127.0.0.1:0".parse().unwrap()).mount(MountConfig::new("/a"));
        assert!(
            no_password
                .validate()
                .unwrap_err()
                .contains("no source password")
        );
        assert!(
            config()
                .mount(MountConfig::new("/r").relay("https://x/y"))
                .validate()
                .is_err()
        );
        assert_eq!(
            RelayUrl::parse("http://example:8000/live.ogg").unwrap(),
            RelayUrl {
                authority: "example:8000".into(),
                path: "/live.ogg".into()
            }
        );
        assert_eq!(
            RelayUrl::parse("http://example").unwrap().authority,
            "example:80"
        );
    }
}
