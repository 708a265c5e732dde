//! The radio server's configuration file (TOML) and command-line flags, read into a
//! [`RadioConfig`]. Every setting of the file is also a flag; flags win.
//!
//! ```toml
//! bind = "0.0.0.0:8000"
//! source_password = "change me"
//! admin_password = "change me too"
//! max_connections = 18000      # listeners, sources and requests together
//! burst = 2.0                  # seconds of audio a new listener gets at once
//! max_lag = 256                # pages a listener may fall behind
//! source_timeout = 10          # seconds a source may send nothing
//! icy_metaint = 16000          # audio bytes between ICY titles
//! coalesce = 0.5               # seconds a page may wait to share a write with the next
//!
//! [[mount]]
//! path = "/live.ogg"
//! source_password = "its own"  # else the server's
//! max_listeners = 5000
//! fallback = "/backup.ogg"     # another mount, while the source is away …
//!
//! [[mount]]
//! path = "/backup.ogg"
//! fallback_file = "loop.ogg"   # … or a file looped at its own pace
//!
//! [[mount]]
//! path = "/relayed.ogg"
//! relay = "http://other.example:8000/live.ogg"
//! ```

use crate::{Pacing, flag, ogg_source, pacing};
use kamaelia_net::{Fallback, MountConfig, RadioConfig};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    bind: Option<SocketAddr>,
    source_password: Option<String>,
    admin_password: Option<String>,
    max_connections: Option<usize>,
    burst: Option<f64>,
    max_lag: Option<usize>,
    source_timeout: Option<f64>,
    icy_metaint: Option<usize>,
    coalesce: Option<f64>,
    #[serde(default)]
    mount: Vec<MountFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MountFile {
    path: toml::Spanned<String>,
    source_password: Option<String>,
    max_listeners: Option<usize>,
    fallback: Option<String>,
    fallback_file: Option<PathBuf>,
    relay: Option<String>,
}

/// The flags (beyond `--config`) the radio server takes.
pub const RADIO_FLAGS: &str = "[--config FILE] [--bind ADDR] [--source-password P] \
     [--admin-password P] [--max-connections N] [--burst SECS] [--max-lag PAGES] \
     [--source-timeout SECS] [--icy-metaint BYTES] [--coalesce SECS] [--mount-password MOUNT=P] \
     [--max-listeners MOUNT=N] [--fallback MOUNT=OTHER] [--fallback-file MOUNT=FILE] \
     [--relay MOUNT=URL] [--introspect ADDR]";

