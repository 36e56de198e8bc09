//! H.264 for RTP (RFC 6184): the engine's AVCC access units become Annex B with the SPS and
//! PPS in front of every keyframe (a WebRTC receiver has no out-of-band parameter sets), which
//! str0m then packetizes (packetization-mode 1: single NAL units, STAP-A for the parameter sets
//! with the slice, FU-A past the MTU). `profile-level-id` comes from the SPS itself, so it
//! follows whatever profile the encoder is set to.

/// The parameter sets of an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterSets {
    pub sps: Vec<u8>,
    pub pps: Vec<u8>,
}

impl ParameterSets {
    /// The first SPS and PPS of a configuration record; `None` if it is malformed.
    pub fn from_avcc_record(record: &[u8]) -> Option<Self> {
        let mut r = record.get(5..)?;
        let mut take = |n: usize| -> Option<&[u8]> {
            let (head, tail) = (r.get(..n)?, r.get(n..)?);
            r = tail;
            Some(head)
        };
        let _ = record.first().filter(|&&v| v == 1)?;
        let num_sps = record[5] & 0x1f;
        take(1)?;
        let mut sps = None;
        for _ in 0..num_sps {
            let len = u16::from_be_bytes(take(2)?.try_into().ok()?) as usize;
            let nal = take(len)?;
            sps.get_or_insert_with(|| nal.to_vec());
        }
        let num_pps = take(1)?[0];
        let mut pps = None;
        for _ in 0..num_pps {
            let len = u16::from_be_bytes(take(2)?.try_into().ok()?) as usize;
            let nal = take(len)?;
            pps.get_or_insert_with(|| nal.to_vec());
        }
        Some(Self {
            sps: sps.filter(|s| s.len() >= 4)?,
            pps: pps.filter(|p| !p.is_empty())?,
        })
    }

    /// `profile-level-id` (RFC 6184 §8.1): profile_idc, the constraint flags and level_idc,
    /// the three bytes after the SPS's NAL header.
    pub fn profile_level_id(&self) -> u32 {
        u32::from(self.sps[1]) << 16 | u32::from(self.sps[2]) << 8 | u32::from(self.sps[3])
    }
}

const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Writes an AVCC access unit (4-byte lengths) as Annex B into `out`; a keyframe gets the
/// parameter sets first. A truncated length ends the unit (what came before is kept).
pub fn to_annexb(avcc: &[u8], keyframe: bool, params: &ParameterSets, out: &mut Vec<u8>) {
    out.clear();
    if keyframe {
        for nal in [&params.sps, &params.pps] {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(nal);
        }
    }
    let mut rest = avcc;
    while rest.len() >= 4 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let Some(nal) = rest.get(4..4 + len) else {
            break;
        };
        rest = &rest[4 + len..];
        // Parameter sets already in the unit would be sent twice.
        let kind = nal.first().map(|b| b & 0x1f);
        if keyframe && matches!(kind, Some(7 | 8)) {
            continue;
        }
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(nal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::avc::avc_decoder_configuration_record;

    const SPS: &[u8] = &[0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40];
    const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];

    #[test]
    fn parameter_sets_and_profile_level_id_come_from_the_record() {
        let record = avc_decoder_configuration_record(SPS, PPS).unwrap();
        let ps = ParameterSets::from_avcc_record(&record).unwrap();
        assert_eq!((&ps.sps[..], &ps.pps[..]), (SPS, PPS));
        // Constrained Baseline (66, constraint_set0+1), level 3.1.
        assert_eq!(ps.profile_level_id(), 0x42c01f);
        let high = [0x67, 0x64, 0x00, 0x28, 0xac];
        let record = avc_decoder_configuration_record(&high, PPS).unwrap();
        let ps = ParameterSets::from_avcc_record(&record).unwrap();
        assert_eq!(ps.profile_level_id(), 0x640028);
        assert!(ParameterSets::from_avcc_record(&record[..8]).is_none());
        assert!(ParameterSets::from_avcc_record(&[]).is_none());
    }

    #[test]
    fn keyframes_get_the_parameter_sets_once_and_others_none() {
        let ps = ParameterSets {
            sps: SPS.to_vec(),
            pps: PPS.to_vec(),
        };
        let mut avcc = Vec::new();
        for nal in [&[0x65u8, 1, 2, 3][..], &[0x65, 4]] {
            avcc.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            avcc.extend_from_slice(nal);
        }
        let mut out = Vec::new();
        to_annexb(&avcc, true, &ps, &mut out);
        let mut want = Vec::new();
        for nal in [SPS, PPS, &[0x65, 1, 2, 3], &[0x65, 4]] {
            want.extend_from_slice(&START_CODE);
            want.extend_from_slice(nal);
        }
        assert_eq!(out, want);
        to_annexb(&avcc, false, &ps, &mut out);
        assert_eq!(out, want[SPS.len() + PPS.len() + 8..].to_vec());
        // A truncated unit keeps its whole NAL units.
        to_annexb(&avcc[..avcc.len() - 1], false, &ps, &mut out);
        assert_eq!(out, [0, 0, 0, 1, 0x65, 1, 2, 3]);
    }
}
