//! Real images made by tools nobody here wrote, made once per CI run (per
//! day) and shared by the tests and benches that use them:
//!
//! - a Debian bookworm minbase root by `debootstrap --variant=minbase`;
//! - that root packed as an OCI image layout by `umoci`;
//! - a multi-layer image by `docker build` (a private `dockerd`, the classic
//!   builder): `FROM scratch`, the root, then a layer that deletes files and
//!   a directory and replaces another directory (whiteouts and an opaque
//!   directory), then a hard link to a lower layer's file; `docker save`d;
//! - a registry (`docker-registry` on 127.0.0.1) the test starts, to which
//!   `skopeo` pushes the saved image.
//!
//! Each is made in a temporary directory of the cache
//! (`target/tmp/image-fixtures/`, keyed by the date) and renamed into
//! place when complete, under an `flock` so concurrent test binaries make
//! it once. Nothing of it is committed.

#![allow(dead_code)]

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

/// The image name and tag the fixtures use.
pub const DOCKER_TAG: &str = "containment-real:bookworm";
/// The tag in the umoci layout.
pub const UMOCI_TAG: &str = "bookworm";

/// What the `RUN` layer of the docker image does (sh -c).
pub const DELETE_STEP: &str = "rm -rf /usr/share/doc /var/lib/apt/lists \
    && rm /usr/bin/apt-cache /etc/debian_version \
    && rm -rf /etc/apt/apt.conf.d && mkdir /etc/apt/apt.conf.d \
    && echo '// only this' > /etc/apt/apt.conf.d/99only-this \
    && echo layer3 > /etc/containment-layer";

fn cache_root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("image-fixtures")
}

fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Whether each program is installed.
pub fn have(programs: &[&str]) -> Result<(), String> {
    for p in programs {
        let found = std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).any(|d| d.join(p).is_file()))
            .unwrap_or(false)
            || Path::new("/usr/sbin").join(p).is_file();
        if !found {
            return Err(format!(
                "{p} is not installed (cargo xtask test installs it)"
            ));
        }
    }
    Ok(())
}

