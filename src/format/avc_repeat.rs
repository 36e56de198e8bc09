//! H.264 pictures that repeat the one before, and the `frame_num` renumbering they need.
//!
//! A frame dropped before the encoder (a stall) leaves an empty slot in the frame grid, and
//! the frame before it would last until the next one: a sample longer than an LL-HLS part may
//! be. In its place the H.264 thread puts a repeat: a P picture whose macroblocks are all
//! skipped (one `mb_skip_run`). With every neighbour skipped, each macroblock's predicted
//! motion vector is zero (ITU-T H.264 8.4.1.1), so the picture decodes to an exact copy of its
//! reference, the picture before it: a few bytes and no encoding.
//!
//! A repeat is a reference picture: with `pic_order_cnt_type` 2 (OpenH264's) two non-reference
//! pictures may not follow each other (7.4.2.1.1), and a stall empties runs of slots. So it
//! takes the next `frame_num`, and the encoder's own pictures after it, up to its next IDR,
//! are renumbered by the count of repeats so far: `frame_num` is a fixed-width field of the
//! slice header, rewritten in place. Their references count back from their own `frame_num`,
//! so they now point at the repeat, whose pixels are those of the picture they were coded
//! against.
//!
//! Supported: frame pictures, CAVLC or CABAC (Main and High: the skip flags are arithmetic
//! coded, [`skipped_macroblocks_cabac`]), no weighted prediction, no slice groups, picture order
//! count type 2 (OpenH264's streams, every picture a reference). For anything else
//! [`Repeater::new`] is `None` and a dropped frame stays a longer sample.

use super::avc::{BitReader, BitWriter, Sps, nal_to_rbsp, nal_type, nal_unit_type, rbsp_to_nal};

/// `nal_ref_idc` of a repeat (a reference picture, as OpenH264 marks its P pictures).
const REPEAT_REF_IDC: u8 = 3;
/// `slice_type` P.
const SLICE_P: u32 = 0;

/// The PPS fields a repeat's slice header depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pps {
    pps_id: u32,
    sps_id: u32,
    cabac: bool,
    /// 26 + `pic_init_qp_minus26`: a repeat's slice QP (its CABAC contexts start from it).
    pic_init_qp: i32,
    slice_groups: bool,
    weighted_pred: bool,
    deblocking_filter_control: bool,
    redundant_pic_cnt: bool,
}

impl Pps {
    fn parse(pps: &[u8]) -> Option<Self> {
        if nal_unit_type(pps)? != nal_type::PPS {
            return None;
        }
        let rbsp = nal_to_rbsp(pps.get(1..)?);
        let mut r = BitReader::new(&rbsp);
        let pps_id = r.ue()?;
        let sps_id = r.ue()?;
        let cabac = r.flag()?;
        let _bottom_field_pic_order_in_frame_present = r.flag()?;
        let slice_groups = r.ue()? > 0;
        let _num_ref_idx_l0_default_active_minus1 = r.ue()?;
        let _num_ref_idx_l1_default_active_minus1 = r.ue()?;
        let weighted_pred = r.flag()?;
        let _weighted_bipred_idc = r.bits(2)?;
        let pic_init_qp = 26 + r.se()?;
        let _pic_init_qs_minus26 = r.se()?;
        let _chroma_qp_index_offset = r.se()?;
        let deblocking_filter_control = r.flag()?;
        let _constrained_intra_pred = r.flag()?;
        let redundant_pic_cnt = r.flag()?;
        Some(Self {
            pps_id,
            sps_id,
            cabac,
            pic_init_qp,
            slice_groups,
            weighted_pred,
            deblocking_filter_control,
            redundant_pic_cnt,
        })
    }
}

/// Makes repeat pictures for one stream (one SPS/PPS) and renumbers the encoder's pictures
/// around them (see the module documentation).
#[derive(Debug, Clone)]
pub struct Repeater {
    sps: Sps,
    pps: Pps,
    /// `frame_num` of the last picture handed out (after renumbering); `None` before the first.
    last_frame_num: Option<u32>,
    /// Repeats since the encoder's last IDR: added to its `frame_num`s.
    offset: u32,
    /// The encoder made a picture this module cannot follow: no more repeats.
    unsupported: bool,
}

