//! H.264 bitstream helpers: Annex B splitting, Annex B → AVCC conversion, the
//! `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15) and picture size from an SPS.
//!
//! Encoders (x264, hardware) emit Annex B: NAL units separated by `00 00 01` or `00 00 00 01`
//! start codes, with SPS/PPS in-band before each IDR. MP4 and FLV want AVCC: every NAL unit
//! preceded by its 4-byte big-endian length, and SPS/PPS out of band in the decoder
//! configuration record. Pure functions, no I/O.

use bytes::Bytes;

/// NAL unit types this module cares about (ITU-T H.264 table 7-1).
pub mod nal_type {
    /// Coded slice of a non-IDR picture.
    pub const SLICE: u8 = 1;
    /// Coded slice of an IDR picture.
    pub const IDR: u8 = 5;
    /// Supplemental enhancement information.
    pub const SEI: u8 = 6;
    /// Sequence parameter set.
    pub const SPS: u8 = 7;
    /// Picture parameter set.
    pub const PPS: u8 = 8;
    /// Access unit delimiter.
    pub const AUD: u8 = 9;
}

/// Errors of the functions in this module that can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvcError {
    /// An SPS needs at least the NAL header and profile/constraints/level bytes.
    #[error("SPS is {0} bytes, need at least 4")]
    SpsTooShort(usize),
    /// A parameter set longer than the 16-bit length field of the configuration record.
    #[error("parameter set of {0} bytes does not fit a 16-bit length")]
    ParameterSetTooLong(usize),
}

/// The `nal_unit_type` of a NAL unit (low 5 bits of its first byte), `None` if empty.
pub fn nal_unit_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| b & 0x1F)
}

/// Splits an Annex B byte stream into NAL units (without start codes).
///
/// Accepts 3- and 4-byte start codes; bytes before the first start code are ignored, as are
/// the zero bytes that trail a NAL unit before the next start code (`trailing_zero_8bits`, or
/// the leading zero of a 4-byte start code). Empty NAL units are skipped.
pub fn annexb_nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut pos = find_start_code(data, 0).map(|(_, end)| end);
    std::iter::from_fn(move || {
        loop {
            let start = pos?;
            let (nal_end, next) = match find_start_code(data, start) {
                Some((sc, after)) => (sc, Some(after)),
                None => (data.len(), None),
            };
            pos = next;
            let mut nal = data.get(start..nal_end)?;
            while let [rest @ .., 0] = nal {
                nal = rest;
            }
            if !nal.is_empty() {
                return Some(nal);
            }
        }
    })
}

/// Finds the next `00 00 01` at or after `from`: (index of its first zero, index after the 01).
fn find_start_code(data: &[u8], from: usize) -> Option<(usize, usize)> {
    let tail = data.get(from..)?;
    tail.windows(3)
        .position(|w| w == [0, 0, 1])
        .map(|i| (from + i, from + i + 3))
}

/// One access unit converted from Annex B to AVCC by [`annexb_to_avcc`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AvccAccessUnit {
    /// The NAL units other than SPS, PPS and AUD, each preceded by a 4-byte big-endian length.
    pub data: Vec<u8>,
    /// An IDR slice (type 5) was present: the access unit is a keyframe.
    pub idr: bool,
    /// The last SPS seen in the access unit (with its NAL header byte), if any.
    pub sps: Option<Bytes>,
    /// The last PPS seen in the access unit (with its NAL header byte), if any.
    pub pps: Option<Bytes>,
}

impl AvccAccessUnit {
    /// The decoder configuration record from this access unit's SPS and PPS, if it had both.
    ///
    /// An encoder wrapper calls this on the first IDR to build its `VideoConfig`.
    pub fn config_record(&self) -> Option<Result<Bytes, AvcError>> {
        match (&self.sps, &self.pps) {
            (Some(sps), Some(pps)) => Some(avc_decoder_configuration_record(sps, pps)),
            _ => None,
        }
    }
}

/// Converts one Annex B access unit to AVCC (see [`nal_units_to_avcc`]).
pub fn annexb_to_avcc(data: &[u8]) -> AvccAccessUnit {
    nal_units_to_avcc(annexb_nal_units(data))
}

