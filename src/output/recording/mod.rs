//! Recording to a local file: fragmented-then-finalized MP4 ("hybrid", as OBS), or FLV.

mod file;

use std::path::{Path, PathBuf};

pub use file::{FlvRecording, Mp4Recording, Target};

use super::{OutputError, OutputSink};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingFormat {
    Mp4,
    Flv,
}

impl RecordingFormat {
    pub fn extension(self) -> &'static str {
        match self {
            Self::Mp4 => "mp4",
            Self::Flv => "flv",
        }
    }

    /// The format named by the file's extension.
    pub fn from_path(path: &Path) -> Result<Self, OutputError> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("mp4") => Ok(Self::Mp4),
            Some("flv") => Ok(Self::Flv),
            _ => Err(OutputError::UnknownFormat {
                path: path.to_owned(),
            }),
        }
    }
}

/// Creates the file (never replacing an existing one) and the sink that writes it.
pub fn open(path: &Path, format: RecordingFormat) -> Result<Box<dyn OutputSink>, OutputError> {
    let file = Target::File(create_new(path)?);
    Ok(match format {
        RecordingFormat::Mp4 => Box::new(Mp4Recording::new(file, path.to_owned())),
        RecordingFormat::Flv => Box::new(FlvRecording::new(file, path.to_owned())),
    })
}

/// The muxer of `format` writing into nothing (bytes are counted, not kept).
pub fn discard(format: RecordingFormat) -> Box<dyn OutputSink> {
    let path = PathBuf::from(format!("(null).{}", format.extension()));
    match format {
        RecordingFormat::Mp4 => Box::new(Mp4Recording::new(Target::Discard, path)),
        RecordingFormat::Flv => Box::new(FlvRecording::new(Target::Discard, path)),
    }
}

fn create_new(path: &Path) -> Result<std::fs::File, OutputError> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                OutputError::FileExists {
                    path: path.to_owned(),
                }
            } else {
                OutputError::Create {
                    path: PathBuf::from(path),
                    source,
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_comes_from_the_extension() {
        assert_eq!(
            RecordingFormat::from_path(Path::new("a/b.MP4")).unwrap(),
            RecordingFormat::Mp4
        );
        assert_eq!(
            RecordingFormat::from_path(Path::new("b.flv")).unwrap(),
            RecordingFormat::Flv
        );
        let err = RecordingFormat::from_path(Path::new("b.mkv"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "cannot record to b.mkv: the file name must end in .mp4 or .flv"
        );
    }

    #[test]
    fn an_existing_file_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("take.mp4");
        std::fs::write(&path, b"precious").unwrap();
        let err = open(&path, RecordingFormat::Mp4).err().unwrap().to_string();
        assert!(
            err.ends_with("already exists; choose another file name or remove it first"),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"precious");
        let err = open(&dir.path().join("missing/x.flv"), RecordingFormat::Flv)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with("cannot create ") && err.contains("folder exists"),
            "{err}"
        );
    }
}