impl Repeater {
    /// A repeater for the stream these parameter sets (NAL units, header byte included)
    /// describe, or `None` if its pictures cannot be repeated this way.
    pub fn new(sps: &[u8], pps: &[u8]) -> Option<Self> {
        let sps = Sps::parse(sps)?;
        let pps = Pps::parse(pps)?;
        let supported = sps.frame_mbs_only
            && !sps.separate_colour_plane
            && sps.pic_order_cnt_type == 2
            && sps.max_num_ref_frames >= 1
            && sps.log2_max_frame_num <= 16
            && pps.sps_id == sps.sps_id
            && !pps.slice_groups
            && !pps.weighted_pred;
        supported.then_some(Self {
            sps,
            pps,
            last_frame_num: None,
            offset: 0,
            unsupported: false,
        })
    }

    fn max_frame_num(&self) -> u32 {
        1 << self.sps.log2_max_frame_num
    }

    /// A repeat of the last picture, as one AVCC access unit (a 4-byte length, then the NAL
    /// unit); `None` before the first picture or once the stream cannot be followed.
    pub fn repeat(&mut self) -> Option<Vec<u8>> {
        if self.unsupported {
            return None;
        }
        let frame_num = (self.last_frame_num? + 1) % self.max_frame_num();
        let mut w = BitWriter::default();
        w.ue(0); // first_mb_in_slice
        w.ue(SLICE_P);
        w.ue(self.pps.pps_id);
        w.bits(frame_num, self.sps.log2_max_frame_num);
        if self.pps.redundant_pic_cnt {
            w.ue(0);
        }
        w.flag(true); // num_ref_idx_active_override_flag
        w.ue(0); // num_ref_idx_l0_active_minus1: one reference, the picture before
        w.flag(false); // ref_pic_list_modification_flag_l0
        w.flag(false); // adaptive_ref_pic_marking_mode_flag: sliding window
        if self.pps.cabac {
            w.ue(0); // cabac_init_idc
        }
        w.se(0); // slice_qp_delta
        if self.pps.deblocking_filter_control {
            w.ue(1); // disable_deblocking_filter_idc: nothing to filter in a copy
        }
        // slice_data(): every macroblock skipped.
        let macroblocks = u32::try_from(self.sps.frame_mbs()).ok()?;
        let rbsp = if self.pps.cabac {
            skipped_macroblocks_cabac(w, macroblocks, self.pps.pic_init_qp)
        } else {
            w.ue(macroblocks); // mb_skip_run
            w.finish()
        };
        let nal = rbsp_to_nal((REPEAT_REF_IDC << 5) | nal_type::SLICE, &rbsp);
        self.last_frame_num = Some(frame_num);
        self.offset = (self.offset + 1) % self.max_frame_num();
        let mut au = u32::try_from(nal.len()).ok()?.to_be_bytes().to_vec();
        au.extend_from_slice(&nal);
        Some(au)
    }

    /// One of the encoder's pictures (an AVCC access unit): renumbered after repeats, and
    /// remembered as the picture the next repeat copies. An IDR ends the renumbering.
    pub fn picture(&mut self, avcc: Vec<u8>) -> Vec<u8> {
        if self.unsupported {
            return avcc;
        }
        let mut out: Option<Vec<u8>> = None;
        let mut at = 0;
        let mut frame_num = None;
        while let Some(&[a, b, c, d]) = avcc.get(at..at + 4) {
            let start = at;
            let len = u32::from_be_bytes([a, b, c, d]) as usize;
            let Some(nal) = avcc.get(at + 4..at + 4 + len) else {
                break;
            };
            at += 4 + len;
            let kind = nal_unit_type(nal);
            let mut rewritten = None;
            if kind == Some(nal_type::SLICE) || kind == Some(nal_type::IDR) {
                if kind == Some(nal_type::IDR) {
                    self.offset = 0;
                }
                let Some((num, nal)) = self.renumber(nal) else {
                    self.unsupported = true; // cannot follow it: no more repeats, pass it on
                    return avcc;
                };
                frame_num = Some(num);
                rewritten = nal;
            }
            match rewritten {
                Some(nal) => {
                    let o = out.get_or_insert_with(|| avcc[..start].to_vec());
                    o.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                    o.extend_from_slice(&nal);
                }
                None => {
                    if let Some(o) = out.as_mut() {
                        o.extend_from_slice(&avcc[start..at]);
                    }
                }
            }
        }
        if frame_num.is_some() {
            self.last_frame_num = frame_num;
        }
        out.unwrap_or(avcc)
    }