/// Reads `--config FILE` (when given) and the flags into a configuration, checked whole. A
/// wrong file is refused with its line and the reason.
pub fn radio_config(args: &[String]) -> Result<RadioConfig, String> {
    let (file, text, base) = match flag::<PathBuf>(args, "--config")? {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let file: File = toml::from_str(&text).map_err(|e| {
                let line = e.span().map_or(String::new(), |s| {
                    format!(" line {}:", line_of(&text, s.start))
                });
                format!("{}:{line} {}", path.display(), e.message())
            })?;
            let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            (file, Some((path, text)), base)
        }
        None => (File::default(), None, PathBuf::new()),
    };
    let bind = flag(args, "--bind")?
        .or(file.bind)
        .unwrap_or(([127, 0, 0, 1], 8000).into());
    let mut config = RadioConfig::new(bind);
    config.source_password = flag(args, "--source-password")?.or(file.source_password);
    config.admin_password = flag(args, "--admin-password")?.or(file.admin_password);
    config.max_connections = flag(args, "--max-connections")?.or(file.max_connections);
    if let Some(burst) = flag::<f64>(args, "--burst")?.or(file.burst) {
        if !(0.0..=kamaelia_net::MAX_BURST.as_secs_f64()).contains(&burst) {
            return Err(format!(
                "burst must be 0 to {} seconds",
                kamaelia_net::MAX_BURST.as_secs()
            ));
        }
        config.burst = Duration::from_secs_f64(burst);
    }
    if let Some(lag) = flag::<usize>(args, "--max-lag")?.or(file.max_lag) {
        config.max_lag = lag.max(1);
    }
    if let Some(secs) = flag::<f64>(args, "--source-timeout")?.or(file.source_timeout) {
        if !(secs > 0.0 && secs < 86_400.0) {
            return Err("source timeout must be above 0 seconds (and under a day)".into());
        }
        config.source_timeout = Duration::from_secs_f64(secs);
    }
    if let Some(secs) = flag::<f64>(args, "--coalesce")?.or(file.coalesce) {
        if !(0.0..=2.0).contains(&secs) {
            return Err("coalesce must be 0 to 2 seconds".into());
        }
        config.coalesce = Duration::from_secs_f64(secs);
    }
    if let Some(bytes) = flag::<usize>(args, "--icy-metaint")?.or(file.icy_metaint) {
        if bytes == 0 {
            return Err("icy_metaint must be above 0".into());
        }
        config.icy_metaint = bytes;
    }
    let mut spans = Vec::new();
    for mount in file.mount {
        spans.push((mount.path.get_ref().clone(), mount.path.span().start));
        let mut m = MountConfig::new(mount.path.into_inner());
        m.source_password = mount.source_password;
        m.max_listeners = mount.max_listeners;
        m.relay = mount.relay;
        m.fallback = match (mount.fallback, mount.fallback_file) {
            (Some(_), Some(_)) => {
                return Err(in_file(
                    &text,
                    &spans,
                    &m.path,
                    "give fallback or fallback_file, not both",
                ));
            }
            (Some(other), None) => Some(Fallback::Mount(other)),
            (None, Some(path)) => Some(fallback_file(&base.join(path))?),
            (None, None) => None,
        };
        config.mounts.push(m);
    }
    apply_mount_flags(args, &mut config)?;
    if config.source_password.is_none() {
        let password = generated_password();
        eprintln!("no source password given: sources may use {password}");
        config.source_password = Some(password);
    }
    config.validate().map_err(|why| {
        let mount = config
            .mounts
            .iter()
            .find(|m| why.contains(&m.path))
            .map(|m| m.path.clone())
            .unwrap_or_default();
        in_file(&text, &spans, &mount, &why)
    })?;
    Ok(config)
}

/// `--mount-password /m=P`, `--max-listeners /m=N`, `--fallback /m=/other`,
/// `--fallback-file /m=FILE`, `--relay /m=URL`: each may repeat, and names a mount (added when
/// the file does not list it).
fn apply_mount_flags(args: &[String], config: &mut RadioConfig) -> Result<(), String> {
    let mut i = 0;
    while i < args.len() {
        let name = args[i].as_str();
        if ![
            "--mount-password",
            "--max-listeners",
            "--fallback",
            "--fallback-file",
            "--relay",
        ]
        .contains(&name)
        {
            i += 1;
            continue;
        }
        let value = args
            .get(i + 1)
            .ok_or_else(|| format!("{name} needs MOUNT=VALUE"))?;
        let (path, value) = value
            .split_once('=')
            .ok_or_else(|| format!("{name}: {value:?} is not MOUNT=VALUE"))?;
        let mount = match config.mounts.iter().position(|m| m.path == path) {
            Some(at) => &mut config.mounts[at],
            None => {
                config.mounts.push(MountConfig::new(path));
                config.mounts.last_mut().expect("just pushed")
            }
        };
        match name {
            "--mount-password" => mount.source_password = Some(value.to_string()),
            "--max-listeners" => {
                let n = value
                    .parse()
                    .map_err(|_| format!("{name}: {value:?} is not a number"))?;
                mount.max_listeners = Some(n);
            }
            "--fallback" => mount.fallback = Some(Fallback::Mount(value.to_string())),
            "--fallback-file" => mount.fallback = Some(fallback_file(Path::new(value))?),
            _ => mount.relay = Some(value.to_string()),
        }
        i += 2;
    }
    Ok(())
}

/// A fallback that loops `file` at its own pace, each pass a new chain link.
fn fallback_file(file: &Path) -> Result<Fallback, String> {
    let pacing = pacing(file, None)?;
    debug_assert_eq!(pacing, Pacing::AudioTime);
    let file = file.to_path_buf();
    Ok(Fallback::Pages(Arc::new(move || {
        ogg_source(&file, Pacing::AudioTime, true, Duration::ZERO, None)
    })))
}

