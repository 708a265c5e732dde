use axon_core::{Next, threaded};
use std::rc::Rc;

fn main() {
    // Rc is not Send: it cannot cross into a threaded component's thread.
    let _ = threaded(|boxes| {
        while let Some(Next::Data(v)) = boxes.recv_blocking() {
            let v: Rc<u8> = v;
            boxes.send_blocking(v)?;
        }
        Ok(())
    });
}