fn sh(cmd: &mut Command) -> Result<String, String> {
    let o = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "{cmd:?}: {}\nstdout: {}\nstderr: {}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// `cache/NAME-<date>`, made by `make(tmp)` once: under an flock on
/// `cache/NAME.lock` (other processes), a mutex (other threads), in
/// `cache/NAME-<date>.tmp-<pid>`, renamed into place when `make`
/// succeeded. Older dates of NAME are removed.
fn cached(name: &str, make: impl FnOnce(&Path) -> Result<(), String>) -> Result<PathBuf, String> {
    static THREADS: Mutex<()> = Mutex::new(());
    let _t = THREADS.lock().unwrap_or_else(|e| e.into_inner());
    let root = cache_root();
    fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let done = root.join(format!("{name}-{}", today()));
    if done.exists() {
        return Ok(done);
    }
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(root.join(format!("{name}.lock")))
        .map_err(|e| e.to_string())?;
    // SAFETY: a valid fd; blocks while another process makes it.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    if done.exists() {
        return Ok(done);
    }
    for e in fs::read_dir(&root).map_err(|e| e.to_string())?.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(&format!("{name}-")) && !n.ends_with(".lock") {
            let _ = fs::remove_dir_all(e.path());
        }
    }
    let tmp = root.join(format!("{name}-{}.tmp-{}", today(), std::process::id()));
    fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    match make(&tmp) {
        Ok(()) => {
            fs::rename(&tmp, &done).map_err(|e| e.to_string())?;
            eprintln!(
                "image fixture {} made in {:.1} s",
                done.display(),
                started.elapsed().as_secs_f64()
            );
            Ok(done)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

/// The Debian bookworm minbase root (`<dir>/root`), by debootstrap from
/// `$CONTAINMENT_DEBIAN_MIRROR` (default deb.debian.org).
pub fn debootstrap_root() -> Result<PathBuf, String> {
    have(&["debootstrap"])?;
    let dir = cached("debootstrap-bookworm", |tmp| {
        let mirror = std::env::var("CONTAINMENT_DEBIAN_MIRROR")
            .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
        sh(Command::new("debootstrap")
            .args(["--variant=minbase", "bookworm"])
            .arg(tmp.join("root"))
            .arg(mirror))
        .map(drop)
    })?;
    Ok(dir.join("root"))
}

/// The root packed by umoci as one layer: an OCI layout (`<dir>/oci`,
/// tag [`UMOCI_TAG`], Cmd `/bin/bash`).
pub fn umoci_layout() -> Result<PathBuf, String> {
    have(&["umoci"])?;
    let root = debootstrap_root()?;
    let dir = cached("umoci-bookworm", |tmp| {
        let oci = tmp.join("oci");
        let image = format!("{}:{UMOCI_TAG}", oci.display());
        sh(Command::new("umoci").args(["init", "--layout"]).arg(&oci))?;
        sh(Command::new("umoci").args(["new", "--image", &image]))?;
        sh(Command::new("umoci")
            .args(["insert", "--image", &image])
            .arg(&root)
            .arg("/"))?;
        sh(Command::new("umoci").args([
            "config",
            "--image",
            &image,
            "--config.cmd",
            "/bin/bash",
            "--config.env",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ]))
        .map(drop)
    })?;
    Ok(dir.join("oci"))
}

/// A private dockerd (state, sockets and cgroup parent of its own), killed
/// by its pid on drop; what it leaves on the host is removed when it was
/// not there before.
pub struct Dockerd {
    child: Child,
    run: PathBuf,
    cgroup: String,
    leftovers: Vec<PathBuf>,
}

impl Dockerd {
    /// Starts dockerd with its data root in `data`.
    pub fn start(data: &Path) -> Result<Dockerd, String> {
        have(&["dockerd", "containerd", "runc"])?;
        let id = format!("cm-dockerd-{}", std::process::id());
        let run = PathBuf::from("/tmp").join(&id);
        let _ = fs::remove_dir_all(&run);
        fs::create_dir_all(run.join("config")).map_err(|e| e.to_string())?;
        fs::write(run.join("daemon.json"), "{}").map_err(|e| e.to_string())?;
        let leftovers = [
            "/etc/docker/key.json",
            "/run/docker",
            "/run/containerd",
            "/var/lib/docker",
        ]
        .iter()
        .map(PathBuf::from)
        .filter(|p| !p.exists())
        .collect();
        let log = File::create(run.join("log")).map_err(|e| e.to_string())?;
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(data)
            .arg("--exec-root")
            .arg(run.join("e"))
            .arg("-H")
            .arg(format!("unix://{}", run.join("s").display()))
            .arg("--pidfile")
            .arg(run.join("pid"))
            .arg("--config-file")
            .arg(run.join("daemon.json"))
            .args([
                "--iptables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--bridge=none",
            ])
            .arg(format!("--cgroup-parent=/{id}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("dockerd: {e}"))?;
        let d = Dockerd {
            child,
            run,
            cgroup: id,
            leftovers,
        };
        for _ in 0..600 {
            if d.docker(&["version"]).is_ok() {
                return Ok(d);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Err(format!(
            "dockerd did not start: {}",
            fs::read_to_string(d.run.join("log")).unwrap_or_default()
        ))
    }

    /// Runs Debian's docker client (not whichever is first on PATH) on
    /// this daemon, the classic builder.
    pub fn docker(&self, args: &[&str]) -> Result<String, String> {
        sh(Command::new("/usr/bin/docker")
            .args(args)
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.run.join("s").display()),
            )
            .env("DOCKER_CONFIG", self.run.join("config"))
            .env("DOCKER_BUILDKIT", "0"))
    }
}

fn rmdir_tree(p: &Path) {
    if let Ok(rd) = fs::read_dir(p) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                rmdir_tree(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(p);
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM: dockerd stops its containerd and unmounts its layers.
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.run);
        // The --cgroup-parent directories, in every hierarchy.
        if let Ok(mi) = fs::read_to_string("/proc/self/mountinfo") {
            for l in mi.lines() {
                let f: Vec<&str> = l.split(' ').collect();
                let Some(sep) = f.iter().position(|x| *x == "-") else {
                    continue;
                };
                if matches!(f.get(sep + 1), Some(&"cgroup") | Some(&"cgroup2")) {
                    rmdir_tree(&Path::new(f[4]).join(&self.cgroup));
                }
            }
        }
        for p in &self.leftovers {
            let _ = fs::remove_dir_all(p).or_else(|_| fs::remove_file(p));
        }
    }
}

/// The `docker build` image, `docker save`d (`<dir>/image.tar`): layer 1
/// the debootstrap root (`ADD rootfs.tar /`), layer 2 [`DELETE_STEP`],
/// layer 3 a hard link to layer 2's `/etc/containment-layer`.
pub fn docker_archive() -> Result<PathBuf, String> {
    have(&["dockerd"])?;
    let root = debootstrap_root()?;
    let dir = cached("docker-bookworm", |tmp| {
        let ctx = tmp.join("ctx");
        fs::create_dir_all(&ctx).map_err(|e| e.to_string())?;
        sh(Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(ctx.join("rootfs.tar"))
            .args(["--numeric-owner", "--xattrs", "."]))?;
        fs::write(
            ctx.join("Dockerfile"),
            format!(
                "FROM scratch\nADD rootfs.tar /\nRUN {DELETE_STEP}\n\
                 RUN ln /etc/containment-layer /etc/containment-hardlink\n\
                 ENV CONTAINMENT_IMAGE=docker-build\nCMD [\"/bin/bash\"]\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let data = tmp.join("dockerd");
        let d = Dockerd::start(&data)?;
        let res = d
            .docker(&[
                "build",
                "--network",
                "none",
                "-t",
                DOCKER_TAG,
                &ctx.to_string_lossy(),
            ])
            .and_then(|_| {
                d.docker(&[
                    "save",
                    "-o",
                    &tmp.join("image.tar").to_string_lossy(),
                    DOCKER_TAG,
                ])
            });
        drop(d);
        let _ = fs::remove_dir_all(&data);
        let _ = fs::remove_dir_all(&ctx);
        res.map(drop)
    })?;
    Ok(dir.join("image.tar"))
}

/// A registry server on 127.0.0.1, killed (by its pid) on drop.
pub struct Registry {
    child: Child,
    /// Its work directory.
    pub dir: PathBuf,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Registry {
    /// Starts Debian's `docker-registry` on a free port of 127.0.0.1.
    pub fn start(dir: PathBuf) -> Result<Registry, String> {
        have(&["docker-registry"])?;
        fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let addr = format!("127.0.0.1:{port}");
        fs::write(
            dir.join("config.yml"),
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                dir.join("data").display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let log = File::create(dir.join("log")).map_err(|e| e.to_string())?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| e.to_string())?;
        let reg = Registry { child, dir, addr };
        for _ in 0..600 {
            if let Ok(mut s) = std::net::TcpStream::connect(&reg.addr) {
                let _ = write!(s, "GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", reg.addr);
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                if out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.0 200") {
                    return Ok(reg);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Err(format!(
            "the registry did not start: {}",
            fs::read_to_string(reg.dir.join("log")).unwrap_or_default()
        ))
    }

    /// Pushes a `docker save` archive's image with skopeo as
    /// `ADDR/NAME` (plain HTTP).
    pub fn push_archive(&self, archive: &Path, image: &str, name: &str) -> Result<String, String> {
        have(&["skopeo"])?;
        let policy = self.dir.join("policy.json");
        fs::write(
            &policy,
            r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )
        .map_err(|e| e.to_string())?;
        let reference = format!("{}/{name}", self.addr);
        sh(Command::new("skopeo")
            .arg("--policy")
            .arg(&policy)
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .arg(format!("docker-archive:{}:{image}", archive.display()))
            .arg(format!("docker://{reference}")))?;
        Ok(reference)
    }
}
