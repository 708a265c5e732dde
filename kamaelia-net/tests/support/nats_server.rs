//! A real `nats-server` on a free loopback port, for tests and benches (shared by
//! `#[path]`). Missing binary: `None`, or a panic under `KAMAELIA_REQUIRE_ALL` (as in CI).

#![allow(dead_code)]

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running nats-server; killed when dropped.
pub(crate) struct NatsServer {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub(crate) port: u16,
    /// Its JetStream store, if JetStream is on.
    store: Option<PathBuf>,
}

impl NatsServer {
    /// Starts a server (with JetStream when `jetstream`), or says why the test is skipped.
    pub(crate) fn start(jetstream: bool) -> Option<NatsServer> {
        if kamaelia_net::nats::find_nats_server().is_none() {
            if std::env::var_os("KAMAELIA_REQUIRE_ALL").is_some() {
                panic!(
                    "nats-server is required (KAMAELIA_REQUIRE_ALL is set): apt-get install nats-server"
                );
            }
            eprintln!("SKIPPED: nats-server is not installed (apt-get install nats-server)");
            return None;
        }
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let store = jetstream.then(|| {
            let dir =
                std::env::temp_dir().join(format!("kamaelia-nats-{}-{port}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            dir
        });
        let mut server = NatsServer {
            child: None,
            port,
            store,
        };
        server.launch();
        Some(server)
    }

    /// `nats://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn launch(&mut self) {
        let mut command = Command::new(kamaelia_net::nats::find_nats_server().unwrap());
        command
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(store) = &self.store {
            command.arg("-js").arg("-sd").arg(store);
        }
        self.child = Some(command.spawn().expect("nats-server starts"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not start listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill -9`: the server dies without a word.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (and store).
    pub(crate) fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        if let Some(store) = &self.store {
            let _ = std::fs::remove_dir_all(store);
        }
    }
}