    /// The slice's `frame_num` after renumbering, and the NAL unit rewritten if it changed.
    /// `None` if the slice header cannot be read, or the slice is not a reference (the
    /// renumbering assumes every picture is one).
    fn renumber(&self, nal: &[u8]) -> Option<(u32, Option<Vec<u8>>)> {
        let header = *nal.first()?;
        if header >> 5 == 0 {
            return None;
        }
        let mut rbsp = nal_to_rbsp(nal.get(1..)?);
        let mut r = BitReader::new(&rbsp);
        let _first_mb_in_slice = r.ue()?;
        let _slice_type = r.ue()?;
        let _pps_id = r.ue()?;
        let pos = r.position();
        let bits = self.sps.log2_max_frame_num;
        let own = r.bits(bits)?;
        if self.offset == 0 {
            return Some((own, None));
        }
        let num = (own + self.offset) % self.max_frame_num();
        for i in 0..bits as usize {
            let bit = (num >> (bits as usize - 1 - i)) & 1;
            let (byte, shift) = ((pos + i) / 8, 7 - (pos + i) % 8);
            let b = rbsp.get_mut(byte)?;
            *b = (*b & !(1 << shift)) | ((bit as u8) << shift);
        }
        Some((num, Some(rbsp_to_nal(header, &rbsp))))
    }
}

/// CABAC slice data of `macroblocks` skipped macroblocks after the slice header in `w`, with
/// the slice's trailing bits: the RBSP. Each macroblock is `mb_skip_flag` 1 (ctxIdx 11: with
/// every neighbour skipped, ctxIdxInc is 0, 9.3.3.1.1.1) then `end_of_slice_flag`, 1 after the
/// last; the arithmetic encoder is 9.3.4's. The flush's last bit is the `rbsp_stop_one_bit`.
fn skipped_macroblocks_cabac(mut w: BitWriter, macroblocks: u32, slice_qp: i32) -> Vec<u8> {
    while !w.is_byte_aligned() {
        w.flag(true); // cabac_alignment_one_bit
    }
    // ctxIdx 11 for cabac_init_idc 0: (m, n) = (23, 33), Table 9-13.
    let pre = (((23 * slice_qp.clamp(0, 51)) >> 4) + 33).clamp(1, 126);
    let (mut state, mut mps) = if pre <= 63 {
        ((63 - pre) as usize, 0)
    } else {
        ((pre - 64) as usize, 1)
    };
    let mut e = ArithmeticEncoder::new(w);
    for n in 1..=macroblocks {
        // mb_skip_flag = 1.
        let lps = u32::from(RANGE_TAB_LPS[state][((e.range >> 6) & 3) as usize]);
        e.range -= lps;
        if mps == 1 {
            state = (state + 1).min(62);
        } else {
            e.low += e.range;
            e.range = lps;
            if state == 0 {
                mps = 1 - mps;
            }
            state = usize::from(TRANS_IDX_LPS[state]);
        }
        e.renorm();
        // end_of_slice_flag: a terminating bin.
        e.range -= 2;
        if n < macroblocks {
            e.renorm();
        } else {
            e.low += e.range;
            e.flush();
        }
    }
    e.w.into_aligned()
}

/// 9.3.4.2's encoder state: `low` (10 bits), `range` (9 bits), the outstanding bits.
struct ArithmeticEncoder {
    w: BitWriter,
    low: u32,
    range: u32,
    first_bit: bool,
    outstanding: u32,
}

impl ArithmeticEncoder {
    fn new(w: BitWriter) -> Self {
        Self {
            w,
            low: 0,
            range: 510,
            first_bit: true,
            outstanding: 0,
        }
    }

    /// RenormE (9.3.4.3).
    fn renorm(&mut self) {
        while self.range < 256 {
            if self.low < 256 {
                self.put_bit(0);
            } else if self.low >= 512 {
                self.low -= 512;
                self.put_bit(1);
            } else {
                self.low -= 256;
                self.outstanding += 1;
            }
            self.range <<= 1;
            self.low <<= 1;
        }
    }

    /// PutBit (9.3.4.3).
    fn put_bit(&mut self, b: u32) {
        if self.first_bit {
            self.first_bit = false;
        } else {
            self.w.bits(b, 1);
        }
        while self.outstanding > 0 {
            self.w.bits(1 - b, 1);
            self.outstanding -= 1;
        }
    }

