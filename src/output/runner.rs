//! The generic output loop every output thread runs: the start (the stream descriptions and
//! the output's zero), then packets rebased to that zero and interleaved in decode order, then
//! `finish`; it times the sink (muxing and file I/O apart) and each video frame's
//! capture-to-departure latency, without allocating per packet.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use crossbeam_channel::Receiver;

use super::counters::{OutputCounters, OutputState};
use super::hls::HlsOutput;
use super::interleave::{Interleaver, Timeline};
use super::latency::LatencyHistogram;
use super::rtmp::RtmpOutput;
use super::whip::WhipOutput;
use super::{Departure, OutputError, OutputSink, OutputSpec, StreamSet, recording};
use crate::media::time::Clock;
use crate::media::{EncodedPacket, MediaTime, StreamKind};

/// What an output's queue carries.
#[derive(Debug)]
pub enum OutputMsg {
    /// First: the stream descriptions, and the output's zero on the engine clock (the time of
    /// the packet it starts at).
    Start {
        streams: StreamSet,
        zero: MediaTime,
    },
    Packet(EncodedPacket),
}

/// Video frames an output remembers between handing them to its sink and learning that their
/// bytes left (an MP4 fragment or HLS part holds at most about 30 frames at 60 fps). Allocated
/// once; should it ever be full, the oldest frame goes unmeasured (never blocks, never grows).
const LATENCY_PENDING_FRAMES: usize = 512;
/// Opens the sink of `spec`: creates its file or folder, or prepares its connection.
pub fn open_sink(
    spec: &OutputSpec,
    clock: Clock,
    counters: &Arc<OutputCounters>,
) -> Result<Box<dyn OutputSink>, OutputError> {
    match spec {
        OutputSpec::Recording { path, format } => recording::open(path, *format),
        OutputSpec::Discard { format } => Ok(recording::discard(*format)),
        OutputSpec::Rtmp { url, options } => Ok(Box::new(RtmpOutput::new(
            url.clone(),
            options,
            counters.clone(),
            clock,
        )?)),
        OutputSpec::Hls { dir, options } => Ok(Box::new(HlsOutput::open(
            dir,
            options,
            clock,
            counters.clone(),
        )?)),
        OutputSpec::Whip { target, options } => Ok(Box::new(WhipOutput::new(
            target.clone(),
            options,
            counters.clone(),
            clock,
        )?)),
    }
}

/// Capture-to-departure latency of the video frames an output handed its sink: frames wait
/// here (output-relative pts) until the sink says their bytes left.
struct LatencyProbe {
    clock: Clock,
    zero: MediaTime,
    pending: VecDeque<MediaTime>,
}

impl LatencyProbe {
    fn new(clock: Clock) -> Self {
        Self {
            clock,
            zero: MediaTime::ZERO,
            pending: VecDeque::with_capacity(LATENCY_PENDING_FRAMES),
        }
    }

    fn handed(&mut self, pkt: &EncodedPacket) {
        if pkt.kind != StreamKind::Video {
            return;
        }
        if self.pending.len() == LATENCY_PENDING_FRAMES {
            self.pending.pop_front(); // never grows: the oldest goes unmeasured
        }
        self.pending.push_back(pkt.pts);
    }

    fn departed(&mut self, d: Departure, histogram: &LatencyHistogram) {
        let at = MediaTime::from_duration(
            d.at.saturating_duration_since(self.clock.instant_at(MediaTime::ZERO)),
        );
        while let Some(&pts) = self.pending.front() {
            if pts >= d.through {
                break;
            }
            self.pending.pop_front();
            histogram.record(at - (self.zero + pts));
        }
    }
}

