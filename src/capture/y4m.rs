//! The `y4m:FILE` video source: raw pictures from a YUV4MPEG2 file, so that anyone can measure
//! onair on real content and compare it with other tools on the very same frames.
//!
//! Accepted: 8-bit 4:2:0 (`C420jpeg`, `C420mpeg2`, `C420paldv`, `C420`, or no `C` tag), whose
//! planes are laid out exactly as [`VideoFrame`]'s I420, so a frame is read straight into the
//! engine's buffer with no conversion. Anything else (4:2:2, 4:4:4, mono, more than 8 bits) and
//! a picture size other than the preset's are refused when the source opens, in one line that
//! says what to do: scaling and chroma conversion belong to the real-source conversion stage,
//! not to a measuring tool that must hand the encoder the file's own pixels.
//!
//! The file's frame rate is not used: frames are taken one per frame interval of the preset
//! (paced by the engine clock in `broadcast`, as fast as the encoder takes them in `bench`).
//! At the end of the file the source starts again from the first frame.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{CaptureError, SourceDevices, VideoSource};
use crate::media::{MediaTime, VideoFrame};

/// Longest stream or frame header line accepted.
const MAX_HEADER: usize = 4096;

/// What the stream header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Y4mHeader {
    pub width: u32,
    pub height: u32,
    /// `F` as a fraction, if given.
    pub frame_rate: Option<(u32, u32)>,
    /// The `C` tag as written (`420jpeg` when absent).
    pub chroma: String,
}

pub struct Y4mSource {
    path: PathBuf,
    reader: BufReader<File>,
    header: Y4mHeader,
    /// File offset of the first `FRAME`.
    data_start: u64,
    /// Frames in the file (counted when the source opens).
    frames_in_file: u64,
    line: Vec<u8>,
}

impl Y4mSource {
    /// Opens `path`, checks that its pictures are 8-bit 4:2:0 of `width` x `height`, and counts
    /// its frames.
    pub fn open(path: &Path, width: u32, height: u32) -> Result<Self, CaptureError> {
        let io = |source: std::io::Error| CaptureError::Y4mIo {
            path: path.to_owned(),
            source,
        };
        let bad = |reason: String| CaptureError::Y4mFormat {
            path: path.to_owned(),
            reason,
        };
        let file = File::open(path).map_err(io)?;
        let file_len = file.metadata().map_err(io)?.len();
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::with_capacity(256);
        read_line(&mut reader, &mut line).map_err(io)?;
        let header = parse_header(&line).map_err(bad)?;
        if !is_420_8bit(&header.chroma) {
            return Err(bad(format!(
                "chroma format C{} is not supported: only 8-bit 4:2:0 (C420jpeg, C420mpeg2, C420paldv); convert with ffmpeg -i IN -pix_fmt yuv420p OUT.y4m",
                header.chroma
            )));
        }
        if (header.width, header.height) != (width, height) {
            return Err(bad(format!(
                "pictures are {}x{} but the preset is {width}x{height}; choose a preset of that size, or scale the file with ffmpeg -i IN -vf scale={width}:{height} -pix_fmt yuv420p OUT.y4m",
                header.width, header.height
            )));
        }
        let data_start = line.len() as u64;
        let frame_bytes = i420_len(width, height);
        // Frames: each is `FRAME[ params]\n` plus the picture; count by walking the headers
        // (small positioned reads: the pictures themselves are not read here).
        let mut frames_in_file = 0u64;
        let mut at = data_start;
        let mut probe = [0u8; 256];
        while at < file_len {
            let n = read_at(reader.get_ref(), &mut probe, at).map_err(io)?;
            let head = &probe[..n];
            let Some(newline) = head.iter().position(|&b| b == b'\n') else {
                break; // a truncated last frame header is ignored
            };
            if !head.starts_with(b"FRAME") {
                return Err(bad(format!(
                    "frame {frames_in_file} does not start with FRAME"
                )));
            }
            at += newline as u64 + 1 + frame_bytes as u64;
            if at > file_len {
                break; // a truncated last frame is ignored
            }
            frames_in_file += 1;
        }
        if frames_in_file == 0 {
            return Err(bad("the file holds no complete frame".into()));
        }
        reader.seek(SeekFrom::Start(data_start)).map_err(io)?;
        Ok(Self {
            path: path.to_owned(),
            reader,
            header,
            data_start,
            frames_in_file,
            line,
        })
    }

