//! `rtp_multicast_server --group ADDR:PORT --file F --sdp OUT.sdp [--loop] [--interface IP]
//! [--ttl N] [--inband-config SECS]`: Ogg Vorbis over RTP (RFC 5215) to a multicast group —
//! RTP on PORT, RTCP sender reports on PORT+1 — released at the pace of its audio. Writes an
//! SDP file a player opens (`ffmpeg -protocol_whitelist file,udp,rtp -i OUT.sdp`) as soon as
//! the stream's headers have been read, and sends the configuration in-band every SECS
//! seconds of audio (default 5) for receivers without it. By default everything stays on this
//! host (interface 127.0.0.1, TTL 0). Prints `sending to GROUP` first, `wrote OUT.sdp` when
//! the SDP is written; exits 0 at the end of the file; Ctrl-C or SIGTERM stops it cleanly.

use axon_core::components::map;
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox, link, pipeline};
use kamaelia_codec::rtp::{RtpVorbisPay, VorbisConfig};
use kamaelia_codec::{OggDemux, OggPage};
use kamaelia_examples::{
    args_or_help, flag, multicast_group, ogg_source, pacing, run_until_ctrl_c, usage_error,
};
use kamaelia_net::MulticastConfig;
use kamaelia_net::rtsp::{RtpSender, describe_multicast};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

const USAGE: &str = "rtp_multicast_server --group ADDR:PORT --file F --sdp OUT.sdp [--loop] \
                     [--interface IP] [--ttl N] [--inband-config SECS] [--introspect ADDR]";

struct Options {
    group: SocketAddrV4,
    file: PathBuf,
    sdp: PathBuf,
    interface: Ipv4Addr,
    ttl: u32,
    inband: f64,
}

fn options(args: &[String]) -> Result<Options, String> {
    let group = multicast_group(args)?;
    if group.port() % 2 == 1 || group.port() == u16::MAX {
        return Err("the RTP port must be even (RTCP uses the next one)".into());
    }
    let inband: f64 = flag(args, "--inband-config")?.unwrap_or(5.0);
    if !(inband > 0.0 && inband <= 3600.0) {
        return Err("--inband-config must be above 0 and at most 3600 seconds".into());
    }
    let ttl: u32 = flag(args, "--ttl")?.unwrap_or(0);
    if ttl > 255 {
        return Err("--ttl must be 0 to 255".into());
    }
    Ok(Options {
        group,
        file: flag(args, "--file")?.ok_or("--file F is required")?,
        sdp: flag(args, "--sdp")?.ok_or("--sdp OUT.sdp is required")?,
        interface: flag(args, "--interface")?.unwrap_or(Ipv4Addr::LOCALHOST),
        ttl,
        inband,
    })
}

/// Writes the SDP file for each configuration that comes into force, and passes it on.
#[derive(Boxes)]
struct WriteSdp {
    inbox: Inbox<VorbisConfig>,
    control: Inbox<Control>,
    outbox: Outbox<VorbisConfig>,
    path: PathBuf,
    group: SocketAddrV4,
    ttl: u32,
}

impl Component for WriteSdp {
    async fn main(mut self) -> Result<(), ComponentError> {
        while let Some(config) = self.inbox_or_finished().await {
            let sdp = describe_multicast(&config, self.group, self.ttl);
            std::fs::write(&self.path, sdp)?;
            println!("wrote {}", self.path.display());
            self.outbox.send(config).await?;
        }
        Ok(())
    }
}

fn main() {
    let args = args_or_help(USAGE);
    let options = options(&args).unwrap_or_else(|e| usage_error(&e, USAGE));
    let looping = args.iter().any(|a| a == "--loop");
    let fail = |message: String| -> ! {
        eprintln!("rtp_multicast_server: {message}");
        std::process::exit(1);
    };
    let pacing = pacing(&options.file, None).unwrap_or_else(|e| fail(e));
    let result = run_until_ctrl_c(|scheduler| {
        kamaelia_examples::introspect(&args, scheduler)?;
        let config = MulticastConfig {
            interface: options.interface,
            ttl: options.ttl,
            ..MulticastConfig::local(options.group)
        };
        let sender = RtpSender::multicast(&config)
            .map_err(|e| format!("cannot send to {}: {e}", options.group))?;
        let pay = RtpVorbisPay::new().inband_config(Duration::from_secs_f64(options.inband));
        let write_sdp = WriteSdp {
            inbox: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            path: options.sdp.clone(),
            group: options.group,
            ttl: options.ttl,
        };
        // Each configuration goes to the SDP file, then to the sender (its clock rate).
        link(&pay.config, &write_sdp.inbox).map_err(|e| e.to_string())?;
        link(&write_sdp.outbox, &sender.config).map_err(|e| e.to_string())?;
        let pages = ogg_source(&options.file, pacing, looping, Duration::ZERO, None)?;
        let system = pipeline!(
            pages,
            map(OggPage::into_bytes),
            OggDemux::default(),
            pay,
            sender
        )
        .map_err(|e| e.to_string())?;
        link(&system.signal, &write_sdp.control).map_err(|e| e.to_string())?;
        println!("sending to {}", options.group);
        scheduler.activate(system);
        scheduler.activate(write_sdp);
        Ok(())
    });
    if let Err(e) = result {
        fail(e);
    }
}
