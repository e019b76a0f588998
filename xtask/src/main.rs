//! `cargo xtask`: the project's developer tasks (see `xtask/README.md`).
//!
//! - `test`: the whole suite as the README and CI run it (host, then VM).
//! - `vm-test`: boot a pure cgroup v2 Linux kernel under QEMU and run the
//!   VM-only test binaries (`tests/vm_*.rs`) inside it as root.
//!
//! Plain Rust with std only: the xtask must build from a fresh clone without
//! fetching anything beyond what the main crate already needs.

mod cpio;
mod json;
mod setup;
mod test;
mod vmsystemd;
mod vmtest;

use std::process::{Command, ExitCode};

/// Errors are human-readable messages; the caller prints them.
pub type Result<T> = std::result::Result<T, String>;

/// Exit status for a failure of the runner itself (not of a test).
pub const EXIT_INFRA: u8 = 125;
/// Exit status when the VM ran out of time.
pub const EXIT_TIMEOUT: u8 = 124;

const HELP: &str = "\
cargo xtask <TASK> [ARGS]

Tasks:
  test       the whole suite as CI runs it: host tests, then the VM suite
             (cargo xtask test --help)
  vm-test    run the VM test binaries in a pure cgroup v2 kernel under QEMU
             (cargo xtask vm-test --help for its options)
  help       this text
";

/// Prints a runner message on stderr, prefixed so it stands out from test
/// output.
pub fn log(msg: &str) {
    eprintln!("vm-test: {msg}");
}

fn describe(c: &Command) -> String {
    let mut s = c.get_program().to_string_lossy().into_owned();
    for a in c.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `c` with inherited stdio; an error unless it exits 0.
pub fn run_cmd(c: &mut Command) -> Result<()> {
    let st = c
        .status()
        .map_err(|e| format!("cannot run `{}`: {e}", describe(c)))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed: {st}", describe(c)))
    }
}

/// Runs `c`, returning its stdout; an error (with its stderr) unless it
/// exits 0.
pub fn cmd_output(c: &mut Command) -> Result<String> {
    let out = c
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", describe(c)))?;
    if !out.status.success() {
        return Err(format!(
            "`{}` failed: {}\n{}",
            describe(c),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("vm-test") => match vmtest::parse_args(args) {
            Ok(None) => {
                print!("{}", vmtest::HELP);
                ExitCode::SUCCESS
            }
            Ok(Some(opts)) => ExitCode::from(vmtest::run(&opts)),
            Err(e) => {
                eprintln!("vm-test: {e}\n(see cargo xtask vm-test --help)");
                ExitCode::from(2)
            }
        },
        Some("test") => match test::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask test: {e}");
                ExitCode::FAILURE
            }
        },
        Some("help" | "-h" | "--help") => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("xtask: unknown task `{other}`\n\n{HELP}");
            ExitCode::from(2)
        }
        None => {
            eprint!("{HELP}");
            ExitCode::from(2)
        }
    }
}
