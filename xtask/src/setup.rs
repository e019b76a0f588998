//! First-use setup of the VM assets: QEMU, its firmware, a Debian cloud
//! kernel with its modules, and a static busybox — unpacked from Debian
//! packages into a cache directory, never installed system-wide (except the
//! plain shared libraries the QEMU binary links against).
//!
//! Why not `apt-get install qemu-system-x86`: on our machines the
//! preinstalled `qemu-utils` (10.x, from backports) `Breaks` Debian 12's
//! `qemu-system-common`, so the install fails. Unpacking the `.deb`s with
//! `dpkg-deb -x` sidesteps that and leaves the host untouched.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::{cmd_output, log, run_cmd, Result};

/// Bumped whenever the set of unpacked packages changes, so old caches are
/// rebuilt instead of half-used.
const STAMP_VERSION: &str = "containment-vmtest-cache v1";

/// The `.deb`s unpacked into the cache (besides the kernel image).
const DEB_PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "qemu-system-common",
    "qemu-system-data",
    "seabios",
    "busybox-static",
];

/// Everything the runner needs from the cache.
#[derive(Debug)]
pub struct Assets {
    pub qemu: PathBuf,
    pub qemu_module_dir: PathBuf,
    pub firmware_dirs: Vec<PathBuf>,
    pub kernel: PathBuf,
    pub kernel_version: String,
    pub modules_dir: PathBuf,
    pub busybox: PathBuf,
    /// Seconds spent on setup in this run (None: the cache was ready).
    pub setup_secs: Option<f64>,
}

/// Makes sure `cache` holds the assets (setting it up on first use, under a
/// lock so that parallel runs set up once) and returns their paths.
pub fn ensure(cache: &Path, kernel_pkg: &str) -> Result<Assets> {
    fs::create_dir_all(cache)
        .map_err(|e| format!("cannot create the cache {}: {e}", cache.display()))?;
    let lock_path = cache.join(".lock");
    let lock = fs::File::create(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        log(&format!(
            "waiting for another vm-test run setting up {} ...",
            cache.display()
        ));
        lock.lock()
            .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
    }
    let stamp = cache.join(".ready");
    let want = format!("{STAMP_VERSION}\n{kernel_pkg}\n");
    let mut setup_secs = None;
    if fs::read_to_string(&stamp).ok().as_deref() != Some(want.as_str()) {
        let t = Instant::now();
        setup(cache, kernel_pkg)?;
        fs::write(&stamp, &want).map_err(|e| format!("{}: {e}", stamp.display()))?;
        setup_secs = Some(t.elapsed().as_secs_f64());
        log(&format!(
            "setup done in {:.1}s: {}",
            t.elapsed().as_secs_f64(),
            cache.display()
        ));
    }
    let assets = locate(cache, setup_secs)?;
    // The host libraries may have gone (a fresh container reusing a cached
    // directory): check on every run, it costs one `ldd`.
    let missing = missing_libs(&assets.qemu)?;
    if !missing.is_empty() {
        log(&format!(
            "qemu lacks host libraries: {}",
            missing.join(", ")
        ));
        install_qemu_libs()?;
        let missing = missing_libs(&assets.qemu)?;
        if !missing.is_empty() {
            return Err(format!(
                "qemu still lacks host libraries after installing its dependencies: {}",
                missing.join(", ")
            ));
        }
    }
    drop(lock);
    Ok(assets)
}

fn is_root() -> bool {
    cmd_output(Command::new("id").arg("-u"))
        .map(|s| s.trim() == "0")
        .unwrap_or(false)
}

fn apt_env(c: &mut Command) -> &mut Command {
    c.env("DEBIAN_FRONTEND", "noninteractive")
}

