//! `UnixProcess`: an operating-system process as a component.

use crate::{Boxes, Component, ComponentError, Control, FailureInfo, Inbox, Outbox};
use bytes::Bytes;
use std::process::Stdio;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs a program: what arrives on `inbox` is written to its standard input, its standard output
/// comes out on `outbox` in chunks as it is produced. `ProducerFinished` on `control` closes its
/// standard input (so filters like `sort` can finish); `ShutdownMicroprocess` kills it.
/// When it exits, its exit code goes out on `status` and `signal` carries `ProducerFinished` for
/// success or `Failed` (with the exit status) otherwise. Standard error is inherited.
///
/// ```no_run
/// use axon_core::components::UnixProcess;
/// let sort = UnixProcess::new("sort", ["-r"]);
/// # let _ = sort;
/// ```
#[derive(Boxes)]
pub struct UnixProcess {
    /// Bytes for the process's standard input.
    pub inbox: Inbox<Bytes>,
    /// `ProducerFinished` closes standard input; `ShutdownMicroprocess` kills the process.
    pub control: Inbox<Control>,
    /// The process's standard output, in chunks.
    pub outbox: Outbox<Bytes>,
    /// Its exit code (`None` when killed by a signal).
    pub status: Outbox<Option<i32>>,
    /// `ProducerFinished` on success, `Failed` otherwise.
    pub signal: Outbox<Control>,
    program: String,
    args: Vec<String>,
}

impl UnixProcess {
    /// A component that will run `program` with `args` when activated.
    pub fn new<S: Into<String>>(
        program: impl Into<String>,
        args: impl IntoIterator<Item = S>,
    ) -> Self {
        UnixProcess {
            inbox: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            status: Outbox::new(),
            signal: Outbox::new(),
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
        }
    }
}

impl Component for UnixProcess {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut child = tokio::process::Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ComponentError::msg(format!("cannot start {}: {e}", self.program)))?;
        let mut stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("stdout was piped");
        let (inbox, control, outbox) = (&mut self.inbox, &mut self.control, &self.outbox);
        let mut killed = false;
        // Feed stdin and drain stdout at the same time: a child that fills its stdout pipe
        // before reading all its input would otherwise deadlock with us.
        let feed = async {
            loop {
                match inbox.next_or_control(control).await {
                    crate::Next::Data(bytes) => {
                        if let Some(pipe) = stdin.as_mut()
                            && pipe.write_all(&bytes).await.is_err()
                        {
                            stdin = None; // the child closed its input; drop what follows
                        }
                    }
                    crate::Next::Control(c) if c.is_producer_finished() => {
                        stdin = None;
                    }
                    crate::Next::Control(_) => {
                        killed = true;
                        return;
                    }
                }
            }
        };
        let drain = async {
            let mut buffer = vec![0u8; 16 * 1024];
            loop {
                match stdout.read(&mut buffer).await {
                    Ok(0) | Err(_) => return Ok::<(), ComponentError>(()),
                    Ok(n) => outbox.send(Bytes::copy_from_slice(&buffer[..n])).await?,
                }
            }
        };
        tokio::select! {
            () = feed => {}
            result = drain => result?,
        }
        if killed {
            let _ = child.kill().await;
        }
        let status = child.wait().await?;
        let _ = self.status.send(status.code()).await;
        let message = if status.success() {
            Control::ProducerFinished
        } else {
            let why = format!("{} exited with {status}", self.program);
            Control::Failed(Box::new(
                FailureInfo::new("UnixProcess", why).with_id(self.program.clone()),
            ))
        };
        self.signal.send(message).await?;
        Ok(())
    }
}