/// `why`, placed at the line of `mount` in the configuration file when there is one.
fn in_file(
    text: &Option<(PathBuf, String)>,
    spans: &[(String, usize)],
    mount: &str,
    why: &str,
) -> String {
    match (text, spans.iter().find(|(path, _)| path == mount)) {
        (Some((path, text)), Some((_, at))) => {
            format!("{}: line {}: {why}", path.display(), line_of(text, *at))
        }
        _ => why.to_string(),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// A password for a server started without one: 16 hex digits from the process's hash keys
/// (random per process) and the time.
fn generated_password() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", hasher.finish())
}

/// Icecast 2's configuration for a side-by-side run on loopback: `port`, the source and admin
/// `password`, logs and pid file in `dir` (which the `icecast2` user must be able to write:
/// Icecast refuses to run as root, so the configuration has it change owner after binding),
/// room for `clients` listeners, and its default 64 KiB burst on connect.
pub fn icecast_config(port: u16, password: &str, dir: &Path, clients: usize) -> String {
    let dir = dir.display();
    format!(
        "<icecast>
  <limits><clients>{clients}</clients><sources>4</sources><queue-size>524288</queue-size>
    <client-timeout>30</client-timeout><header-timeout>15</header-timeout>
    <source-timeout>10</source-timeout><burst-on-connect>1</burst-on-connect>
    <burst-size>65535</burst-size></limits>
  <authentication><source-password>{password}</source-password><admin-user>admin</admin-user>
    <admin-password>{password}</admin-password></authentication>
  <hostname>127.0.0.1</hostname><location>loopback</location><admin>admin@localhost</admin>
  <listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <fileserve>0</fileserve>
  <paths><basedir>/usr/share/icecast2</basedir><logdir>{dir}</logdir>
    <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot>
    <pidfile>{dir}/icecast.pid</pidfile></paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog>
    <loglevel>2</loglevel></logging>
  <security><chroot>0</chroot><changeowner><user>icecast2</user><group>icecast</group>
    </changeowner></security>
</icecast>
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn with_file(text: &str) -> Result<RadioConfig, String> {
        let dir = std::env::temp_dir().join(format!("radio-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{:x}.toml", text.len() ^ text.as_ptr() as usize));
        std::fs::write(&path, text).unwrap();
        radio_config(&args(&["--config", path.to_str().unwrap()]))
    }

    #[test]
    fn a_file_and_flags_make_one_configuration_flags_winning() {
        let config = radio_config(&args(&[
            "--source-password",
            "pw",
            "--relay",
            "/r.ogg=http://127.0.0.1:9/live.ogg",
            "--max-listeners",
            "/r.ogg=10",
        ]))
        .unwrap();
        assert_eq!(config.source_password.as_deref(), Some("pw"));
        assert_eq!(config.mounts.len(), 1);
        assert_eq!(config.mounts[0].max_listeners, Some(10));
        let config = with_file(
            "bind = \"127.0.0.1:8100\"\nsource_password = \"x\"\n[[mount]]\npath = \"/a.ogg\"\nmax_listeners = 3\n",
        )
        .unwrap();
        assert_eq!(config.bind.port(), 8100);
        assert_eq!(config.mounts[0].path, "/a.ogg");
    }

    #[test]
    fn a_wrong_file_is_refused_with_its_line_and_the_reason() {
        let error =
            with_file("source_password = \"x\"\n\n[[mount]]\npath = \"/a.ogg\"\nlisteners = 3\n")
                .unwrap_err();
        assert!(
            error.contains("line 5") && error.contains("listeners"),
            "{error}"
        );
        let error = with_file(
            "source_password = \"x\"\n[[mount]]\npath = \"/a.ogg\"\nfallback = \"/nowhere.ogg\"\n",
        )
        .unwrap_err();
        assert!(
            error.contains("line 3") && error.contains("not a configured mount"),
            "{error}"
        );
        let error = with_file("bind = 12\n").unwrap_err();
        assert!(error.contains("line 1"), "{error}");
    }

    #[test]
    fn without_a_password_one_is_generated() {
        let config = radio_config(&[]).unwrap();
        assert_eq!(config.source_password.map(|p| p.len()), Some(16));
    }
}
