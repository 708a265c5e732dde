//! The session description (RFC 4566) DESCRIBE returns: one audio stream of Vorbis over RTP,
//! its configuration inline (ffmpeg needs `configuration=` in `a=fmtp`).

use kamaelia_codec::rtp::VorbisConfig;
use std::net::IpAddr;

/// The payload type the server uses for Vorbis (the first dynamic one).
pub const VORBIS_PAYLOAD_TYPE: u8 = 96;

/// The SDP for a stream at `path`, served from `ip`.
pub fn describe(config: &VorbisConfig, path: &str, ip: IpAddr) -> String {
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let name = if path == "/" {
        "live"
    } else {
        path.trim_start_matches('/')
    };
    format!(
        "v=0\r\no=- {session} 1 IN {family} {ip}\r\ns={name}\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
         a=tool:kamaelia-net\r\na=range:npt=0-\r\na=control:*\r\n\
         m=audio 0 RTP/AVP {pt}\r\n{attributes}a=control:trackID=0\r\n",
        session = config.ident(),
        pt = VORBIS_PAYLOAD_TYPE,
        attributes = config.sdp_attributes(VORBIS_PAYLOAD_TYPE),
    )
}

/// The SDP for a stream sent to a multicast `group` (RTP on its port, RTCP on the next) with
/// `ttl`: what a receiver opens (`ffmpeg -protocol_whitelist file,udp,rtp -i stream.sdp`).
pub fn describe_multicast(
    config: &VorbisConfig,
    group: std::net::SocketAddrV4,
    ttl: u32,
) -> String {
    format!(
        "v=0\r\no=- {session} 1 IN IP4 {ip}\r\ns=kamaelia\r\nc=IN IP4 {ip}/{ttl}\r\nt=0 0\r\n\
         a=tool:kamaelia-net\r\nm=audio {port} RTP/AVP {pt}\r\n{attributes}",
        session = config.ident(),
        ip = group.ip(),
        ttl = ttl.min(255),
        port = group.port(),
        pt = VORBIS_PAYLOAD_TYPE,
        attributes = config.sdp_attributes(VORBIS_PAYLOAD_TYPE),
    )
}