/// Converts NAL units (without start codes) to AVCC with 4-byte lengths.
///
/// Drops SPS (7), PPS (8) and AUD (9): they travel out of band in MP4/FLV (the last SPS/PPS seen
/// are returned). Keeps everything else, SEI included. NAL units longer than `u32::MAX` bytes
/// cannot exist in a real stream and are skipped.
pub fn nal_units_to_avcc<'a>(nals: impl IntoIterator<Item = &'a [u8]>) -> AvccAccessUnit {
    let mut out = AvccAccessUnit::default();
    for nal in nals {
        match nal_unit_type(nal) {
            None => {}
            Some(nal_type::SPS) => out.sps = Some(Bytes::copy_from_slice(nal)),
            Some(nal_type::PPS) => out.pps = Some(Bytes::copy_from_slice(nal)),
            Some(nal_type::AUD) => {}
            Some(t) => {
                let Ok(len) = u32::try_from(nal.len()) else {
                    continue;
                };
                out.idr |= t == nal_type::IDR;
                out.data.extend_from_slice(&len.to_be_bytes());
                out.data.extend_from_slice(nal);
            }
        }
    }
    out
}

/// Builds an `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §5.3.3.1) with one SPS and one
/// PPS, both given with their NAL header byte.
///
/// version 1, profile/compatibility/level copied from `sps[1..4]`, `lengthSizeMinusOne = 3`
/// (byte `0xFF`), one SPS (byte `0xE1`), one PPS. The High-profile extension fields
/// (chroma format, bit depths) are omitted, as FFmpeg and OBS do for 8-bit 4:2:0.
pub fn avc_decoder_configuration_record(sps: &[u8], pps: &[u8]) -> Result<Bytes, AvcError> {
    let Some(&[profile, compat, level]) = sps.get(1..4) else {
        return Err(AvcError::SpsTooShort(sps.len()));
    };
    let sps_len = u16::try_from(sps.len()).map_err(|_| AvcError::ParameterSetTooLong(sps.len()))?;
    let pps_len = u16::try_from(pps.len()).map_err(|_| AvcError::ParameterSetTooLong(pps.len()))?;
    let mut out = Vec::with_capacity(11 + sps.len() + pps.len());
    out.extend_from_slice(&[1, profile, compat, level, 0xFF, 0xE1]);
    out.extend_from_slice(&sps_len.to_be_bytes());
    out.extend_from_slice(sps);
    out.push(1);
    out.extend_from_slice(&pps_len.to_be_bytes());
    out.extend_from_slice(pps);
    Ok(Bytes::from(out))
}

/// Removes emulation-prevention bytes: `00 00 03` becomes `00 00` (the RBSP).
pub fn nal_to_rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Adds emulation prevention to an RBSP (`00 00 0x` with x <= 3 becomes `00 00 03 0x`, and a
/// final `00` gets a `03` after it) and puts the NAL header byte first: the NAL unit.
pub fn rbsp_to_nal(header: u8, rbsp: &[u8]) -> Vec<u8> {
    let mut nal = Vec::with_capacity(rbsp.len() + rbsp.len() / 64 + 2);
    nal.push(header);
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            nal.push(3);
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        nal.push(b);
    }
    if rbsp.last() == Some(&0) {
        nal.push(3);
    }
    nal
}

/// MSB-first bit writer with Exp-Golomb codes, building an RBSP.
#[derive(Debug, Default)]
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    nbits: usize,
}

impl BitWriter {
    /// The low `n` bits of `v`, most significant first.
    pub(crate) fn bits(&mut self, v: u32, n: u32) {
        for i in (0..n).rev() {
            if self.nbits.is_multiple_of(8) {
                self.bytes.push(0);
            }
            if (v >> i) & 1 == 1
                && let Some(last) = self.bytes.last_mut()
            {
                *last |= 0x80 >> (self.nbits % 8);
            }
            self.nbits += 1;
        }
    }

    pub(crate) fn flag(&mut self, v: bool) {
        self.bits(u32::from(v), 1);
    }

    /// ue(v).
    pub(crate) fn ue(&mut self, v: u32) {
        let x = u64::from(v) + 1;
        let len = 64 - x.leading_zeros();
        // len - 1 zeros, then x in len bits.
        for i in (0..2 * len - 1).rev() {
            self.bits(((x >> i) & 1) as u32, 1);
        }
    }

    /// se(v).
    pub(crate) fn se(&mut self, v: i32) {
        let k = if v > 0 {
            2 * i64::from(v) - 1
        } else {
            -2 * i64::from(v)
        };
        self.ue(u32::try_from(k).unwrap_or(u32::MAX));
    }

    pub(crate) fn is_byte_aligned(&self) -> bool {
        self.nbits.is_multiple_of(8)
    }

