//! The `Transport` header of SETUP (RFC 2326 §12.39): what a client asks for, and what the
//! server answers.

/// How a session's RTP and RTCP travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// UDP datagrams to the client's RTP and RTCP ports.
    Udp {
        /// The client's RTP port (RTCP is usually the next one).
        rtp: u16,
        /// The client's RTCP port.
        rtcp: u16,
    },
    /// Interleaved in the RTSP connection: `$`, channel, length, packet.
    Tcp {
        /// The channel for RTP.
        rtp: u8,
        /// The channel for RTCP.
        rtcp: u8,
    },
}

/// Picks the first transport in `header` that the server can serve (unicast RTP/AVP over UDP
/// or TCP); `None` if there is none.
///
/// ```
/// use kamaelia_net::rtsp::{Delivery, choose_transport};
/// assert_eq!(choose_transport("RTP/AVP/TCP;unicast;interleaved=0-1"),
///     Some(Delivery::Tcp { rtp: 0, rtcp: 1 }));
/// assert_eq!(choose_transport("RTP/AVP;multicast,RTP/AVP;unicast;client_port=5000-5001"),
///     Some(Delivery::Udp { rtp: 5000, rtcp: 5001 }));
/// ```
pub fn choose_transport(header: &str) -> Option<Delivery> {
    header.split(',').find_map(|spec| {
        let mut parts = spec.trim().split(';').map(str::trim);
        let protocol = parts.next()?;
        let params: Vec<&str> = parts.collect();
        if params.iter().any(|p| p.eq_ignore_ascii_case("multicast")) {
            return None;
        }
        let value = |name: &str| {
            params.iter().find_map(|p| {
                let (n, v) = p.split_once('=')?;
                n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
            })
        };
        let pair = |v: &str| -> Option<(u16, u16)> {
            match v.split_once('-') {
                Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
                None => {
                    let a: u16 = v.trim().parse().ok()?;
                    Some((a, a.checked_add(1)?))
                }
            }
        };
        match protocol.to_ascii_uppercase().as_str() {
            "RTP/AVP/TCP" => {
                let (rtp, rtcp) = value("interleaved").map_or(Some((0, 1)), pair)?;
                Some(Delivery::Tcp {
                    rtp: u8::try_from(rtp).ok()?,
                    rtcp: u8::try_from(rtcp).ok()?,
                })
            }
            "RTP/AVP" | "RTP/AVP/UDP" => {
                let (rtp, rtcp) = pair(value("client_port")?)?;
                (rtp != 0).then_some(Delivery::Udp { rtp, rtcp })
            }
            _ => None,
        }
    })
}

/// The `Transport` the server answers with (`server_ports` for UDP; `ssrc` once known).
pub fn transport_reply(delivery: Delivery, ssrc: Option<u32>, server_ports: (u16, u16)) -> String {
    let ssrc = ssrc.map_or(String::new(), |s| format!(";ssrc={s:08X}"));
    match delivery {
        Delivery::Tcp { rtp, rtcp } => {
            format!("RTP/AVP/TCP;unicast;interleaved={rtp}-{rtcp}{ssrc}")
        }
        Delivery::Udp { rtp, rtcp } => format!(
            "RTP/AVP;unicast;client_port={rtp}-{rtcp};server_port={}-{}{ssrc}",
            server_ports.0, server_ports.1
        ),
    }
}
