use axon_core::{Inbox, pass_inbox};

fn main() {
    let parent: Inbox<Vec<u8>> = Inbox::new();
    let child: Inbox<bytes::Bytes> = Inbox::new();
    pass_inbox(&parent, &child).unwrap();
}
