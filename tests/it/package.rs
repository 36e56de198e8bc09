//! The Debian package, made by packaging/deb.sh from this test build's own binary (so CI
//! compiles no release profile for it), judged by Debian's tools: dpkg-deb lists every file at
//! its place, desktop-file-validate, appstreamcli and lintian accept it, man renders its pages,
//! bash completes from its completions, and the binary unpacked to a temporary root names its
//! version and commit and opens a window under Xvfb that carries onair's icon, loading only
//! libraries from packages the control file declares.
//!
//! Requires (Debian 12): dpkg-dev, lintian, desktop-file-utils, appstream, man-db, zsh, fish,
//! librsvg2-bin, imagemagick, xvfb, xdotool, x11-utils, python3.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::common::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const ICON_SIZES: [u32; 7] = [16, 32, 48, 64, 128, 256, 512];
const MAN_PAGES: [&str; 6] = [
    "onair",
    "onair-broadcast",
    "onair-bench",
    "onair-devices",
    "onair-presets",
    "onair-scenes",
];

/// The package, built once for all the tests here, and its files unpacked.
struct Package {
    deb: PathBuf,
    root: PathBuf,
}

fn package() -> &'static Package {
    static PACKAGE: OnceLock<Package> = OnceLock::new();
    PACKAGE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("package");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = run_ok(
            Command::new("bash")
                .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/deb.sh"))
                .args(["--binary", env!("CARGO_BIN_EXE_onair"), "--out"])
                .arg(&dir)
                .env("DEBFULLNAME", "onair tests")
                .env("DEBEMAIL", "tests@onair.invalid"),
        );
        println!("{}", String::from_utf8_lossy(&out.stderr));
        let arch = text(run_ok(Command::new("dpkg").arg("--print-architecture")).stdout);
        let deb = dir.join(format!("onair_{VERSION}_{}.deb", arch.trim()));
        assert!(deb.exists(), "no {}", deb.display());
        let root = dir.join("root");
        run_ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
        Package { deb, root }
    })
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A control field of the package.
fn field(name: &str) -> String {
    let out = run_ok(
        Command::new("dpkg-deb")
            .arg("-f")
            .arg(&package().deb)
            .arg(name),
    );
    text(out.stdout).trim().to_owned()
}

