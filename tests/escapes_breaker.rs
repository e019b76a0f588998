//! Attacks on the issue-11 fixes by someone who did not write them: the
//! container's root filesystem, image and program are the attacker's
//! (and, for races, another container already running on the same root).
//! Each test asserts the safe outcome: a test that fails is a hole. (root)

#[macro_use]
mod common;

use containment::caps::{CapSet, Capabilities};
use containment::{Container, Namespaces, Stdio};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const NS: Namespaces = Namespaces::MOUNT.union(Namespaces::PID);

use common::TempDir;

fn busybox() -> Option<PathBuf> {
    common::busybox::find()
}

macro_rules! require_busybox {
    () => {
        require!(
            busybox().is_some(),
            "busybox-static is not installed (cargo xtask test installs it)"
        );
    };
}

/// A busybox root (every applet) under `dir/root`.
fn busybox_root(dir: &Path) -> PathBuf {
    common::busybox::root(dir)
}

use common::busybox::compile_static;

fn cap_eff(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(u64::MAX)
}

/// A joined mount namespace is the container's filesystem, not the
/// caller's: a `docker exec` of the container's own (attacker-replaced)
/// `/bin/sh` must not run with every capability of the caller (host root:
/// CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_DAC_READ_SEARCH, CAP_MKNOD of the
/// host's user namespace), when the container itself has docker's set.
#[test]
fn joined_program_does_not_keep_every_capability() {
    require_root!();
    require_busybox!();
    let dir = TempDir::new("joincaps");
    let root = busybox_root(&dir.0);
    for (container_caps, want) in [
        // Docker's set less CAP_MKNOD (27): no device rules here.
        (None, CapSet::docker_default().bits() & !(1 << 27)),
        (Some(Capabilities::none()), 0),
    ] {
        let mut b = Container::new().root(&root).unshare(NS);
        if let Some(c) = container_caps {
            b = b.capabilities(c);
        }
        let mut target = b.command("/bin/sleep").arg("60").spawn().unwrap();
        let out = Container::new()
            .join_child(&target, NS)
            .command("/bin/cat")
            .args(["/proc/self/status"])
            .output();
        let target_status =
            std::fs::read_to_string(format!("/proc/{}/status", target.id())).unwrap();
        target.kill().unwrap();
        target.wait().unwrap();
        let out = out.unwrap();
        let joined = cap_eff(&String::from_utf8_lossy(&out.stdout));
        let container = cap_eff(&target_status);
        assert_eq!(container, want, "{target_status}");
        assert_eq!(
            joined & !container,
            0,
            "the joined program (the container's own /bin/cat) runs with capabilities the \
             container does not have: CapEff {joined:#x} vs the container's {container:#x}"
        );
    }
}

