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
//! Supported: frame pictures, CAVLC, no weighted prediction, no slice groups, picture order
//! count type 2 (OpenH264's Constrained Baseline, every picture a reference). For anything else
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
        let _pic_init_qp_minus26 = r.se()?;
        let _pic_init_qs_minus26 = r.se()?;
        let _chroma_qp_index_offset = r.se()?;
        let deblocking_filter_control = r.flag()?;
        let _constrained_intra_pred = r.flag()?;
        let redundant_pic_cnt = r.flag()?;
        Some(Self {
            pps_id,
            sps_id,
            cabac,
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
            && !pps.cabac
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
        w.se(0); // slice_qp_delta
        if self.pps.deblocking_filter_control {
            w.ue(1); // disable_deblocking_filter_idc: nothing to filter in a copy
        }
        // slice_data(): every macroblock skipped.
        w.ue(u32::try_from(self.sps.frame_mbs()).ok()?);
        let nal = rbsp_to_nal((REPEAT_REF_IDC << 5) | nal_type::SLICE, &w.finish());
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

    #[test]
    fn unsupported_streams_get_no_repeats() {
        let (sps, _) = params();
        // CABAC.
        let mut w = BitWriter::default();
        w.ue(0);
        w.ue(0);
        w.flag(true); // entropy_coding_mode_flag
        w.flag(false);
        w.ue(0);
        w.ue(0);
        w.ue(0);
        w.flag(false);
        w.bits(0, 2);
        w.se(0);
        w.se(0);
        w.se(0);
        w.flag(true);
        w.flag(false);
        w.flag(false);
        let pps = rbsp_to_nal(0x68, &w.finish());
        assert!(Repeater::new(&sps, &pps).is_none());
        assert!(Repeater::new(&[0x67], &pps).is_none(), "truncated SPS");
        // A non-reference picture stops the repeats.
        let (sps, pps) = params();
        let mut rep = Repeater::new(&sps, &pps).unwrap();
        let mut non_ref = slice(false, 1);
        non_ref[4] &= 0x1F;
        rep.picture(slice(true, 0));
        assert_eq!(rep.picture(non_ref.clone()), non_ref);
        assert!(rep.repeat().is_none());
    }
}