/// The generic output loop: streams, then rebased and interleaved packets, then finish.
/// Times its sink (muxing and file I/O apart) and each video frame's capture-to-departure
/// latency, without allocating per packet.
pub fn run_output(
    mut sink: Box<dyn OutputSink>,
    rx: &Receiver<OutputMsg>,
    counters: &OutputCounters,
    clock: Clock,
) {
    let mut timeline = Timeline::default();
    let mut interleaver = Interleaver::new(false, false);
    let interleaved = sink.interleaved();
    let mut failed = false;
    let mut probe = LatencyProbe::new(clock);
    let mut sink_nanos = 0u64;
    let publish = |sink: &dyn OutputSink, sink_nanos: u64| {
        counters.sink_nanos.store(sink_nanos, Relaxed);
        counters.io_nanos.store(sink.io_nanos(), Relaxed);
        // An output counting on its own thread adds to the counter itself: storing a value
        // read a moment ago could lose its latest additions.
        if !sink.counts_packets() {
            counters.bytes_written.store(sink.bytes_written(), Relaxed);
        }
    };
    let write = |sink: &mut Box<dyn OutputSink>,
                 pkt: EncodedPacket,
                 failed: &mut bool,
                 probe: &mut LatencyProbe,
                 sink_nanos: &mut u64| {
        if *failed {
            return;
        }
        probe.handed(&pkt);
        let started = Instant::now();
        let result = sink.write(&pkt);
        *sink_nanos += started.elapsed().as_nanos() as u64;
        if let Err(e) = result {
            tracing::error!(output = %counters.name, "{e}");
            counters.set_error(e.to_string());
            *failed = true;
            return;
        }
        if let Some(d) = sink.departed() {
            probe.departed(d, &counters.latency);
        }
        if !sink.counts_packets() {
            counters.packets_written.fetch_add(1, Relaxed);
        }
        publish(sink.as_ref(), *sink_nanos);
    };
    for msg in rx {
        match msg {
            OutputMsg::Start { streams, zero } => {
                interleaver = Interleaver::new(streams.video.is_some(), streams.audio.is_some());
                timeline = Timeline::starting_at(zero);
                sink.set_zero(zero);
                probe.zero = zero;
                let started = Instant::now();
                let result = sink.start(&streams);
                sink_nanos += started.elapsed().as_nanos() as u64;
                if let Err(e) = result {
                    tracing::error!(output = %counters.name, "{e}");
                    counters.set_error(e.to_string());
                    failed = true;
                    break;
                }
                if !sink.manages_state() {
                    counters.set_state(OutputState::Recording);
                }
                publish(sink.as_ref(), sink_nanos);
            }
            OutputMsg::Packet(pkt) => {
                if let Some(pkt) = timeline.rebase(pkt) {
                    if interleaved {
                        interleaver.push(pkt);
                        while let Some(p) = interleaver.pop() {
                            write(&mut sink, p, &mut failed, &mut probe, &mut sink_nanos);
                        }
                    } else {
                        write(&mut sink, pkt, &mut failed, &mut probe, &mut sink_nanos);
                    }
                }
            }
        }
        if failed {
            break; // dropping `rx` tells the fan-out to stop sending here
        }
    }
    if !failed && !sink.manages_state() {
        counters.set_state(OutputState::Finishing);
    }
    for p in interleaver.drain() {
        write(&mut sink, p, &mut failed, &mut probe, &mut sink_nanos);
    }
    // Finalize even after a failure: whatever reached the file must stay playable.
    let started = Instant::now();
    let result = sink.finish();
    sink_nanos += started.elapsed().as_nanos() as u64;
    if let Some(d) = sink.departed() {
        probe.departed(d, &counters.latency);
    }
    match result {
        Ok(()) if !failed && !sink.manages_state() => counters.set_state(OutputState::Stopped),
        Ok(()) => {}
        Err(e) => {
            tracing::error!(output = %counters.name, "{e}");
            counters.set_error(e.to_string());
        }
    }
    counters.sink_nanos.store(sink_nanos, Relaxed);
    counters.io_nanos.store(sink.io_nanos(), Relaxed);
    if !sink.manages_state() {
        counters.bytes_written.store(sink.bytes_written(), Relaxed);
    }
}