/// The package names in a Depends-style field (alternatives and versions dropped).
fn names(field: &str) -> BTreeSet<String> {
    field
        .split([',', '|'])
        .filter_map(|d| d.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn dpkg_deb_lists_every_file_at_its_place() {
    let listing = text(run_ok(Command::new("dpkg-deb").arg("-c").arg(&package().deb)).stdout);
    let mut files = BTreeSet::new();
    for line in listing.lines() {
        // -rw-r--r-- root/root 1234 2026-11-26 00:00 ./usr/share/...
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (mode, owner, path) = (cols[0], cols[1], cols[5]);
        assert_eq!(owner, "root/root", "{line}");
        if mode.starts_with('d') {
            assert_eq!(mode, "drwxr-xr-x", "{line}");
            continue;
        }
        let executable = path == "./usr/bin/onair";
        assert_eq!(
            mode,
            if executable {
                "-rwxr-xr-x"
            } else {
                "-rw-r--r--"
            },
            "{line}"
        );
        files.insert(path.trim_start_matches('.').to_owned());
    }
    let mut expected: BTreeSet<String> = [
        "/usr/bin/onair",
        "/usr/share/applications/onair.desktop",
        "/usr/share/metainfo/org.onair.onair.metainfo.xml",
        "/usr/share/icons/hicolor/scalable/apps/onair.svg",
        "/usr/share/bash-completion/completions/onair",
        "/usr/share/zsh/vendor-completions/_onair",
        "/usr/share/fish/vendor_completions.d/onair.fish",
        "/usr/share/doc/onair/copyright",
        "/usr/share/doc/onair/changelog.gz",
    ]
    .map(str::to_owned)
    .into();
    expected.extend(ICON_SIZES.map(|s| format!("/usr/share/icons/hicolor/{s}x{s}/apps/onair.png")));
    expected.extend(MAN_PAGES.map(|p| format!("/usr/share/man/man1/{p}.1.gz")));
    assert_eq!(files, expected);

    let root = &package().root;
    // Each PNG is as large as its folder says (IHDR: width and height at bytes 16..24).
    for s in ICON_SIZES {
        let png =
            std::fs::read(root.join(format!("usr/share/icons/hicolor/{s}x{s}/apps/onair.png")))
                .unwrap();
        let dim = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
        assert_eq!((dim(16), dim(20)), (s, s), "{s}x{s}/apps/onair.png");
    }
    // The binary is stripped: no symbol table, no debug line tables.
    let sections = text(
        run_ok(
            Command::new("readelf")
                .arg("-S")
                .arg(root.join("usr/bin/onair")),
        )
        .stdout,
    );
    for s in [".symtab", ".debug_line"] {
        assert!(!sections.contains(s), "usr/bin/onair keeps {s}");
    }
    // The copyright file carries both C libraries' licences, word for word.
    let copyright = std::fs::read_to_string(root.join("usr/share/doc/onair/copyright")).unwrap();
    for (name, file) in [
        ("BSD-2-Clause", "OpenH264-BSD-2-Clause.txt"),
        ("FDK-AAC", "fdk-aac-NOTICE.txt"),
    ] {
        let licence = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("packaging/licenses")
                .join(file),
        )
        .unwrap();
        let words = |s: &str| {
            s.split_whitespace()
                .filter(|w| *w != ".")
                .collect::<Vec<_>>()
                .join(" ")
        };
        let paragraph = copyright
            .split(&format!("\n\nLicense: {name}\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no License: {name}"));
        let paragraph = paragraph.split("\n\n").next().unwrap();
        assert_eq!(words(paragraph), words(&licence), "License: {name}");
    }
    // And the bundled font's (the binary includes it for text layers), as its DEP-5 file says.
    let font = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/fonts/DejaVuSans-LICENSE.txt"),
    )
    .unwrap();
    let vera = |text: &str| {
        let from = text
            .rfind("License: bitstream-vera\n")
            .expect("License: bitstream-vera");
        let words: Vec<&str> = text[from..]
            .split("\n\n")
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        words.join(" ")
    };
    assert!(copyright.contains("Files: assets/fonts/DejaVuSans-Bold.ttf\n"));
    assert_eq!(vera(&copyright), vera(&font), "License: bitstream-vera");
}

#[test]
fn the_control_file_declares_what_the_binary_links_and_loads() {
    assert_eq!(field("Package"), "onair");
    assert_eq!(field("Version"), VERSION);
    let depends = names(&field("Depends"));
    // Linked (DT_NEEDED, found by dpkg-shlibdeps; Ubuntu 24.04 names libasound2t64).
    for lib in ["libc6", "libgcc-s1", "libstdc++6", "libxcb1", "libgbm1"] {
        assert!(depends.contains(lib), "Depends lacks {lib}: {depends:?}");
    }
    assert!(
        depends.iter().any(|d| d.starts_with("libasound2")),
        "{depends:?}"
    );
    // Loaded with dlopen by the window.
    for lib in [
        "libgl1",
        "libegl1",
        "libx11-6",
        "libxkbcommon-x11-0",
        "libwayland-client0",
    ] {
        assert!(depends.contains(lib), "Depends lacks {lib}: {depends:?}");
    }
    // Installed-Size covers at least the binary.
    let kib: u64 = field("Installed-Size").parse().unwrap();
    let binary = std::fs::metadata(package().root.join("usr/bin/onair"))
        .unwrap()
        .len();
    assert!(
        kib * 1024 >= binary,
        "Installed-Size {kib} KiB < binary {binary} B"
    );
}

