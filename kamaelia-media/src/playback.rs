//! `AudioPlayback`: PCM blocks to the default audio output device (cpal).

use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox};
use kamaelia_codec::PcmBlock;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// True when this build can play audio (the `playback` feature).
pub const PLAYBACK_AVAILABLE: bool = cfg!(feature = "playback");

/// Plays PCM blocks on the default output device at the stream's own rate and channels
/// (16-bit when the device takes it, else 32-bit float). Between the scheduler and the audio
/// callback sits a bounded ring (one second); playing starts once the ring is full (or the input
/// has ended), so the start is never padded with silence. The callback never blocks — on an
/// underrun it plays silence and counts it ([`AudioPlayback::underruns`]). A change of format
/// reopens the device. `ProducerFinished` on `control` lets the ring drain, then is forwarded on `signal`.
///
/// With no device, or a device that cannot take the stream's format, or a build without the
/// `playback` feature, it sends `Control::Failed` saying so — no panic, no hang.
#[derive(Boxes)]
#[doc(alias("Output", "PyMediaAudioOutput", "speakers"))]
pub struct AudioPlayback {
    /// Audio to play.
    pub inbox: Inbox<PcmBlock>,
    /// `ProducerFinished`: play what is queued, then stop.
    pub control: Inbox<Control>,
    /// The end, or why playing was impossible.
    pub signal: Outbox<Control>,
    underruns: Arc<AtomicU64>,
}

