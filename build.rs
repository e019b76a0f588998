//! Builds the crate's exec helper (`src/process/helper/helper.c`): a tiny
//! static program without libc that the spawn path runs from a sealed memfd
//! (see `src/process/helper.rs`). It is compiled with the C compiler the
//! `cc` crate finds for the target (`CC`, `CC_<target>`, or `cc`).
//!
//! Targets other than Linux on x86_64 and aarch64 get no helper: the crate
//! still builds, and every spawn that needs the helper (an init, a changed
//! root, a joined mount namespace) fails with `SpawnError::Unsupported`
//! instead of exposing the caller's binary.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=src/process/helper/helper.c");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(containment_no_helper)");
    // `doc(cfg)` marks (which feature an item needs) are nightly-only: set
    // `containment_nightly` for a nightly compiler (docs.rs), so that
    // `--cfg docsrs` on a stable toolchain still builds (lib.rs).
    println!("cargo::rustc-check-cfg=cfg(containment_nightly)");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    if Command::new(rustc)
        .arg("-V")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("-nightly"))
    {
        println!("cargo::rustc-cfg=containment_nightly");
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let bin = out.join("containment-helper");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if os != "linux" || !matches!(arch.as_str(), "x86_64" | "aarch64") {
        println!(
            "cargo::warning=containment: no exec helper for {arch}-{os} (x86_64 and aarch64 \
             Linux only); spawns with an init, a changed root or a joined mount namespace \
             will fail with SpawnError::Unsupported"
        );
        std::fs::write(&bin, b"").expect("writing the empty helper placeholder");
        println!("cargo::rustc-cfg=containment_no_helper");
        return;
    }
    let compiler = cc::Build::new()
        .cargo_metadata(false)
        .opt_level_str("s")
        .debug(false)
        .pic(false)
        .get_compiler();
    let mut cmd: Command = compiler.to_command();
    cmd.args([
        "-ffreestanding",
        "-fno-builtin",
        "-fno-stack-protector",
        "-fno-asynchronous-unwind-tables",
        "-fno-unwind-tables",
        "-fno-stack-clash-protection",
        "-fno-pie",
        "-nostdlib",
        "-static",
        "-no-pie",
        "-Wl,--build-id=none",
        "-Wl,-z,noexecstack",
        // One read-only-and-executable segment: fewer mappings per exec.
        "-Wl,-z,noseparate-code",
        "-Wl,--gc-sections",
        "-s",
    ]);
    if arch == "x86_64" {
        // No endbr64 landing pads: nothing here is reached indirectly.
        cmd.arg("-fcf-protection=none");
    }
    let src = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"))
        .join("src/process/helper/helper.c");
    cmd.arg("-o").arg(&bin).arg(&src);
    let status = cmd.status().unwrap_or_else(|e| {
        panic!(
            "containment: cannot run the C compiler {:?} to build the exec helper \
             (src/process/helper/helper.c): {e}. Install a C compiler (gcc or clang) for \
             the target, or point CC at one.",
            compiler.path()
        )
    });
    assert!(
        status.success(),
        "containment: building the exec helper failed ({status}): {cmd:?}"
    );
}
