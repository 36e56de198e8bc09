//! The media threads' bodies: the video and audio sources (paced by the engine clock, or
//! free-running for `onair bench`) and the H.264 and AAC/Opus encoders.

use super::*;

#[derive(Clone)]
pub(super) enum Pace {
    RealTime,
    /// The video's encoded progress (engine time, nanoseconds): audio waits for it.
    FreeRunning(Arc<AtomicI64>),
}

pub(super) struct SourceCtx {
    pub(super) clock: Clock,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) counters: Arc<EngineCounters>,
    pub(super) end: Option<MediaTime>,
    pub(super) pace: Pace,
}

impl SourceCtx {
    fn should_stop(&self, t: MediaTime) -> bool {
        self.stop.load(Relaxed) || self.end.is_some_and(|end| t >= end)
    }

    /// Real time: sleeps until the engine clock reads `t`. Free-running: waits until the
    /// video has been encoded up to `t` (so audio never runs far ahead of video).
    fn wait_for(&self, t: MediaTime) {
        match &self.pace {
            Pace::RealTime => self.clock.sleep_until(t),
            Pace::FreeRunning(progress) => {
                while progress.load(Relaxed) < t.as_nanos() && !self.stop.load(Relaxed) {
                    std::thread::sleep(FREE_RUN_POLL);
                }
            }
        }
    }

    fn free_running(&self) -> bool {
        matches!(self.pace, Pace::FreeRunning(_))
    }
}

/// Where the video source's frames go.
pub(super) struct VideoOut<'a> {
    pub(super) pool: pool::FramePool,
    /// The H.264 thread's queue while it runs.
    pub(super) tap: &'a encoders::Tap<VideoFrame>,
    /// The program picture for a front end's preview (with or without an encoder).
    pub(super) preview: &'a ProgramPreview,
}

pub(super) fn run_video_source(
    mut source: Box<dyn VideoSource>,
    frame_tb: Timebase,
    out: VideoOut<'_>,
    ctx: &SourceCtx,
) {
    let VideoOut {
        mut pool,
        tap,
        preview,
    } = out;
    let interval = frame_tb.ticks_to_time(1);
    for n in 0.. {
        let pts = frame_tb.ticks_to_time(n);
        if ctx.should_stop(pts) {
            break;
        }
        let mut frame = pool.take();
        let tx = encoders::tap_sender(tap);
        // Free-running needs an encoder to set the pace; without one, real time.
        let free_running = ctx.free_running() && tx.is_some();
        if !free_running {
            ctx.clock.sleep_until(pts);
            if ctx.clock.now() - pts > interval {
                ctx.counters.video_late.fetch_add(1, Relaxed);
            }
        }
        let started = Instant::now();
        if let Err(e) = source.fill(pts, &mut frame) {
            tracing::error!("video source failed: {e}");
            break;
        }
        ctx.counters
            .video_source_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Relaxed);
        ctx.counters.video_captured.fetch_add(1, Relaxed);
        preview.offer(&frame);
        let Some(tx) = tx else {
            // No encoder: the buffer is used again for the next frame.
            if !pool.give_back(frame) {
                ctx.counters.video_buffers_freed.fetch_add(1, Relaxed);
            }
            continue;
        };
        if free_running {
            // Nothing may be dropped: wait for the encoder.
            if tx.send(frame).is_err() {
                break;
            }
            continue;
        }
        match tx.try_send(frame) {
            Ok(()) => {}
            Err(TrySendError::Full(frame)) => {
                ctx.counters
                    .video_dropped_encoder_queue
                    .fetch_add(1, Relaxed);
                if !pool.give_back(frame) {
                    ctx.counters.video_buffers_freed.fetch_add(1, Relaxed);
                }
            }
            // The encoder failed and ended: the program goes on without it.
            Err(TrySendError::Disconnected(frame)) => {
                encoders::clear_tap(tap, &tx);
                if !pool.give_back(frame) {
                    ctx.counters.video_buffers_freed.fetch_add(1, Relaxed);
                }
            }
        }
    }
    // The encoder ends once it has what was queued.
    *tap.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
}

/// Where the H.264 thread's results go.
#[derive(Clone, Copy)]
pub(super) struct EncoderOut<'a> {
    pub(super) counters: &'a EngineCounters,
    pub(super) fanout: &'a Fanout,
    /// Media time encoded so far (free-running audio waits on it).
    pub(super) progress: &'a AtomicI64,
}

