//! The encoders, started with the first output and stopped with the last.
//!
//! The program (sources, compositor, mixer and meters, the preview picture) runs from the
//! engine's start whether or not an output exists; the H.264 and AAC threads exist only while
//! one does. Each source hands its frames and chunks to a [`Tap`]: the sender to its encoder's
//! queue while an encoder runs, nothing otherwise (the source then keeps its buffers). When
//! the first output joins, new encoders start: the first picture is a keyframe (the cadence
//! starts afresh, on the engine clock) and AAC's priming lies before the first chunk, so the
//! output starts as one would at the engine's start, at its own zero. When the last output
//! leaves, the taps are emptied, the encoders drain their queues, flush to it, and end.

use super::*;

use std::sync::{Mutex, PoisonError};

use crate::encode::tuning::H264Profile;

/// Where a source sends: its encoder's queue while one runs (`None`: no encoder).
pub(super) type Tap<T> = Arc<Mutex<Option<Sender<T>>>>;

/// The sender in `tap` now (a clone: the source sends without holding the lock).
pub(super) fn tap_sender<T>(tap: &Tap<T>) -> Option<Sender<T>> {
    tap.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// Empties `tap` if it still holds `tx` (its encoder has gone): a newer encoder's sender
/// stays.
pub(super) fn clear_tap<T>(tap: &Tap<T>, tx: &Sender<T>) {
    let mut slot = tap.lock().unwrap_or_else(PoisonError::into_inner);
    if slot.as_ref().is_some_and(|s| s.same_channel(tx)) {
        *slot = None;
    }
}

fn set_tap<T>(tap: &Tap<T>, tx: Option<Sender<T>>) {
    *tap.lock().unwrap_or_else(PoisonError::into_inner) = tx;
}

/// Encoders made before their threads start (so that a start can fail before any file is
/// created).
pub(super) struct Made {
    video: Option<H264Encoder>,
    audio: Option<AacEncoder>,
    profile: H264Profile,
}

/// The engine's encoders and what starting them again needs.
pub(super) struct Encoders {
    pub(super) preset: Preset,
    pub(super) threads: u16,
    /// How OpenH264 is set up (a WHIP output makes it Constrained Baseline: [`Self::make`]).
    pub(super) tuning: VideoTuning,
    pub(super) video_tap: Tap<VideoFrame>,
    pub(super) audio_tap: Tap<AudioChunk>,
    /// Frames back to the video source's pool (`None` without video).
    pub(super) video_recycle: Option<Sender<VideoFrame>>,
    /// Sample buffers back to the audio source (`None` without audio).
    pub(super) audio_recycle: Option<Sender<Vec<i16>>>,
    /// Free-running: how far video has been encoded (audio waits for it).
    pub(super) progress: Arc<AtomicI64>,
    pub(super) counters: Arc<EngineCounters>,
    pub(super) fanout: Arc<Fanout>,
    /// `enc-h264` and `enc-aac` while they run.
    pub(super) running: Vec<JoinHandle<()>>,
    /// A WebRTC output may join later: the next encoders start in Constrained Baseline
    /// ([`super::EngineHandle::set_webrtc_may_join`]).
    pub(super) webrtc_may_join: bool,
    /// The running H.264 encoder's profile (`None`: no video encoder runs).
    pub(super) running_profile: Option<H264Profile>,
}

impl Encoders {
    pub(super) fn is_running(&self) -> bool {
        !self.running.is_empty()
    }

    /// Opens the encoders the program's streams need. With a WebRTC (WHIP) output among the
    /// first outputs, H.264 is Constrained Baseline (CAVLC), the profile WebRTC peers are sure
    /// to take (aiortc answers nothing else); the one encode feeds every output.
    pub(super) fn make(&self, whip: bool) -> Result<Made, EngineError> {
        let preset = &self.preset;
        let mut tuning = self.tuning;
        if whip || self.webrtc_may_join {
            tuning.profile = H264Profile::Baseline;
        }
        let video = self
            .video_recycle
            .is_some()
            .then(|| {
                H264Encoder::new(VideoEncodeSettings {
                    width: preset.width,
                    height: preset.height,
                    fps: preset.fps,
                    bitrate_bps: preset.video_kbps * 1000,
                    keyframe_interval_frames: preset.keyframe_interval_frames(),
                    threads: self.threads.max(1),
                    tuning,
                })
            })
            .transpose()?;
        let audio = self
            .audio_recycle
            .is_some()
            .then(|| AacEncoder::new(preset.audio_kbps * 1000))
            .transpose()?;
        Ok(Made {
            video,
            audio,
            profile: tuning.profile,
        })
    }

    /// Why a WebRTC (WHIP) output may not join the running encoders: they code H.264 in a
    /// profile other than Constrained Baseline, which WebRTC receivers are not all able to take
    /// (aiortc and Firefox's OpenH264 take nothing else); the one encode feeds every output, so
    /// the stream cannot change for it. Checked before anything of the output is opened.
    pub(super) fn refuse_webrtc(&self) -> Result<(), EngineError> {
        match self.running_profile {
            Some(profile) if profile != H264Profile::Baseline => {
                Err(EngineError::WebRtcNeedsBaseline {
                    profile: match profile {
                        H264Profile::Main => "Main",
                        _ => "High",
                    },
                })
            }
            _ => Ok(()),
        }
    }

    /// Starts the encoders if none run (made here unless `made`; `whip`: see [`Self::make`]).
    pub(super) fn start(&mut self, made: Option<Made>, whip: bool) -> Result<(), EngineError> {
        if self.is_running() {
            return Ok(());
        }
        let Made {
            video,
            audio,
            profile,
        } = match made {
            Some(m) => m,
            None => self.make(whip)?,
        };
        // Audio from an earlier run of the encoders must not reach an output of this one.
        self.fanout.clear_recent_audio();
        // Outputs start at the first keyframe sent once every stream is described: the
        // audio's description must be there before the video thread can encode its first
        // picture, or a loaded machine loses that keyframe and the output starts one interval
        // late.
        if let Some(encoder) = &audio {
            self.fanout.set_audio_config(encoder.config().clone());
            // Known before any Opus encoder runs, so a WebRTC output starts at once.
            self.fanout
                .set_audio_config(OpusEncoder::stream_config(self.preset.audio_kbps * 1000));
        }
        if let (Some(encoder), Some(recycle)) = (video, self.video_recycle.clone()) {
            self.running_profile = Some(profile);
            let (tx, rx) = bounded(VIDEO_QUEUE_FRAMES);
            let (counters, fanout) = (self.counters.clone(), self.fanout.clone());
            let progress = self.progress.clone();
            self.running.push(spawn("enc-h264", move || {
                let out = EncoderOut {
                    counters: &counters,
                    fanout: &fanout,
                    progress: &progress,
                };
                run_video_encoder(encoder, &rx, &recycle, &out);
            })?);
            set_tap(&self.video_tap, Some(tx));
        }
        if let (Some(encoder), Some(recycle)) = (audio, self.audio_recycle.clone()) {
            let (tx, rx) = bounded(AUDIO_QUEUE_CHUNKS);
            let (counters, fanout) = (self.counters.clone(), self.fanout.clone());
            let opus_bps = self.preset.audio_kbps * 1000;
            let started = spawn("enc-aac", move || {
                run_audio_encoder(encoder, opus_bps, &rx, &recycle, &counters, &fanout)
            });
            match started {
                Ok(t) => self.running.push(t),
                Err(e) => {
                    self.stop();
                    return Err(e);
                }
            }
            set_tap(&self.audio_tap, Some(tx));
        }
        tracing::info!("encoders started");
        Ok(())
    }

    /// Empties the taps and waits for the encoders to drain, flush and end.
    pub(super) fn stop(&mut self) {
        set_tap(&self.video_tap, None);
        set_tap(&self.audio_tap, None);
        let was_running = self.is_running();
        self.running_profile = None;
        for t in self.running.drain(..) {
            join_named(t);
        }
        if was_running {
            tracing::info!("encoders stopped");
        }
    }
}
