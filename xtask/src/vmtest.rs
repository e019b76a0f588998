//! `cargo xtask vm-test`: run the VM-only test binaries as root inside a
//! throw-away QEMU VM whose kernel has only cgroup v2.
//!
//! 1. Set up (first use, as root): QEMU, firmware, Debian's cloud kernel and
//!    a static busybox are unpacked into a cache ([`crate::setup`]).
//! 2. Build: `cargo test --no-run --features vm-tests` for every `[[test]]`
//!    named `vm_*` (or those picked with `--test`), collecting executables.
//! 3. Pack an initramfs ([`crate::cpio`]): busybox, the test binaries and the
//!    shared libraries `ldd` lists, kernel modules with their dependencies,
//!    extra `--file`s, and a shell `/init`.
//! 4. Boot it under QEMU (TCG). The guest init moves into a tmpfs root
//!    (`pivot_root` fails on the initramfs rootfs), mounts cgroup2 at
//!    `/sys/fs/cgroup` with every controller enabled in the root's
//!    `cgroup.subtree_control`, loads the modules, brings `lo` up and runs
//!    each binary. Serial ports: ttyS0 = kernel console (to a log file),
//!    ttyS1 = test output (streamed to our stdout), ttyS2 = exit statuses.
//!
//! Exit status: the first non-zero test status (0 when all passed);
//! [`EXIT_TIMEOUT`] when the VM exceeded its time; [`EXIT_INFRA`] when the
//! runner or the guest failed before reporting a status (the tail of the
//! guest console is printed then).

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::cpio::{Archive, Entry};
use crate::json::Json;
use crate::setup::{self, Assets};
use crate::{cmd_output, log, Result, EXIT_INFRA, EXIT_TIMEOUT};

pub const HELP: &str = "\
cargo xtask vm-test [OPTIONS] [-- <TEST-BINARY ARGS>...]

Boots Debian's cloud kernel (6.1) under QEMU with only cgroup v2
(cgroup_no_v1=all; cgroup2 at /sys/fs/cgroup, every controller enabled in
the root's cgroup.subtree_control) and runs the VM test binaries inside it
as root. Their output streams to stdout; the exit status is the first
non-zero status of a test binary, 0 when all passed.

Builds `cargo test --no-run --features vm-tests` for every [[test]] whose
name starts with `vm_` (or those given with --test). Arguments after `--`
go to every test binary (e.g. `-- --test-threads=1 memory`).

The first run sets up, as root: `apt-get update`, `apt-get install` of the
shared libraries qemu-system-x86 links against, then `apt-get download` +
`dpkg-deb -x` of qemu-system-x86, qemu-system-common, qemu-system-data,
seabios, busybox-static and the kernel image into the cache (nothing else is
installed on the host). Later runs need neither root nor network.

Options:
      --test NAME       run this [[test]] target (repeatable; default: all vm_*)
      --bin PATH        also run this prebuilt executable (repeatable; with
                        only --bin options nothing is built)
      --file SRC[:DST]  copy a host file or directory into the guest
                        (default DST: /vmtest/files/<name of SRC>; repeatable)
      --env VAR=VALUE   set an environment variable for the tests (repeatable)
      --module NAME     also load this kernel module (repeatable)
      --release         build the tests with --release
      --timeout SECS    whole-VM time limit     [env CONTAINMENT_VMTEST_TIMEOUT, 900]
      --mem SIZE        guest memory            [env CONTAINMENT_VMTEST_MEM, 2G]
      --cpus N          guest vCPUs             [env CONTAINMENT_VMTEST_CPUS, 2]
      --keep            keep the work directory (initramfs, init, console log)
  -v, --verbose         also print the guest kernel console log
      --require-tests   fail (exit 1) when a test binary ran no passing test
      --setup-only      only set up the cache (install/download), then exit
      --systemd         boot systemd as PID 1 (the host's systemd and dbus
                        packages' files in the guest; the tests run from a
                        vmtest.service); default tests: vm_systemd*, built
                        with the `systemd` feature
  -h, --help            this text

Environment:
  CONTAINMENT_VMTEST_CACHE    cache directory (default <target-dir>/vmtest-cache)
  CONTAINMENT_VMTEST_KERNEL   Debian kernel meta package (linux-image-cloud-amd64)
  CONTAINMENT_VMTEST_MODULES  modules to load (default: veth null_blk loop overlay)
  CONTAINMENT_VMTEST_ACCEL    tcg (default) or kvm (/dev/kvm here is PVM: keep tcg)
  CONTAINMENT_VMTEST_APPEND   extra kernel command line
  RUST_BACKTRACE RUST_LOG RUST_TEST_THREADS RUST_MIN_STACK RUST_TEST_NOCAPTURE
                              passed through to the tests when set
In the guest the tests also get CONTAINMENT_IN_VM=1 and CONTAINMENT_NO_SKIP=1
(a skipped test fails). /bin/busybox (static) and its applets are in PATH.

Exit status: the guest's (first failing test binary), 124 on timeout, 125
when the runner or the VM failed (the guest console tail is printed), 2 on
bad usage.
";

const DEFAULT_MODULES: &str = "veth null_blk loop overlay";
const PASS_ENV: &[&str] = &[
    "RUST_BACKTRACE",
    "RUST_LOG",
    "RUST_TEST_THREADS",
    "RUST_MIN_STACK",
    "RUST_TEST_NOCAPTURE",
];
const BASE_CMDLINE: &str =
    "console=ttyS0 rdinit=/init panic=-1 oops=panic loglevel=4 quiet cgroup_no_v1=all psi=1 nokaslr";

/// Parsed command line.
#[derive(Debug, Default)]
pub struct Options {
    pub tests: Vec<String>,
    pub bins: Vec<PathBuf>,
    pub files: Vec<(PathBuf, String)>,
    pub envs: Vec<(String, String)>,
    pub modules: Vec<String>,
    pub release: bool,
    pub keep: bool,
    pub verbose: bool,
    pub setup_only: bool,
    pub require_tests: bool,
    /// Boot systemd as PID 1 ([`crate::vmsystemd`]).
    pub systemd: bool,
    pub timeout: Duration,
    pub mem: String,
    pub cpus: u32,
    pub args: Vec<String>,
}

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn parse_secs(v: &str, what: &str) -> Result<Duration> {
    v.parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| format!("{what}: `{v}` is not a number of seconds"))
}