    /// EncodeFlush (9.3.4.5), after a terminating bin of 1.
    fn flush(&mut self) {
        self.range = 2;
        self.renorm();
        self.put_bit((self.low >> 9) & 1);
        self.w.bits(((self.low >> 7) & 3) | 1, 2);
    }
}

/// Table 9-44: rangeTabLPS[pStateIdx][qCodIRangeIdx].
const RANGE_TAB_LPS: [[u8; 4]; 64] = [
    [128, 176, 208, 240],
    [128, 167, 197, 227],
    [128, 158, 187, 216],
    [123, 150, 178, 205],
    [116, 142, 169, 195],
    [111, 135, 160, 185],
    [105, 128, 152, 175],
    [100, 122, 144, 166],
    [95, 116, 137, 158],
    [90, 110, 130, 150],
    [85, 104, 123, 142],
    [81, 99, 117, 135],
    [77, 94, 111, 128],
    [73, 89, 105, 122],
    [69, 85, 100, 116],
    [66, 80, 95, 110],
    [62, 76, 90, 104],
    [59, 72, 86, 99],
    [56, 69, 81, 94],
    [53, 65, 77, 89],
    [51, 62, 73, 85],
    [48, 59, 69, 80],
    [46, 56, 66, 76],
    [43, 53, 63, 72],
    [41, 50, 59, 69],
    [39, 48, 56, 65],
    [37, 45, 54, 62],
    [35, 43, 51, 59],
    [33, 41, 48, 56],
    [32, 39, 46, 53],
    [30, 37, 43, 50],
    [29, 35, 41, 48],
    [27, 33, 39, 45],
    [26, 31, 37, 43],
    [24, 30, 35, 41],
    [23, 28, 33, 39],
    [22, 27, 32, 37],
    [21, 26, 30, 35],
    [20, 24, 29, 33],
    [19, 23, 27, 31],
    [18, 22, 26, 30],
    [17, 21, 25, 28],
    [16, 20, 23, 27],
    [15, 19, 22, 25],
    [14, 18, 21, 24],
    [14, 17, 20, 23],
    [13, 16, 19, 22],
    [12, 15, 18, 21],
    [12, 14, 17, 20],
    [11, 14, 16, 19],
    [11, 13, 15, 18],
    [10, 12, 15, 17],
    [10, 12, 14, 16],
    [9, 11, 13, 15],
    [9, 11, 12, 14],
    [8, 10, 12, 14],
    [8, 9, 11, 13],
    [7, 9, 11, 12],
    [7, 9, 10, 12],
    [7, 8, 10, 11],
    [6, 8, 9, 11],
    [6, 7, 9, 10],
    [6, 7, 8, 9],
    [2, 2, 2, 2],
];

