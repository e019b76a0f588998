//! The systemd driver against a mock manager (root, this host's cgroup2
//! mount; no systemd here). The mock speaks the manager's D-Bus protocol on
//! a private peer-to-peer socket ([`Manager::Private`], as
//! `/run/systemd/private`) and does what systemd does with a scope: makes
//! its cgroup below the slice's path, moves the `PIDs` in with
//! `cgroup.procs`, answers `ControlGroup`, and on `StopUnit` kills what is
//! left and removes the cgroup. Everything is made under a cgroup of the
//! test's own, removed at the end.

// The interface macros generate undocumented items.
#![allow(missing_docs)]

#[macro_use]
mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use containment::cgroup::{
    CgroupSpec, DeviceRule, Error as CgError, Hierarchy, Manager, Resources, SystemdFailure,
    SystemdOptions,
};
use containment::{Container, Namespaces, SpawnError};
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue};

#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.freedesktop.systemd1")]
enum SdError {
    #[zbus(error)]
    ZBus(zbus::Error),
    UnitExists(String),
    NoSuchUnit(String),
}

/// (unit, mode, properties) of a StartTransientUnit.
type Started = (String, String, Vec<(String, OwnedValue)>);

#[derive(Default)]
struct State {
    started: Vec<Started>,
    stopped: Vec<String>,
    /// (unit, runtime as text, properties) of each SetUnitProperties.
    set: Vec<Started>,
    /// unit -> its cgroup directory.
    units: HashMap<String, PathBuf>,
    /// The result of the next start job (`done` when None).
    fail_next: Option<String>,
    /// Send no JobRemoved for the next start job.
    silent_next: bool,
    jobs: u32,
}

struct Mock {
    state: Arc<Mutex<State>>,
    /// The cgroup2 mount and our base cgroup's path below it.
    mount: PathBuf,
    base: String,
}

fn slice_dirs(slice: &str) -> PathBuf {
    let base = slice.strip_suffix(".slice").unwrap();
    let mut p = PathBuf::new();
    let mut acc = String::new();
    for part in base.split('-') {
        if !acc.is_empty() {
            acc.push('-');
        }
        acc.push_str(part);
        p.push(format!("{acc}.slice"));
    }
    p
}

fn unit_object(unit: &str) -> String {
    let mut s = String::from("/org/freedesktop/systemd1/unit/");
    for b in unit.bytes() {
        if b.is_ascii_alphanumeric() {
            s.push(b as char);
        } else {
            s.push_str(&format!("_{b:02x}"));
        }
    }
    s
}

struct MockScope {
    control_group: String,
}

#[zbus::interface(name = "org.freedesktop.systemd1.Scope")]
impl MockScope {
    #[zbus(property)]
    fn control_group(&self) -> String {
        self.control_group.clone()
    }
}