/// Parses `vm-test`'s arguments; `Ok(None)` means `--help`.
pub fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Option<Options>> {
    let mut o = Options {
        timeout: parse_secs(
            &env_or("CONTAINMENT_VMTEST_TIMEOUT", "900"),
            "CONTAINMENT_VMTEST_TIMEOUT",
        )?,
        mem: env_or("CONTAINMENT_VMTEST_MEM", "2G"),
        cpus: env_or("CONTAINMENT_VMTEST_CPUS", "2")
            .parse()
            .map_err(|_| "CONTAINMENT_VMTEST_CPUS: not a number".to_owned())?,
        ..Options::default()
    };
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (a.clone(), None),
        };
        let mut value = || -> Result<String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--" => {
                o.args.extend(it.by_ref());
                break;
            }
            "--test" => o.tests.push(value()?),
            "--bin" => o.bins.push(PathBuf::from(value()?)),
            "--file" => {
                let v = value()?;
                let (src, dst) = match v.split_once(':') {
                    Some((s, d)) => (s.to_owned(), d.to_owned()),
                    None => {
                        let name = Path::new(&v)
                            .file_name()
                            .ok_or_else(|| format!("--file {v}: no file name"))?
                            .to_string_lossy()
                            .into_owned();
                        (v.clone(), format!("/vmtest/files/{name}"))
                    }
                };
                if !dst.starts_with('/') {
                    return Err(format!("--file {v}: the guest path must be absolute"));
                }
                o.files.push((PathBuf::from(src), dst));
            }
            "--env" => {
                let v = value()?;
                let (k, val) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--env {v}: expected VAR=VALUE"))?;
                if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!("--env {v}: bad variable name"));
                }
                o.envs.push((k.to_owned(), val.to_owned()));
            }
            "--module" => o.modules.push(value()?),
            "--timeout" => o.timeout = parse_secs(&value()?, "--timeout")?,
            "--mem" => o.mem = value()?,
            "--cpus" => {
                o.cpus = value()?
                    .parse()
                    .map_err(|_| "--cpus: not a number".to_owned())?
            }
            "--release" => o.release = true,
            "--keep" => o.keep = true,
            "-v" | "--verbose" => o.verbose = true,
            "--setup-only" => o.setup_only = true,
            "--require-tests" => o.require_tests = true,
            "--systemd" => o.systemd = true,
            _ => return Err(format!("unknown argument `{a}`")),
        }
    }
    Ok(Some(o))
}

/// Runs the whole thing; returns the process exit status.
pub fn run(o: &Options) -> u8 {
    match run_inner(o) {
        Ok(code) => code,
        Err(e) => {
            log(&format!("error: {e}"));
            EXIT_INFRA
        }
    }
}

fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_owned()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(workspace_root());
    c
}