fn setup(cache: &Path, kernel_pkg: &str) -> Result<()> {
    log(&format!(
        "first use: setting up QEMU and a pure cgroup v2 kernel in {}",
        cache.display()
    ));
    if !is_root() {
        return Err(
            "the first run installs packages with apt-get and must run as root \
                    (or point CONTAINMENT_VMTEST_CACHE at a cache a root run prepared)"
                .into(),
        );
    }
    install_qemu_libs()?;
    let kimg = resolve_kernel(kernel_pkg)?;
    let debs = cache.join("debs");
    let root_tmp = cache.join("root.tmp");
    for d in [&debs, &root_tmp] {
        if d.exists() {
            fs::remove_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let mut pkgs: Vec<&str> = DEB_PACKAGES.to_vec();
    pkgs.push(&kimg);
    log(&format!(
        "downloading (not installing) into the cache: {}",
        pkgs.join(" ")
    ));
    run_cmd(apt_env(
        Command::new("apt-get")
            .args(["download", "-q", "-o", "APT::Sandbox::User=root"])
            .args(&pkgs)
            .current_dir(&debs),
    ))?;
    let mut n = 0;
    for e in fs::read_dir(&debs).map_err(|e| format!("{}: {e}", debs.display()))? {
        let p = e.map_err(|e| e.to_string())?.path();
        if p.extension().is_some_and(|x| x == "deb") {
            run_cmd(Command::new("dpkg-deb").arg("-x").arg(&p).arg(&root_tmp))?;
            n += 1;
        }
    }
    if n != pkgs.len() {
        return Err(format!(
            "expected {} .deb files in {}, found {n}",
            pkgs.len(),
            debs.display()
        ));
    }
    let root = cache.join("root");
    if root.exists() {
        fs::remove_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    }
    fs::rename(&root_tmp, &root).map_err(|e| format!("{}: {e}", root.display()))?;
    fs::remove_dir_all(&debs).map_err(|e| format!("{}: {e}", debs.display()))?;
    Ok(())
}

/// `apt-get update` and install the shared-library packages qemu-system-x86
/// depends on (it itself cannot be installed here, see the module docs).
fn install_qemu_libs() -> Result<()> {
    if !is_root() {
        return Err("installing qemu's shared libraries needs root (apt-get)".into());
    }
    log("apt-get update");
    run_cmd(apt_env(Command::new("apt-get").args(["update", "-q"])))?;
    let deps = cmd_output(Command::new("apt-cache").args(["depends", "qemu-system-x86"]))?;
    let libs = parse_depends(&deps, |p| p.starts_with("lib") || p.starts_with("zlib"));
    if libs.is_empty() {
        return Err("apt-cache depends qemu-system-x86 listed no library dependencies".into());
    }
    log(&format!(
        "installing qemu's shared libraries: {}",
        libs.join(" ")
    ));
    run_cmd(apt_env(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&libs),
    ))?;
    Ok(())
}

/// Resolves a kernel meta package (`linux-image-cloud-amd64`) to the
/// concrete image package it depends on.
fn resolve_kernel(meta: &str) -> Result<String> {
    let deps = cmd_output(Command::new("apt-cache").args(["depends", meta]))?;
    let imgs = parse_depends(&deps, |p| p.starts_with("linux-image-"));
    let kimg = imgs
        .into_iter()
        .next()
        .ok_or_else(|| format!("cannot resolve {meta} to a kernel image package"))?;
    log(&format!("kernel: {meta} -> {kimg}"));
    Ok(kimg)
}

/// Package names from `apt-cache depends` output: `Depends:` lines only,
/// virtual packages (`<name>`) skipped, first of each alternative group.
fn parse_depends(out: &str, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for line in out.lines() {
        let l = line.trim_start().trim_start_matches('|');
        let Some(rest) = l.strip_prefix("Depends:") else {
            continue;
        };
        let name = rest.trim();
        if name.starts_with('<') || !keep(name) || v.iter().any(|x| x == name) {
            continue;
        }
        v.push(name.to_owned());
    }
    v
}

/// The libraries `ldd` reports as "not found" for `bin`.
fn missing_libs(bin: &Path) -> Result<Vec<String>> {
    let out = Command::new("ldd")
        .arg(bin)
        .output()
        .map_err(|e| format!("ldd: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("not found"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect())
}

fn first_existing(cands: &[PathBuf]) -> Option<PathBuf> {
    cands.iter().find(|p| p.exists()).cloned()
}

fn locate(cache: &Path, setup_secs: Option<f64>) -> Result<Assets> {
    let root = cache.join("root");
    let broken = |what: &str| {
        format!(
            "the cache {} has no {what}: remove it (rm -rf) and run again to set it up anew",
            cache.display()
        )
    };
    let qemu = root.join("usr/bin/qemu-system-x86_64");
    if !qemu.exists() {
        return Err(broken("qemu-system-x86_64"));
    }
    let mut kernels: Vec<PathBuf> = fs::read_dir(root.join("boot"))
        .map_err(|_| broken("boot/"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .collect();
    kernels.sort();
    let kernel = kernels.pop().ok_or_else(|| broken("boot/vmlinuz-*"))?;
    let kernel_version =
        kernel.file_name().unwrap_or_default().to_string_lossy()["vmlinuz-".len()..].to_owned();
    let modules_dir = first_existing(&[
        root.join("lib/modules").join(&kernel_version),
        root.join("usr/lib/modules").join(&kernel_version),
    ])
    .ok_or_else(|| broken("lib/modules/<version>"))?;
    let busybox = first_existing(&[root.join("bin/busybox"), root.join("usr/bin/busybox")])
        .ok_or_else(|| broken("busybox"))?;
    Ok(Assets {
        qemu,
        qemu_module_dir: root.join("usr/lib/x86_64-linux-gnu/qemu"),
        firmware_dirs: vec![root.join("usr/share/qemu"), root.join("usr/share/seabios")],
        kernel,
        kernel_version,
        modules_dir,
        busybox,
        setup_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_depends;

    #[test]
    fn depends_parsing() {
        let out = "qemu-system-x86\n  Depends: libc6\n  Depends: <libfoo>\n |Depends: zlib1g\n  \
                   Depends: libc6\n  Suggests: libbar\n  Depends: ipxe-qemu\n";
        let v = parse_depends(out, |p| p.starts_with("lib") || p.starts_with("zlib"));
        assert_eq!(v, ["libc6", "zlib1g"]);
    }
}