fn wait_empty(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(dir.join("cgroup.events"))
        .map(|e| e.contains("populated 1"))
        .unwrap_or(false)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn rmdir(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::remove_dir(dir).is_err_and(|e| e.raw_os_error() == Some(libc::EBUSY))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[zbus::interface(name = "org.freedesktop.systemd1.Manager")]
impl Mock {
    fn subscribe(&self) {}

    async fn start_transient_unit(
        &self,
        name: String,
        mode: String,
        properties: Vec<(String, OwnedValue)>,
        _aux: Vec<(String, Vec<(String, OwnedValue)>)>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
        #[zbus(object_server)] server: &zbus::ObjectServer,
    ) -> Result<OwnedObjectPath, SdError> {
        let (job, result) = {
            let mut st = self.state.lock().unwrap();
            st.started
                .push((name.clone(), mode.clone(), clone_props(&properties)));
            if st.units.contains_key(&name) {
                return Err(SdError::UnitExists(format!("Unit {name} already exists.")));
            }
            st.jobs += 1;
            if std::mem::take(&mut st.silent_next) {
                return Ok(OwnedObjectPath::try_from(format!(
                    "/org/freedesktop/systemd1/job/{}",
                    st.jobs
                ))
                .map_err(zbus::Error::from)?);
            }
            (st.jobs, st.fail_next.take())
        };
        let job_path = OwnedObjectPath::try_from(format!("/org/freedesktop/systemd1/job/{job}"))
            .map_err(zbus::Error::from)?;
        if result.is_none() {
            let slice: String = get(&properties, "Slice")
                .and_then(|v| String::try_from(v).ok())
                .unwrap_or_else(|| "system.slice".into());
            let cg = format!("/{}/{}/{name}", self.base, slice_dirs(&slice).display());
            let dir = self.mount.join(&cg[1..]);
            std::fs::create_dir_all(&dir).unwrap();
            if let Some(pids) = get(&properties, "PIDs").and_then(|v| Vec::<u32>::try_from(v).ok())
            {
                for p in pids {
                    std::fs::write(dir.join("cgroup.procs"), p.to_string()).unwrap();
                }
            }
            server
                .at(unit_object(&name), MockScope { control_group: cg })
                .await?;
            self.state.lock().unwrap().units.insert(name.clone(), dir);
        }
        Self::job_removed(
            &emitter,
            job,
            job_path.as_ref(),
            &name,
            result.as_deref().unwrap_or("done"),
        )
        .await?;
        Ok(job_path)
    }

    fn set_unit_properties(
        &self,
        name: String,
        runtime: bool,
        properties: Vec<(String, OwnedValue)>,
    ) -> Result<(), SdError> {
        let mut st = self.state.lock().unwrap();
        if !st.units.contains_key(&name) {
            return Err(SdError::NoSuchUnit(format!("Unit {name} not loaded.")));
        }
        st.set
            .push((name, runtime.to_string(), clone_props(&properties)));
        Ok(())
    }

    fn get_unit(&self, name: String) -> Result<OwnedObjectPath, SdError> {
        if !self.state.lock().unwrap().units.contains_key(&name) {
            return Err(SdError::NoSuchUnit(format!("Unit {name} not loaded.")));
        }
        Ok(OwnedObjectPath::try_from(unit_object(&name)).map_err(zbus::Error::from)?)
    }

    async fn stop_unit(
        &self,
        name: String,
        _mode: String,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
        #[zbus(object_server)] server: &zbus::ObjectServer,
    ) -> Result<OwnedObjectPath, SdError> {
        let (dir, job) = {
            let mut st = self.state.lock().unwrap();
            st.stopped.push(name.clone());
            let Some(dir) = st.units.remove(&name) else {
                return Err(SdError::NoSuchUnit(format!("Unit {name} not loaded.")));
            };
            st.jobs += 1;
            (dir, st.jobs)
        };
        let _ = std::fs::write(dir.join("cgroup.kill"), "1");
        wait_empty(&dir);
        rmdir(&dir);
        let _ = server
            .remove::<MockScope, _>(unit_object(&name).as_str())
            .await;
        let job_path = OwnedObjectPath::try_from(format!("/org/freedesktop/systemd1/job/{job}"))
            .map_err(zbus::Error::from)?;
        Self::job_removed(&emitter, job, job_path.as_ref(), &name, "done").await?;
        Ok(job_path)
    }

    #[zbus(signal)]
    async fn job_removed(
        emitter: &SignalEmitter<'_>,
        id: u32,
        job: ObjectPath<'_>,
        unit: &str,
        result: &str,
    ) -> zbus::Result<()>;
}

fn clone_props(p: &[(String, OwnedValue)]) -> Vec<(String, OwnedValue)> {
    p.iter()
        .map(|(k, v)| (k.clone(), v.try_clone().unwrap()))
        .collect()
}

fn get(p: &[(String, OwnedValue)], name: &str) -> Option<OwnedValue> {
    p.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.try_clone().unwrap())
}

/// A mock manager listening on its own socket, over a base cgroup of the
/// test's own; both removed on drop.
struct Fixture {
    socket: PathBuf,
    state: Arc<Mutex<State>>,
    base: PathBuf,
    base_rel: String,
}

impl Fixture {
    fn new() -> Option<Fixture> {
        let h = Hierarchy::detect().ok()?;
        let mount = h.mount_point()?.to_path_buf();
        let base_rel = common::unique("containment-sdmock");
        let base = mount.join(&base_rel);
        std::fs::create_dir(&base).ok()?;
        let socket = std::env::temp_dir().join(format!("{base_rel}.sock"));
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let (st, rel) = (state.clone(), base_rel.clone());
        std::thread::spawn(move || {
            let mut conns = Vec::new();
            for s in listener.incoming() {
                let Ok(s) = s else { return };
                let mock = Mock {
                    state: st.clone(),
                    mount: mount.clone(),
                    base: rel.clone(),
                };
                let conn = zbus::blocking::connection::Builder::async_io_unix_stream(s)
                    .server(zbus::Guid::generate())
                    .unwrap()
                    .p2p()
                    .serve_at("/org/freedesktop/systemd1", mock)
                    .unwrap()
                    .build();
                if let Ok(c) = conn {
                    conns.push(c);
                }
            }
        });
        Some(Fixture {
            socket,
            state,
            base,
            base_rel,
        })
    }

    fn options(&self) -> SystemdOptions {
        SystemdOptions::new()
            .manager(Manager::Private(self.socket.clone()))
            .prefix("ctest")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        // Depth first: kill what a failed test left, then rmdir.
        fn clean(d: &Path) {
            if let Ok(rd) = std::fs::read_dir(d) {
                for e in rd.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        clean(&e.path());
                    }
                }
            }
            let _ = std::fs::write(d.join("cgroup.kill"), "1");
            wait_empty(d);
            rmdir(d);
        }
        clean(&self.base);
    }
}

