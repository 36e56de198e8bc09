//! Refuses to build without nasm.
//!
//! openh264-sys2 compiles OpenH264's assembly with nasm when it finds it and silently drops it
//! when it does not, which makes encoding about 3x slower (1080p: 155 -> 44 fps here). A
//! broadcaster that quietly loses two thirds of its encoder is worse than a failed build.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PATH");
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