/// The attacker inside the container: a static program that watches the
/// PID namespace's last pid and tries to open `/proc/<pid>/fd/N` (N >= 3)
/// of every new process (a joining one), recording every descriptor it got
/// in /tmp/stolen. Bounded: stops at /tmp/stop or after ~2^31 tries.
const FD_THIEF: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <errno.h>
#include <sys/stat.h>
static int last_pid(void) {
    char b[32] = {0};
    int f = open("/proc/sys/kernel/ns_last_pid", O_RDONLY);
    if (f < 0) return -1;
    int n = read(f, b, sizeof b - 1);
    close(f);
    return n > 0 ? atoi(b) : -1;
}
int main(void) {
    int out = open("/tmp/stolen", O_WRONLY | O_CREAT | O_APPEND, 0644);
    int me = getpid();
    char path[64], line[160];
    int procs = getenv("THIEVES") ? atoi(getenv("THIEVES")) : 1;
    for (int i = 1; i < procs && i < 8; i++) if (fork() == 0) break;
    close(open("/tmp/ready", O_WRONLY | O_CREAT, 0644));
    for (long round = 0; round < (1L << 31); round++) {
        if ((round & 0x3ff) == 0 && access("/tmp/stop", F_OK) == 0) break;
        int l = last_pid();
        /* The thieves are pids 1..=8 of the namespace. */
        if (l <= 8 || l == me) continue;
        for (int k = 0; k < 400; k++) {
            for (int n = 3; n < 8; n++) {
                snprintf(path, sizeof path, "/proc/%d/fd/%d", l, n);
                int f = open(path, O_RDONLY | O_NONBLOCK);
                if (f < 0) continue;
                struct stat st;
                fstat(f, &st);
                char exe[64] = {0};
                snprintf(path, sizeof path, "/proc/%d/cmdline", l);
                int c = open(path, O_RDONLY);
                if (c >= 0) { read(c, exe, sizeof exe - 1); close(c); }
                int len = snprintf(line, sizeof line, "pid %d fd %d mode %o cmd %s\n", l, n,
                                   st.st_mode, exe);
                write(out, line, len);
                close(f);
            }
        }
    }
    return 0;
}
"#;

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// CVE-2016-9962 kind: the joining process, once it has exec'd the sealed
/// helper, is dumpable again (execve resets the flag) until the helper's
/// first instruction makes it not: a process of the container with the
/// same uid and capabilities can open the helper's descriptors through
/// `/proc/<pid>/fd` meanwhile: the error pipe (held open, `spawn()` never
/// sees EOF and hangs; written, it reports a forged failure).
#[test]
fn joiner_descriptors_are_never_reachable_from_the_container() {
    require_root!();
    require_busybox!();
    let dir = TempDir::new("thief");
    let root = busybox_root(&dir.0);
    require!(
        compile_static(FD_THIEF, &root.join("thief")),
        "gcc with a static libc is needed to build the attacker"
    );
    let mut target = Container::new()
        .root(&root)
        .unshare(NS)
        .command("/thief")
        .env(
            "THIEVES",
            std::env::var("BRK_THIEVES").unwrap_or("4".into()),
        )
        .spawn()
        .unwrap();
    wait_for(&root.join("tmp/ready"));
    let mut errors = Vec::new();
    let nargs: usize = std::env::var("BRK_NARGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let args: Vec<String> = (0..nargs).map(|i| i.to_string()).collect();
    for _ in 0..300 {
        let r = Container::new()
            .join_child(&target, NS)
            .capabilities(Capabilities::docker_default())
            .command("/bin/true")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Err(e) = r {
            errors.push(e.to_string());
        }
    }
    std::fs::write(root.join("tmp/stop"), b"").unwrap();
    let _ = target.kill();
    target.wait().unwrap();
    let stolen = std::fs::read_to_string(root.join("tmp/stolen")).unwrap_or_default();
    assert!(
        stolen.is_empty(),
        "a process of the container opened descriptors of joining processes:\n{}",
        stolen.lines().take(20).collect::<Vec<_>>().join("\n")
    );
    assert!(errors.is_empty(), "{errors:?}");
}

// ------------------------------------------------ die_with_parent vs setuid

const ROLE: &str = "BRK_ROLE";

/// Role: spawns a container with `die_with_parent(true)` whose program is
/// `BRK_PROGRAM` in the root `BRK_ROOT`, as uid 1000, prints its pid and
/// waits to be killed.
#[test]
fn role_dwp_setuid() {
    if std::env::var(ROLE).as_deref() != Ok("dwp_setuid") {
        return;
    }
    let root = std::env::var("BRK_ROOT").unwrap();
    let program = std::env::var("BRK_PROGRAM").unwrap();
    let marker = std::env::var("BRK_MARKER").unwrap();
    let c = Container::new()
        .init(std::env::var_os("BRK_INIT").is_some())
        .root(&root)
        .unshare(NS)
        .die_with_parent(true)
        .command(&program)
        .args(["sh", "-c", &format!("sleep 30; echo {marker}")])
        .uid(1000)
        .gid(1000)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    println!("PID {}", c.id());
    std::mem::forget(c);
    std::thread::sleep(Duration::from_secs(60));
}

/// The kernel clears `PR_SET_PDEATHSIG` at the exec of a set-user-ID (or
/// file-capability) program: an image whose entry program is setuid keeps
/// its container running after the caller died, although it asked for
/// `die_with_parent(true)`. Found by this file; not fixed (see the report):
/// run it with `--ignored` to see it.
#[test]
#[ignore = "open hole: PR_SET_PDEATHSIG is cleared by the exec of a setuid program"]
fn die_with_parent_holds_with_a_setuid_program_of_the_image() {
    dwp_setuid(false);
}

/// The same with an init: PID 1 is the sealed helper, exec'd before any
/// set-user-ID program, so it keeps the signal, and its death ends the PID
/// namespace.
#[test]
fn die_with_parent_holds_with_a_setuid_program_under_an_init() {
    dwp_setuid(true);
}

fn dwp_setuid(init: bool) {
    require_root!();
    require_busybox!();
    let dir = TempDir::new("dwp-suid");
    let root = busybox_root(&dir.0);
    // The image's entry program: setuid root (busybox itself).
    let prog = root.join("bin/busybox-suid");
    std::fs::copy(busybox().unwrap(), &prog).unwrap();
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let marker = common::unique("brk-dwp-marker");
    let mut role = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "role_dwp_setuid",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, "dwp_setuid")
        .env("BRK_ROOT", &root)
        .env("BRK_PROGRAM", "/bin/busybox-suid")
        .env("BRK_MARKER", &marker)
        .envs(init.then_some(("BRK_INIT", "1")))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(role.stdout.take().unwrap());
    let mut pid = None;
    for _ in 0..50 {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut out, &mut line).unwrap_or(0) == 0 {
            break;
        }
        if let Some(p) = line.split("PID ").nth(1).map(str::trim) {
            pid = p.parse::<i32>().ok();
            break;
        }
    }
    // The program (under an init, the init's child) shows the marker.
    let ours = |pid: i32| {
        let has = |p: &str| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&marker))
        };
        has(&pid.to_string())
            || std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .is_ok_and(|c| c.split_whitespace().any(has))
    };
    let pid = pid.expect("the role printed no pid");
    assert!(ours(pid), "the container did not start");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let uids = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap_or("")
        .to_string();
    role.kill().unwrap();
    role.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while ours(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let survived = ours(pid);
    if survived {
        // SAFETY: kill(2) of the container we started (checked by marker).
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    assert!(
        !survived,
        "the container (a setuid program of the image, {uids}) outlived its parent"
    );
    eprintln!("container ids: {uids}");
}

// ------------------------------------------------- the sealed helper itself

/// The helper's memfd is shared by every spawn of the caller: a container
/// that could change it would run its code in every later container (as
/// PID 1, before seccomp and Landlock). With `CAP_SYS_PTRACE` (docker's
/// `--cap-add SYS_PTRACE`) a container's root can open `/proc/1/exe` of
/// its init: every way to write it must fail, and the helper run by hand
/// with a hostile protocol must refuse or fail without a crash.
#[test]
fn the_helper_memfd_cannot_be_changed_from_a_container() {
    require_root!();
    require_busybox!();
    let dir = TempDir::new("memfd");
    let root = busybox_root(&dir.0);
    let mut caps = CapSet::docker_default();
    caps.insert(containment::caps::Capability::SysPtrace);
    std::fs::write(root.join("tmp/hexmax"), "00".repeat(4096 * 8)).unwrap();
    std::fs::write(root.join("tmp/hexover"), "00".repeat(4096 * 8 + 8)).unwrap();
    let (hex_max, hex_over) = ("$(cat /tmp/hexmax)", "$(cat /tmp/hexover)");
    let script = format!(
        r#"
        cat /proc/1/exe > /tmp/before || echo NO-READ
        echo x >> /proc/1/exe 2>/dev/null && echo WROTE-APPEND
        printf 'AAAA' | dd of=/proc/1/exe conv=notrunc 2>/dev/null && echo WROTE-DD
        truncate -s 0 /proc/1/exe 2>/dev/null && echo WROTE-TRUNC
        truncate -s 100000 /proc/1/exe 2>/dev/null && echo WROTE-GROW
        chmod 666 /proc/1/exe 2>/dev/null && echo WROTE-CHMOD
        cp /proc/1/exe /tmp/h; mkdir -p /tmp/containment-helper; cp /tmp/h /tmp/containment-helper/1
        chmod 755 /tmp/containment-helper/1
        cd /tmp
        for args in \
            "" "exec" "init 2 1,2,3,4 -1" \
            "exec 2 1,2,3,4 -1 {hex_max} 1 /bin/true /bin/true" \
            "exec 2 1,2,3,4 -1 {hex_over} 1 /bin/true /bin/true" \
            "exec 2 1,2,3,4 -1 0 1 /bin/true /bin/true" \
            "exec 2 1,2,3,4 -1 zz 1 /bin/true /bin/true" \
            "exec 2 1,2,3,4 -1 '' 65536 /bin/true /bin/true" \
            "exec 2 1,2,3,4 -1 '' 2 /bin/true /bin/true" \
            "exec 9999999999 99999999999,1,2,3 -2 '' 1 /bin/true /bin/true" \
            "init 2 4294967295,1,2,3 0 '' 1 /nonexistent /bin/true" \
            "exec 2 1,2,3,4 1 '' 1 /bin/true /bin/true"; do
          eval "containment-helper/1 $args" </dev/null >/dev/null 2>&1
          echo "rc $?"
        done
        cat /proc/1/exe > /tmp/after
        cmp /tmp/before /tmp/after && echo SAME
        "#
    );
    let c = Container::new()
        .root(&root)
        .unshare(NS)
        .init(true)
        .capabilities(Capabilities::only(caps))
        .command("/bin/sh")
        .args(["-c", &script])
        .stdout(Stdio::Piped)
        .stderr(Stdio::Piped)
        .spawn()
        .unwrap();
    let host_before = std::fs::read(format!("/proc/{}/exe", c.id())).unwrap();
    let out = c.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    // A later init runs the same, unchanged helper.
    let mut later = Container::new()
        .root(&root)
        .unshare(NS)
        .init(true)
        .command("/bin/sleep")
        .args(["5"])
        .spawn()
        .unwrap();
    let host_after = std::fs::read(format!("/proc/{}/exe", later.id())).unwrap();
    later.kill().unwrap();
    later.wait().unwrap();
    assert!(!text.contains("WROTE"), "{text}\n{err}");
    assert!(text.contains("SAME"), "{text}\n{err}");
    assert_eq!(host_before, host_after, "the helper changed");
    for line in text.lines().filter(|l| l.starts_with("rc ")) {
        let rc: i32 = line[3..].trim().parse().unwrap();
        // 126 refused, 127 a reported failure, 0 the program ran; never a
        // signal (128 + N).
        assert!(matches!(rc, 0 | 126 | 127), "{text}\n{err}");
    }
    assert!(out.status.success(), "{:?}\n{text}\n{err}", out.status);
}

/// The memfd's mode is the inode's, shared by every spawn of the caller: a
/// container whose root may open its init's `/proc/1/exe` (CAP_SYS_PTRACE)
/// can try to `chmod 000` it, after which every later spawn through the
/// helper (any init, any root) would fail with EACCES. Held on 6.3+ by
/// `F_SEAL_EXEC` (chmod of the exec bits is EPERM); kernels without it
/// would not hold. Set-user-ID bits on it are ignored (its internal mount is
/// in no mount namespace), and an owner change does not matter (mode 0777).
#[test]
fn a_container_cannot_change_the_helper_for_later_spawns() {
    require_root!();
    require_busybox!();
    let dir = TempDir::new("memfd-mode");
    let root = busybox_root(&dir.0);
    let mut caps = CapSet::docker_default();
    caps.insert(containment::caps::Capability::SysPtrace);
    let out = Container::new()
        .root(&root)
        .unshare(NS)
        .init(true)
        .capabilities(Capabilities::only(caps))
        .command("/bin/sh")
        .args([
            "-c",
            "chmod 0 /proc/1/exe; chmod 4000 /proc/1/exe; chmod 6777 /proc/1/exe; \
                 chown 1000:1000 /proc/1/exe; ls -lL /proc/1/exe",
        ])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    for init in [false, true] {
        let later = Container::new()
            .root(&root)
            .unshare(NS)
            .init(init)
            .command("/bin/cat")
            .args(["/proc/self/status"])
            .uid(1000)
            .gid(1000)
            .output();
        let later = match later {
            Ok(o) => o,
            Err(e) => panic!(
                "init {init}: a later spawn failed after the container's chmod ({text}): {e}"
            ),
        };
        let status = String::from_utf8_lossy(&later.stdout).to_string();
        let uids = status.lines().find(|l| l.starts_with("Uid:")).unwrap_or("");
        assert_eq!(
            uids.split_whitespace().skip(1).collect::<Vec<_>>(),
            ["1000"; 4],
            "init {init}: {status}"
        );
    }
}

// ------------------------------------------- the vfork shape's shared memory

/// The attacker: a root process of a container without a PID namespace
/// (docker's `--pid=host`), with docker's capabilities. For each new pid of
/// the host, it tries to open `/proc/<pid>/mem` for writing; when it can,
/// it reads `/proc/<pid>/cmdline` (the command line in that memory) and
/// records it. It never writes.
const MEM_THIEF: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <signal.h>
#include <sys/prctl.h>
static int last_pid(void) {
    char b[32] = {0};
    int f = open("/proc/sys/kernel/ns_last_pid", O_RDONLY);
    if (f < 0) return -1;
    int n = read(f, b, sizeof b - 1);
    close(f);
    return n > 0 ? atoi(b) : -1;
}
int main(int argc, char **argv) {
    const char *mark = argc > 1 ? argv[1] : "escapes_breaker";
    int out = open("/tmp/stolen", O_WRONLY | O_CREAT | O_APPEND, 0644);
    char path[64], line[600], cmd[512];
    for (int i = 1; i < 4; i++)
        if (fork() == 0) { prctl(PR_SET_PDEATHSIG, SIGKILL); break; }
    close(open("/tmp/ready", O_WRONLY | O_CREAT, 0644));
    {
        char st[2048];
        int c = open("/proc/self/status", O_RDONLY);
        int n = read(c, st, sizeof st - 1);
        close(c);
        int o = open("/tmp/self", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        write(o, st, n);
        close(o);
    }
    for (long round = 0; round < (1L << 31); round++) {
        if ((round & 0xff) == 0 && access("/tmp/stop", F_OK) == 0) break;
        int l = last_pid();
        if (l <= 0) continue;
        for (int k = 0; k < 200; k++) {
            for (int d = 0; d < 3; d++) {
                snprintf(path, sizeof path, "/proc/%d/mem", l - d);
                int f = open(path, O_RDWR);
                if (f < 0) continue;
                close(f);
                snprintf(path, sizeof path, "/proc/%d/cmdline", l - d);
                int c = open(path, O_RDONLY);
                int n = c >= 0 ? read(c, cmd, sizeof cmd - 1) : 0;
                if (c >= 0) close(c);
                if (n <= 0) continue;
                cmd[n] = 0;
                for (int j = 0; j < n; j++) if (!cmd[j]) cmd[j] = ' ';
                if (!strstr(cmd, mark) || !strncmp(cmd, "/thief", 6)) continue;
                int len = snprintf(line, sizeof line, "pid %d mem rw, cmdline %s\n", l - d, cmd);
                write(out, line, len);
                snprintf(path, sizeof path, "/proc/%d/status", l - d);
                c = open(path, O_RDONLY);
                char st[2048];
                n = c >= 0 ? read(c, st, sizeof st - 1) : 0;
                if (c >= 0) close(c);
                if (n > 0) write(out, st, n);
            }
        }
    }
    return 0;
}
"#;

/// A child of the vfork shape runs on the caller's memory until its exec,
/// and after its capabilities are dropped (docker's set) nothing but
/// dumpability guards that memory: a root process with docker's
/// capabilities in the caller's PID namespace (here: another container
/// without a PID namespace) can open `/proc/<child>/mem` for writing, which
/// is the caller's memory (host root, every capability).
#[test]
fn vfork_child_memory_is_never_writable_from_another_container() {
    child_memory_attack(false);
}

/// The same with a new user namespace made by host root: a process of
/// euid 0 in the parent namespace holds every capability in it (the owner
/// rule), CAP_SYS_PTRACE included. Found by this file: the child (PID 1
/// of its new PID namespace, uid 0, every capability of the new user
/// namespace, still running the caller's code) had its `/proc/<pid>/mem`
/// opened for writing by another container's root with docker's
/// capabilities in the window between clone and its own prctl (under load
/// the child may not run for milliseconds). Fixed by making a root caller
/// non-dumpable while a spawn is in flight, which the child shares (vfork
/// shape) or inherits at clone (fork shape): the dumpable check then wants
/// CAP_SYS_PTRACE in the initial user namespace.
#[test]
fn user_namespace_child_memory_is_never_writable_from_another_container() {
    child_memory_attack(true);
}

fn child_memory_attack(userns: bool) {
    require_root!();
    require_busybox!();
    let dir = TempDir::new("memthief");
    let attacker_root = busybox_root(&dir.0.join("a"));
    require!(
        compile_static(MEM_THIEF, &attacker_root.join("thief")),
        "gcc with a static libc is needed to build the attacker"
    );
    let victim_root = busybox_root(&dir.0.join("b"));
    let mark = std::env::current_exe()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut attacker = Container::new()
        .root(&attacker_root)
        .unshare(Namespaces::MOUNT)
        .command("/thief")
        .args([mark.as_str()])
        .spawn()
        .unwrap();
    wait_for(&attacker_root.join("tmp/ready"));
    let mut errors = Vec::new();
    for _ in 0..300 {
        let mut b = Container::new();
        if userns {
            // A new user namespace made by host root: while the child waits
            // for its maps it is in a namespace that uid 0 anywhere owns.
            b = b
                .unshare(NS | Namespaces::USER)
                .uid_map([containment::IdMap::new(0, 100_000, 65_536)])
                .gid_map([containment::IdMap::new(0, 100_000, 65_536)]);
        } else {
            b = b.unshare(NS);
        }
        let r = b
            .root(&victim_root)
            .command("/bin/true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Err(e) = r {
            errors.push(e.to_string());
        }
        if attacker_root
            .join("tmp/stolen")
            .metadata()
            .is_ok_and(|m| m.len() > 0)
        {
            break;
        }
    }
    std::fs::write(attacker_root.join("tmp/stop"), b"").unwrap();
    let _ = attacker.kill();
    attacker.wait().unwrap();
    let stolen = std::fs::read_to_string(attacker_root.join("tmp/stolen")).unwrap_or_default();
    assert!(
        stolen.is_empty(),
        "another container could open the caller's memory for writing:\n{}",
        stolen.lines().take(60).collect::<Vec<_>>().join("\n")
    );
    assert!(errors.is_empty(), "{errors:?}");
}

/// The caller's own dumpable flag is the one it had before its spawns: the
/// vfork-shaped child's uid change (`.user`) flipped the flag of the memory
/// it shares with the caller, which stayed non-dumpable for good, and the
/// guard that keeps a root caller non-dumpable while a spawn is in flight
/// restores it once the child has exec'd.
#[test]
fn the_callers_dumpable_flag_survives_its_spawns() {
    require_root!();
    // Other tests of this binary spawn at the same time (the flag is 0
    // while any spawn is in flight): the start, too, waits for a moment
    // without one.
    let deadline = Instant::now() + Duration::from_secs(20);
    // SAFETY: prctl with integer arguments.
    while unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) } != 1 {
        assert!(
            Instant::now() < deadline,
            "the test process never became dumpable"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    for shape in [true, false] {
        let st = Container::new()
            .unshare(Namespaces::UTS)
            .vfork_spawn(shape)
            .command("/bin/true")
            .uid(1000)
            .gid(1000)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        // Other tests of this binary spawn at the same time (the flag is 0
        // while any spawn is in flight): wait for a moment without one.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // SAFETY: as above.
            let now = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
            if now == 1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the caller stayed non-dumpable after a spawn (vfork {shape})"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