fn cgroup_line(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string))
        .unwrap()
}

/// Whether `pid` is still a child of ours (alive or unreaped).
fn is_our_child(pid: u32) -> bool {
    common::children().iter().any(|(p, _)| *p as u32 == pid)
}

macro_rules! fixture {
    ($name:literal) => {{
        require_root!();
        match Fixture::new() {
            Some(f) => f,
            None => return common::skip($name, "no writable cgroup2 mount on this host"),
        }
    }};
}

#[test]
fn a_container_runs_in_its_scope_and_the_scope_stops_on_exit() {
    let f = fixture!("a_container_runs_in_its_scope");
    let id = common::unique("c");
    let unit = format!("ctest-{id}.scope");
    let mut child = Container::builder()
        .namespaces(Namespaces::PID | Namespaces::CGROUP)
        .cgroup(
            CgroupSpec::new()
                .systemd(f.options())
                .parent("ctest-a.slice")
                .name(&id)
                .resources(Resources::new().pids_max(32).memory_max(64u64 << 20)),
        )
        .command("/bin/sh", ["-c", "cat /proc/self/cgroup; exec sleep 30"])
        .stdout(containment::Stdio::piped())
        .spawn()
        .unwrap();
    let (placeholder, props) = {
        let st = f.state.lock().unwrap();
        assert_eq!(st.started.len(), 1);
        let (u, mode, props) = &st.started[0];
        assert_eq!(u, &unit);
        assert_eq!(mode, "fail");
        let s = |n: &str| get(props, n).and_then(|v| String::try_from(v).ok());
        let b = |n: &str| get(props, n).and_then(|v| bool::try_from(v).ok());
        let t = |n: &str| get(props, n).and_then(|v| u64::try_from(v).ok());
        assert_eq!(s("Slice").as_deref(), Some("ctest-a.slice"));
        assert_eq!(b("Delegate"), Some(true));
        assert_eq!(b("DefaultDependencies"), Some(false));
        assert_eq!(t("TasksMax"), Some(32));
        assert_eq!(t("MemoryMax"), Some(64 << 20));
        let pids: Vec<u32> = get(props, "PIDs")
            .and_then(|v| Vec::<u32>::try_from(v).ok())
            .unwrap();
        assert_eq!(pids.len(), 1);
        (pids[0], props.len())
    };
    assert!(props >= 6);
    // The program is the pid systemd was not given: it was cloned into
    // the scope's cgroup (the kernel shows it there) ...
    assert_ne!(placeholder, child.id());
    let scope_path = format!("/{}/ctest.slice/ctest-a.slice/{unit}", f.base_rel);
    assert_eq!(cgroup_line(child.id()), scope_path);
    let out = child.stdout.take().unwrap();
    let cg = child.cgroup().unwrap();
    assert_eq!(cg.systemd_unit(), Some(unit.as_str()));
    assert_eq!(cg.path(), f.base.join(&scope_path[f.base_rel.len() + 2..]));
    // ... and a new cgroup namespace is rooted at the scope.
    use std::io::BufRead;
    let mut r = std::io::BufReader::new(out);
    let mut line = String::new();
    while !line.starts_with("0::") {
        line.clear();
        assert!(r.read_line(&mut line).unwrap() > 0, "no 0:: line");
    }
    assert_eq!(line.trim_end(), "0::/", "{line}");
    // The placeholder is gone (killed and reaped): the program is alone.
    let deadline = Instant::now() + Duration::from_secs(5);
    while cg.procs().unwrap() != vec![child.id()] {
        assert!(Instant::now() < deadline, "{:?}", cg.procs());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!is_our_child(placeholder), "the placeholder was not reaped");
    // When the container ends, the scope is stopped and its cgroup gone.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(f.state.lock().unwrap().stopped, vec![unit.clone()]);
    assert!(!f.base.join(&scope_path[f.base_rel.len() + 2..]).exists());
}

