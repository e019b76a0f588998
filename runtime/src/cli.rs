//! The command line: runc's, as go-runc and containerd's runc shim call it.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// An OCI runtime on the containment crate (the runc command line).
///
/// The global options go before the subcommand, as with runc.
// (runc's urfave/cli takes them nowhere else, and go-runc, containerd's
// shim, conmon and podman pass them there.) Not `global = true`: clap
// would copy each of them into every subcommand at each start (~70 µs of
// a `contrun` process's start, measured; BENCHMARKS.md). A `//` comment:
// the doc comment is the `--help` text.
#[derive(Debug, Parser)]
#[command(name = "contrun", disable_version_flag = true)]
pub struct Cli {
    /// Directory of the containers' state.
    #[arg(long, default_value = "/run/contrun")]
    pub root: PathBuf,
    /// Write errors and debug lines to this file (default: stderr).
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Format of the log: text or json (one object a line, `time` in RFC 3339).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Use systemd to manage cgroups (not available: an error).
    #[arg(long)]
    pub systemd_cgroup: bool,
    /// Log debug lines.
    #[arg(long)]
    pub debug: bool,
    /// Rootless mode (`true`, `false` or `auto`; only `false`/`auto` as root).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Print the version and the runtime-spec version.
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `time="..." level=error msg="..."`.
    Text,
    /// `{"level":"error","msg":"...","time":"..."}`.
    Json,
}

/// The subcommands. Deferred: clap builds only the arguments of the
/// subcommand given, not those of all seventeen at each start.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Create a container from a bundle; its program waits for `start`.
    Create(CreateArgs),
    /// Run the program of a created container.
    Start {
        /// Container id.
        id: String,
    },
    /// Create, start and wait for a container; exit with its status.
    Run(RunArgs),
    /// Print the state of a container (runtime-spec state JSON).
    State {
        /// Container id.
        id: String,
    },
    /// Send a signal to the container's process (default SIGTERM).
    Kill {
        /// Send to every process of the container.
        #[arg(short, long)]
        all: bool,
        /// Container id.
        id: String,
        /// Signal name or number.
        signal: Option<String>,
    },
    /// Delete a container and its resources.
    Delete {
        /// Kill a running container first.
        #[arg(short, long)]
        force: bool,
        /// Container id.
        id: String,
    },
    /// List the containers.
    List {
        /// table or json.
        #[arg(short, long, default_value = "table")]
        format: String,
        /// Only the ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Run a process in a running container.
    Exec(ExecArgs),
    /// List the processes of a container.
    Ps {
        /// table or json.
        #[arg(short, long, default_value = "table")]
        format: String,
        /// Container id.
        id: String,
        /// Options passed to ps(1) for the table format.
        ps_args: Vec<String>,
    },
    /// Freeze every process of the container.
    Pause {
        /// Container id.
        id: String,
    },
    /// Thaw a paused container.
    Resume {
        /// Container id.
        id: String,
    },
    /// Change the cgroup limits of a running container (runc update): an
    /// OCI `linux.resources` document (`--resources FILE`, `-` for stdin)
    /// and/or docker's flags; every field given is written, the others stay.
    Update(UpdateArgs),
    /// Print the container's cgroup statistics as runc's events JSON
    /// (`{"type":"stats","id":…,"data":{cpu,memory,pids}}`): once with
    /// `--stats`, else every `--interval` until the container stops, with
    /// an `{"type":"oom","id":…}` event each time the OOM killer kills in
    /// its cgroup (checked every 100 ms).
    Events {
        /// Print one stats event and exit.
        #[arg(long)]
        stats: bool,
        /// Seconds between two stats events.
        #[arg(long, default_value_t = 5)]
        interval: u64,
        /// Container id.
        id: String,
    },
    /// Print the features document (runtime-spec features.md).
    Features,
    /// Write a default config.json.
    Spec {
        /// Directory to write config.json into.
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
}

/// Flags of `create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The bundle directory (config.json and the root filesystem).
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write the container's pid here.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket to send the terminal's master to.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Unix socket to send the container's pidfd to.
    #[arg(long)]
    pub pidfd_socket: Option<PathBuf>,
    /// Do not use pivot_root (chroot instead).
    #[arg(long)]
    pub no_pivot: bool,
    /// Do not create a session keyring.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass this many descriptors after stdio (3, 4, …) to the container.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Container id.
    pub id: String,
}

/// Flags of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Do not wait: return after start.
    #[arg(short, long)]
    pub detach: bool,
    /// Accepted for runc compatibility (no subreaper is used).
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
}

/// Flags of `exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// A process.json (runtime-spec `process`) instead of ARGS.
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Do not wait for the process.
    #[arg(short, long)]
    pub detach: bool,
    /// Write the process's pid here.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Allocate a terminal (sent to --console-socket with --detach, else
    /// relayed to our own standard streams).
    #[arg(short, long)]
    pub tty: bool,
    /// Unix socket to send the terminal's master to.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Unix socket to send the process's pidfd to.
    #[arg(long)]
    pub pidfd_socket: Option<PathBuf>,
    /// Working directory inside the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Environment variables (K=V), repeatable.
    #[arg(short, long)]
    pub env: Vec<String>,
    /// `uid[:gid]` to run as.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Pass this many descriptors after stdio to the process.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Container id.
    pub id: String,
    /// The program and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Flags of `update` (runc's names; each maps to the docker flag of the
/// same name through `Resources::docker_flag`).
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// An OCI `linux.resources` JSON document, or `-` for stdin.
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    /// Memory limit (`512m`, `1g`, bytes).
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Memory plus swap limit (`-1`: unlimited).
    #[arg(long)]
    pub memory_swap: Option<String>,
    /// Memory soft limit.
    #[arg(long)]
    pub memory_reservation: Option<String>,
    /// CPU shares (relative weight).
    #[arg(long)]
    pub cpu_shares: Option<String>,
    /// CFS period, in microseconds.
    #[arg(long)]
    pub cpu_period: Option<String>,
    /// CFS quota, in microseconds.
    #[arg(long)]
    pub cpu_quota: Option<String>,
    /// CPUs the container may use (`0-2`, `0,1`).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use.
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Maximum number of tasks.
    #[arg(long)]
    pub pids_limit: Option<String>,
    /// Block IO weight (10-1000).
    #[arg(long)]
    pub blkio_weight: Option<String>,
    /// Container id.
    pub id: String,
}
