//! A relay: a mount fed by another server's mount (ours or Icecast's), pulled over HTTP and
//! pulled again, with backoff, whenever it is lost.

use super::Station;
use super::config::RelayUrl;
use super::mount::{Feed, Mount};
use axon_core::{Boxes, Component, ComponentError, Control, Inbox};
use kamaelia_codec::{OggPageReader, PageEvent};
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The first wait before pulling again; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Time allowed to connect and read the response head.
const CONNECT_TIME: Duration = Duration::from_secs(10);
/// The largest response head taken.
const MAX_HEAD: usize = 16 * 1024;

/// Pulls one mount's stream from upstream for as long as the server runs.
#[derive(Boxes)]
pub(crate) struct Relay {
    /// Shutdown.
    pub(crate) control: Inbox<Control>,
    station: Rc<Station>,
    mount: Rc<Mount>,
    url: RelayUrl,
}

impl Relay {
    pub(crate) fn new(station: Rc<Station>, mount: Rc<Mount>, url: RelayUrl) -> Self {
        Relay {
            control: Inbox::new(),
            station,
            mount,
            url,
        }
    }

    /// One pull: connect, ask, and feed the mount until upstream stops. Returns why it
    /// stopped, and whether any audio came.
    async fn pull(station: &Station, mount: &Rc<Mount>, url: &RelayUrl) -> (String, bool) {
        let connected = tokio::time::timeout(CONNECT_TIME, async {
            let mut stream = TcpStream::connect(&url.authority).await?;
            let ask = format!(
                "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: Kamaelia radio relay\r\n\r\n",
                url.path, url.authority
            );
            stream.write_all(ask.as_bytes()).await?;
            let (status, rest) = read_response_head(&mut stream).await?;
            Ok::<_, std::io::Error>((stream, status, rest))
        })
        .await;
        let (mut stream, status, rest) = match connected {
            Err(_) => return ("upstream did not answer in time".into(), false),
            Ok(Err(e)) => return (format!("upstream: {e}"), false),
            Ok(Ok(answer)) => answer,
        };
        if status != 200 {
            return (format!("upstream answered {status}"), false);
        }
        if !mount.claim(Feed::Relay) {
            return ("the mount is fed by someone else".into(), false);
        }
        tracing::info!(mount = %mount.path, upstream = %url.authority, path = %url.path, "relay connected");
        let mut pages = OggPageReader::new();
        let mut got_audio = false;
        let mut buffer = vec![0u8; 16 * 1024];
        pages.push(&rest);
        let why = loop {
            while let Some(event) = pages.next_event() {
                match event {
                    PageEvent::Page(page) => {
                        got_audio |= !page.is_header();
                        mount.take_page(Feed::Relay, &page);
                    }
                    PageEvent::Damage(damage) => {
                        tracing::warn!(mount = %mount.path, %damage, "damaged relay stream: skipped");
                    }
                }
            }
            let timeout = station.config.source_timeout;
            match tokio::time::timeout(timeout, stream.read(&mut buffer)).await {
                Err(_) => break format!("upstream sent nothing for {timeout:?}"),
                Ok(Err(e)) => break format!("upstream: {e}"),
                Ok(Ok(0)) => break "upstream closed the stream".to_string(),
                Ok(Ok(n)) => pages.push(&buffer[..n]),
            }
        };
        station.release(mount, Feed::Relay);
        (why, got_audio)
    }
}

impl Component for Relay {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let (why, got_audio) = tokio::select! {
                pulled = Relay::pull(&self.station, &self.mount, &self.url) => pulled,
                _ = self.control.recv() => break,
            };
            if got_audio {
                backoff = FIRST_BACKOFF;
            }
            tracing::warn!(mount = %self.mount.path, upstream = %self.url.authority, reason = %why, retry_in = ?backoff, "relay lost");
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = self.control.recv() => break,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        // Stopped mid-pull: the mount is given back (quietly: the server is stopping).
        self.station.release(&self.mount, Feed::Relay);
        Ok(())
    }
}

/// Reads a response head; returns its status and the bytes after it.
async fn read_response_head(stream: &mut TcpStream) -> std::io::Result<(u16, Vec<u8>)> {
    let mut head = Vec::with_capacity(1024);
    let mut piece = [0u8; 1024];
    loop {
        let n = stream.read(&mut piece).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&piece[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&head) {
            Ok(httparse::Status::Complete(length)) => {
                let status = response.code.unwrap_or(0);
                return Ok((status, head.split_off(length)));
            }
            Ok(httparse::Status::Partial) if head.len() <= MAX_HEAD => {}
            Ok(httparse::Status::Partial) => {
                return Err(std::io::Error::other("response head too large"));
            }
            Err(e) => return Err(std::io::Error::other(format!("bad response: {e}"))),
        }
    }
}
