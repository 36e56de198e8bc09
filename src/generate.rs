//! The man pages and the shell completions, generated from the command line's clap definitions
//! by the binary itself: `onair generate-files DIR`, which packaging/deb.sh runs on the binary
//! it packages, so they describe exactly that binary. The parser knows the subcommand; the
//! definitions the pages are made from do not, so neither the pages nor the completions list it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Arg, ArgMatches, Command};
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, italic, roman};

pub const NAME: &str = "generate-files";

/// The hidden subcommand, for the parser.
pub fn command() -> Command {
    Command::new(NAME)
        .hide(true)
        .about("Write the man pages (DIR/man) and the bash, zsh and fish completions (DIR/completions)")
        .arg(
            Arg::new("dir")
                .value_name("DIR")
                .required(true)
                .value_parser(clap::value_parser!(PathBuf)),
        )
}

/// Writes `onair.1` and `onair-SUBCOMMAND.1` to DIR/man and `onair.bash`, `_onair` and
/// `onair.fish` to DIR/completions, made from `cli`; prints each path.
pub fn files(cli: Command, args: &ArgMatches) -> anyhow::Result<ExitCode> {
    let dir = args
        .get_one::<PathBuf>("dir")
        .context("generate-files needs a folder")?;
    let mut written = man_pages(cli.clone(), &dir.join("man"))?;
    written.extend(completions(cli, &dir.join("completions"))?);
    let mut out = std::io::stdout().lock();
    for path in written {
        writeln!(out, "{}", path.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

fn man_pages(cli: Command, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    create_dir(dir)?;
    let mut cmd = cli.disable_help_subcommand(true);
    cmd.build();
    let page = |cmd: Command| {
        Man::new(cmd)
            .date(env!("ONAIR_COMMIT_DATE"))
            .source(concat!("onair ", env!("CARGO_PKG_VERSION")))
            .manual("User Commands")
    };
    let mut pages = Vec::new();
    for sub in cmd.get_subcommands() {
        let man = page(sub.clone());
        let mut roff = Vec::new();
        man.render(&mut roff)?;
        pages.push((man.get_filename(), roff));
    }
    // onair.1: clap_mangen's sections, then what the flags do not say (files, environment).
    let man = page(cmd);
    let mut roff = Vec::new();
    man.render_title(&mut roff)?;
    man.render_name_section(&mut roff)?;
    man.render_synopsis_section(&mut roff)?;
    man.render_description_section(&mut roff)?;
    man.render_options_section(&mut roff)?;
    man.render_subcommands_section(&mut roff)?;
    files_and_environment().to_writer(&mut roff)?;
    man.render_version_section(&mut roff)?;
    pages.push((man.get_filename(), roff));

    pages
        .into_iter()
        .map(|(name, roff)| {
            let path = dir.join(name);
            std::fs::write(&path, roff)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(path)
        })
        .collect()
}

/// FILES and ENVIRONMENT sections of onair.1.
fn files_and_environment() -> Roff {
    use onair::app::{keystore::KEYRING_ENV, settings::CONFIG_DIR_ENV};
    let mut r = Roff::new();
    let item = |r: &mut Roff, name: &str, text: &str| {
        r.control("TP", []).text([bold(name)]).text([roman(text)]);
    };
    r.control("SH", ["FILES"]);
    item(
        &mut r,
        "~/.config/onair/config.toml",
        "The configuration the window and onair broadcast share: presets, destinations (without \
         their keys), mixer, sources, scenes, recording and preview settings (--config gives \
         another file). A gui.toml from an earlier onair is moved in on the window's first \
         start and kept as gui.toml.migrated.",
    );
    item(
        &mut r,
        "~/.config/onair/window.toml",
        "The window's own state: its size and preview rate.",
    );
    item(
        &mut r,
        "~/.config/onair/keys.toml",
        "Stream keys, when no system keyring answers (mode 0600).",
    );
    r.control("SH", ["ENVIRONMENT"]);
    item(
        &mut r,
        CONFIG_DIR_ENV,
        "A folder to use instead of ~/.config/onair.",
    );
    item(
        &mut r,
        KEYRING_ENV,
        "Set to off to keep stream keys in keys.toml even where a system keyring (Secret \
         Service) answers.",
    );
    r.control("TP", []).text([bold("RUST_LOG")]).text([
        roman("What is logged to stderr, e.g. "),
        italic("debug"),
        roman(" or "),
        italic("warn,onair=debug"),
        roman(" (default: info)."),
    ]);
    r
}

fn completions(cli: Command, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    create_dir(dir)?;
    [Shell::Bash, Shell::Zsh, Shell::Fish]
        .into_iter()
        .map(|shell| {
            let mut cmd = cli.clone();
            clap_complete::generate_to(shell, &mut cmd, "onair", dir).with_context(|| {
                format!("cannot write the {shell} completions in {}", dir.display())
            })
        })
        .collect()
}