/// Table 9-45: transIdxLPS[pStateIdx] (transIdxMPS is pStateIdx + 1, at most 62).
const TRANS_IDX_LPS: [u8; 64] = [
    0, 0, 1, 2, 2, 4, 4, 5, 6, 7, 8, 9, 9, 11, 11, 12, 13, 13, 15, 15, 16, 16, 18, 18, 19, 19, 21,
    21, 22, 22, 23, 24, 24, 25, 26, 26, 27, 27, 28, 29, 29, 30, 30, 30, 31, 32, 32, 33, 33, 33, 34,
    34, 35, 35, 35, 36, 36, 36, 37, 37, 37, 38, 38, 63,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// OpenH264's 1280x720 Constrained Baseline SPS and PPS (as `onair` writes them).
    fn params() -> (Vec<u8>, Vec<u8>) {
        let mut sps = BitWriter::default();
        sps.bits(66, 8); // profile_idc
        sps.bits(0xC0, 8); // constraint_set0/1
        sps.bits(31, 8); // level_idc
        sps.ue(0); // seq_parameter_set_id
        sps.ue(11); // log2_max_frame_num_minus4: 15 bits
        sps.ue(2); // pic_order_cnt_type
        sps.ue(1); // max_num_ref_frames
        sps.flag(false); // gaps_in_frame_num_value_allowed_flag
        sps.ue(79); // pic_width_in_mbs_minus1
        sps.ue(44); // pic_height_in_map_units_minus1
        sps.flag(true); // frame_mbs_only_flag
        sps.flag(true); // direct_8x8_inference_flag
        sps.flag(false); // frame_cropping_flag
        sps.flag(false); // vui_parameters_present_flag
        let mut pps = BitWriter::default();
        pps.ue(0);
        pps.ue(0);
        pps.flag(false); // CAVLC
        pps.flag(false);
        pps.ue(0); // one slice group
        pps.ue(0);
        pps.ue(0);
        pps.flag(false); // weighted_pred_flag
        pps.bits(0, 2);
        pps.se(0);
        pps.se(0);
        pps.se(0);
        pps.flag(true); // deblocking_filter_control_present_flag
        pps.flag(false);
        pps.flag(false);
        (
            rbsp_to_nal(0x67, &sps.finish()),
            rbsp_to_nal(0x68, &pps.finish()),
        )
    }

    /// An AVCC access unit of one slice: `idr`, `frame_num`, then some slice data.
    fn slice(idr: bool, frame_num: u32) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.ue(0);
        w.ue(if idr { 2 } else { 0 });
        w.ue(0);
        w.bits(frame_num, 15);
        w.bits(0x5A5A, 16); // stands for the rest of the slice
        let kind = if idr { nal_type::IDR } else { nal_type::SLICE };
        let nal = rbsp_to_nal(0x60 | kind, &w.finish());
        let mut au = (nal.len() as u32).to_be_bytes().to_vec();
        au.extend_from_slice(&nal);
        au
    }

    /// `frame_num` and the 16 bits after it, of each slice in an access unit.
    fn read(au: &[u8]) -> (u8, u32, u32) {
        let nal = &au[4..];
        assert_eq!(
            u32::from_be_bytes(au[..4].try_into().unwrap()) as usize,
            nal.len()
        );
        let rbsp = nal_to_rbsp(&nal[1..]);
        let mut r = BitReader::new(&rbsp);
        let (_, slice_type, _) = (r.ue().unwrap(), r.ue().unwrap(), r.ue().unwrap());
        assert!(slice_type == 0 || slice_type == 2);
        (nal[0], r.bits(15).unwrap(), r.bits(16).unwrap())
    }

    #[test]
    fn a_repeat_is_a_p_slice_of_skipped_macroblocks_with_the_next_frame_num() {
        let (sps, pps) = params();
        let mut rep = Repeater::new(&sps, &pps).expect("OpenH264's stream is supported");
        assert!(
            rep.repeat().is_none(),
            "nothing to repeat before the first picture"
        );
        rep.picture(slice(true, 0));
        rep.picture(slice(false, 1));
        let au = rep.repeat().unwrap();
        let nal = &au[4..];
        assert_eq!(nal[0], 0x61, "nal_ref_idc 3, non-IDR slice");
        let rbsp = nal_to_rbsp(&nal[1..]);
        let mut r = BitReader::new(&rbsp);
        assert_eq!(r.ue(), Some(0), "first_mb_in_slice");
        assert_eq!(r.ue(), Some(0), "P");
        assert_eq!(r.ue(), Some(0), "pps id");
        assert_eq!(r.bits(15), Some(2), "frame_num follows the last picture's");
        assert_eq!(r.flag(), Some(true), "num_ref_idx_active_override_flag");
        assert_eq!(r.ue(), Some(0), "one reference");
        assert_eq!(r.flag(), Some(false), "no list modification");
        assert_eq!(r.flag(), Some(false), "sliding window marking");
        assert_eq!(r.se(), Some(0), "slice_qp_delta");
        assert_eq!(r.ue(), Some(1), "deblocking off");
        assert_eq!(r.ue(), Some(80 * 45), "mb_skip_run: the whole picture");
        assert_eq!(r.bit(), Some(1), "rbsp_stop_one_bit");
        assert_eq!(r.position().div_ceil(8), rbsp.len(), "then only alignment");
        assert!(au.len() < 16, "{} bytes", au.len());
    }

    #[test]
    fn pictures_after_repeats_are_renumbered_until_the_next_idr() {
        let (sps, pps) = params();
        let mut rep = Repeater::new(&sps, &pps).unwrap();
        assert_eq!(rep.picture(slice(true, 0)), slice(true, 0));
        assert_eq!(rep.picture(slice(false, 1)), slice(false, 1), "untouched");
        rep.repeat().unwrap(); // 2
        rep.repeat().unwrap(); // 3
        // The encoder's next picture is its frame 2: now 4, its payload unchanged.
        assert_eq!(read(&rep.picture(slice(false, 2))), (0x61, 4, 0x5A5A));
        assert_eq!(read(&rep.repeat().unwrap()).1, 5);
        assert_eq!(read(&rep.picture(slice(false, 3))).1, 6);
        // An IDR restarts the numbering: nothing to add any more.
        assert_eq!(rep.picture(slice(true, 0)), slice(true, 0));
        assert_eq!(rep.picture(slice(false, 1)), slice(false, 1));
        assert_eq!(read(&rep.repeat().unwrap()).1, 2);
    }

    #[test]
    fn frame_num_wraps_and_other_nal_units_pass_through() {
        let (sps, pps) = params();
        let mut rep = Repeater::new(&sps, &pps).unwrap();
        rep.picture(slice(true, 0));
        rep.picture(slice(false, 32_767));
        assert_eq!(read(&rep.repeat().unwrap()).1, 0, "wraps at MaxFrameNum");
        // An SEI before the slice stays as it is, in front.
        let sei = [0, 0, 0, 3, 0x06, 0x05, 0x80];
        let mut au = sei.to_vec();
        au.extend_from_slice(&slice(false, 0));
        let out = rep.picture(au);
        assert_eq!(out[..7], sei);
        assert_eq!(read(&out[7..]).1, 1);
    }

    /// A PPS like OpenH264's, with CABAC or weighted prediction.
    fn pps(cabac: bool, weighted_pred: bool) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.ue(0);
        w.ue(0);
        w.flag(cabac); // entropy_coding_mode_flag
        w.flag(false);
        w.ue(0);
        w.ue(0);
        w.ue(0);
        w.flag(weighted_pred);
        w.bits(0, 2);
        w.se(0);
        w.se(0);
        w.se(0);
        w.flag(true);
        w.flag(false);
        w.flag(false);
        rbsp_to_nal(0x68, &w.finish())
    }

    #[test]
    fn unsupported_streams_get_no_repeats() {
        let (sps, _) = params();
        assert!(Repeater::new(&sps, &pps(false, true)).is_none(), "weighted");
        assert!(
            Repeater::new(&[0x67], &pps(false, false)).is_none(),
            "truncated SPS"
        );
        // A non-reference picture stops the repeats.
        let (sps, pps) = params();
        let mut rep = Repeater::new(&sps, &pps).unwrap();
        let mut non_ref = slice(false, 1);
        non_ref[4] &= 0x1F;
        rep.picture(slice(true, 0));
        assert_eq!(rep.picture(non_ref.clone()), non_ref);
        assert!(rep.repeat().is_none());
    }

    /// CABAC (Main profile): the header has `cabac_init_idc`, then alignment ones, then the
    /// arithmetic code of 3600 skip flags, a few bytes. (That it decodes to a copy is checked
    /// with OpenH264's decoder in `encode::h264`'s tests.)
    #[test]
    fn a_cabac_repeat_is_a_short_p_slice() {
        let (sps, _) = params();
        let mut rep = Repeater::new(&sps, &pps(true, false)).expect("CABAC is supported");
        rep.picture(slice(true, 0));
        let au = rep.repeat().unwrap();
        let rbsp = nal_to_rbsp(&au[5..]);
        let mut r = BitReader::new(&rbsp);
        assert_eq!((r.ue(), r.ue(), r.ue()), (Some(0), Some(0), Some(0)));
        assert_eq!(r.bits(15), Some(1));
        assert_eq!((r.flag(), r.ue()), (Some(true), Some(0)), "one reference");
        assert_eq!((r.flag(), r.flag()), (Some(false), Some(false)));
        assert_eq!(r.ue(), Some(0), "cabac_init_idc");
        assert_eq!(r.se(), Some(0), "slice_qp_delta");
        assert_eq!(r.ue(), Some(1), "deblocking off");
        while !r.position().is_multiple_of(8) {
            assert_eq!(r.bit(), Some(1), "cabac_alignment_one_bit");
        }
        assert!(rbsp.len() * 8 > r.position(), "arithmetic code follows");
        assert_ne!(rbsp.last(), Some(&0), "ends with the stop bit's byte");
        assert!(au.len() < 48, "{} bytes", au.len());
    }
}
