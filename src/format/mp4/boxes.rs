//! ISO BMFF box writing: [`BoxWriter`] (sizes filled in on close, checked against the 32-bit
//! size field) and the sample descriptions (`ftyp`, `avc1`/`avcC`, `mp4a`/`esds`).

use super::Mp4Error;
use crate::media::{AudioConfig, VideoConfig};

/// A value for a 32-bit field: an error instead of a silently wrong number when it does not
/// fit (negative, or 4 Gi and over).
pub(super) fn to_u32(value: i64, field: &'static str) -> Result<u32, Mp4Error> {
    u32::try_from(value).map_err(|_| Mp4Error::FieldOutOfRange { field, value })
}

/// Writes ISO BMFF boxes into a buffer; `bx` reserves the size field and fills it on close.
///
/// The body closures cannot fail: the first box or field that does not fit is remembered and
/// returned by [`finish`](Self::finish) (as gst's isobmff writer refuses "too big box content").
pub(super) struct BoxWriter {
    buf: Vec<u8>,
    /// The largest box size accepted (what a 32-bit size field holds; smaller in tests).
    limit: u64,
    error: Option<Mp4Error>,
}

impl Default for BoxWriter {
    fn default() -> Self {
        Self {
            buf: Vec::new(),
            limit: u64::from(u32::MAX),
            error: None,
        }
    }
}

impl BoxWriter {
    /// A writer that refuses boxes over `limit` bytes (for tests of the 4 GiB limit).
    #[cfg(test)]
    pub(super) fn with_limit(limit: u64) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }

    pub(super) fn len(&self) -> usize {
        self.buf.len()
    }

    /// The bytes written, or the first box or field that did not fit.
    pub(super) fn finish(self) -> Result<Vec<u8>, Mp4Error> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.buf),
        }
    }

    fn fail(&mut self, e: Mp4Error) {
        self.error.get_or_insert(e);
    }

    /// A box of type `kind` whose content `body` writes. Boxes written this way (everything
    /// but `mdat`) stay far below 4 GiB; one that does not is an error.
    pub(super) fn bx(&mut self, kind: &[u8; 4], body: impl FnOnce(&mut Self)) {
        let start = self.buf.len();
        self.u32(0);
        self.fourcc(kind);
        body(self);
        let size = (self.buf.len() - start) as u64;
        match u32::try_from(size) {
            Ok(s) if size <= self.limit => self.patch_u32(start, s),
            _ => self.fail(Mp4Error::BoxTooLarge {
                kind: String::from_utf8_lossy(kind).into_owned(),
                size,
            }),
        }
    }

    /// A full box: version and 24-bit flags before the content.
    pub(super) fn full(
        &mut self,
        kind: &[u8; 4],
        version: u8,
        flags: u32,
        body: impl FnOnce(&mut Self),
    ) {
        self.bx(kind, |w| {
            w.u32((u32::from(version) << 24) | (flags & 0x00FF_FFFF));
            body(w);
        });
    }

    pub(super) fn patch_u32(&mut self, at: usize, v: u32) {
        if let Some(field) = self.buf.get_mut(at..at + 4) {
            field.copy_from_slice(&v.to_be_bytes());
        }
    }

    /// A 32-bit field from a wider value (a count, a size, an offset); one that does not fit
    /// is an error.
    pub(super) fn u32_of(&mut self, value: impl TryInto<i64> + Copy, field: &'static str) {
        let value = value.try_into().unwrap_or(i64::MAX);
        match to_u32(value, field) {
            Ok(v) => self.u32(v),
            Err(e) => {
                self.u32(0);
                self.fail(e);
            }
        }
    }

    pub(super) fn fourcc(&mut self, v: &[u8; 4]) {
        self.buf.extend_from_slice(v);
    }
    pub(super) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(super) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(super) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(super) fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    pub(super) fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }
}

pub(super) fn write_ftyp(w: &mut BoxWriter) {
    w.bx(b"ftyp", |w| {
        w.fourcc(b"isom");
        w.u32(0x200);
        for brand in [b"isom", b"iso2", b"iso6", b"avc1", b"mp41"] {
            w.fourcc(brand);
        }
    });
}

pub(super) fn write_avc1(w: &mut BoxWriter, v: &VideoConfig) {
    w.bx(b"avc1", |w| {
        w.zeros(6);
        w.u16(1); // data reference index
        w.zeros(16); // pre_defined, reserved
        w.u16(v.width.min(0xFFFF) as u16);
        w.u16(v.height.min(0xFFFF) as u16);
        w.u32(0x0048_0000); // 72 dpi
        w.u32(0x0048_0000);
        w.u32(0);
        w.u16(1); // frame count
        w.zeros(32); // compressor name
        w.u16(0x0018); // depth
        w.u16(0xFFFF); // pre_defined = -1
        w.bx(b"avcC", |w| w.bytes(&v.avcc));
    });
}

pub(super) fn write_mp4a(w: &mut BoxWriter, a: &AudioConfig, es_id: u32) {
    w.bx(b"mp4a", |w| {
        w.zeros(6);
        w.u16(1); // data reference index
        w.zeros(8);
        w.u16(a.channels);
        w.u16(16); // sample size
        w.zeros(4);
        w.u32(a.sample_rate.min(0xFFFF) << 16);
        write_esds(w, a, es_id);
    });
}

/// `esds` (ISO/IEC 14496-14): ES_Descriptor { DecoderConfigDescriptor { AAC (0x40), audio
/// stream (0x05), bitrates, DecoderSpecificInfo = AudioSpecificConfig }, SLConfig (0x02) }.
pub(super) fn write_esds(w: &mut BoxWriter, a: &AudioConfig, es_id: u32) {
    let mut dsi = Vec::new();
    descriptor(&mut dsi, 0x05, &a.asc);
    let mut dcd = vec![0x40, (0x05 << 2) | 1, 0, 0, 0];
    dcd.extend_from_slice(&a.bitrate_bps.to_be_bytes()); // max bitrate
    dcd.extend_from_slice(&a.bitrate_bps.to_be_bytes()); // average bitrate
    dcd.extend_from_slice(&dsi);
    let mut es = Vec::new();
    es.extend_from_slice(&(es_id.min(0xFFFF) as u16).to_be_bytes());
    es.push(0); // no dependency, URL or OCR stream
    descriptor(&mut es, 0x04, &dcd);
    descriptor(&mut es, 0x06, &[0x02]);
    w.full(b"esds", 0, 0, |w| {
        let mut out = Vec::new();
        descriptor(&mut out, 0x03, &es);
        w.bytes(&out);
    });
}

/// An MPEG-4 descriptor: tag, size in 7-bit groups (one byte below 128), body.
pub(super) fn descriptor(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    let len = body.len();
    let groups = (1..4).take_while(|&i| len >> (7 * i) != 0).count();
    for i in (1..=groups).rev() {
        out.push(0x80 | ((len >> (7 * i)) & 0x7F) as u8);
    }
    out.push((len & 0x7F) as u8);
    out.extend_from_slice(body);
}
