//! `run -it` on a real terminal: the example in a tmux pane, driven with
//! `send-keys` and read with `capture-pane` (root, tmux, busybox-static):
//! the prompt, a command, `tty`, the window size and a resize, Ctrl-C to a
//! foreground `sleep`, `--name` in the cgroup path, and the exit status.

#[macro_use]
mod common;

use common::example::Tmux;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::TempDir;

/// A busybox root (every applet) under `dir/root`.
fn busybox_root(dir: &Path) -> PathBuf {
    common::busybox::root(dir)
}

/// Pids of our `sleep <n>` (its unique argument), with its (pgrp, tpgid).
fn our_sleep(n: &str) -> Option<(i32, i32, i32)> {
    let want = format!("sleep\0{n}\0");
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if std::fs::read(format!("/proc/{pid}/cmdline")).ok()? == want.as_bytes() {
            let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let f: Vec<&str> = st.rsplit_once(") ")?.1.split(' ').collect();
            return Some((pid, f[2].parse().ok()?, f[5].parse().ok()?));
        }
    }
    None
}

#[test]
fn run_it_is_an_interactive_shell_on_a_real_terminal() {
    require_root!();
    require!(
        Path::new("/usr/bin/tmux").exists(),
        "tmux is not installed (apt-get install tmux)"
    );
    let run = common::example::run_binary();
    let dir = TempDir::new("tmux");
    let root = busybox_root(&dir.0);
    let status = dir.0.join("status");
    let name = common::unique("tty");
    let tmux = Tmux {
        socket: common::unique("containment-tty"),
    };
    let command = format!(
        "{} -it --name {name} --rootfs {} sh; echo $? > {}",
        run.display(),
        root.display(),
        status.display()
    );
    tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "100",
        "-y",
        "30",
        &command,
    ]);
    tmux.cmd(&["set-option", "-t", "t", "status", "off"]);
    tmux.wait_for("the prompt", |s| s.contains("/ #"));

    // A command and its output.
    assert_eq!(tmux.run("echo $((6*7))", "M1"), ["42"]);
    // The container's own terminal.
    assert_eq!(tmux.run("tty", "M2"), ["/dev/pts/0"]);
    // The pane's size, then a resize seen inside (SIGWINCH passed on).
    let pane = |t: &Tmux| {
        t.cmd(&[
            "display-message",
            "-p",
            "-t",
            "t",
            "#{pane_height} #{pane_width}",
        ])
        .trim()
        .to_string()
    };
    assert_eq!(tmux.run("stty size", "M3"), [pane(&tmux)]);
    tmux.cmd(&["resize-window", "-t", "t", "-x", "72", "-y", "21"]);
    assert_eq!(pane(&tmux), "21 72");
    assert_eq!(tmux.run("stty size", "M4"), ["21 72"]);

    // Ctrl-C reaches the foreground program, not run nor the shell.
    let n = format!("{}", 100_000 + std::process::id() % 800_000);
    tmux.keys(&[&format!("sleep {n}"), "Enter"]);
    let end = Instant::now() + Duration::from_secs(60);
    let (pid, pgrp) = loop {
        // In the foreground: its own group is the terminal's.
        if let Some((pid, pgrp, tpgid)) = our_sleep(&n) {
            if pgrp == tpgid {
                break (pid, pgrp);
            }
        }
        assert!(
            Instant::now() < end,
            "no foreground sleep:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(pgrp > 0);
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cgroup.contains(&format!("/containment-run-{name}")),
        "--name: {cgroup}"
    );
    tmux.keys(&["C-c"]);
    assert_eq!(tmux.run("echo status:$?", "M5"), ["status:130"]);
    assert!(our_sleep(&n).is_none());

    // The exit status comes back through run.
    tmux.keys(&["exit 3", "Enter"]);
    let end = Instant::now() + Duration::from_secs(60);
    while !status.exists() || std::fs::read_to_string(&status).unwrap().is_empty() {
        assert!(Instant::now() < end, "run did not end:\n{}", tmux.screen());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(std::fs::read_to_string(&status).unwrap().trim(), "3");
}