impl Default for AudioPlayback {
    fn default() -> Self {
        AudioPlayback {
            inbox: Inbox::new(),
            control: Inbox::new(),
            signal: Outbox::new(),
            underruns: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl AudioPlayback {
    /// A handle to the number of callbacks that found the ring short (silence was played).
    pub fn underruns(&self) -> Arc<AtomicU64> {
        self.underruns.clone()
    }

    async fn fail(&self, why: String) -> Result<(), ComponentError> {
        self.signal
            .send(Control::failed("AudioPlayback", why))
            .await?;
        Ok(())
    }
}

/// Checks, without playing anything, whether the default output device can play `sample_rate`
/// Hz with `channels` channels: `Err` says why not (no device, no such format, or a build
/// without the `playback` feature). For choosing a fallback before starting.
pub fn probe_output(sample_rate: u32, channels: u16) -> Result<(), String> {
    #[cfg(feature = "playback")]
    {
        device::open(sample_rate, channels, Arc::new(AtomicU64::new(0))).map(drop)
    }
    #[cfg(not(feature = "playback"))]
    {
        let _ = (sample_rate, channels);
        Err(NO_PLAYBACK.to_string())
    }
}

#[cfg(not(feature = "playback"))]
const NO_PLAYBACK: &str = "built without audio output: enable the `playback` feature of \
     kamaelia-media (needs pkg-config and ALSA's development files, e.g. libasound2-dev)";

#[cfg(not(feature = "playback"))]
impl Component for AudioPlayback {
    async fn main(mut self) -> Result<(), ComponentError> {
        let _ = (&mut self.inbox, &self.underruns);
        self.fail(NO_PLAYBACK.to_string()).await
    }
}

#[cfg(feature = "playback")]
mod device {
    use super::*;
    use axon_core::Next;
    use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
    use kamaelia_codec::PcmSamples;
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    /// On Linux, says so when ALSA can have no output at all: the kernel lists no sound card and
    /// no ALSA configuration could route the default device elsewhere (a sound server, a file).
    /// Asking ALSA anyway would only make it print its own errors before ours.
    fn no_sound_card() -> Option<String> {
        if !cfg!(target_os = "linux") {
            return None;
        }
        let cards = std::fs::read_to_string("/proc/asound/cards").unwrap_or_default();
        let no_cards = cards.trim().is_empty() || cards.contains("no soundcards");
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
        let configured = std::env::var_os("ALSA_CONFIG_PATH").is_some()
            || std::path::Path::new("/etc/asound.conf").exists()
            || home.is_some_and(|h| h.join(".asoundrc").exists())
            || std::fs::read_dir("/usr/share/alsa/alsa.conf.d")
                .into_iter()
                .chain(std::fs::read_dir("/etc/alsa/conf.d"))
                .flatten()
                .flatten()
                .any(|entry| {
                    let name = entry.file_name().to_string_lossy().to_lowercase();
                    name.contains("pulse") || name.contains("pipewire") || name.contains("jack")
                });
        (no_cards && !configured).then(|| "no sound card (ALSA lists none)".to_string())
    }

    /// Samples shared with the audio callback.
    struct Ring {
        samples: Mutex<VecDeque<f32>>,
        capacity: usize,
        room: tokio::sync::Notify,
    }

    /// An open output stream and its ring.
    pub(super) struct Output {
        stream: cpal::Stream,
        ring: Arc<Ring>,
        rate: u32,
        channels: u16,
        playing: bool,
    }

    impl Output {
        fn start(&mut self) -> Result<(), String> {
            if !self.playing {
                self.stream
                    .play()
                    .map_err(|e| format!("the audio device cannot play: {e}"))?;
                self.playing = true;
            }
            Ok(())
        }
    }

    pub(super) fn open(
        rate: u32,
        channels: u16,
        underruns: Arc<AtomicU64>,
    ) -> Result<Output, String> {
        if let Some(why) = no_sound_card() {
            return Err(why);
        }
        let host = cpal::default_host();
        let device = host
            .default_output_device()
            .ok_or("no audio output device")?;
        let configs: Vec<_> = device
            .supported_output_configs()
            .map_err(|e| format!("the audio device cannot be queried: {e}"))?
            .collect();
        let fits = |format: cpal::SampleFormat| {
            configs.iter().any(|c| {
                c.sample_format() == format
                    && c.channels() == channels
                    && (c.min_sample_rate()..=c.max_sample_rate()).contains(&rate)
            })
        };
        let format = if fits(cpal::SampleFormat::I16) {
            cpal::SampleFormat::I16
        } else if fits(cpal::SampleFormat::F32) {
            cpal::SampleFormat::F32
        } else {
            return Err(format!(
                "the audio device cannot play {rate} Hz with {channels} channel(s)"
            ));
        };
        let ring = Arc::new(Ring {
            samples: Mutex::new(VecDeque::new()),
            capacity: rate as usize * usize::from(channels),
            room: tokio::sync::Notify::new(),
        });
        let config = cpal::StreamConfig {
            channels,
            sample_rate: rate,
            buffer_size: cpal::BufferSize::Default,
        };
        let on_error = |e| eprintln!("audio output error: {e}");
        let stream = match format {
            cpal::SampleFormat::I16 => {
                let (ring, underruns) = (ring.clone(), underruns);
                device.build_output_stream(
                    config,
                    move |out: &mut [i16], _| {
                        fill(&ring, &underruns, out, |v| {
                            (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16
                        })
                    },
                    on_error,
                    None,
                )
            }
            _ => {
                let (ring, underruns) = (ring.clone(), underruns);
                device.build_output_stream(
                    config,
                    move |out: &mut [f32], _| fill(&ring, &underruns, out, |v| v),
                    on_error,
                    None,
                )
            }
        }
        .map_err(|e| format!("the audio device cannot be opened: {e}"))?;
        // Some hosts start a stream when it is built: hold it until the ring is full.
        let _ = stream.pause();
        Ok(Output {
            stream,
            ring,
            rate,
            channels,
            playing: false,
        })
    }

    /// The audio callback: never blocks. If the ring is busy or short, silence fills the rest.
    fn fill<T: Copy + Default>(
        ring: &Ring,
        underruns: &AtomicU64,
        out: &mut [T],
        convert: impl Fn(f32) -> T,
    ) {
        let mut written = 0;
        if let Ok(mut samples) = ring.samples.try_lock() {
            for slot in out.iter_mut() {
                match samples.pop_front() {
                    Some(v) => {
                        *slot = convert(v);
                        written += 1;
                    }
                    None => break,
                }
            }
        }
        if written < out.len() {
            out[written..].fill(T::default());
            underruns.fetch_add(1, Ordering::Relaxed);
        }
        ring.room.notify_one();
    }

    fn as_f32(block: &PcmBlock) -> Vec<f32> {
        match &block.samples {
            PcmSamples::I16(s) => s.iter().map(|&v| f32::from(v) / 32768.0).collect(),
            PcmSamples::F32(s) => s.clone(),
        }
    }

    impl Component for AudioPlayback {
        async fn main(mut self) -> Result<(), ComponentError> {
            let mut output: Option<Output> = None;
            let ending = loop {
                match self.inbox.next_or_control(&mut self.control).await {
                    Next::Data(block) => {
                        let reopen = output.as_ref().is_none_or(|o| {
                            o.rate != block.sample_rate || o.channels != block.channels
                        });
                        if reopen {
                            if let Some(mut old) = output.take() {
                                if let Err(why) = old.start() {
                                    return self.fail(why).await;
                                }
                                drain(&old).await;
                            }
                            match open(block.sample_rate, block.channels, self.underruns.clone()) {
                                Ok(o) => output = Some(o),
                                Err(why) => return self.fail(why).await,
                            }
                        }
                        let out = output.as_mut().expect("opened");
                        let ring = out.ring.clone();
                        let mut samples = as_f32(&block).into_iter().peekable();
                        while samples.peek().is_some() {
                            {
                                let mut queued =
                                    ring.samples.lock().unwrap_or_else(|p| p.into_inner());
                                while queued.len() < ring.capacity {
                                    match samples.next() {
                                        Some(v) => queued.push_back(v),
                                        None => break,
                                    }
                                }
                            }
                            if samples.peek().is_some() {
                                // The ring is full: play (if not yet), then wait for the
                                // callback to make room (bounded, so a stalled device cannot
                                // hang us forever without a look).
                                if let Err(why) = out.start() {
                                    return self.fail(why).await;
                                }
                                let _ = tokio::time::timeout(
                                    Duration::from_millis(50),
                                    ring.room.notified(),
                                )
                                .await;
                            }
                        }
                    }
                    Next::Control(message) => break message,
                }
            };
            if let Some(mut o) = output.take() {
                if let Err(why) = o.start() {
                    return self.fail(why).await;
                }
                drain(&o).await;
            }
            self.signal.send(ending).await?;
            Ok(())
        }
    }

    /// Waits until the callback has taken everything queued (at most the ring's length plus a
    /// second, in case the device stalled).
    async fn drain(output: &Output) {
        let limit = tokio::time::Instant::now() + Duration::from_millis(1500);
        while tokio::time::Instant::now() < limit {
            let left = output.ring.samples.lock().map(|s| s.len()).unwrap_or(0);
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Let the device play out its own buffer.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
