//! The config file on disk: where it lives, which version it is, which line an error is on,
//! and writing it whole (a temporary file in the same folder, fsync, rename).

use std::io::Write;
use std::path::{Path, PathBuf};

/// Overrides the config folder (tests, portable installs).
pub const CONFIG_DIR_ENV: &str = "ONAIR_CONFIG_DIR";
/// The config file's name in the config folder.
pub const CONFIG_FILE: &str = "config.toml";
/// The `version` this onair writes and the newest it reads.
pub const CONFIG_VERSION: i64 = 1;

/// The config folder: `ONAIR_CONFIG_DIR`, else the platform's (`~/.config/onair` on Linux).
pub fn config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(CONFIG_DIR_ENV) {
        return Some(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "onair").map(|d| d.config_dir().to_owned())
}

/// A file and, when known, the line in it: `config.toml line 3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    pub path: PathBuf,
    pub line: Option<usize>,
}

impl At {
    pub fn file(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            line: None,
        }
    }
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        Ok(())
    }
}

/// The 1-based line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// One step into a TOML document: a key, or an index into an array of tables.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    Key(&'a str),
    Index(usize),
    /// The entry of an array of tables whose `name` is this.
    Named(&'a str),
}

/// The line of the deepest item of `path` found in `text` (the key's line for a value, the
/// header's for a table); `None` if the text does not parse or the first step is absent.
pub fn locate(text: &str, path: &[Step]) -> Option<usize> {
    enum Node<'a> {
        Item(&'a toml_edit::Item),
        Table(&'a toml_edit::Table),
    }
    let doc = toml_edit::Document::parse(text).ok()?;
    let mut node = Node::Table(doc.as_table());
    let mut span = None;
    for step in path {
        let aot = match &node {
            Node::Item(i) => i.as_array_of_tables(),
            Node::Table(_) => None,
        };
        let next = match *step {
            Step::Key(k) => {
                let table: Option<&dyn toml_edit::TableLike> = match &node {
                    Node::Item(i) => i.as_table_like(),
                    Node::Table(t) => Some(*t),
                };
                table.and_then(|t| t.get_key_value(k)).map(|(key, value)| {
                    span = key.span().or_else(|| value.span()).or(span.take());
                    Node::Item(value)
                })
            }
            Step::Index(i) => aot.and_then(|a| a.get(i)).map(Node::Table),
            Step::Named(name) => aot.and_then(|a| {
                a.iter()
                    .find(|t| t.get("name").and_then(|n| n.as_str()) == Some(name))
                    .map(Node::Table)
            }),
        };
        match next {
            Some(n) => {
                if let Node::Table(t) = &n {
                    span = t.span().or(span.take());
                }
                node = n;
            }
            None => break,
        }
    }
    span.map(|s| line_of(text, s.start))
}

/// Reads the top-level `version` (absent: 1) and refuses one newer than this onair reads;
/// the error is the problem and the line.
pub fn check_version(text: &str) -> Result<(), (Option<usize>, String)> {
    #[derive(serde::Deserialize)]
    struct Versioned {
        version: Option<toml::Spanned<toml::Value>>,
    }
    let Ok(v) = toml::from_str::<Versioned>(text) else {
        // The full parse reports the syntax error with its line.
        return Ok(());
    };
    let Some(version) = v.version else {
        return Ok(());
    };
    let line = Some(line_of(text, version.span().start));
    match version.get_ref().as_integer() {
        Some(n) if (1..=CONFIG_VERSION).contains(&n) => Ok(()),
        Some(n) if n > CONFIG_VERSION => Err((
            line,
            format!(
                "version {n} was written by a newer onair (this one reads up to \
                 {CONFIG_VERSION}); update onair; the file is left as it is"
            ),
        )),
        _ => Err((
            line,
            format!("version must be a whole number from 1 to {CONFIG_VERSION}"),
        )),
    }
}

/// Writes `bytes` to `path` whole: a temporary file beside it (so the rename stays on one
/// file system), fsync, rename over it, fsync the folder. The file keeps the old one's
/// permissions, else gets `mode` (unix); a failure at any step leaves the old file as it was.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp"));
    let result = write_then_rename(path, &tmp, bytes, mode);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_then_rename(path: &Path, tmp: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mode = std::fs::metadata(path).map_or(mode, |m| m.permissions().mode() & 0o7777);
        options.mode(mode);
        mode
    };
    let mut file = options.open(tmp)?;
    #[cfg(unix)]
    {
        // The umask may have taken bits away, and an old temporary file keeps its own.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(tmp, path)?;
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename itself survives a power cut only once the folder is synced.
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_the_line_of_a_field_in_a_named_or_numbered_table() {
        let text = "# c\n[[preset]]\nname = \"a\"\n\n[[preset]]\nname = \"b\"\nwidth = 3\n\
                    [mixer]\n[[mixer.source]]\nname = \"Mic\"\nkind = \"x\"\n";
        assert_eq!(
            locate(
                text,
                &[Step::Key("preset"), Step::Index(1), Step::Key("width")]
            ),
            Some(7)
        );
        // A field that is absent: its table's header.
        assert_eq!(
            locate(
                text,
                &[Step::Key("preset"), Step::Index(0), Step::Key("fps")]
            ),
            Some(2)
        );
        let mic = [
            Step::Key("mixer"),
            Step::Key("source"),
            Step::Named("Mic"),
            Step::Key("kind"),
        ];
        assert_eq!(locate(text, &mic), Some(11));
        assert_eq!(locate(text, &[Step::Key("nothing")]), None);
        assert_eq!(locate("[[x]", &[Step::Key("x")]), None);
        assert_eq!((line_of("a\nb\n", 2), line_of("", 9)), (2, 1));
    }

    #[test]
    fn a_newer_or_odd_version_is_refused_with_its_line() {
        assert_eq!(check_version("[a]\nb = 1\n"), Ok(()));
        assert_eq!(check_version("version = 1\n"), Ok(()));
        let (line, why) = check_version("\n\nversion = 2\n[[new]]\n").unwrap_err();
        assert_eq!(line, Some(3));
        assert!(why.contains("newer onair"), "{why}");
        let (line, why) = check_version("version = \"one\"\n").unwrap_err();
        assert_eq!((line, why.contains("whole number")), (Some(1), true));
        assert!(check_version("version = 0\n").is_err());
    }

    #[test]
    fn an_atomic_write_replaces_the_file_whole_and_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("c.toml");
        write_atomic(&path, b"one", 0o640).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o640);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            write_atomic(&path, b"two", 0o644).unwrap();
            assert_eq!(mode(&path), 0o600);
        }
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left");
    }
}
