//! Reused frame buffers: the encoder thread hands each frame back after encoding, so the video
//! source allocates only while the pool fills up.

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::media::{MediaTime, VideoFrame};

pub struct FramePool {
    width: u32,
    height: u32,
    returned: Receiver<VideoFrame>,
    /// Kept to give back frames the source itself could not send.
    give_back: Sender<VideoFrame>,
}

impl FramePool {
    /// The pool and the sender the consumer returns frames through. `capacity` bounds the
    /// return queue: a frame returned to a full queue is simply freed.
    ///
    /// Every buffer is allocated here, up front: the frames in flight can never exceed
    /// `capacity` (the encoder queue plus the frame being encoded and the one being filled),
    /// so the source never allocates while running and the resident memory is flat from the
    /// first frame instead of creeping up to that high-water mark whenever the encoder lags.
    pub fn new(width: u32, height: u32, capacity: usize) -> (Self, Sender<VideoFrame>) {
        let (tx, rx) = bounded(capacity);
        for _ in 0..capacity {
            let _full = tx.try_send(VideoFrame::black(width, height, MediaTime::ZERO));
        }
        (
            Self {
                width,
                height,
                returned: rx,
                give_back: tx.clone(),
            },
            tx,
        )
    }

    pub fn take(&mut self) -> VideoFrame {
        match self.returned.try_recv() {
            Ok(frame) if frame.width == self.width && frame.height == self.height => frame,
            _ => VideoFrame::black(self.width, self.height, MediaTime::ZERO),
        }
    }

    /// Returns a frame the source could not send; false if the pool was full and it was
    /// freed instead.
    pub fn give_back(&mut self, frame: VideoFrame) -> bool {
        !matches!(
            self.give_back.try_send(frame),
            Err(crossbeam_channel::TrySendError::Full(_))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returned_frames_are_reused() {
        let (mut pool, recycle) = FramePool::new(64, 32, 2);
        let _preallocated = (pool.take(), pool.take());
        let a = pool.take();
        let ptr = a.data.as_ptr();
        recycle.try_send(a).unwrap();
        assert_eq!(pool.take().data.as_ptr(), ptr);
    }
}