#[test]
fn desktop_entry_and_metainfo_validate() {
    let root = &package().root;
    let desktop = root.join("usr/share/applications/onair.desktop");
    let out = run_ok(Command::new("desktop-file-validate").arg(&desktop));
    assert_eq!(text(out.stdout), "", "desktop-file-validate has remarks");
    let metainfo = root.join("usr/share/metainfo/org.onair.onair.metainfo.xml");
    let out = run_ok(
        Command::new("appstreamcli")
            .args(["validate", "--no-net", "--pedantic"])
            .arg(&metainfo),
    );
    let report = text(out.stdout);
    println!("appstreamcli:\n{report}");
    // Infos and pedantic hints differ between AppStream 0.16 and 1.0 (`developer_name`);
    // warnings and errors fail.
    assert!(
        !report
            .lines()
            .any(|l| l.starts_with("W:") || l.starts_with("E:")),
        "appstreamcli warns:\n{report}"
    );

    // What each points at is in the package, and they name this version.
    let entry = std::fs::read_to_string(&desktop).unwrap();
    let key = |k: &str| {
        entry
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k}="))
    };
    assert_eq!(key("Exec"), "onair");
    assert!(root.join("usr/bin").join(key("Exec")).exists());
    assert!(
        root.join(format!(
            "usr/share/icons/hicolor/scalable/apps/{}.svg",
            key("Icon")
        ))
        .exists()
    );
    assert_eq!(key("Categories"), "AudioVideo;Video;Recorder;");
    let xml = std::fs::read_to_string(&metainfo).unwrap();
    assert!(xml.contains(r#"<launchable type="desktop-id">onair.desktop</launchable>"#));
    assert!(xml.contains("<binary>onair</binary>"));
    let newest = xml
        .split("<release version=\"")
        .nth(1)
        .and_then(|r| r.split('"').next());
    assert_eq!(newest, Some(VERSION), "the metainfo's newest release");
}

#[test]
fn lintian_reports_no_error() {
    let out = Command::new("lintian")
        .args(["--no-tag-display-limit", "--display-info"])
        .arg(&package().deb)
        .output()
        .expect("run lintian (apt-get install lintian)");
    let report = text(out.stdout);
    println!("lintian:\n{report}{}", text(out.stderr));
    let errors: Vec<&str> = report.lines().filter(|l| l.starts_with("E:")).collect();
    assert!(errors.is_empty(), "lintian errors:\n{}", errors.join("\n"));
    assert!(out.status.success(), "lintian exited {}", out.status);
}

#[test]
fn the_packaged_binary_names_its_version_and_commit() {
    let out = run_ok(Command::new(package().root.join("usr/bin/onair")).arg("--version"));
    let line = text(out.stdout);
    assert!(line.starts_with(&format!("onair {VERSION}")), "{line}");
    // In a checkout, a commit of this checkout: HEAD in a fresh build (CI), an ancestor of it
    // in a dev build made before later commits (build.rs follows HEAD in release builds only).
    let dir = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| text(o.stdout).trim().to_owned())
    };
    if let Some(top) = git(&["rev-parse", "--show-toplevel"])
        && Path::new(&top).canonicalize().unwrap() == Path::new(dir).canonicalize().unwrap()
    {
        let named = line
            .split_once('(')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("{line} names no commit"));
        assert_eq!(named.len(), 12, "{line}");
        let full = git(&["rev-parse", "--verify", &format!("{named}^{{commit}}")])
            .unwrap_or_else(|| panic!("{line}: {named} is no commit of this checkout"));
        assert!(
            git(&["merge-base", "--is-ancestor", &full, "HEAD"]).is_some(),
            "{line}: {full} is not HEAD or before it"
        );
    }
    // Tarballs from `git archive` fill in packaging/commit.txt for build.rs instead.
    let attributes = std::fs::read_to_string(Path::new(dir).join(".gitattributes")).unwrap();
    assert!(
        attributes
            .lines()
            .any(|l| l == "packaging/commit.txt export-subst")
    );
}