/// A test binary to run in the guest.
struct TestBin {
    name: String,
    path: PathBuf,
}

fn run_inner(o: &Options) -> Result<u8> {
    let meta = cmd_output(cargo().args(["metadata", "--no-deps", "--format-version", "1"]))?;
    let meta = Json::parse(&meta)?;
    let target_dir = PathBuf::from(
        meta.get("target_directory")
            .as_str()
            .ok_or("cargo metadata: no target_directory")?,
    );
    let cache = std::env::var_os("CONTAINMENT_VMTEST_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir.join("vmtest-cache"));
    let kernel_pkg = env_or("CONTAINMENT_VMTEST_KERNEL", "linux-image-cloud-amd64");
    let build = !o.tests.is_empty() || o.bins.is_empty();
    let picked = if build {
        match pick_tests(&meta, o) {
            Ok(p) => p,
            Err(e) => {
                log(&e);
                return Ok(2);
            }
        }
    } else {
        Vec::new()
    };
    let assets = setup::ensure(&cache, &kernel_pkg)?;
    if o.setup_only {
        log(&format!(
            "cache ready: {} (kernel {}, qemu {})",
            cache.display(),
            assets.kernel_version,
            assets.qemu.display()
        ));
        return Ok(0);
    }

    // ---------------------------------------------------------------- build
    let mut bins = Vec::new();
    if build {
        bins = build_tests(&picked, o)?;
    }
    for b in &o.bins {
        if !b.is_file() {
            return Err(format!("--bin {}: no such file", b.display()));
        }
        let name = b
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        bins.push(TestBin {
            name,
            path: b.clone(),
        });
    }
    if bins.is_empty() {
        return Err("no test binaries to run".into());
    }

    // ------------------------------------------------------------ initramfs
    let t = Instant::now();
    let work = std::env::temp_dir().join(format!("containment-vmtest-{}", std::process::id()));
    fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let _cleanup = Cleanup {
        dir: work.clone(),
        keep: o.keep,
    };
    let initrd = work.join("initramfs.cpio");
    let (init, nmods) = build_initramfs(o, &assets, &bins, &initrd)?;
    fs::write(work.join("init"), &init).map_err(|e| e.to_string())?;
    let size = fs::metadata(&initrd).map(|m| m.len()).unwrap_or(0);
    log(&format!(
        "initramfs: {} binaries, {nmods} modules, {:.1} MiB, packed in {:.2}s",
        bins.len(),
        size as f64 / (1 << 20) as f64,
        t.elapsed().as_secs_f64()
    ));

    // ------------------------------------------------------------------ run
    let code = boot(o, &assets, &work, &initrd, &bins)?;
    if o.keep {
        log(&format!("work directory kept: {}", work.display()));
    }
    Ok(code)
}

struct Cleanup {
    dir: PathBuf,
    keep: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// The `(package, target)` test targets to build: every `vm_*` one, or those
/// named with `--test` (an unknown name is a usage error).
fn pick_tests(meta: &Json, o: &Options) -> Result<Vec<(String, String)>> {
    let members: BTreeSet<&str> = meta
        .get("workspace_members")
        .items()
        .iter()
        .filter_map(Json::as_str)
        .collect();
    // (package name, target name) of every test target in the workspace.
    let mut all = Vec::new();
    for p in meta.get("packages").items() {
        let id = p.get("id").as_str().unwrap_or("");
        if !members.contains(id) {
            continue;
        }
        let pkg = p.get("name").as_str().unwrap_or("");
        for t in p.get("targets").items() {
            if t.get("kind")
                .items()
                .iter()
                .any(|k| k.as_str() == Some("test"))
            {
                if let Some(name) = t.get("name").as_str() {
                    all.push((pkg.to_owned(), name.to_owned()));
                }
            }
        }
    }
    let picked: Vec<(String, String)> = if o.tests.is_empty() {
        // The systemd guest runs the vm_systemd* targets, the plain one
        // every other vm_* target.
        all.into_iter()
            .filter(|(_, n)| n.starts_with("vm_") && n.starts_with("vm_systemd") == o.systemd)
            .collect()
    } else {
        let mut v = Vec::new();
        for want in &o.tests {
            let found = all.iter().find(|(_, n)| n == want).ok_or_else(|| {
                let names: Vec<&str> = all.iter().map(|(_, n)| n.as_str()).collect();
                format!(
                    "--test {want}: no such [[test]] target (have: {})",
                    names.join(", ")
                )
            })?;
            v.push(found.clone());
        }
        v
    };
    if picked.is_empty() {
        return Err("no [[test]] target named vm_* in the workspace".into());
    }
    Ok(picked)
}

/// Builds the picked test targets and returns their executables.
fn build_tests(picked: &[(String, String)], o: &Options) -> Result<Vec<TestBin>> {
    let pkgs: BTreeSet<&str> = picked.iter().map(|(p, _)| p.as_str()).collect();
    let mut c = cargo();
    c.args([
        "test",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]);
    for p in &pkgs {
        c.args(["--package", p]);
        // The gate is this crate's own feature; packages without it are
        // built with their defaults.
        if *p == "containment" {
            c.args(["--features", "containment/vm-tests"]);
            if o.systemd {
                c.args(["--features", "containment/systemd"]);
            }
        }
    }
    for (_, t) in picked {
        c.args(["--test", t]);
    }
    if o.release {
        c.arg("--release");
    }
    let names: Vec<&str> = picked.iter().map(|(_, n)| n.as_str()).collect();
    log(&format!("building {}", names.join(", ")));
    let t = Instant::now();
    let out = c
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building the test binaries failed ({})",
            out.status
        ));
    }
    let mut bins = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = Json::parse(line) else { continue };
        if msg.get("reason").as_str() != Some("compiler-artifact")
            || msg.get("profile").get("test").as_bool() != Some(true)
        {
            continue;
        }
        let (Some(exe), Some(name)) = (
            msg.get("executable").as_str(),
            msg.get("target").get("name").as_str(),
        ) else {
            continue;
        };
        if names.contains(&name) {
            bins.push(TestBin {
                name: name.to_owned(),
                path: PathBuf::from(exe),
            });
        }
    }
    if bins.len() != picked.len() {
        return Err(format!(
            "cargo built {} of the {} test binaries asked for",
            bins.len(),
            picked.len()
        ));
    }
    log(&format!("built in {:.1}s", t.elapsed().as_secs_f64()));
    Ok(bins)
}

