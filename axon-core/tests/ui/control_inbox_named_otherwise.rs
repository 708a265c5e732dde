use axon_core::{Boxes, Control, Inbox, Outbox};

/// Its control inbox is called `stop`: pipelines would never tell it to finish.
#[derive(Boxes)]
struct Worker {
    inbox: Inbox<u32>,
    stop: Inbox<Control>,
    outbox: Outbox<u32>,
    signal: Outbox<Control>,
}

fn main() {}
