//! Refuses to build without nasm, and names the commit for `onair --version`.
//!
//! openh264-sys2 compiles OpenH264's assembly with nasm when it finds it and silently drops it
//! when it does not, which makes encoding about 3x slower (1080p: 155 -> 44 fps here). A
//! broadcaster that quietly loses two thirds of its encoder is worse than a failed build.
//!
//! The version (`ONAIR_VERSION`, e.g. `0.1.0 (0123456789ab 2026-11-26)`) takes the commit from
//! git when this source tree is a checkout, else from packaging/commit.txt, which `git archive`
//! fills in (export-subst); a tree with neither gives the bare version. Release builds (what
//! run.sh starts and deb.sh packages) build again when HEAD moves; dev and test builds name
//! the commit of the build script's last run, since following HEAD there recompiles the whole
//! crate after every commit (8-14 min on 2 cores).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PATH");
    require_nasm();
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let (version, date) = match commit() {
        Some((hash, date)) => (format!("{version} ({hash} {date})"), date),
        None => (version, String::new()),
    };
    println!("cargo:rustc-env=ONAIR_VERSION={version}");
    println!("cargo:rustc-env=ONAIR_COMMIT_DATE={date}");
}

fn require_nasm() {
    let target_arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if target_arch != "x86_64" && target_arch != "x86" {
        return; // OpenH264's x86 assembly is the only part that needs nasm.
    }
    let nasm = std::env::var("NASM").unwrap_or_else(|_| "nasm".to_owned());
    match Command::new(&nasm).arg("-v").output() {
        Ok(out) if out.status.success() => {}
        _ => panic!(
            "nasm was not found (tried `{nasm} -v`): without it OpenH264 loses its assembly and \
             encodes about 3x slower. Install it (Debian/Ubuntu: `sudo apt-get install nasm`, \
             or run packaging/setup.sh) and build again."
        ),
    }
}

/// The hash (12 digits) and date (YYYY-MM-DD) of the commit this tree was built from.
fn commit() -> Option<(String, String)> {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let archived = root.join("packaging/commit.txt");
    println!("cargo:rerun-if-changed={}", archived.display());
    from_git(&root).or_else(|| from_archive(&archived))
}

fn from_git(root: &Path) -> Option<(String, String)> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        out.status.success().then(|| text.trim().to_owned())
    };
    // Only this tree's own repository: a tarball unpacked inside another checkout (a distro's
    // packaging repository, a home directory under git) must not take that one's commit.
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != root.canonicalize().ok()? {
        return None;
    }
    if std::env::var("PROFILE").as_deref() != Ok("release") {
        return parse(&git(&["log", "-1", "--format=%H %cs"])?);
    }
    // Build again when HEAD moves: HEAD itself (a checkout), the branch it points to (a
    // commit), and packed-refs (where the branch lives once packed). Only files that exist:
    // cargo reruns the script every time for a missing one.
    let mut watch = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    watch.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for name in watch {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            let path = root.join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    parse(&git(&["log", "-1", "--format=%H %cs"])?)
}

fn from_archive(file: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(file).ok()?;
    parse(text.lines().find(|l| !l.starts_with('#'))?.trim())
}

/// `FULLHASH DATE`; `None` for anything else (an unexpanded `$Format:...$`).
fn parse(line: &str) -> Option<(String, String)> {
    let (hash, date) = line.split_once(' ')?;
    let hex = hash.len() >= 12 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    let date_ok = date.len() == 10 && date.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    (hex && date_ok).then(|| (hash[..12].to_owned(), date.to_owned()))
}