#[test]
fn man_renders_every_page() {
    let dir = package().root.join("usr/share/man/man1");
    for page in MAN_PAGES {
        let out = Command::new("man")
            .args(["--warnings", "-P", "cat", "-l"])
            .arg(dir.join(format!("{page}.1.gz")))
            .env("MANWIDTH", "80")
            .env("LC_ALL", "C.UTF-8")
            .output()
            .expect("run man (apt-get install man-db)");
        assert!(out.status.success(), "man {page}: {}", text(out.stderr));
        assert_eq!(text(out.stderr), "", "man {page} warns");
        let shown = text(out.stdout);
        let expect: &[&str] = match page {
            "onair" => &[
                "NAME",
                "SYNOPSIS",
                "opens its window",
                "onair-broadcast(1)",
                "FILES",
                "ENVIRONMENT",
                "ONAIR_KEYRING",
                VERSION,
            ],
            "onair-broadcast" => &["--rtmp", "--record", "--hls", "--duration"],
            "onair-bench" => &["--frames"],
            _ => &["--json"],
        };
        for e in expect {
            assert!(shown.contains(e), "man {page} lacks {e}:\n{shown}");
        }
        assert!(
            !shown.contains("generate-files"),
            "man {page} shows the hidden subcommand"
        );
    }
}

#[test]
fn the_shells_complete_from_the_completions() {
    let root = &package().root;
    let bash = root.join("usr/share/bash-completion/completions/onair");
    let complete = |words: &str| {
        let script = format!(
            "source '{}'; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             _onair onair \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            bash.display()
        );
        text(run_ok(Command::new("bash").args(["-c", &script])).stdout)
    };
    let subcommands: BTreeSet<String> = complete("onair ''").lines().map(str::to_owned).collect();
    for s in ["broadcast", "bench", "devices", "presets"] {
        assert!(subcommands.contains(s), "bash completes {subcommands:?}");
    }
    assert!(!subcommands.contains("generate-files"), "{subcommands:?}");
    let flags = complete("onair broadcast --re");
    assert!(flags.lines().any(|l| l == "--record"), "{flags}");
    // zsh and fish parse theirs.
    run_ok(
        Command::new("zsh")
            .arg("-n")
            .arg(root.join("usr/share/zsh/vendor-completions/_onair")),
    );
    run_ok(
        Command::new("fish")
            .arg("--no-execute")
            .arg(root.join("usr/share/fish/vendor_completions.d/onair.fish")),
    );
}

#[test]
fn the_committed_icons_are_the_svg_rendered() {
    run_ok(
        Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/icons.sh"))
            .arg("--check"),
    );
}

#[test]
fn the_other_platforms_files_parse_and_name_this_version() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging");
    // Info.plist with the three usage strings macOS shows when it asks for each permission.
    let check = "import plistlib, sys; p = plistlib.load(open(sys.argv[1], 'rb')); \
                 print('\\n'.join(k for k in p if k.endswith('UsageDescription') and p[k]))";
    let keys = text(
        run_ok(
            Command::new("python3")
                .args(["-c", check])
                .arg(dir.join("macos/Info.plist")),
        )
        .stdout,
    );
    for k in [
        "NSCameraUsageDescription",
        "NSMicrophoneUsageDescription",
        "NSScreenCaptureUsageDescription",
    ] {
        assert!(keys.lines().any(|l| l == k), "Info.plist lacks {k}: {keys}");
    }
    let xml = "import sys, xml.etree.ElementTree as e; e.parse(sys.argv[1])";
    run_ok(
        Command::new("python3")
            .args(["-c", xml])
            .arg(dir.join("windows/onair.exe.manifest")),
    );
    let manifest = std::fs::read_to_string(dir.join("windows/onair.exe.manifest")).unwrap();
    assert!(
        manifest.contains(&format!("version=\"{VERSION}.0\"")),
        "the manifest's version"
    );
    let rc = std::fs::read_to_string(dir.join("windows/onair.rc")).unwrap();
    assert!(
        rc.contains(&format!("\"ProductVersion\", \"{VERSION}\"")),
        "onair.rc's version"
    );
    assert!(
        rc.contains(&format!("FILEVERSION {},0", VERSION.replace('.', ","))),
        "onair.rc's FILEVERSION"
    );
    let ico = std::fs::read(dir.join("windows/onair.ico")).unwrap();
    assert_eq!(&ico[..4], &[0, 0, 1, 0], "onair.ico is an icon file");
    assert_eq!(
        &std::fs::read(dir.join("macos/onair.icns")).unwrap()[..4],
        b"icns"
    );
}