    pub fn header(&self) -> &Y4mHeader {
        &self.header
    }

    /// Complete frames in the file.
    pub fn frames_in_file(&self) -> u64 {
        self.frames_in_file
    }

    fn read_frame(&mut self, frame: &mut VideoFrame) -> std::io::Result<bool> {
        read_line(&mut self.reader, &mut self.line)?;
        if self.line.is_empty() {
            return Ok(false);
        }
        if !self.line.starts_with(b"FRAME") {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "a frame does not start with FRAME",
            ));
        }
        match self.reader.read_exact(&mut frame.data) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// One read at `offset` (Unix: `pread`, the file's position untouched).
#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

/// One read at `offset`; the file's position moves (the caller seeks afterwards).
#[cfg(not(unix))]
fn read_at(mut file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    file.seek(SeekFrom::Start(offset))?;
    file.read(buf)
}

impl SourceDevices for Y4mSource {}

impl VideoSource for Y4mSource {
    fn fill(&mut self, pts: MediaTime, frame: &mut VideoFrame) -> Result<(), CaptureError> {
        if (frame.width, frame.height) != (self.header.width, self.header.height) {
            return Err(CaptureError::SizeMismatch {
                source_name: "y4m",
                got_w: frame.width,
                got_h: frame.height,
                want_w: self.header.width,
                want_h: self.header.height,
            });
        }
        frame.pts = pts;
        let io = |source: std::io::Error, path: &Path| CaptureError::Y4mIo {
            path: path.to_owned(),
            source,
        };
        if self.read_frame(frame).map_err(|e| io(e, &self.path))? {
            return Ok(());
        }
        // End of the file: loop.
        self.reader
            .seek(SeekFrom::Start(self.data_start))
            .map_err(|e| io(e, &self.path))?;
        if self.read_frame(frame).map_err(|e| io(e, &self.path))? {
            Ok(())
        } else {
            Err(CaptureError::Y4mFormat {
                path: self.path.clone(),
                reason: "the file shrank while reading it".into(),
            })
        }
    }
}

/// Bytes of one 8-bit I420 picture.
fn i420_len(width: u32, height: u32) -> usize {
    let (w, h) = (width as usize, height as usize);
    w * h + 2 * (w / 2) * (h / 2)
}

fn is_420_8bit(chroma: &str) -> bool {
    matches!(chroma, "420" | "420jpeg" | "420mpeg2" | "420paldv")
}

/// Reads one `\n`-terminated line (kept, with its `\n`) into `line`; empty at end of file.
fn read_line(reader: &mut BufReader<File>, line: &mut Vec<u8>) -> std::io::Result<()> {
    line.clear();
    let n = reader
        .by_ref()
        .take(MAX_HEADER as u64)
        .read_until(b'\n', line)?;
    if n == MAX_HEADER && line.last() != Some(&b'\n') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "a header line is longer than 4096 bytes",
        ));
    }
    Ok(())
}

