//! Rootless mode: subordinate id ranges written by newuidmap/newgidmap.
//!
//! Each case runs as an unprivileged user that has subordinate ids. Run as
//! root, a test runs itself again as the user `ctm-rootless` (uid 54400),
//! creating that user and its /etc/subuid and /etc/subgid lines if missing
//! and removing them at exit when it created them. Run as an unprivileged
//! user (the CI's second run), a case runs directly when the user has
//! subordinate ids, and is skipped (with the reason) otherwise.

#[macro_use]
mod common;

use containment::namespace::{read_id_map, rootless_maps, IdMap, SUBUID_FILE};
use containment::{Container, IdMapWriter, Namespaces, SpawnError, Stdio};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;

const ROLE: &str = "CTM_ROOTLESS_ROLE";
const USER: &str = "ctm-rootless";
const UID: u32 = 54_400;
const SUB_START: u32 = 400_000;
const SUB_COUNT: u32 = 65_536;

fn sh(cmd: &str) -> std::process::ExitStatus {
    std::process::Command::new("/bin/sh")
        .args(["-c", cmd])
        .status()
        .unwrap()
}

extern "C" fn remove_user() {
    // userdel also drops the user's /etc/subuid and /etc/subgid lines.
    let _ = sh(&format!(
        "userdel {USER} 2>/dev/null; groupdel {USER} 2>/dev/null"
    ));
}

/// The uid of a user with subordinate ids, created if missing (root only).
fn subid_user() -> Result<u32, String> {
    static USER_UID: OnceLock<Result<u32, String>> = OnceLock::new();
    USER_UID
        .get_or_init(|| {
            let exists = sh(&format!("getent passwd {USER} >/dev/null")).success();
            if !exists {
                if !sh("command -v useradd >/dev/null && command -v newuidmap >/dev/null").success()
                {
                    return Err("useradd or newuidmap (Debian: uidmap) is missing".into());
                }
                let made = sh(&format!(
                    "groupadd -g {UID} {USER} && useradd -M -N -u {UID} -g {UID} \
                     -d /nonexistent -s /usr/sbin/nologin {USER}"
                ))
                .success();
                if !made {
                    return Err(format!("creating user {USER} failed"));
                }
                // SAFETY: registers a plain extern "C" function.
                unsafe { libc::atexit(remove_user) };
            }
            let uid: u32 = String::from_utf8(
                std::process::Command::new("id")
                    .args(["-u", USER])
                    .output()
                    .unwrap()
                    .stdout,
            )
            .unwrap()
            .trim()
            .parse()
            .unwrap();
            let has = |f: &str| {
                std::fs::read_to_string(f)
                    .unwrap_or_default()
                    .lines()
                    .any(|l| l.starts_with(&format!("{USER}:")))
            };
            if !has("/etc/subuid") || !has("/etc/subgid") {
                let end = SUB_START + SUB_COUNT - 1;
                if !sh(&format!(
                    "usermod --add-subuids {SUB_START}-{end} --add-subgids {SUB_START}-{end} {USER}"
                ))
                .success()
                {
                    return Err("usermod --add-subuids failed".into());
                }
            }
            Ok(uid)
        })
        .clone()
}

/// Runs `case` as an unprivileged user with subordinate ids.
fn rootless_case(name: &str, case: fn()) {
    if std::env::var_os(ROLE).is_some() || !common::is_root() {
        let ok = rootless_maps(SUB_COUNT).is_ok();
        if !ok {
            common::skip(
                name,
                &format!(
                    "this user has no {SUB_COUNT} subordinate ids in /etc/subuid and /etc/subgid"
                ),
            );
            return;
        }
        require!(
            std::path::Path::new("/usr/bin/newuidmap").exists(),
            "newuidmap is not installed (Debian: apt install uidmap)"
        );
        case();
        println!("ROLE-OK");
        return;
    }
    require!(
        containment::probe::host().unprivileged_user_namespaces(),
        "unprivileged user namespaces are disabled on this host"
    );
    let uid = match subid_user() {
        Ok(u) => u,
        Err(e) => {
            common::skip(name, &e);
            return;
        }
    };
    let out = run_as_with_tun(uid, name);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("ROLE-OK"),
        "as {USER}: {text}"
    );
}