/// The packaged binary's window, on Xvfb, carries the packaged 128 px icon pixel for pixel
/// (`_NET_WM_ICON`) and the class the desktop entry's StartupWMClass names; every library it
/// has loaded comes from a package that the control file's Depends or Recommends pull in.
#[test]
fn the_packaged_window_shows_the_icon() {
    let root = &package().root;
    let display = desktop::Xvfb::start(1280, 800);
    let config = tempdir();
    let mut child = Command::new(root.join("usr/bin/onair"))
        .env("DISPLAY", &display.display)
        .env_remove("WAYLAND_DISPLAY")
        .env("ONAIR_CONFIG_DIR", config.path())
        .env("ONAIR_KEYRING", "off")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let x = |program: &str, args: &[&str]| {
        let out = Command::new(program)
            .env("DISPLAY", &display.display)
            .args(args)
            .output()
            .unwrap();
        text(out.stdout)
    };
    let mut window = String::new();
    wait_for(Duration::from_secs(60), "the onair window", || {
        window = x("xdotool", &["search", "--onlyvisible", "--name", "^onair$"])
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        !window.is_empty()
    });
    let icon = x(
        "xprop",
        &[
            "-id",
            &window,
            "-notype",
            "-f",
            "_NET_WM_ICON",
            "32c",
            "_NET_WM_ICON",
        ],
    );
    let class = x("xprop", &["-id", &window, "WM_CLASS"]);
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", child.id())).unwrap();
    desktop::stop_child(&mut child);

    let values: Vec<u32> = icon
        .split_once('=')
        .unwrap_or_else(|| panic!("no _NET_WM_ICON: {icon}"))
        .1
        .split(',')
        .map(|v| v.trim().parse().unwrap())
        .collect();
    assert_eq!(values[..2], [128, 128], "icon size");
    let png = root.join("usr/share/icons/hicolor/128x128/apps/onair.png");
    let rgba = run_ok(Command::new("convert").arg(&png).arg("rgba:-")).stdout;
    let argb: Vec<u32> = rgba
        .chunks_exact(4)
        .map(|p| u32::from_be_bytes([p[3], p[0], p[1], p[2]]))
        .collect();
    assert!(
        values[2..] == argb[..],
        "the window's icon is not onair-128.png"
    );
    assert!(class.contains("\"onair\""), "WM_CLASS {class}");

    let loaded: BTreeSet<&str> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.contains(".so") && !p.starts_with(root.to_str().unwrap()))
        .collect();
    let declared = installed_closure(&[field("Depends"), field("Recommends")]);
    let mut undeclared = Vec::new();
    for lib in &loaded {
        let owner = owning_package(lib).unwrap_or_else(|| panic!("no package owns {lib}"));
        if !declared.contains(&owner) {
            undeclared.push(format!("{lib} ({owner})"));
        }
    }
    println!("the window loaded {} libraries", loaded.len());
    assert!(
        undeclared.is_empty(),
        "loaded from packages the .deb does not pull in: {undeclared:?}"
    );
}

/// The installed packages that `fields` (Depends-style) pull in, recursively.
fn installed_closure(fields: &[String]) -> HashSet<String> {
    let roots: BTreeSet<String> = fields.iter().flat_map(|f| names(f)).collect();
    let out = run_ok(
        Command::new("apt-cache")
            .args([
                "depends",
                "--recurse",
                "--installed",
                "--no-recommends",
                "--no-suggests",
            ])
            .args([
                "--no-conflicts",
                "--no-breaks",
                "--no-replaces",
                "--no-enhances",
            ])
            .args(&roots),
    );
    text(out.stdout)
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('<'))
        .map(|l| l.split(':').next().unwrap().to_owned())
        .collect()
}

/// The package that installed `path` (dpkg may know it under /lib rather than /usr/lib).
fn owning_package(path: &str) -> Option<String> {
    let other = match path.strip_prefix("/usr") {
        Some(p) => p.to_owned(),
        None => format!("/usr{path}"),
    };
    [path.to_owned(), other].iter().find_map(|p| {
        let out = Command::new("dpkg").arg("-S").arg(p).output().ok()?;
        let line = text(out.stdout);
        out.status
            .success()
            .then(|| line.split(':').next().unwrap().trim().to_owned())
    })
}
