//! `echo_client --connect ADDR`: sends each line of standard input to a server and writes what
//! comes back to standard output — ConsoleReader → TcpClient → ConsoleEchoer. Exits 0 when the
//! server closes after the input ends; a connection failure is reported on stderr with a
//! non-zero exit.

use axon_core::components::{ConsoleEchoer, ConsoleReader, map};
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, pipeline};
use bytes::Bytes;
use kamaelia_examples::{args_or_help, flag, usage_error};
use kamaelia_net::TcpClient;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

const USAGE: &str = "echo_client --connect ADDR";

/// Remembers why the client stopped.
#[derive(Boxes)]
struct Outcome {
    control: Inbox<Control>,
    ending: Rc<RefCell<Option<Control>>>,
}

impl Component for Outcome {
    async fn main(mut self) -> Result<(), ComponentError> {
        *self.ending.borrow_mut() = Some(self.control.recv().await);
        Ok(())
    }
}

fn main() {
    let args = args_or_help(USAGE);
    let address: SocketAddr = match flag(&args, "--connect") {
        Ok(Some(a)) => a,
        Ok(None) => usage_error("--connect ADDR is required", USAGE),
        Err(e) => usage_error(&e, USAGE),
    };
    let ending = Rc::new(RefCell::new(None));
    let system = pipeline!(
        ConsoleReader::default(),
        map(|line: String| Bytes::from(line + "\n")),
        TcpClient::new(address).with_retry(3, Duration::from_millis(200)),
        map(|bytes: Bytes| String::from_utf8_lossy(&bytes).into_owned()),
        ConsoleEchoer::raw(),
        Outcome {
            control: Inbox::new(),
            ending: ending.clone(),
        },
    )
    .expect("fresh stages link");
    if let Err(e) = axon_core::run(system) {
        eprintln!("echo_client: {e}");
        std::process::exit(1);
    }
    if let Some(Control::Failed(info)) = ending.borrow_mut().take() {
        eprintln!("echo_client: {}", info.message);
        std::process::exit(1);
    }
}