/// Runs this test binary's test `name` as `uid` (as `common::run_test_as`),
/// in a private mount namespace whose `/dev/net/tun` is mode 0666 (the
/// distributions' default; this host's may be 0600): a tmpfs over
/// `/dev/net` there, never a change of the host's node.
fn run_as_with_tun(uid: u32, name: &str) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(ROLE, "1")
        .current_dir("/");
    // SAFETY: only async-signal-safe calls in the forked child.
    unsafe {
        cmd.pre_exec(move || {
            let ok = libc::unshare(libc::CLONE_NEWNS) == 0
                && libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) == 0
                && libc::mount(
                    c"tmpfs".as_ptr(),
                    c"/dev/net".as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_NOSUID,
                    c"mode=0755".as_ptr().cast(),
                ) == 0
                && libc::mknod(
                    c"/dev/net/tun".as_ptr(),
                    libc::S_IFCHR | 0o666,
                    libc::makedev(10, 200),
                ) == 0
                && libc::chmod(c"/dev/net/tun".as_ptr(), 0o666) == 0;
            if !ok
                || libc::setgroups(0, std::ptr::null()) != 0
                || libc::setresgid(uid, uid, uid) != 0
                || libc::setresuid(uid, uid, uid) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

/// A directory owned by the calling user, removed on drop.
struct TempDir(std::path::PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(common::unique(tag));
        std::fs::create_dir(&p).unwrap();
        TempDir(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn subid_start() -> u32 {
    let (u, _) = rootless_maps(SUB_COUNT).unwrap();
    u[1].outside
}

fn case_subordinate_maps() {
    let (uids, gids) = rootless_maps(SUB_COUNT).unwrap();
    assert!(uids.len() >= 2, "{uids:?}");
    let dir = TempDir::new("ctm-rootless");
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let mut child = Container::new()
        .unshare(Namespaces::USER | Namespaces::MOUNT)
        .uid_map(uids.clone())
        .gid_map(gids.clone())
        .command("/bin/sh")
        .args([
            "-c",
            "cd \"$0\" && touch f && chown 1000:1000 f && ls -ln f && echo ready && read x",
            dir.0.to_str().unwrap(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Read the line before the child exits.
    let mut out = child.stdout.take().unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 256];
    while !text.contains("ready") {
        let n = out.read(&mut buf).unwrap();
        assert!(n > 0, "child output ended: {text:?}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    // The kernel's view of the maps (newuidmap wrote them).
    let pid = child.id() as i32;
    assert_eq!(read_id_map(pid, false).unwrap(), uids);
    assert_eq!(read_id_map(pid, true).unwrap(), gids);
    let setgroups = std::fs::read_to_string(format!("/proc/{pid}/setgroups")).unwrap();
    assert_eq!(setgroups.trim(), "allow");
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(child.wait().unwrap().success());
    // Inside: 1000; outside: the subordinate id mapped to 1000.
    let fields: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(&fields[2..4], ["1000", "1000"], "{text}");
    let meta = std::fs::metadata(dir.0.join("f")).unwrap();
    let start = subid_start();
    assert_eq!(meta.uid(), start + 999);
    assert_eq!(meta.gid(), gids[1].outside + 999);
    assert_ne!(meta.uid(), me);
}

#[test]
fn rootless_subordinate_maps_through_newuidmap() {
    rootless_case(
        "rootless_subordinate_maps_through_newuidmap",
        case_subordinate_maps,
    );
}

fn case_helper_refuses() {
    // A range that is not this user's: newuidmap refuses and says why.
    let err = Container::new()
        .unshare(Namespaces::USER)
        .uid_map([
            IdMap::single(0, unsafe { libc::geteuid() }),
            IdMap::new(1, 7, 10),
        ])
        .command("/bin/true")
        .status()
        .unwrap_err();
    match &err {
        SpawnError::IdMapHelper {
            helper,
            map,
            status,
            stderr,
            ..
        } => {
            assert!(helper.ends_with("newuidmap"), "{err}");
            assert_eq!(*map, "uid_map");
            assert_ne!(*status, Some(0));
            assert!(stderr.contains("newuidmap"), "{err}");
        }
        other => panic!("expected IdMapHelper, got {other:?}"),
    }
    // Direct writes of the same map: the kernel refuses (EPERM).
    let err = Container::new()
        .unshare(Namespaces::USER)
        .id_map_writer(IdMapWriter::Direct)
        .uid_map([
            IdMap::single(0, unsafe { libc::geteuid() }),
            IdMap::new(1, 7, 10),
        ])
        .command("/bin/true")
        .status()
        .unwrap_err();
    assert!(matches!(err, SpawnError::Setup { .. }), "{err:?}");
    // The user's own file exists and names it.
    assert!(std::fs::read_to_string(SUBUID_FILE).is_ok());
}

#[test]
fn rootless_helper_refusal_is_typed() {
    rootless_case("rootless_helper_refusal_is_typed", case_helper_refuses);
}

fn case_idmap_needs_privilege_over_the_fs() {
    // A rootless caller cannot idmap a host filesystem (the kernel wants
    // CAP_SYS_ADMIN over the filesystem's user namespace): typed EPERM.
    let (uids, gids) = rootless_maps(SUB_COUNT).unwrap();
    let dir = TempDir::new("ctm-rootless-idmap");
    let err = Container::new()
        .unshare(Namespaces::USER | Namespaces::MOUNT)
        .uid_map(uids)
        .gid_map(gids)
        .mount(containment::mount::Mount::bind(&dir.0, &dir.0).idmapped(true))
        .command("/bin/true")
        .status()
        .unwrap_err();
    match &err {
        SpawnError::Mount(containment::mount::Error::IdmapRefused { source, fstype, .. }) => {
            assert_eq!(source.raw_os_error(), Some(libc::EPERM), "{err}");
            assert!(!fstype.is_empty());
        }
        other => panic!("expected IdmapRefused, got {other:?}"),
    }
}

#[test]
fn rootless_idmap_of_a_host_fs_is_refused_typed() {
    rootless_case(
        "rootless_idmap_of_a_host_fs_is_refused_typed",
        case_idmap_needs_privilege_over_the_fs,
    );
}

/// Processes of `pasta` (Debian runs `pasta.avx2`, named `passt.avx2`) of this uid.
fn my_pastas() -> Vec<i32> {
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            // Live ones only: pasta's short-lived helpers are zombies of
            // init until it reaps them.
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                (st.contains(" (pasta") || st.contains(" (passt")) && !st.contains(") Z ")
            }) && std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|st| {
                // Real uid (pasta makes itself non-dumpable: its /proc
                // directory is root's).
                st.lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .and_then(|l| l.split_whitespace().next()?.parse::<u32>().ok())
                    == Some(me)
            })
        })
        .collect()
}

fn case_pasta_network() {
    use std::io::BufRead;
    use std::net::{TcpListener, TcpStream};
    let busybox = ["/usr/bin/busybox", "/bin/busybox"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    require!(busybox.is_some(), "busybox is not installed");
    let bb = busybox.unwrap();
    require!(
        containment::usernet::find_pasta().is_some(),
        "pasta is not installed (Debian: apt install passt)"
    );
    require!(
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .is_ok(),
        "/dev/net/tun is not readable and writable by this user (pasta needs it)"
    );
    let before = my_pastas();
    // A server of the test's own on the host's loopback.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let serve = std::thread::spawn(move || {
        let (mut s, _) = server.accept().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(s.try_clone().unwrap())
            .read_line(&mut line)
            .unwrap();
        s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 16\r\n\r\nhello-from-host\n")
            .unwrap();
        line
    });
    // A free port on the host to publish.
    let published = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spec = format!("127.0.0.1:{published}:80");
    let script = format!(
        "gw=$({bb} ip route | {bb} awk '/default/ {{print $3; exit}}'); \
         printf 'GET /page HTTP/1.0\\r\\n\\r\\n' | {bb} timeout 10 {bb} nc -w 2 $gw {port} \
         || echo fetch-failed; echo; echo fetch-done; \
         echo reply-from-container | {bb} timeout 20 {bb} nc -l -p 80"
    );
    let mut child = Container::new()
        .unshare(Namespaces::USER | Namespaces::NET | Namespaces::PID)
        .user_network(
            containment::usernet::UserNet::pasta()
                .publish(containment::usernet::PublishedPort::parse(&spec).unwrap()),
        )
        .command("/bin/sh")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mine: Vec<i32> = my_pastas()
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    let show: Vec<String> = mine
        .iter()
        .map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default())
        .collect();
    assert_eq!(
        mine.len(),
        1,
        "one pasta daemon for the container: {show:?}"
    );
    // The container fetched the page from the host's 127.0.0.1.
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut fetched = String::new();
    while !fetched.ends_with("fetch-done\n") {
        let n = out.read_line(&mut fetched).unwrap();
        assert!(n > 0, "{fetched}");
    }
    assert!(fetched.lines().any(|l| l == "hello-from-host"), "{fetched}");
    let request = serve.join().unwrap();
    assert!(request.starts_with("GET /page "), "{request}");
    // The published port reaches the container's port 80 (its nc listens
    // once wget is done; connect until it answers, within a bound).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let reply = loop {
        let mut got = String::new();
        if let Ok(s) = TcpStream::connect(("127.0.0.1", published)) {
            let _ = std::io::BufReader::new(s).read_line(&mut got);
        }
        if !got.is_empty() || std::time::Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(reply, "reply-from-container\n");
    assert!(child.wait().unwrap().success());
    // The daemon does not outlive the container.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while mine.iter().any(|p| my_pastas().contains(p)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let left: Vec<i32> = my_pastas()
        .into_iter()
        .filter(|p| mine.contains(p))
        .collect();
    assert!(left.is_empty(), "pasta outlived the container: {left:?}");
}

#[test]
fn rootless_pasta_outbound_and_published_port() {
    rootless_case(
        "rootless_pasta_outbound_and_published_port",
        case_pasta_network,
    );
}