    /// Zeros to the byte boundary (the trailing bits written already); the RBSP.
    pub(crate) fn into_aligned(self) -> Vec<u8> {
        self.bytes
    }

    /// `rbsp_trailing_bits()`: a one, then zeros to the byte boundary; the RBSP.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.bits(1, 1);
        self.bytes
    }
}

/// MSB-first bit reader with Exp-Golomb codes, over an RBSP.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Bits read so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(bit))
    }

    pub(crate) fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |acc, _| Some((acc << 1) | self.bit()?))
    }

    pub(crate) fn flag(&mut self) -> Option<bool> {
        Some(self.bit()? == 1)
    }

    /// ue(v). Codes longer than 32 bits are rejected.
    pub(crate) fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = self.bits(zeros)?;
        let v = (1u64 << zeros) - 1 + u64::from(rest);
        u32::try_from(v).ok()
    }

    /// se(v).
    pub(crate) fn se(&mut self) -> Option<i32> {
        let k = i64::from(self.ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        i32::try_from(v).ok()
    }
}

/// Skips one `scaling_list()` of `size` coefficients (H.264 §7.3.2.1.1.1).
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Option<()> {
    let mut last = 8i32;
    let mut next = 8i32;
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            next = (last + delta).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}

/// Profiles whose SPS carries chroma format, bit depth and scaling matrices.
const HIGH_PROFILES: [u32; 13] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135];

/// The fields of a sequence parameter set this crate uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sps {
    pub sps_id: u32,
    pub chroma_format_idc: u32,
    pub separate_colour_plane: bool,
    /// `log2_max_frame_num_minus4 + 4`: `frame_num` is this many bits.
    pub log2_max_frame_num: u32,
    pub pic_order_cnt_type: u32,
    pub max_num_ref_frames: u32,
    pub width_mbs: u32,
    pub height_map_units: u32,
    pub frame_mbs_only: bool,
    /// Frame cropping offsets: left, right, top, bottom (in crop units).
    pub crop: [u32; 4],
}