/// Single-quotes `s` for the guest's shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The shared objects `ldd` reports for `bin` (none for a static binary).
fn ldd_libs(bin: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(bin)
        .output()
        .map_err(|e| format!("ldd: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut libs = Vec::new();
    for line in text.lines() {
        if line.contains("not found") {
            return Err(format!("{}: ldd: {}", bin.display(), line.trim()));
        }
        for tok in line.split_whitespace() {
            if tok.starts_with('/') {
                libs.push(PathBuf::from(tok));
            }
        }
    }
    Ok(libs)
}

/// A kernel module to load in the guest.
struct Module {
    name: String,
    data: Vec<u8>,
}

/// Reads a `.ko` (decompressing `.ko.xz` / `.ko.zst` with the host tools).
fn read_module(p: &Path) -> Result<Vec<u8>> {
    let s = p.to_string_lossy();
    let tool = if s.ends_with(".xz") {
        Some("xz")
    } else if s.ends_with(".zst") {
        Some("zstd")
    } else if s.ends_with(".gz") {
        Some("gzip")
    } else {
        None
    };
    match tool {
        None => fs::read(p).map_err(|e| format!("{}: {e}", p.display())),
        Some(t) => {
            let out = Command::new(t)
                .arg("-dc")
                .arg(p)
                .output()
                .map_err(|e| format!("{t} (to unpack {s}): {e}"))?;
            if !out.status.success() {
                return Err(format!("{t} -dc {s} failed"));
            }
            Ok(out.stdout)
        }
    }
}

/// Module names (with `-` as `_`) → paths, for every module of the kernel.
fn index_modules(dir: &Path, idx: &mut Vec<(String, PathBuf)>) -> io::Result<()> {
    for e in fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        if e.file_type()?.is_dir() {
            index_modules(&p, idx)?;
        } else {
            let f = e.file_name().to_string_lossy().into_owned();
            if let Some(pos) = f.find(".ko") {
                idx.push((f[..pos].replace('-', "_"), p));
            }
        }
    }
    Ok(())
}

/// The `depends=` field of a module's `.modinfo` section.
fn module_depends(ko: &[u8]) -> Vec<String> {
    let key = b"\0depends=";
    let Some(pos) = ko.windows(key.len()).position(|w| w == key) else {
        return Vec::new();
    };
    let rest = &ko[pos + key.len()..];
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    String::from_utf8_lossy(&rest[..end])
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.replace('-', "_"))
        .collect()
}

