//! `cargo xtask vm-test --systemd`: the same pure cgroup v2 guest, booted
//! with systemd as PID 1 (for the systemd cgroup driver's tests).
//!
//! The guest gets the files of Debian's `systemd` and `dbus` packages as
//! installed on the host (`dpkg -L`; the first run installs them with
//! `apt-get install systemd dbus` when missing, nothing is started on the
//! host), the shared libraries `ldd` lists for their executables, a
//! `messagebus` user, and a `vmtest.service` that runs the test binaries
//! with the same serial-port protocol as the plain guest (ttyS1 output,
//! ttyS2 statuses) and then powers the VM off. The init script's second
//! stage loads the modules and `exec`s `/lib/systemd/systemd`, booted with
//! `systemd.unit=vmtest.service`.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cpio::{Archive, Entry};
use crate::{log, run_cmd, Result};

/// The packages whose files the guest gets.
const PACKAGES: &[&str] = &[
    "systemd",
    "libsystemd-shared",
    "libsystemd0",
    "dbus",
    "dbus-daemon",
    "dbus-bin",
    "dbus-system-bus-common",
    "libdbus-1-3",
    "dbus-user-session",
    "dbus-session-bus-common",
];

/// Paths of those packages the guest does not need.
const SKIP: &[&str] = &[
    "/usr/share/doc",
    "/usr/share/man",
    "/usr/share/locale",
    "/usr/share/bash-completion",
    "/usr/share/zsh",
    "/usr/share/lintian",
    "/usr/share/polkit-1",
];

/// Every cgroup v1 controller but `freezer` refused (instead of
/// `cgroup_no_v1=all`): see the join-cost test in tests/vm_systemd.rs.
pub const CGROUP_NO_V1: &str = "cgroup_no_v1=cpuset,cpu,cpuacct,io,blkio,memory,devices,net_cls,perf_event,net_prio,hugetlb,pids,rdma,misc,named";

/// The kernel command line's addition.
pub const CMDLINE: &str =
    "systemd.unit=vmtest.service systemd.show_status=0 systemd.log_level=warning";

fn dpkg_files() -> Result<Vec<String>> {
    let list = || Command::new("dpkg").arg("-L").args(PACKAGES).output();
    let mut out = list().map_err(|e| format!("dpkg -L: {e}"))?;
    if !out.status.success() {
        log("systemd guest: installing the host's systemd and dbus packages (not started)");
        run_cmd(
            Command::new("apt-get")
                .args([
                    "install",
                    "-y",
                    "--no-install-recommends",
                    "systemd",
                    "dbus",
                    "dbus-user-session",
                ])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
        out = list().map_err(|e| format!("dpkg -L: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "dpkg -L {}: {}",
                PACKAGES.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('/') && !SKIP.iter().any(|s| l.starts_with(s)))
        .map(str::to_owned)
        .collect())
}

fn is_elf(p: &Path) -> bool {
    let mut b = [0u8; 4];
    fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
        && b == *b"\x7fELF"
}

/// The libraries `ldd` lists for `files` (unresolved ones are left out: an
/// optional plugin's dependency the guest never loads).
fn libs_of(files: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut libs = Vec::new();
    for chunk in files.chunks(64) {
        let out = Command::new("ldd")
            .args(chunk)
            .output()
            .map_err(|e| format!("ldd: {e}"))?;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if line.contains("not found") || line.trim_end().ends_with(':') {
                continue;
            }
            for tok in line.split_whitespace() {
                if tok.starts_with('/') {
                    libs.push(PathBuf::from(tok));
                }
            }
        }
    }
    libs.sort();
    libs.dedup();
    Ok(libs)
}

/// Adds systemd, dbus, their libraries, users and the test unit.
pub fn add_to(ar: &mut Archive, run_script: &str) -> Result<usize> {
    let files = dpkg_files()?;
    let mut elves = Vec::new();
    let mut n = 0;
    for f in &files {
        let p = Path::new(f);
        let Ok(meta) = fs::symlink_metadata(p) else {
            continue;
        };
        // A link to a directory (`/bin` -> `usr/bin` on a merged-/usr host)
        // would replace the guest's own directory.
        if meta.file_type().is_symlink() && !p.is_dir() {
            let target = fs::read_link(p).map_err(|e| format!("{f}: {e}"))?;
            ar.add(
                f,
                Entry::Symlink {
                    target: target.to_string_lossy().into_owned(),
                },
            );
        } else if meta.is_file() {
            ar.host_file(f, p).map_err(|e| e.to_string())?;
            if is_elf(p) {
                elves.push(p.to_path_buf());
            }
        } else {
            continue;
        }
        n += 1;
    }
    for lib in libs_of(&elves)? {
        let guest = lib.to_string_lossy().into_owned();
        if !ar.contains(&guest) {
            ar.host_file(&guest, &lib).map_err(|e| e.to_string())?;
        }
    }
    ar.bytes(
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\n\
         messagebus:x:100:101::/nonexistent:/bin/false\n\
         tester:x:1000:1000::/tmp:/bin/sh\n\
         nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        0o644,
    );
    ar.bytes(
        "etc/group",
        "root:x:0:\nmessagebus:x:101:\nsystemd-journal:x:102:\ntester:x:1000:\nnogroup:x:65534:\n",
        0o644,
    );
    ar.bytes("etc/machine-id", "", 0o444);
    if let Ok(os) = fs::read("/etc/os-release") {
        ar.bytes("usr/lib/os-release", os.clone(), 0o644);
        ar.bytes("etc/os-release", os, 0o644);
    }
    ar.bytes(
        "etc/systemd/system/vmtest.service",
        "[Unit]\n\
         Description=containment vm-test\n\
         Wants=dbus.socket dbus.service\n\
         After=dbus.socket dbus.service basic.target\n\
         [Service]\n\
         Type=oneshot\n\
         ExecStart=/vmtest/run.sh\n\
         StandardInput=null\n",
        0o644,
    );
    // The user manager (`systemctl start user@1000.service`) without PAM:
    // the guest has no PAM configuration.
    ar.bytes(
        "etc/systemd/system/user@.service.d/vmtest.conf",
        "[Service]\nPAMName=\nEnvironment=XDG_RUNTIME_DIR=/run/user/%i\n",
        0o644,
    );
    ar.bytes("vmtest/run.sh", run_script, 0o755);
    Ok(n)
}

/// The second stage of the guest's `/init` in systemd mode: modules, then
/// systemd as PID 1 (it mounts /proc, /sys, /dev and the cgroup2 itself).
pub fn stage2(insmods: &str) -> String {
    format!(
        "$bb mkdir -p /mnt\n\
         $bb --install -s /bin\n\
         {insmods}\
         exec /lib/systemd/systemd\n"
    )
}