#[test]
fn the_default_slice_is_system_slice() {
    let f = fixture!("the_default_slice_is_system_slice");
    let id = common::unique("d");
    let mut child = Container::builder()
        .cgroup(CgroupSpec::new().systemd(f.options()).name(&id))
        .command("/bin/true", [] as [&str; 0])
        .spawn()
        .unwrap();
    let unit = format!("ctest-{id}.scope");
    assert_eq!(
        child.cgroup().unwrap().path(),
        f.base.join("system.slice").join(&unit)
    );
    child.wait().unwrap();
    assert_eq!(f.state.lock().unwrap().stopped, vec![unit]);
}

fn systemd_error(e: SpawnError) -> (String, &'static str, SystemdFailure) {
    match e {
        SpawnError::Cgroup(CgError::Systemd {
            unit,
            method,
            failure,
        }) => (unit, method, failure),
        e => panic!("not a systemd error: {e:?}"),
    }
}

#[test]
fn a_unit_that_exists_is_a_typed_error_and_leaves_nothing() {
    let f = fixture!("a_unit_that_exists_is_a_typed_error");
    let id = common::unique("e");
    let spec = CgroupSpec::new().systemd(f.options()).name(&id);
    let mut first = Container::builder()
        .cgroup(spec.clone())
        .command("/bin/sleep", ["30"])
        .spawn()
        .unwrap();
    let e = Container::builder()
        .cgroup(spec)
        .command("/bin/true", [] as [&str; 0])
        .spawn()
        .unwrap_err();
    let msg = e.to_string();
    let (unit, method, failure) = systemd_error(e);
    assert_eq!(unit, format!("ctest-{id}.scope"));
    assert_eq!(method, "StartTransientUnit");
    assert!(
        matches!(&failure, SystemdFailure::Bus { name, .. } if name == "org.freedesktop.systemd1.UnitExists"),
        "{failure:?}"
    );
    assert!(msg.contains(&unit), "{msg}");
    // The refused spawn's placeholder was reaped too.
    let st = f.state.lock().unwrap();
    let pids: Vec<u32> = get(&st.started[1].2, "PIDs")
        .and_then(|v| Vec::<u32>::try_from(v).ok())
        .unwrap();
    drop(st);
    assert!(!is_our_child(pids[0]));
    first.kill().unwrap();
    first.wait().unwrap();
}

#[test]
fn a_failed_job_is_a_typed_error() {
    let f = fixture!("a_failed_job_is_a_typed_error");
    f.state.lock().unwrap().fail_next = Some("failed".into());
    let id = common::unique("f");
    let e = Container::builder()
        .cgroup(CgroupSpec::new().systemd(f.options()).name(&id))
        .command("/bin/true", [] as [&str; 0])
        .spawn()
        .unwrap_err();
    let (unit, method, failure) = systemd_error(e);
    assert_eq!(unit, format!("ctest-{id}.scope"));
    assert_eq!(method, "StartTransientUnit");
    assert_eq!(failure, SystemdFailure::Job("failed".into()));
}

#[test]
fn no_manager_is_a_connect_error() {
    require_root!();
    let e = Container::builder()
        .cgroup(
            CgroupSpec::new()
                .systemd(SystemdOptions::new().manager(Manager::Private(
                    std::env::temp_dir().join(common::unique("no-such-socket")),
                )))
                .name("x"),
        )
        .command("/bin/true", [] as [&str; 0])
        .spawn()
        .unwrap_err();
    let (unit, _, failure) = systemd_error(e);
    assert_eq!(unit, "containment-x.scope");
    assert!(matches!(failure, SystemdFailure::Connect(_)), "{failure:?}");
}

#[test]
fn a_path_parent_or_bad_name_is_refused_before_any_request() {
    for (spec, field) in [
        (
            CgroupSpec::new().parent("/sys/fs/cgroup/x"),
            "cgroup parent",
        ),
        (CgroupSpec::new().parent("a--b.slice"), "slice"),
        (CgroupSpec::new().name("a b"), "systemd unit"),
    ] {
        let e = Container::builder()
            .cgroup(spec.systemd(
                SystemdOptions::new().manager(Manager::Private("/nonexistent/socket".into())),
            ))
            .command("/bin/true", [] as [&str; 0])
            .spawn()
            .unwrap_err();
        assert_eq!(e.field(), Some(field), "{e}");
    }
}

