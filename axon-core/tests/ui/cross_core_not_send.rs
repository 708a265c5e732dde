use axon_core::{CrossInbox, Inbox, Outbox, link_cross};
use std::rc::Rc;

fn main() {
    // Rc is not Send: a cross-core link cannot carry it, neither as an address nor as a link.
    let inbox: Inbox<Rc<u8>> = Inbox::new();
    let address = CrossInbox::data(&inbox).unwrap();
    let outbox: Outbox<Rc<u8>> = Outbox::new();
    link_cross(&outbox, &address).unwrap();
}