/// Resolves `wanted` modules with their dependencies, dependencies first.
fn resolve_modules(a: &Assets, wanted: &[String]) -> Result<Vec<Module>> {
    let mut idx = Vec::new();
    index_modules(&a.modules_dir.join("kernel"), &mut idx)
        .map_err(|e| format!("{}: {e}", a.modules_dir.display()))?;
    let builtin = fs::read_to_string(a.modules_dir.join("modules.builtin")).unwrap_or_default();
    let builtin: BTreeSet<String> = builtin
        .lines()
        .filter_map(|l| l.rsplit('/').next())
        .map(|f| f.trim_end_matches(".ko").replace('-', "_"))
        .collect();
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    fn add(
        name: &str,
        idx: &[(String, PathBuf)],
        builtin: &BTreeSet<String>,
        seen: &mut BTreeSet<String>,
        out: &mut Vec<Module>,
    ) -> Result<()> {
        let name = name.replace('-', "_");
        if !seen.insert(name.clone()) || builtin.contains(&name) {
            return Ok(());
        }
        let (_, path) = idx
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| format!("kernel module {name} not found"))?;
        let data = read_module(path)?;
        for dep in module_depends(&data) {
            add(&dep, idx, builtin, seen, out)?;
        }
        out.push(Module { name, data });
        Ok(())
    }
    for w in wanted {
        add(w, &idx, &builtin, &mut seen, &mut out)?;
    }
    Ok(out)
}