/// Parses the stream header line (`YUV4MPEG2 W.. H.. F..:.. ...\n`).
pub fn parse_header(line: &[u8]) -> Result<Y4mHeader, String> {
    let text = std::str::from_utf8(line).map_err(|_| "the stream header is not text".to_owned())?;
    if !text.starts_with("YUV4MPEG2") {
        return Err("not a YUV4MPEG2 file (the first line must start with YUV4MPEG2)".into());
    }
    // A header cut short would otherwise be read as whatever its last number became.
    let Some(text) = text.strip_suffix('\n') else {
        return Err(
            "the stream header is cut short (it does not end its line): the file is truncated"
                .into(),
        );
    };
    let mut words = text.split(' ');
    if words.next() != Some("YUV4MPEG2") {
        return Err("not a YUV4MPEG2 file (the first line must start with YUV4MPEG2)".into());
    }
    let (mut width, mut height, mut frame_rate) = (None, None, None);
    let mut chroma = "420jpeg".to_owned();
    for word in words.filter(|w| !w.is_empty()) {
        let mut chars = word.chars();
        let (tag, value) = (chars.next(), chars.as_str());
        match tag {
            Some('W') => width = value.parse::<u32>().ok(),
            Some('H') => height = value.parse::<u32>().ok(),
            Some('F') => {
                frame_rate = value
                    .split_once(':')
                    .and_then(|(n, d)| Some((n.parse().ok()?, d.parse().ok()?)))
                    .filter(|&(n, d): &(u32, u32)| n > 0 && d > 0);
            }
            Some('C') => value.clone_into(&mut chroma),
            Some('I') if value != "p" && value != "?" => {
                return Err(format!(
                    "interlaced pictures (I{value}) are not supported; deinterlace first"
                ));
            }
            _ => {}
        }
    }
    let (Some(width), Some(height)) = (width, height) else {
        return Err("the stream header has no valid W (width) and H (height)".into());
    };
    if width == 0 || height == 0 || width % 2 != 0 || height % 2 != 0 {
        return Err(format!(
            "{width}x{height}: width and height must be even and non-zero"
        ));
    }
    Ok(Y4mHeader {
        width,
        height,
        frame_rate,
        chroma,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_y4m(path: &Path, header: &str, frames: u8, w: usize, h: usize) {
        let mut f = File::create(path).unwrap();
        f.write_all(header.as_bytes()).unwrap();
        for n in 0..frames {
            f.write_all(b"FRAME\n").unwrap();
            f.write_all(&vec![n; w * h * 3 / 2]).unwrap();
        }
    }

    #[test]
    fn reads_frames_in_order_and_loops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.y4m");
        write_y4m(
            &path,
            "YUV4MPEG2 W8 H4 F30:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n",
            3,
            8,
            4,
        );
        let mut src = Y4mSource::open(&path, 8, 4).unwrap();
        assert_eq!(src.frames_in_file(), 3);
        assert_eq!(src.header().frame_rate, Some((30, 1)));
        let mut frame = VideoFrame::black(8, 4, MediaTime::ZERO);
        let mut firsts = Vec::new();
        for n in 0..5 {
            src.fill(MediaTime::from_millis(n), &mut frame).unwrap();
            assert!(frame.data.iter().all(|&b| b == frame.data[0]));
            firsts.push(frame.data[0]);
        }
        assert_eq!(firsts, vec![0, 1, 2, 0, 1]);
        assert_eq!(frame.pts, MediaTime::from_millis(4));
    }

    #[test]
    fn other_chroma_formats_and_sizes_are_refused_in_words() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.y4m");
        write_y4m(&path, "YUV4MPEG2 W8 H4 F30:1 C444\n", 1, 8, 8);
        let err = Y4mSource::open(&path, 8, 4).err().unwrap().to_string();
        assert!(err.contains("C444 is not supported"), "{err}");
        assert_eq!(err.lines().count(), 1);
        write_y4m(&path, "YUV4MPEG2 W8 H4 F30:1\n", 1, 8, 4);
        let err = Y4mSource::open(&path, 16, 8).err().unwrap().to_string();
        assert!(err.contains("8x4 but the preset is 16x8"), "{err}");
        let err = Y4mSource::open(&dir.path().join("missing.y4m"), 8, 4)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("missing.y4m"), "{err}");
        assert!(parse_header(b"RIFF\n").is_err());
        assert!(parse_header(b"YUV4MPEG2 W7 H4\n").is_err());
        assert!(parse_header(b"YUV4MPEG2 W8 H4 It\n").is_err());
    }

    /// A header cut short (`W854 H480` cut after `H4`) is said to be cut short, not read as a
    /// picture of 854x4.
    #[test]
    fn a_truncated_header_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.y4m");
        std::fs::write(&path, b"YUV4MPEG2 W854 H4").unwrap();
        let err = Y4mSource::open(&path, 854, 480).err().unwrap().to_string();
        assert!(err.contains("cut short") && !err.contains("854x4"), "{err}");
        assert!(parse_header("YUV4MPEG2 W8 H4 \u{e9}x\n".as_bytes()).is_ok());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any bytes, and header-shaped text with arbitrary words: an answer, never a panic.
        #[test]
        fn any_header_parses_or_is_refused(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            words in proptest::collection::vec("([WHFCIAX]?\\PC{0,6}|W[0-9]{0,12}|H[0-9]{0,12}|F[0-9:]{0,8})", 0..6),
            newline in proptest::prelude::any::<bool>(),
        ) {
            let _ = parse_header(&bytes);
            let line = format!("YUV4MPEG2 {}{}", words.join(" "), if newline { "\n" } else { "" });
            if let Ok(h) = parse_header(line.as_bytes()) {
                proptest::prop_assert!(h.width > 0 && h.height > 0 && h.width % 2 == 0);
                proptest::prop_assert!(newline);
            }
        }
    }
}
