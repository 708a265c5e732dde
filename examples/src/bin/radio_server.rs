//! `radio_server [--config FILE] [--bind ADDR] [--source-password P] [--admin-password P] …`:
//! a live radio server a station could run instead of Icecast. Encoders push Ogg Vorbis or
//! Opus streams into mount points — `ffmpeg -re -i show.ogg -c copy -f ogg
//! icecast://source:P@ADDR/live.ogg` (add `-legacy_icecast 1` for the old `SOURCE` method),
//! or `curl -T show.ogg -u source:P http://ADDR/live.ogg` — and listeners tune in at
//! `http://ADDR/live.ogg` with any player. The now-playing title updates with
//! `curl -u admin:A 'http://ADDR/admin/metadata?mount=/live.ogg&mode=updinfo&song=T'`.
//! `/status-json.xsl` is Icecast's status page, `/stats` ours.
//!
//! Every setting of the configuration file (see `kamaelia_examples::radio`) is also a flag;
//! flags win. Mounts are per-mount flags `--mount-password`, `--max-listeners`, `--fallback`,
//! `--fallback-file` and `--relay`, each `MOUNT=VALUE`. With no source password given, one is
//! generated and printed. Prints `listening on ADDR` first; each connection event is one line
//! on stderr; Ctrl-C or SIGTERM stops it cleanly.

use kamaelia_examples::radio::{RADIO_FLAGS, radio_config};
use kamaelia_examples::{args_or_help, introspect, run_until_ctrl_c, usage_error};
use kamaelia_net::RadioServer;

fn main() {
    let usage = format!("radio_server {RADIO_FLAGS}");
    let args = args_or_help(&usage);
    let config = radio_config(&args).unwrap_or_else(|e| usage_error(&e, &usage));
    let result = run_until_ctrl_c(|scheduler| {
        let bind = config.bind;
        let server =
            RadioServer::bind(config).map_err(|e| format!("cannot listen on {bind}: {e}"))?;
        println!("listening on {}", server.local_addr());
        introspect(&args, scheduler)?;
        scheduler.activate(server);
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("radio_server: {e}");
        std::process::exit(1);
    }
}