impl Sps {
    /// Parses an SPS NAL unit, header byte included.
    ///
    /// Handles every profile (the High-profile chroma/bit-depth/scaling-matrix fields are
    /// parsed and skipped), both picture order count types, field coding and frame cropping.
    /// `None` if the NAL is not an SPS or is truncated.
    pub fn parse(sps: &[u8]) -> Option<Self> {
        if nal_unit_type(sps)? != nal_type::SPS {
            return None;
        }
        let rbsp = nal_to_rbsp(sps.get(1..)?);
        let mut r = BitReader::new(&rbsp);
        let profile_idc = r.bits(8)?;
        let _constraints_and_level = r.bits(16)?;
        let sps_id = r.ue()?;
        let mut chroma_format_idc = 1;
        let mut separate_colour_plane = false;
        if HIGH_PROFILES.contains(&profile_idc) {
            chroma_format_idc = r.ue()?;
            if chroma_format_idc == 3 {
                separate_colour_plane = r.flag()?;
            }
            let _bit_depth_luma_minus8 = r.ue()?;
            let _bit_depth_chroma_minus8 = r.ue()?;
            let _qpprime_y_zero_transform_bypass = r.flag()?;
            if r.flag()? {
                let lists = if chroma_format_idc == 3 { 12 } else { 8 };
                for i in 0..lists {
                    if r.flag()? {
                        skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }
        let log2_max_frame_num = r.ue()?.checked_add(4)?;
        let pic_order_cnt_type = r.ue()?;
        match pic_order_cnt_type {
            0 => {
                let _log2_max_poc_lsb_minus4 = r.ue()?;
            }
            1 => {
                let _delta_pic_order_always_zero = r.flag()?;
                let _offset_for_non_ref_pic = r.se()?;
                let _offset_for_top_to_bottom_field = r.se()?;
                let cycle = r.ue()?;
                for _ in 0..cycle {
                    r.se()?;
                }
            }
            _ => {}
        }
        let max_num_ref_frames = r.ue()?;
        let _gaps_in_frame_num_allowed = r.flag()?;
        let width_mbs = r.ue()?.checked_add(1)?;
        let height_map_units = r.ue()?.checked_add(1)?;
        let frame_mbs_only = r.flag()?;
        if !frame_mbs_only {
            let _mb_adaptive_frame_field = r.flag()?;
        }
        let _direct_8x8_inference = r.flag()?;
        let mut crop = [0; 4];
        if r.flag()? {
            for c in &mut crop {
                *c = r.ue()?;
            }
        }
        Some(Self {
            sps_id,
            chroma_format_idc,
            separate_colour_plane,
            log2_max_frame_num,
            pic_order_cnt_type,
            max_num_ref_frames,
            width_mbs,
            height_map_units,
            frame_mbs_only,
            crop,
        })
    }

    /// Macroblocks in a frame (`PicSizeInMbs` of a frame picture).
    pub fn frame_mbs(&self) -> u64 {
        let field_factor = if self.frame_mbs_only { 1 } else { 2 };
        u64::from(self.width_mbs) * u64::from(self.height_map_units) * field_factor
    }

    /// Picture size in pixels, after frame cropping; `None` if inconsistent.
    pub fn dimensions(&self) -> Option<(u32, u32)> {
        let field_factor: u64 = if self.frame_mbs_only { 1 } else { 2 };
        let chroma_array_type = if self.separate_colour_plane {
            0
        } else {
            self.chroma_format_idc
        };
        let (crop_unit_x, crop_unit_y) = match chroma_array_type {
            0 => (1, field_factor),
            1 => (2, 2 * field_factor),
            2 => (2, field_factor),
            3 => (1, field_factor),
            _ => return None,
        };
        let [crop_l, crop_r, crop_t, crop_b] = self.crop.map(u64::from);
        let width =
            (u64::from(self.width_mbs) * 16).checked_sub(crop_unit_x * (crop_l + crop_r))?;
        let height = (field_factor * u64::from(self.height_map_units) * 16)
            .checked_sub(crop_unit_y * (crop_t + crop_b))?;
        if width == 0 || height == 0 {
            return None;
        }
        Some((u32::try_from(width).ok()?, u32::try_from(height).ok()?))
    }
}

/// Picture size in pixels (after frame cropping) from an SPS NAL unit, header byte included
/// (see [`Sps::parse`]). `None` if the NAL is not an SPS or is truncated or inconsistent.
pub fn sps_dimensions(sps: &[u8]) -> Option<(u32, u32)> {
    Sps::parse(sps)?.dimensions()
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPS from `ffmpeg -f lavfi -i testsrc=size=WxH:rate=30 -frames:v 1 -c:v libx264 [..] -f h264 -`
    // (libx264 core 164). testsrc is RGB, so the defaults pick High 4:4:4 Predictive (244).
    /// 1280x720, High 4:4:4 (profile 244, chroma_format_idc 3), no cropping.
    const SPS_720P_444: &[u8] = &[
        0x67, 0xf4, 0x00, 0x1f, 0x91, 0x9b, 0x28, 0x0a, 0x00, 0xb7, 0x60, 0x22, 0x00, 0x00, 0x03,
        0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x78, 0x1e, 0x30, 0x63, 0x2c,
    ];
    /// 1920x1080, High 4:4:4: 1088 coded lines, cropped by 8 (crop unit 1).
    const SPS_1080P_444: &[u8] = &[
        0x67, 0xf4, 0x00, 0x28, 0x91, 0x9b, 0x28, 0x0f, 0x00, 0x44, 0xfc, 0x4e, 0x02, 0x20, 0x00,
        0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x07, 0x81, 0xe3, 0x06, 0x32, 0xc0,
    ];
    /// 1920x1080 `-pix_fmt yuv420p`: High (100), cropped by 4 units of 2 lines.
    const SPS_1080P_HIGH: &[u8] = &[
        0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00,
        0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58,
    ];
    /// 1920x1080 `-pix_fmt yuv420p -x264-params interlaced=1`: frame_mbs_only_flag = 0.
    const SPS_1080I_HIGH: &[u8] = &[
        0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x04, 0x4f, 0xde, 0x02, 0x20, 0x00, 0x00,
        0x03, 0x00, 0x20, 0x00, 0x00, 0x07, 0x83, 0xe2, 0xc5, 0xb2, 0xc0,
    ];
    /// 1920x1080 `-pix_fmt yuv422p`: High 4:2:2 (122), chroma_format_idc 2.
    const SPS_1080P_422: &[u8] = &[
        0x67, 0x7a, 0x00, 0x28, 0xbc, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe2, 0x70, 0x11, 0x00, 0x00,
        0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x18, 0x31, 0x96,
    ];
    /// 1280x720 `-pix_fmt yuv420p -profile:v baseline`: Constrained Baseline (66, 0xC0).
    const SPS_720P_BASELINE: &[u8] = &[
        0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
        0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x24, 0x80,
    ];
    /// 1366x768 `-pix_fmt yuv420p -profile:v main`: Main (77), cropped horizontally by 10.
    const SPS_1366X768_MAIN: &[u8] = &[
        0x67, 0x4d, 0x40, 0x20, 0xec, 0xa0, 0x2b, 0x03, 0x0f, 0x37, 0x80, 0x88, 0x00, 0x00, 0x03,
        0x00, 0x08, 0x00, 0x00, 0x03, 0x01, 0xe0, 0x78, 0xc1, 0x8c, 0xb0,
    ];

    #[test]
    fn sps_dimensions_of_real_x264_streams() {
        assert_eq!(sps_dimensions(SPS_720P_444), Some((1280, 720)));
        assert_eq!(sps_dimensions(SPS_1080P_444), Some((1920, 1080)));
        assert_eq!(sps_dimensions(SPS_1080P_HIGH), Some((1920, 1080)));
        assert_eq!(sps_dimensions(SPS_1080I_HIGH), Some((1920, 1080)));
        assert_eq!(sps_dimensions(SPS_1080P_422), Some((1920, 1080)));
        assert_eq!(sps_dimensions(SPS_720P_BASELINE), Some((1280, 720)));
        assert_eq!(sps_dimensions(SPS_1366X768_MAIN), Some((1366, 768)));
    }

    #[test]
    fn sps_dimensions_rejects_garbage() {
        assert_eq!(sps_dimensions(&[]), None);
        assert_eq!(sps_dimensions(&[0x68, 0xeb, 0xe3]), None); // a PPS
        assert_eq!(sps_dimensions(&SPS_1080P_HIGH[..8]), None); // truncated
    }

    /// MSB-first bit writer with Exp-Golomb codes, to build SPSs the encoder never emits.
    impl BitWriter {
        /// RBSP trailing bits, then emulation prevention, with the SPS header byte.
        fn into_sps_nal(self) -> Vec<u8> {
            rbsp_to_nal(0x67, &self.finish())
        }
    }

    #[test]
    fn bit_writer_round_trips_through_the_reader() {
        let mut w = BitWriter::default();
        w.ue(0);
        w.ue(3_600);
        w.se(-5);
        w.bits(0x1234, 15);
        w.ue(u32::MAX - 1);
        w.flag(true);
        let rbsp = w.finish();
        let mut r = BitReader::new(&rbsp);
        assert_eq!(r.ue(), Some(0));
        assert_eq!(r.ue(), Some(3_600));
        assert_eq!(r.se(), Some(-5));
        assert_eq!(r.bits(15), Some(0x1234));
        assert_eq!(r.ue(), Some(u32::MAX - 1));
        assert_eq!(r.flag(), Some(true));
        assert_eq!(r.bit(), Some(1), "trailing one");
        // 111 bits: then zeros to the end of the 14th byte.
        assert_eq!((r.position(), rbsp.len()), (111, 14));
        assert_eq!(r.bit(), Some(0));
    }

    #[test]
    fn emulation_prevention_round_trips() {
        let rbsp = [0, 0, 0, 0, 0, 1, 0, 0, 3, 7, 0, 0];
        let nal = rbsp_to_nal(0x41, &rbsp);
        assert_eq!(nal, [0x41, 0, 0, 3, 0, 0, 3, 0, 1, 0, 0, 3, 3, 7, 0, 0, 3]);
        assert_eq!(nal_to_rbsp(&nal[1..]), rbsp);
    }

    #[test]
    fn sps_dimensions_skips_scaling_lists_and_poc_type_1() {
        let mut w = BitWriter::default();
        w.bits(100, 8); // High
        w.bits(0, 8);
        w.bits(40, 8);
        w.ue(0); // sps id
        w.ue(1); // 4:2:0
        w.ue(0);
        w.ue(0);
        w.bits(0, 1);
        w.bits(1, 1); // seq_scaling_matrix_present_flag
        for i in 0..8 {
            let present = i % 3 != 2;
            w.bits(u32::from(present), 1);
            if present {
                // Mirror of the decoder's loop: deltas walk the scale up and down, then one
                // delta brings next_scale to 0 halfway, which ends the list early.
                let size = if i < 6 { 16 } else { 64 };
                let (mut last, mut next) = (8i32, 8i32);
                for j in 0..size {
                    if next != 0 {
                        let delta = if j == size / 2 {
                            -last
                        } else if j % 2 == 0 {
                            5
                        } else {
                            -3
                        };
                        w.se(delta);
                        next = (last + delta).rem_euclid(256);
                    }
                    if next != 0 {
                        last = next;
                    }
                }
            }
        }
        w.ue(0); // log2_max_frame_num_minus4
        w.ue(1); // pic_order_cnt_type 1
        w.bits(0, 1);
        w.se(-2);
        w.se(1);
        w.ue(3);
        w.se(4);
        w.se(-4);
        w.se(0);
        w.ue(4); // max_num_ref_frames
        w.bits(0, 1);
        w.ue(1920 / 16 - 1);
        w.ue(1088 / 16 - 1);
        w.bits(1, 1); // frame_mbs_only
        w.bits(1, 1); // direct_8x8
        w.bits(1, 1); // cropping
        w.ue(2); // left: 4 px
        w.ue(0);
        w.ue(0);
        w.ue(4); // bottom: 8 px
        w.bits(0, 1); // no VUI
        let nal = w.into_sps_nal();
        assert_eq!(sps_dimensions(&nal), Some((1916, 1080)));
    }

    #[test]
    fn splits_annexb_on_3_and_4_byte_start_codes() {
        let stream = [
            0xAA, // garbage before the first start code
            0, 0, 0, 1, 0x09, 0xF0, // AUD
            0, 0, 1, 0x67, 1, 2, 0, // SPS with a trailing zero
            0, 0, 0, 1, 0x68, 3, //
            0, 0, 1, // empty NAL
            0, 0, 1, 0x65, 0, 0, 3, 1, 9,
        ];
        let nals: Vec<&[u8]> = annexb_nal_units(&stream).collect();
        assert_eq!(
            nals,
            vec![
                &[0x09, 0xF0][..],
                &[0x67, 1, 2],
                &[0x68, 3],
                &[0x65, 0, 0, 3, 1, 9]
            ]
        );
        assert_eq!(annexb_nal_units(&[1, 2, 3]).count(), 0);
        assert_eq!(annexb_nal_units(&[]).count(), 0);
    }

    #[test]
    fn annexb_to_avcc_drops_parameter_sets_and_aud() {
        let stream = [
            0, 0, 0, 1, 0x09, 0xF0, // AUD
            0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1F, 0xAB, // SPS
            0, 0, 0, 1, 0x68, 0xCE, // PPS
            0, 0, 1, 0x06, 0x05, 0x01, // SEI
            0, 0, 1, 0x65, 0x88, 0x84, // IDR
        ];
        let au = annexb_to_avcc(&stream);
        assert!(au.idr);
        assert_eq!(au.sps.as_deref(), Some(&[0x67, 0x42, 0xC0, 0x1F, 0xAB][..]));
        assert_eq!(au.pps.as_deref(), Some(&[0x68, 0xCE][..]));
        assert_eq!(
            au.data,
            [0, 0, 0, 3, 0x06, 0x05, 0x01, 0, 0, 0, 3, 0x65, 0x88, 0x84]
        );
        let record = au.config_record().unwrap().unwrap();
        assert_eq!(
            &record[..],
            &[
                1, 0x42, 0xC0, 0x1F, 0xFF, 0xE1, 0, 5, 0x67, 0x42, 0xC0, 0x1F, 0xAB, 1, 0, 2, 0x68,
                0xCE
            ]
        );

        let p = annexb_to_avcc(&[0, 0, 1, 0x41, 0x9A, 0x02]);
        assert!(!p.idr);
        assert_eq!((p.sps, p.pps), (None, None));
        assert_eq!(p.data, [0, 0, 0, 3, 0x41, 0x9A, 0x02]);
    }

    #[test]
    fn config_record_needs_a_real_sps() {
        assert_eq!(
            avc_decoder_configuration_record(&[0x67, 0x42], &[0x68]),
            Err(AvcError::SpsTooShort(2))
        );
        assert_eq!(
            avc_decoder_configuration_record(SPS_720P_BASELINE, &vec![0x68; 70_000]),
            Err(AvcError::ParameterSetTooLong(70_000))
        );
    }

    #[test]
    fn rbsp_removes_emulation_prevention_only_after_two_zeros() {
        assert_eq!(
            nal_to_rbsp(&[0, 0, 3, 1, 0, 3, 0, 0, 3, 0, 0, 3]),
            [0, 0, 1, 0, 3, 0, 0, 0, 0]
        );
    }
}