#[test]
fn a_job_that_never_ends_times_out() {
    let f = fixture!("a_job_that_never_ends_times_out");
    f.state.lock().unwrap().silent_next = true;
    let id = common::unique("t");
    let t = Instant::now();
    let e = Container::builder()
        .cgroup(
            CgroupSpec::new()
                .systemd(f.options().timeout(Duration::from_millis(300)))
                .name(&id),
        )
        .command("/bin/true", [] as [&str; 0])
        .spawn()
        .unwrap_err();
    let (unit, method, failure) = systemd_error(e);
    assert_eq!(unit, format!("ctest-{id}.scope"));
    assert_eq!(method, "StartTransientUnit");
    assert_eq!(failure, SystemdFailure::Timeout(300));
    // Generous: only that it did not wait for the default 10 s.
    assert!(t.elapsed() < Duration::from_secs(9), "{:?}", t.elapsed());
    // Its placeholder was reaped.
    let st = f.state.lock().unwrap();
    let pids: Vec<u32> = get(&st.started[0].2, "PIDs")
        .and_then(|v| Vec::<u32>::try_from(v).ok())
        .unwrap();
    drop(st);
    assert!(!is_our_child(pids[0]));
}

/// `DeviceAllow` as the mock received it.
fn device_allow(p: &[(String, OwnedValue)]) -> Vec<(String, String)> {
    get(p, "DeviceAllow")
        .and_then(|v| Vec::<(String, String)>::try_from(v).ok())
        .unwrap_or_default()
}

#[test]
fn live_update_goes_through_set_unit_properties() {
    let f = fixture!("live_update_goes_through_set_unit_properties");
    let id = common::unique("u");
    let unit = format!("ctest-{id}.scope");
    let rules = |l: &[&str]| -> Vec<DeviceRule> { l.iter().map(|s| s.parse().unwrap()).collect() };
    let mut child = Container::builder()
        .cgroup(
            CgroupSpec::new().systemd(f.options()).name(&id).resources(
                Resources::new()
                    .pids_max(32)
                    .device_rules(rules(&["deny a *:* rwm", "c 1:3 rwm"])),
            ),
        )
        .command("/bin/sh", ["-c", "exec sleep 30"])
        .spawn()
        .unwrap();
    {
        let st = f.state.lock().unwrap();
        let props = &st.started[0].2;
        assert_eq!(
            get(props, "DevicePolicy")
                .and_then(|v| String::try_from(v).ok())
                .as_deref(),
            Some("strict")
        );
        assert_eq!(
            device_allow(props),
            vec![("/dev/char/1:3".to_string(), "rwm".to_string())]
        );
        assert!(st.set.is_empty());
    }
    let cg = child.cgroup().unwrap();
    cg.apply(
        &Resources::new()
            .memory_max(128u64 << 20)
            .cpus(0.5)
            .cpu_weight(200)
            .pids_max(64)
            .cpuset_cpus("0".parse().unwrap())
            .blkio_weight(500)
            .device_rules(rules(&["deny a *:* rwm", "c 1:5 rw", "c 136:* rwm"])),
    )
    .unwrap();
    {
        let st = f.state.lock().unwrap();
        assert_eq!(st.set.len(), 1, "one SetUnitProperties call");
        let (u, runtime, props) = &st.set[0];
        assert_eq!(u, &unit);
        assert_eq!(runtime, "true", "runtime = true (not persisted)");
        let t = |n: &str| get(props, n).and_then(|v| u64::try_from(v).ok());
        assert_eq!(t("MemoryMax"), Some(128 << 20));
        assert_eq!(t("CPUQuotaPerSecUSec"), Some(500_000));
        assert_eq!(t("CPUWeight"), Some(200));
        assert_eq!(t("TasksMax"), Some(64));
        assert!(t("IOWeight").is_some());
        assert_eq!(
            get(props, "AllowedCPUs").and_then(|v| Vec::<u8>::try_from(v).ok()),
            Some(vec![1])
        );
        let allow = device_allow(props);
        assert!(
            allow.contains(&("/dev/char/1:5".to_string(), "rw".to_string())),
            "{allow:?}"
        );
        // 136 is the pts driver: named from /proc/devices.
        assert!(
            allow.iter().any(|(d, _)| d.starts_with("char-")),
            "{allow:?}"
        );
        let b = |n: &str| get(props, n).and_then(|v| bool::try_from(v).ok());
        assert_eq!(b("MemoryAccounting"), Some(true));
    }
    // No program of ours: systemd owns the device policy here.
    assert_eq!(cg.device_programs().unwrap(), 0);
    // Rules systemd cannot express (a default of allow with a deny): our
    // own program in the delegated cgroup, enforced by the kernel.
    cg.apply(&Resources::new().device_rules(rules(&["deny c 1:3 rwm"])))
        .unwrap();
    assert_eq!(cg.device_programs().unwrap(), 1);
    child.kill().unwrap();
    child.wait().unwrap();
}