pub(super) fn run_video_encoder(
    mut encoder: H264Encoder,
    rx: &Receiver<VideoFrame>,
    recycle: &Sender<VideoFrame>,
    out: &EncoderOut<'_>,
) {
    let EncoderOut {
        counters,
        fanout,
        progress,
    } = *out;
    // Whatever ends this loop, audio waiting for video's progress must not wait forever, and
    // the thread's CPU time is recorded (for `onair bench`).
    struct Ended<'a>(&'a AtomicI64, &'a EngineCounters);
    impl Drop for Ended<'_> {
        fn drop(&mut self) {
            self.0.store(i64::MAX, Relaxed);
            if let Some(cpu) = cputime::thread() {
                self.1
                    .video_encoder_thread_cpu_nanos
                    .store(cpu.as_nanos() as u64, Relaxed);
            }
        }
    }
    let _ended = Ended(progress, counters);
    let nominal = u64::from(encoder.settings().bitrate_bps);
    let mut target = nominal;
    // Keyframes asked for by WebRTC receivers (PLI/FIR), the cadence kept.
    let mut keyframe_requests = keyframes::KeyframeRequests::new(KEYFRAME_REQUEST_INTERVAL);
    counters.video_target_bitrate_bps.store(target, Relaxed);
    let deliver = |picture: crate::encode::h264::EncodedPicture| {
        if let Some(config) = picture.new_config {
            fanout.set_video_config(config);
        }
        counters
            .video_encode_nanos
            .fetch_add(picture.encode_time.as_nanos() as u64, Relaxed);
        counters
            .video_bytes
            .fetch_add(picture.packet.data.len() as u64, Relaxed);
        let reached = picture.packet.pts + picture.packet.duration;
        fanout.send(&picture.packet);
        progress.fetch_max(reached.as_nanos(), Relaxed);
    };
    // The frame encoded last: a keyframe time among the slots a stall left empty encodes it
    // again.
    let mut last: Option<VideoFrame> = None;
    for frame in rx {
        // Dynamic bitrate: follow the lowest request of any output, never above the preset.
        let wanted = fanout
            .lowest_bitrate_request()
            .map_or(nominal, |r| r.min(nominal));
        if wanted != target && counters.video_encoded.load(Relaxed) > 0 {
            match encoder.set_bitrate(wanted as u32) {
                Ok(()) => {
                    tracing::info!(bitrate_bps = wanted, "video bitrate changed");
                    target = wanted;
                    counters.video_target_bitrate_bps.store(target, Relaxed);
                }
                Err(e) => tracing::warn!("{e}"),
            }
        }
        // Slots that dropped frames left empty: every output still gets a picture per slot.
        match encoder.fill_empty_slots(frame.pts, last.as_ref()) {
            Ok(pictures) => {
                for picture in pictures {
                    counters.video_repeated.fetch_add(1, Relaxed);
                    deliver(picture);
                }
            }
            Err(e) => {
                tracing::error!("{e}; video stops");
                break;
            }
        }
        let granted = keyframe_requests.next_frame(frame.pts, fanout.take_keyframe_request());
        if granted {
            counters.video_requested_keyframes.fetch_add(1, Relaxed);
        }
        match encoder.encode(&frame, granted) {
            Ok(Some(picture)) => {
                counters.video_encoded.fetch_add(1, Relaxed);
                deliver(picture);
            }
            Ok(None) => {
                counters.video_encoder_skipped.fetch_add(1, Relaxed);
            }
            Err(e) => {
                tracing::error!("{e}; video stops");
                break;
            }
        }
        // Full recycle queue: the pool has enough; let this buffer go (counted).
        if let Some(previous) = last.replace(frame)
            && let Err(TrySendError::Full(_)) = recycle.try_send(previous)
        {
            counters.video_buffers_freed.fetch_add(1, Relaxed);
        }
    }
}

