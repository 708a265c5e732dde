use axon_core::{Inbox, Outbox, link};

fn main() {
    let numbers: Outbox<u64> = Outbox::new();
    let text: Inbox<String> = Inbox::new();
    link(&numbers, &text).unwrap();
}
