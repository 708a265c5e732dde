//! `Marshaller<T>`: the paper's generic marshalling component.

use crate::MimeDict;
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox};
use bytes::Bytes;

/// A type with a byte form.
pub trait Marshal: Sized + 'static {
    /// The byte form.
    fn marshall(&self) -> Result<Bytes, String>;
    /// Back from the byte form; a clear message when the bytes are not a valid form.
    fn demarshall(bytes: &[u8]) -> Result<Self, String>;
}

impl Marshal for MimeDict {
    fn marshall(&self) -> Result<Bytes, String> {
        self.render().map(Bytes::from).map_err(|e| e.to_string())
    }
    fn demarshall(bytes: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
        MimeDict::parse(text).map_err(|e| e.to_string())
    }
}

/// Values in on `marshall`, their byte form out on `marshalled`; bytes in on `demarshall`, values
/// out on `demarshalled`. What cannot be converted is reported on `errors` (with the reason) and
/// skipped; the component carries on. `ProducerFinished` on `control` ends it after both inboxes
/// are drained.
#[derive(Boxes)]
pub struct Marshaller<T: Marshal> {
    /// Values to marshall.
    pub marshall: Inbox<T>,
    /// Bytes to demarshall.
    pub demarshall: Inbox<Bytes>,
    /// `ProducerFinished` ends it.
    pub control: Inbox<Control>,
    /// Byte forms.
    pub marshalled: Outbox<Bytes>,
    /// Values.
    pub demarshalled: Outbox<T>,
    /// Why an input could not be converted.
    pub errors: Outbox<String>,
    /// Forwards the end.
    pub signal: Outbox<Control>,
}

impl<T: Marshal> Default for Marshaller<T> {
    fn default() -> Self {
        Marshaller {
            marshall: Inbox::new(),
            demarshall: Inbox::new(),
            control: Inbox::new(),
            marshalled: Outbox::new(),
            demarshalled: Outbox::new(),
            errors: Outbox::new(),
            signal: Outbox::new(),
        }
    }
}

impl<T: Marshal> Component for Marshaller<T> {
    async fn main(mut self) -> Result<(), ComponentError> {
        loop {
            tokio::select! {
                biased;
                value = self.marshall.recv() => match value.marshall() {
                    Ok(bytes) => self.marshalled.send(bytes).await?,
                    Err(why) => self.errors.send(why).await?,
                },
                bytes = self.demarshall.recv() => match T::demarshall(&bytes) {
                    Ok(value) => self.demarshalled.send(value).await?,
                    Err(why) => self.errors.send(why).await?,
                },
                message = self.control.recv() => {
                    while let Some(value) = self.marshall.try_recv() {
                        match value.marshall() {
                            Ok(bytes) => self.marshalled.send(bytes).await?,
                            Err(why) => self.errors.send(why).await?,
                        }
                    }
                    while let Some(bytes) = self.demarshall.try_recv() {
                        match T::demarshall(&bytes) {
                            Ok(value) => self.demarshalled.send(value).await?,
                            Err(why) => self.errors.send(why).await?,
                        }
                    }
                    self.signal.send(message).await?;
                    return Ok(());
                }
            }
        }
    }
}