pub(super) fn run_audio_source(
    mut source: Box<dyn AudioSource>,
    tap: &encoders::Tap<AudioChunk>,
    recycled: &Receiver<Vec<i16>>,
    ctx: &SourceCtx,
) {
    let tb = Timebase::AUDIO_48K;
    let end_sample = ctx.end.map(|e| tb.time_to_ticks(e));
    let mut first: i64 = 0;
    let mut meter = stats::LevelMeter::default();
    // Without an encoder, the last chunk's buffer is used again.
    let mut spare: Option<Vec<i16>> = None;
    loop {
        let mut last = first + AUDIO_CHUNK_FRAMES as i64;
        if let Some(end) = end_sample {
            last = last.min(end);
        }
        if last <= first || ctx.stop.load(Relaxed) {
            break;
        }
        let tx = encoders::tap_sender(tap);
        let free_running = ctx.free_running() && tx.is_some();
        // A chunk is "captured" once its last sample's time has passed, like a microphone's;
        // in real time a device source gets its delay on top, for its samples to arrive.
        let due = tb.ticks_to_time(last);
        // Read each time: the mixer's follows its sources' sync offsets.
        let delay = source.delay();
        if free_running {
            ctx.wait_for(due);
        } else {
            ctx.clock.sleep_until(due + delay);
        }
        // A buffer the encoder gave back, or a new one while the pool fills up.
        let mut samples = spare
            .take()
            .or_else(|| recycled.try_recv().ok())
            .unwrap_or_default();
        samples.resize((last - first) as usize * AUDIO_CHANNELS, 0);
        source.fill(first as u64, &mut samples);
        meter.push(&samples, &ctx.counters.audio_levels);
        ctx.counters
            .audio_captured_samples
            .fetch_add((last - first) as u64, Relaxed);
        let Some(tx) = tx else {
            spare = Some(samples);
            first = last;
            continue;
        };
        let chunk = AudioChunk {
            pts: tb.ticks_to_time(first),
            samples,
        };
        if free_running {
            if tx.send(chunk).is_err() {
                break;
            }
            first = last;
            continue;
        }
        match tx.try_send(chunk) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                ctx.counters
                    .audio_dropped_encoder_queue
                    .fetch_add(1, Relaxed);
            }
            // The encoder failed and ended: the program goes on without it.
            Err(TrySendError::Disconnected(_)) => encoders::clear_tap(tap, &tx),
        }
        first = last;
    }
    // The encoder ends once it has what was queued.
    *tap.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
}

/// The audio thread: AAC always; Opus as well while an output takes it (WebRTC), started when
/// the first such output appears and dropped with the last one. Each from the same chunks.
pub(super) fn run_audio_encoder(
    mut encoder: AacEncoder,
    opus_bitrate_bps: u32,
    rx: &Receiver<AudioChunk>,
    recycle: &Sender<Vec<i16>>,
    counters: &EngineCounters,
    fanout: &Fanout,
) {
    let send = |packets: Vec<crate::media::EncodedPacket>| {
        for p in &packets {
            counters.audio_encoded.fetch_add(1, Relaxed);
            counters.audio_bytes.fetch_add(p.data.len() as u64, Relaxed);
            fanout.send(p);
        }
    };
    let mut opus: Option<OpusEncoder> = None;
    // After a failure to start libopus, do not try again for every chunk.
    let mut opus_failed = false;
    for chunk in rx {
        match encoder.encode(&chunk) {
            Ok(packets) => send(packets),
            Err(e) => {
                tracing::error!("{e}; audio stops");
                return;
            }
        }
        counters
            .audio_silence_filled_samples
            .store(encoder.filled_samples(), Relaxed);
        if fanout.wants_opus() && !opus_failed {
            if opus.is_none() {
                match OpusEncoder::new(opus_bitrate_bps) {
                    Ok(o) => {
                        tracing::info!("Opus encoder started (a WebRTC output is on)");
                        opus = Some(o);
                    }
                    Err(e) => {
                        tracing::error!("{e}; WebRTC outputs get no audio");
                        opus_failed = true;
                    }
                }
            }
            if let Some(o) = opus.as_mut() {
                match o.encode(&chunk) {
                    Ok(packets) => {
                        for p in &packets {
                            counters.opus_encoded.fetch_add(1, Relaxed);
                            counters.opus_bytes.fetch_add(p.data.len() as u64, Relaxed);
                            fanout.send_opus(p);
                        }
                    }
                    Err(e) => {
                        tracing::error!("{e}; WebRTC outputs get no more audio");
                        opus = None;
                        opus_failed = true;
                    }
                }
            }
        } else if opus.take().is_some() {
            tracing::info!("Opus encoder stopped (no WebRTC output left)");
        }
        // Full: the source has enough buffers; let this one go (counted).
        if let Err(TrySendError::Full(_)) = recycle.try_send(chunk.samples) {
            counters.audio_buffers_freed.fetch_add(1, Relaxed);
        }
    }
    match encoder.flush() {
        Ok(packets) => send(packets),
        Err(e) => tracing::error!("{e} while flushing the last audio"),
    }
}
