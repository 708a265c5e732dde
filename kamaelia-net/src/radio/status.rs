//! What the server says about itself: `/status-json.xsl` in Icecast's shape (what directory
//! listings, dashboards and players' "now playing" widgets read) and `/stats`, our counters.

use super::Station;
use super::mount::{Feed, Mount};
use serde_json::{Value, json};
use std::time::SystemTime;

/// Icecast 2.4's `status-json.xsl`: `{"icestats": {…, "source": …}}`, where `source` is one
/// object for one mount and a list for several (as Icecast does), and absent with none.
pub(super) fn icecast_json(station: &Station) -> String {
    let sources: Vec<Value> = station
        .mounts
        .borrow()
        .values()
        .filter(|m| m.on_air())
        .map(|m| source_json(station, m))
        .collect();
    let mut stats = json!({
        "admin": "icemaster@localhost",
        "host": station.local.ip().to_string(),
        "location": "Earth",
        "server_id": concat!("Kamaelia radio ", env!("CARGO_PKG_VERSION")),
        "server_start": http_date(station.started),
        "server_start_iso8601": iso_date(station.started),
    });
    match sources.len() {
        0 => {}
        1 => stats["source"] = sources.into_iter().next().expect("one"),
        _ => stats["source"] = Value::Array(sources),
    }
    let mut text = json!({ "icestats": stats }).to_string();
    text.push('\n');
    text
}

fn source_json(station: &Station, mount: &Mount) -> Value {
    let info = mount.info.borrow();
    let started = mount.started.get().unwrap_or(station.started);
    let kbps = mount.bitrate() / 1000;
    json!({
        "audio_bitrate": info.nominal_bitrate,
        "audio_channels": info.channels,
        "audio_samplerate": info.sample_rate,
        "audio_info": format!("bitrate={kbps}"),
        "bitrate": kbps,
        "ice-bitrate": kbps,
        "genre": info.genre.as_deref().unwrap_or("various"),
        "listener_peak": mount.peak.get(),
        "listeners": mount.listeners.get(),
        "listenurl": format!("http://{}{}", station.local, mount.path),
        "server_description": info.description.as_deref().unwrap_or("Unspecified description"),
        "server_name": info.name.as_deref().unwrap_or("Unspecified name"),
        "server_type": "application/ogg",
        "server_url": info.url.as_deref(),
        "stream_start": http_date(started),
        "stream_start_iso8601": iso_date(started),
        "subtype": info.codec,
        "title": mount.title.borrow().as_deref(),
        "dummy": null,
    })
}

/// Our counters, and per mount: who feeds it, listeners, peak, bit rate, title.
pub(super) fn stats_json(station: &Station) -> String {
    let mut stats = station.counters.fields();
    let mounts: serde_json::Map<String, Value> = station
        .mounts
        .borrow()
        .values()
        .map(|m| {
            let feed = match m.feed() {
                Feed::Nobody => "none",
                Feed::Source(_) => "source",
                Feed::Relay => "relay",
                Feed::FallbackMount | Feed::FallbackPages(_) => "fallback",
            };
            let value = json!({
                "feed": feed,
                "listeners": m.listeners.get(),
                "listener_peak": m.peak.get(),
                "bitrate": m.bitrate(),
                "title": m.title.borrow().as_deref(),
            });
            (m.path.clone(), value)
        })
        .collect();
    stats.insert("mounts".into(), Value::Object(mounts));
    let mut text = Value::Object(stats).to_string();
    text.push('\n');
    text
}

/// `Tue, 01 Dec 2026 05:56:28 +0000`, as Icecast writes it.
fn http_date(at: SystemTime) -> String {
    httpdate::fmt_http_date(at).replace(" GMT", " +0000")
}

/// `2026-12-01T05:56:28+0000`, as Icecast writes it.
fn iso_date(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .replace('Z', "+0000")
}