/// Packs the initramfs into `dest`; returns the init script and the number
/// of modules.
fn build_initramfs(
    o: &Options,
    a: &Assets,
    bins: &[TestBin],
    dest: &Path,
) -> Result<(String, usize)> {
    let mut ar = Archive::new();
    for d in [
        "bin",
        "sbin",
        "proc",
        "sys",
        "dev",
        "tmp",
        "run",
        "etc",
        "root",
        "mnt",
        "vmtest/bin",
        "lib/modules",
    ] {
        ar.dir(d);
    }
    ar.add("tmp", Entry::Dir { mode: 0o1777 });
    ar.add(
        "dev/console",
        Entry::CharDev {
            mode: 0o600,
            major: 5,
            minor: 1,
        },
    );
    ar.host_file("bin/busybox", &a.busybox)
        .map_err(|e| e.to_string())?;
    ar.bytes(
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        0o644,
    );
    ar.bytes("etc/group", "root:x:0:\nnogroup:x:65534:\n", 0o644);
    ar.bytes(
        "etc/hosts",
        "127.0.0.1 localhost vmtest\n::1 localhost\n",
        0o644,
    );

    for b in bins {
        ar.host_file(&format!("vmtest/bin/{}", b.name), &b.path)
            .map_err(|e| e.to_string())?;
        for lib in ldd_libs(&b.path)? {
            let guest = lib.to_string_lossy().into_owned();
            if !ar.contains(&guest) {
                ar.host_file(&guest, &lib).map_err(|e| e.to_string())?;
            }
        }
    }
    for (src, dst) in &o.files {
        ar.host_tree(dst, src)
            .map_err(|e| format!("--file {}: {e}", src.display()))?;
    }

    let mut wanted: Vec<String> = env_or("CONTAINMENT_VMTEST_MODULES", DEFAULT_MODULES)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    wanted.extend(o.modules.iter().cloned());
    let modules = resolve_modules(a, &wanted)?;
    for m in &modules {
        ar.bytes(&format!("lib/modules/{}.ko", m.name), m.data.clone(), 0o644);
    }

    let init = init_script(o, bins, &modules);
    ar.bytes("init", init.clone(), 0o755);
    if o.systemd {
        let n = crate::vmsystemd::add_to(&mut ar, &run_script(o, bins, true))?;
        log(&format!(
            "systemd guest: {n} files of the systemd and dbus packages"
        ));
    }

    let f = fs::File::create(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    let mut w = BufWriter::new(f);
    ar.write_to(&mut w)
        .and_then(|_| w.flush())
        .map_err(|e| format!("writing {}: {e}", dest.display()))?;
    Ok((init, modules.len()))
}

/// The guest's PID 1 (a busybox shell script).
fn init_script(o: &Options, bins: &[TestBin], modules: &[Module]) -> String {
    let insmods: String = modules
        .iter()
        .map(|m| {
            format!(
                "insmod /lib/modules/{0}.ko || say \"insmod {0} failed\"\n",
                m.name
            )
        })
        .collect();
    if o.systemd {
        let insmods: String = modules
            .iter()
            .map(|m| format!("$bb insmod /lib/modules/{}.ko\n", m.name))
            .collect();
        return format!(
            r#"#!/bin/busybox sh
# PID 1 of the vm-test guest (systemd mode), generated by `cargo xtask vm-test`.
export PATH=/bin:/sbin HOME=/root
bb=/bin/busybox
if [ ! -e /.stage2 ]; then
  $bb mount -t tmpfs -o mode=0755 vmroot /mnt
  for e in /* /.[!.]*; do [ -e "$e" ] && [ "$e" != /mnt ] && $bb cp -a "$e" /mnt/; done
  $bb touch /mnt/.stage2
  exec $bb switch_root /mnt /init
fi
{}"#,
            crate::vmsystemd::stage2(&insmods)
        );
    }
    let run = run_script(o, bins, false);
    format!(
        r#"#!/bin/busybox sh
# PID 1 of the vm-test guest, generated by `cargo xtask vm-test`.
export PATH=/bin:/sbin HOME=/root
bb=/bin/busybox
if [ ! -e /.stage2 ]; then
  # Stage 1: the initramfs is the special "rootfs" mount, on which
  # pivot_root(2) fails with EINVAL. Copy everything into a real tmpfs and
  # switch_root there, so tests can pivot_root as on a normal host.
  $bb mount -t tmpfs -o mode=0755 vmroot /mnt
  for e in /* /.[!.]*; do [ -e "$e" ] && [ "$e" != /mnt ] && $bb cp -a "$e" /mnt/; done
  $bb touch /mnt/.stage2
  exec $bb switch_root /mnt /init
fi
$bb mkdir -p /mnt
$bb --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
stty -F /dev/ttyS1 raw -echo
stty -F /dev/ttyS2 raw -echo
say() {{ echo "vm-test: $*" >/dev/ttyS1; }}
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs shm /dev/shm
mount -t mqueue mqueue /dev/mqueue
mount -t tmpfs -o mode=1777 tmp /tmp
mount -t tmpfs run /run
# Pure cgroup v2 (the kernel runs with cgroup_no_v1=all).
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || say "cannot mount cgroup2"
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
  echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control || say "cannot enable controller $c"
done
hostname vmtest
ip link set lo up || say "cannot bring lo up"
{insmods}{run}"#
    )
}

/// The part of the guest's script that reports and runs the tests: the
/// tail of `/init`, or `/vmtest/run.sh` started by systemd.
fn run_script(o: &Options, bins: &[TestBin], systemd: bool) -> String {
    let mut env = vec![
        ("CONTAINMENT_IN_VM".to_owned(), "1".to_owned()),
        ("CONTAINMENT_NO_SKIP".to_owned(), "1".to_owned()),
    ];
    for v in PASS_ENV {
        if let Ok(val) = std::env::var(v) {
            env.push((v.to_string(), val));
        }
    }
    env.extend(o.envs.iter().cloned());
    let exports: String = env
        .iter()
        .map(|(k, v)| format!("export {k}={}\n", sh_quote(v)))
        .collect();
    let args: String = o.args.iter().map(|a| format!(" {}", sh_quote(a))).collect();
    let runs: String = bins
        .iter()
        .map(|b| format!("run_test {} /vmtest/bin/{}\n", sh_quote(&b.name), b.name))
        .collect();
    let (head, what) = if systemd {
        (
            "#!/bin/sh\n\
             export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root\n\
             stty -F /dev/ttyS1 raw -echo\n\
             stty -F /dev/ttyS2 raw -echo\n\
             say() { echo \"vm-test: $*\" >/dev/ttyS1; }\n",
            " under systemd $(systemctl --version | head -n1 | cut -d' ' -f2)",
        )
    } else {
        ("", "")
    };
    format!(
        r#"{head}read up _ < /proc/uptime
say "guest up: kernel $(uname -r), uptime ${{up}}s, $(nproc) cpus{what}, controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
{exports}cd /tmp
rc=0
run_test() {{
  name=$1; shift
  say "running $name"
  "$@"{args} </dev/null >/dev/ttyS1 2>&1
  r=$?
  echo "test $name $r" >/dev/ttyS2
  [ $rc = 0 ] && rc=$r
}}
{runs}echo "end $rc" >/dev/ttyS2
sync
poweroff -f
"#
    )
}

/// What the host saw on the test-output port.
#[derive(Default, Debug)]
struct Seen {
    booted: Option<Instant>,
    passed: u64,
    failed: u64,
    ignored: u64,
    results: u64,
    /// Per test binary (in the order run): name, passed, `test result:` lines.
    bins: Vec<(String, u64, u64)>,
}

fn scan_line(line: &str, seen: &mut Seen) {
    if line.starts_with("vm-test: guest up") && seen.booted.is_none() {
        seen.booted = Some(Instant::now());
    }
    if let Some(name) = line.strip_prefix("vm-test: running ") {
        seen.bins.push((name.trim().to_owned(), 0, 0));
    }
    if let Some(rest) = line.find("test result: ").map(|p| &line[p..]) {
        seen.results += 1;
        if let Some(b) = seen.bins.last_mut() {
            b.2 += 1;
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        for w in words.windows(2) {
            let n: u64 = w[0].parse().unwrap_or(0);
            match w[1].trim_end_matches([';', ',']) {
                "passed" => {
                    seen.passed += n;
                    if let Some(b) = seen.bins.last_mut() {
                        b.1 += n;
                    }
                }
                "failed" => seen.failed += n,
                "ignored" => seen.ignored += n,
                _ => {}
            }
        }
    }
}

fn print_tail(path: &Path, lines: usize) {
    // `quiet` keeps a healthy boot silent; an empty log is not an error.
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let n = all.len().min(lines);
    log(&format!("---- guest console (last {n} lines) ----"));
    for l in &all[all.len().saturating_sub(lines)..] {
        eprintln!("{}", l.trim_end_matches('\r'));
    }
    log("---- end of guest console ----");
}

fn boot(o: &Options, a: &Assets, work: &Path, initrd: &Path, bins: &[TestBin]) -> Result<u8> {
    let console = work.join("console.log");
    let status = work.join("status");
    let accel = env_or("CONTAINMENT_VMTEST_ACCEL", "tcg");
    let (accel_opt, cpu) = if accel == "kvm" {
        ("kvm", "host")
    } else {
        ("tcg,thread=multi", "max")
    };
    let mut cmdline = BASE_CMDLINE.to_owned();
    if o.systemd {
        // The systemd guest leaves one controller that has no v2
        // interface, freezer, free for a cgroup v1 hierarchy: the join-cost
        // bench mounts it in a mount namespace of its own (v1, v2 and
        // systemd in one run). Nothing else mounts it, so the host the
        // other tests see stays pure v2.
        cmdline = cmdline.replace("cgroup_no_v1=all", crate::vmsystemd::CGROUP_NO_V1);
        cmdline.push(' ');
        cmdline.push_str(crate::vmsystemd::CMDLINE);
    }
    if let Ok(extra) = std::env::var("CONTAINMENT_VMTEST_APPEND") {
        cmdline.push(' ');
        cmdline.push_str(&extra);
    }
    let mut q = Command::new(&a.qemu);
    q.env("QEMU_MODULE_DIR", &a.qemu_module_dir);
    for d in &a.firmware_dirs {
        q.arg("-L").arg(d);
    }
    q.args(["-machine", "pc", "-accel", accel_opt, "-cpu", cpu])
        .args(["-smp", &o.cpus.to_string(), "-m", &o.mem])
        .args([
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-no-reboot",
        ])
        .arg("-kernel")
        .arg(&a.kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", &cmdline])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .args([
            "-chardev",
            "stdio,id=out,signal=off",
            "-serial",
            "chardev:out",
        ])
        .arg("-serial")
        .arg(format!("file:{}", status.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    log(&format!(
        "booting kernel {} (accel {accel}, {} vCPUs, {} RAM, timeout {}s)",
        a.kernel_version,
        o.cpus,
        o.mem,
        o.timeout.as_secs()
    ));
    let start = Instant::now();
    let mut child = q
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", a.qemu.display()))?;
    let mut out = child.stdout.take().ok_or("qemu: no stdout pipe")?;
    let reader = thread::spawn(move || {
        let mut seen = Seen::default();
        let mut buf = [0u8; 8192];
        let mut line = Vec::new();
        let stdout = io::stdout();
        loop {
            let n = match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut so = stdout.lock();
            let _ = so.write_all(&buf[..n]);
            let _ = so.flush();
            for &b in &buf[..n] {
                if b == b'\n' {
                    scan_line(
                        String::from_utf8_lossy(&line).trim_end_matches('\r'),
                        &mut seen,
                    );
                    line.clear();
                } else {
                    line.push(b);
                }
            }
        }
        if !line.is_empty() {
            scan_line(&String::from_utf8_lossy(&line), &mut seen);
        }
        seen
    });
    let deadline = start + o.timeout;
    let mut timed_out = false;
    let qstatus = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("waiting for qemu: {e}"));
            }
        }
    };
    let wall = start.elapsed();
    let seen = reader.join().unwrap_or_default();
    if o.verbose {
        print_tail(&console, usize::MAX);
    }
    if timed_out {
        log(&format!(
            "TIMEOUT: the VM ran longer than {}s and was killed",
            o.timeout.as_secs()
        ));
        if !o.verbose {
            print_tail(&console, 60);
        }
        return Ok(EXIT_TIMEOUT);
    }
    // Per-binary statuses and the overall one, from the status port.
    let st = fs::read_to_string(&status).unwrap_or_default();
    let mut end = None;
    let mut per_bin = Vec::new();
    for l in st
        .lines()
        .map(|l| l.trim_matches(|c: char| c.is_whitespace() || c == '\0'))
    {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w.as_slice() {
            ["test", name, rc] => per_bin.push((name.to_string(), rc.parse::<i64>().unwrap_or(-1))),
            ["end", rc] => end = rc.parse::<i64>().ok(),
            _ => {}
        }
    }
    let Some(end) = end else {
        log(&format!(
            "the guest reported no final status (qemu exited with {}; {} of {} test binaries reported)",
            qstatus.map(|s| s.to_string()).unwrap_or_else(|| "?".into()),
            per_bin.len(),
            bins.len()
        ));
        if !o.verbose {
            print_tail(&console, 60);
        }
        return Ok(EXIT_INFRA);
    };
    let mut empty = Vec::new();
    for (name, rc) in &per_bin {
        let (passed, results) = seen
            .bins
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, p, r)| (*p, *r))
            .unwrap_or((0, 0));
        if passed == 0 {
            empty.push(name.as_str());
        }
        let verdict = if *rc == 0 {
            "ok".to_owned()
        } else {
            format!("FAILED (exit status {rc})")
        };
        log(&format!(
            "{name}: {verdict}, {passed} passed ({results} `test result:` lines)"
        ));
    }
    let boot = seen
        .booted
        .map(|t| format!("{:.2}s", (t - start).as_secs_f64()))
        .unwrap_or_else(|| "?".into());
    log(&format!(
        "summary: {} passed, {} failed, {} ignored ({} test results from {} binaries); boot {boot}, VM wall time {:.2}s",
        seen.passed,
        seen.failed,
        seen.ignored,
        seen.results,
        per_bin.len(),
        wall.as_secs_f64()
    ));
    if let Some(s) = a.setup_secs {
        log(&format!("(first-use setup took {s:.1}s)"));
    }
    if end != 0 {
        return Ok(u8::try_from(end).ok().filter(|c| *c != 0).unwrap_or(1));
    }
    if o.require_tests && !empty.is_empty() {
        log(&format!(
            "FAILED: no test passed in {} (--require-tests)",
            empty.join(", ")
        ));
        return Ok(1);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn args() {
        let o = parse_args(
            [
                "--test",
                "vm_smoke",
                "--file=/etc/hosts",
                "--file",
                "/x:/y/z",
                "--env",
                "A=b=c",
                "--keep",
                "--",
                "--exact",
                "t",
            ]
            .into_iter()
            .map(String::from),
        )
        .unwrap()
        .unwrap();
        assert_eq!(o.tests, ["vm_smoke"]);
        assert_eq!(
            o.files,
            [
                (
                    PathBuf::from("/etc/hosts"),
                    "/vmtest/files/hosts".to_owned()
                ),
                (PathBuf::from("/x"), "/y/z".to_owned())
            ]
        );
        assert_eq!(o.envs, [("A".to_owned(), "b=c".to_owned())]);
        assert!(o.keep);
        assert_eq!(o.args, ["--exact", "t"]);
        assert!(parse_args(["--help"].into_iter().map(String::from))
            .unwrap()
            .is_none());
        assert!(parse_args(["--bogus"].into_iter().map(String::from)).is_err());
        assert!(parse_args(["--file", "rel:dst"].into_iter().map(String::from)).is_err());
    }

    #[test]
    fn result_lines() {
        let mut s = Seen::default();
        scan_line("test result: ok. 3 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.01s", &mut s);
        scan_line("test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s", &mut s);
        assert_eq!((s.passed, s.failed, s.ignored, s.results), (4, 1, 2, 2));
        scan_line("vm-test: running vm_a", &mut s);
        scan_line("test result: ok. 2 passed; 0 failed; 0 ignored", &mut s);
        scan_line("vm-test: running vm_b", &mut s);
        assert_eq!(
            s.bins,
            [("vm_a".to_owned(), 2, 1), ("vm_b".to_owned(), 0, 0)]
        );
    }

    #[test]
    fn modinfo_depends() {
        let ko = b"xx\0license=GPL\0depends=libcrc32c,nf-conntrack\0vermagic=6.1\0";
        assert_eq!(module_depends(ko), ["libcrc32c", "nf_conntrack"]);
        assert!(module_depends(b"\0depends=\0").is_empty());
        assert!(module_depends(b"nothing").is_empty());
    }
}
