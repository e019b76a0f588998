//! Device access rules: docker's `--device-cgroup-rule`, the OCI runtime
//! spec's `linux.resources.devices`.
//!
//! A list of [`DeviceRule`]s is read in order, starting from "every device
//! allowed" (the kernel's default for a new cgroup), with the semantics of
//! the cgroup v1 `devices` controller
//! (Documentation/admin-guide/cgroup-v1/devices.rst), which runc's device
//! emulator also follows:
//!
//! - a rule of type `a` with wildcard major and minor and access `rwm`
//!   resets the state: `allow` → every device allowed, `deny` → every device
//!   denied, no exceptions;
//! - any other rule adds an exception to the default (an `allow` rule when
//!   the default is deny, a `deny` rule when it is allow), or takes access
//!   away from the exception of exactly the same type, major and minor (a
//!   rule of the same kind as the default).
//!
//! When the default is deny, an access is allowed when one exception
//! covers all of it (type, major, minor, every requested access bit); when
//! the default is allow, it is denied when one exception shares any
//! requested bit. The usual list is a deny-all rule then the allowed
//! devices (`DeviceRule::deny_all()`, `c 1:3 rwm`, …), as docker and runc
//! write it.
//!
//! How the state is enforced:
//! - cgroup v1: `a` written to `devices.deny` (or `devices.allow`), then
//!   one line per exception to the other file;
//! - cgroup v2: a `BPF_PROG_TYPE_CGROUP_DEVICE` program attached to the
//!   cgroup (`BPF_F_ALLOW_MULTI`), emitted here (a dozen instructions per
//!   exception, as runc's `devicefilter`); a new program replaces the one
//!   attached earlier by this crate (recognised by its name, so programs of
//!   others, e.g. systemd's, stay);
//! - systemd: `DevicePolicy=strict` and `DeviceAllow=` (only a default-deny
//!   list is expressible there).
//!
//! The whole list is applied on each [`Cgroup::apply`](super::Cgroup::apply)
//! that carries rules. A v1 update reads `devices.list` first: from a
//! default of deny to a default of deny it writes only the difference
//! (accesses that go are removed before new ones are added, so nothing
//! still allowed is refused for a moment, and nothing more is allowed);
//! to a default of deny from anything else it resets to deny-all first.
//! A list with a default of allow (one that does not start with a deny-all
//! rule) can only be written by allowing every device first, then denying
//! the exceptions again: the cgroup's tasks are frozen around those writes
//! (and left frozen if they were), so no program of it can use that
//! moment.
//!
//! # References
//!
//! Documentation/admin-guide/cgroup-v1/devices.rst; `bpf(2)`,
//! `include/uapi/linux/bpf.h` (`struct bpf_cgroup_dev_ctx`); the OCI runtime
//! spec, config-linux.md "Allowed Device Cgroup".

use std::fmt;
use std::str::FromStr;

use super::Error;

fn invalid(value: impl fmt::Display, reason: impl Into<String>) -> Error {
    Error::Invalid {
        field: "device_rule",
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// The device type a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceType {
    /// `a`: character and block devices.
    All,
    /// `c`: character devices.
    Char,
    /// `b`: block devices.
    Block,
}

impl DeviceType {
    fn letter(self) -> char {
        match self {
            DeviceType::All => 'a',
            DeviceType::Char => 'c',
            DeviceType::Block => 'b',
        }
    }
}

bitflags::bitflags! {
    /// Device access: read, write, mknod (`rwm`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct DeviceAccess: u8 {
        /// `m`: create a device node (`mknod(2)`).
        const MKNOD = 1;
        /// `r`: open for reading.
        const READ = 2;
        /// `w`: open for writing.
        const WRITE = 4;
    }
}

impl fmt::Display for DeviceAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (flag, c) in [
            (DeviceAccess::READ, 'r'),
            (DeviceAccess::WRITE, 'w'),
            (DeviceAccess::MKNOD, 'm'),
        ] {
            if self.contains(flag) {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for DeviceAccess {
    type Err = Error;

    /// `r`, `w`, `m` in any order, each at most once, at least one.
    fn from_str(s: &str) -> Result<DeviceAccess, Error> {
        let mut a = DeviceAccess::empty();
        for c in s.chars() {
            let f = match c {
                'r' => DeviceAccess::READ,
                'w' => DeviceAccess::WRITE,
                'm' => DeviceAccess::MKNOD,
                _ => {
                    return Err(invalid(
                        s,
                        format!("unknown access {c:?} (expected r, w, m)"),
                    ))
                }
            };
            if a.contains(f) {
                return Err(invalid(s, format!("access {c:?} given twice")));
            }
            a |= f;
        }
        if a.is_empty() {
            return Err(invalid(s, "no access given (expected some of rwm)"));
        }
        Ok(a)
    }
}

/// One device rule: allow or deny `access` to the devices of `kind` with
/// this major and minor (`None`: any).
///
/// Text form (docker's `--device-cgroup-rule`, v1's `devices.allow`):
/// `c 1:3 rwm`, `b 8:* r`, `a *:* rwm`; parsing gives an allow rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceRule {
    /// Allow (`true`) or deny.
    pub allow: bool,
    /// Which device type.
    pub kind: DeviceType,
    /// The major number, `None` for any.
    pub major: Option<u32>,
    /// The minor number, `None` for any.
    pub minor: Option<u32>,
    /// The access the rule is about.
    pub access: DeviceAccess,
}

impl DeviceRule {
    /// An allow rule.
    pub fn allow(
        kind: DeviceType,
        major: Option<u32>,
        minor: Option<u32>,
        access: DeviceAccess,
    ) -> DeviceRule {
        DeviceRule {
            allow: true,
            kind,
            major,
            minor,
            access,
        }
    }

    /// A deny rule.
    pub fn deny(
        kind: DeviceType,
        major: Option<u32>,
        minor: Option<u32>,
        access: DeviceAccess,
    ) -> DeviceRule {
        DeviceRule {
            allow: false,
            ..DeviceRule::allow(kind, major, minor, access)
        }
    }

    /// `a *:* rwm` denied: every device refused (the first rule of
    /// docker's and runc's lists).
    pub fn deny_all() -> DeviceRule {
        DeviceRule::deny(DeviceType::All, None, None, DeviceAccess::all())
    }

    /// `a *:* rwm` allowed: every device (docker's `--privileged`).
    pub fn allow_all() -> DeviceRule {
        DeviceRule::allow(DeviceType::All, None, None, DeviceAccess::all())
    }

    /// Whether the rule resets the default (`a *:* rwm`).
    fn is_default(&self) -> bool {
        self.kind == DeviceType::All
            && self.major.is_none()
            && self.minor.is_none()
            && self.access == DeviceAccess::all()
    }

    /// The v1 line (`c 1:3 rwm`).
    fn line(&self) -> String {
        let n = |v: Option<u32>| v.map_or("*".to_string(), |v| v.to_string());
        format!(
            "{} {}:{} {}",
            self.kind.letter(),
            n(self.major),
            n(self.minor),
            self.access
        )
    }
}

impl fmt::Display for DeviceRule {
    /// `c 1:3 rwm` for an allow rule, `deny c 1:3 rwm` for a deny rule.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.allow {
            write!(f, "deny ")?;
        }
        write!(f, "{}", self.line())
    }
}

impl FromStr for DeviceRule {
    type Err = Error;

    /// Docker's `--device-cgroup-rule` text: `TYPE MAJOR:MINOR ACCESS`
    /// (`c 1:3 rwm`, `b 8:* r`, `a *:* rwm`), an allow rule. A leading
    /// `deny ` makes it a deny rule (as [`Display`](fmt::Display) writes).
    fn from_str(s: &str) -> Result<DeviceRule, Error> {
        let t = s.trim();
        let (allow, t) = match t.strip_prefix("deny ") {
            Some(rest) => (false, rest.trim_start()),
            None => (true, t),
        };
        let mut it = t.split_whitespace();
        let (Some(kind), Some(nums), Some(access), None) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(invalid(
                s,
                "expected TYPE MAJOR:MINOR ACCESS, e.g. `c 1:3 rwm`",
            ));
        };
        let kind = match kind {
            "a" => DeviceType::All,
            "c" => DeviceType::Char,
            "b" => DeviceType::Block,
            _ => return Err(invalid(s, "type must be a, c or b")),
        };
        let (maj, min) = nums
            .split_once(':')
            .ok_or_else(|| invalid(s, "expected MAJOR:MINOR (numbers or *)"))?;
        let num = |v: &str| -> Result<Option<u32>, Error> {
            if v == "*" {
                return Ok(None);
            }
            match v.parse::<u32>() {
                // The v1 controller's `*` (~0): not a device number.
                Ok(u32::MAX) | Err(_) => {
                    Err(invalid(s, format!("{v:?} is not a device number or *")))
                }
                Ok(n) => Ok(Some(n)),
            }
        };
        Ok(DeviceRule {
            allow,
            kind,
            major: num(maj)?,
            minor: num(min)?,
            access: access.parse()?,
        })
    }
}

/// The state a rule list leads to: a default and exceptions to it (each
/// of type `c` or `b`, or `a` only with a number given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceState {
    /// Every device allowed unless an exception denies it.
    pub default_allow: bool,
    /// Exceptions (their `allow` is `!default_allow`).
    pub exceptions: Vec<DeviceRule>,
}

/// The v1 writes of a device rule update ([`DeviceState::v1_transition`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V1Transition {
    /// `(file, line)` in order.
    pub writes: Vec<(&'static str, String)>,
    /// Every device is allowed between the first write and the last: the
    /// cgroup's tasks must be frozen around them.
    pub freeze: bool,
}

/// A v1 `devices.list`: `a *:* rwm` alone is a default of allow (its deny
/// exceptions are not shown); anything else is a default of deny with
/// exactly the listed exceptions. `None` for what this crate would not
/// write (an `a` exception with numbers) or cannot parse.
fn parse_v1_list(list: &str) -> Option<DeviceState> {
    let lines: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines == ["a *:* rwm"] {
        return Some(DeviceState {
            default_allow: true,
            exceptions: Vec::new(),
        });
    }
    let mut exceptions = Vec::new();
    for l in lines {
        let r: DeviceRule = l.parse().ok()?;
        if r.kind == DeviceType::All {
            return None;
        }
        exceptions.push(r);
    }
    Some(DeviceState {
        default_allow: false,
        exceptions,
    })
}

/// Runs `rules` over the initial allow-all state, as the v1 kernel does.
pub(crate) fn emulate(rules: &[DeviceRule]) -> DeviceState {
    let mut st = DeviceState {
        default_allow: true,
        exceptions: Vec::new(),
    };
    for r in rules {
        if r.is_default() {
            st.default_allow = r.allow;
            st.exceptions.clear();
            continue;
        }
        // `a *:* r` (partial access): one exception per type, so that v1
        // (which reads any `a` line as "all") is not misled.
        let kinds: &[DeviceType] =
            if r.kind == DeviceType::All && r.major.is_none() && r.minor.is_none() {
                &[DeviceType::Char, DeviceType::Block]
            } else {
                std::slice::from_ref(&r.kind)
            };
        for &kind in kinds {
            let r = DeviceRule { kind, ..*r };
            let same =
                |e: &DeviceRule| e.kind == r.kind && e.major == r.major && e.minor == r.minor;
            if r.allow != st.default_allow {
                // An exception: add, or widen the same one.
                match st.exceptions.iter_mut().find(|e| same(e)) {
                    Some(e) => e.access |= r.access,
                    None => st.exceptions.push(r),
                }
            } else {
                // Take the access away from the same exception.
                for e in st.exceptions.iter_mut().filter(|e| same(e)) {
                    e.access.remove(r.access);
                }
                st.exceptions.retain(|e| !e.access.is_empty());
            }
        }
    }
    st
}

impl DeviceState {
    /// Whether this state allows `access` to a device (what the kernel
    /// decides; used to test the emitted program's logic).
    #[cfg(test)]
    pub(crate) fn allows(
        &self,
        kind: DeviceType,
        major: u32,
        minor: u32,
        access: DeviceAccess,
    ) -> bool {
        let hits = |e: &DeviceRule| {
            (e.kind == DeviceType::All || e.kind == kind)
                && e.major.map_or(true, |m| m == major)
                && e.minor.map_or(true, |m| m == minor)
        };
        if self.default_allow {
            !self
                .exceptions
                .iter()
                .any(|e| hits(e) && e.access.intersects(access))
        } else {
            self.exceptions
                .iter()
                .any(|e| hits(e) && e.access.contains(access))
        }
    }

    /// The v1 writes: `(file, line)`, the default first. An exception of
    /// type `a` with a number is written once per type.
    pub(crate) fn v1_lines(&self) -> Vec<(&'static str, String)> {
        let (default_file, exc_file) = if self.default_allow {
            ("devices.allow", "devices.deny")
        } else {
            ("devices.deny", "devices.allow")
        };
        let mut v = vec![(default_file, "a".to_string())];
        for e in &self.exceptions {
            if e.kind == DeviceType::All {
                for kind in [DeviceType::Char, DeviceType::Block] {
                    v.push((exc_file, DeviceRule { kind, ..*e }.line()));
                }
            } else {
                v.push((exc_file, e.line()));
            }
        }
        v
    }

    /// The v1 writes that take a devices directory whose `devices.list`
    /// reads `list` to this state, without a moment where more is allowed
    /// than before or after, where the kernel lets that be known.
    ///
    /// `devices.list` shows a default-deny cgroup's exceptions exactly, and
    /// a default-allow one only as `a *:* rwm` (its deny exceptions are not
    /// shown). So:
    /// - default deny to default deny: the allowed accesses that go are
    ///   removed first (`devices.deny` of the same type and numbers), then
    ///   the new ones added: no deny-all reset, so nothing the container
    ///   keeps using is refused for a moment (runc's minimal transition,
    ///   opencontainers/runc#2391);
    /// - anything else to default deny: `a` to `devices.deny` first (for a
    ///   moment less is allowed, never more), then the exceptions;
    /// - to default allow: `a` to `devices.allow`, which allows every device
    ///   until the deny exceptions follow: `freeze` is then true, and the
    ///   caller freezes the cgroup's tasks around the writes.
    ///
    /// An unreadable list (or one with an exception of type `a` and
    /// numbers, which this crate never writes) takes the reset path.
    pub(crate) fn v1_transition(&self, list: Option<&str>) -> V1Transition {
        let current = list.and_then(parse_v1_list);
        match current {
            Some(cur) if !cur.default_allow && !self.default_allow => {
                // What is written for the target: exceptions of type c or b
                // (an `a` one with numbers is written once per type).
                let target: Vec<DeviceRule> = self
                    .v1_lines()
                    .into_iter()
                    .skip(1)
                    .filter_map(|(_, l)| l.parse().ok())
                    .collect();
                let key = |e: &DeviceRule| (e.kind, e.major, e.minor);
                let union = |list: &[DeviceRule], r: &DeviceRule| {
                    list.iter()
                        .filter(|e| key(e) == key(r))
                        .fold(DeviceAccess::empty(), |a, e| a | e.access)
                };
                let mut writes = Vec::new();
                for c in &cur.exceptions {
                    let gone = c.access - union(&target, c);
                    if !gone.is_empty() {
                        writes.push(("devices.deny", DeviceRule { access: gone, ..*c }.line()));
                    }
                }
                for t in &target {
                    if !union(&cur.exceptions, t).contains(t.access) {
                        writes.push(("devices.allow", t.line()));
                    }
                }
                V1Transition {
                    writes,
                    freeze: false,
                }
            }
            _ => V1Transition {
                writes: self.v1_lines(),
                freeze: self.default_allow,
            },
        }
    }

    /// systemd's `DevicePolicy` and `DeviceAllow` entries for this state,
    /// `None` when systemd cannot express it (a default of allow with
    /// exceptions). Specific devices are named `/dev/char/MAJ:MIN` or
    /// `/dev/block/MAJ:MIN`, whole types `char-*`/`block-*`; a wildcard
    /// minor takes the driver's name from `/proc/devices` (`char-pts`).
    pub(crate) fn systemd(
        &self,
        proc_devices: &str,
    ) -> Option<(&'static str, Vec<(String, String)>)> {
        if self.default_allow {
            return self.exceptions.is_empty().then(|| ("auto", Vec::new()));
        }
        let mut allow = Vec::new();
        for e in &self.exceptions {
            let kinds: &[DeviceType] = if e.kind == DeviceType::All {
                &[DeviceType::Char, DeviceType::Block]
            } else {
                std::slice::from_ref(&e.kind)
            };
            for &k in kinds {
                let word = if k == DeviceType::Char {
                    "char"
                } else {
                    "block"
                };
                let path = match (e.major, e.minor) {
                    (Some(ma), Some(mi)) => format!("/dev/{word}/{ma}:{mi}"),
                    (None, _) => format!("{word}-*"),
                    (Some(ma), None) => {
                        format!("{word}-{}", driver_name(proc_devices, k, ma)?)
                    }
                };
                // systemd accepts r, w, m in DeviceAllow.
                allow.push((path, e.access.to_string()));
            }
        }
        Some(("strict", allow))
    }
}

/// The driver of `major` in `/proc/devices` text (the section of `kind`).
fn driver_name(proc_devices: &str, kind: DeviceType, major: u32) -> Option<String> {
    let section = match kind {
        DeviceType::Block => "Block devices:",
        _ => "Character devices:",
    };
    let mut on = false;
    for l in proc_devices.lines() {
        if l.ends_with(':') {
            on = l.trim() == section;
            continue;
        }
        if !on {
            continue;
        }
        let mut it = l.split_whitespace();
        if it.next()?.parse::<u32>().ok() == Some(major) {
            return it.next().map(str::to_string);
        }
    }
    None
}

// ------------------------------------------------------- the BPF program

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Insn {
    code: u8,
    /// dst (low nibble), src (high nibble).
    regs: u8,
    off: i16,
    imm: i32,
}

const BPF_LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const BPF_ALU_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K (32-bit)
const BPF_ALU_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const BPF_ALU_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const BPF_ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const BPF_JMP_JEQ_K: u8 = 0x15;
const BPF_JMP_JNE_K: u8 = 0x55;
const BPF_EXIT: u8 = 0x95;

/// `BPF_DEVCG_DEV_BLOCK`, `BPF_DEVCG_DEV_CHAR`.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0xf),
        off,
        imm,
    }
}

/// The program for `st`: loads the device's type (r2), access (r3), major
/// (r4) and minor (r5) from `struct bpf_cgroup_dev_ctx`, checks each
/// exception in turn (a jump past the block on the first mismatch), and
/// returns the default when none matched (1 allows, 0 refuses).
pub(crate) fn program(st: &DeviceState) -> Vec<Insn> {
    let mut p = vec![
        insn(BPF_LDX_MEM_W, 2, 1, 0, 0),
        insn(BPF_ALU_AND_K, 2, 0, 0, 0xffff),
        insn(BPF_LDX_MEM_W, 3, 1, 0, 0),
        insn(BPF_ALU_RSH_K, 3, 0, 0, 16),
        insn(BPF_LDX_MEM_W, 4, 1, 4, 0),
        insn(BPF_LDX_MEM_W, 5, 1, 8, 0),
    ];
    let verdict = |allow: bool| i32::from(allow);
    for e in &st.exceptions {
        // Each check is one conditional jump to the end of this block;
        // collect them with a placeholder offset, then fix the offsets.
        let mut block: Vec<(Insn, bool)> = Vec::new();
        match e.kind {
            DeviceType::Char => block.push((insn(BPF_JMP_JNE_K, 2, 0, 0, DEV_CHAR), true)),
            DeviceType::Block => block.push((insn(BPF_JMP_JNE_K, 2, 0, 0, DEV_BLOCK), true)),
            DeviceType::All => {}
        }
        if e.access != DeviceAccess::all() {
            let bits = i32::from(e.access.bits());
            block.push((insn(BPF_ALU_MOV_X, 1, 3, 0, 0), false));
            if st.default_allow {
                // A deny exception hits when any requested bit is in it.
                block.push((insn(BPF_ALU_AND_K, 1, 0, 0, bits), false));
                block.push((insn(BPF_JMP_JEQ_K, 1, 0, 0, 0), true));
            } else {
                // An allow exception hits when every requested bit is.
                block.push((insn(BPF_ALU_AND_K, 1, 0, 0, !bits), false));
                block.push((insn(BPF_JMP_JNE_K, 1, 0, 0, 0), true));
            }
        }
        if let Some(m) = e.major {
            block.push((insn(BPF_JMP_JNE_K, 4, 0, 0, m as i32), true));
        }
        if let Some(m) = e.minor {
            block.push((insn(BPF_JMP_JNE_K, 5, 0, 0, m as i32), true));
        }
        block.push((
            insn(BPF_ALU64_MOV_K, 0, 0, 0, verdict(!st.default_allow)),
            false,
        ));
        block.push((insn(BPF_EXIT, 0, 0, 0, 0), false));
        let n = block.len();
        for (i, (mut ins, jump)) in block.into_iter().enumerate() {
            if jump {
                // To the instruction after this block.
                ins.off = (n - i - 1) as i16;
            }
            p.push(ins);
        }
    }
    p.push(insn(BPF_ALU64_MOV_K, 0, 0, 0, verdict(st.default_allow)));
    p.push(insn(BPF_EXIT, 0, 0, 0, 0));
    p
}

/// Runs `prog` on one device access, as the kernel would (the subset of
/// eBPF [`program`] emits): a check of the emitter without root.
#[cfg(test)]
pub(crate) fn interpret(
    prog: &[Insn],
    kind: DeviceType,
    major: u32,
    minor: u32,
    access: DeviceAccess,
) -> u64 {
    let ty = match kind {
        DeviceType::Block => DEV_BLOCK as u32,
        _ => DEV_CHAR as u32,
    };
    let ctx = [(u32::from(access.bits()) << 16) | ty, major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    loop {
        let i = prog[pc];
        let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
        let imm64 = i.imm as i64 as u64;
        pc += 1;
        match i.code {
            BPF_LDX_MEM_W => {
                assert_eq!(src, 1);
                r[dst] = u64::from(ctx[i.off as usize / 4]);
            }
            BPF_ALU_AND_K => r[dst] = u64::from((r[dst] as u32) & (i.imm as u32)),
            BPF_ALU_RSH_K => r[dst] = u64::from((r[dst] as u32) >> i.imm),
            BPF_ALU_MOV_X => r[dst] = u64::from(r[src] as u32),
            BPF_ALU64_MOV_K => r[dst] = imm64,
            BPF_JMP_JEQ_K => {
                if r[dst] == imm64 {
                    pc += i.off as usize;
                }
            }
            BPF_JMP_JNE_K => {
                if r[dst] != imm64 {
                    pc += i.off as usize;
                }
            }
            BPF_EXIT => return r[0],
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
}

pub(crate) mod bpf;

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(list: &[&str]) -> Vec<DeviceRule> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn parse_and_display() {
        let r: DeviceRule = "c 1:3 rwm".parse().unwrap();
        assert_eq!(
            r,
            DeviceRule::allow(DeviceType::Char, Some(1), Some(3), DeviceAccess::all())
        );
        assert_eq!(r.to_string(), "c 1:3 rwm");
        let r: DeviceRule = "deny b 8:* r".parse().unwrap();
        assert!(!r.allow);
        assert_eq!(r.minor, None);
        assert_eq!(r.to_string(), "deny b 8:* r");
        assert_eq!(
            "a *:* mwr".parse::<DeviceRule>().unwrap(),
            DeviceRule::allow_all()
        );
        for bad in [
            "",
            "c 1:3",
            "x 1:3 r",
            "c 1 r",
            "c 1:3 rx",
            "c 1:3 rr",
            "c -1:3 r",
            "c 1:3 r w",
        ] {
            let e = bad.parse::<DeviceRule>().unwrap_err();
            assert_eq!(e.field(), Some("device_rule"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn docker_flag() {
        let r = crate::cgroup::Resources::new()
            .docker_flag("--device-cgroup-rule", "c 1:3 rwm")
            .unwrap()
            .docker_flag("--device-cgroup-rule", "b 8:* r")
            .unwrap();
        assert_eq!(r.device_rule_list().len(), 2);
        assert_eq!(r.controllers(), vec!["devices"]);
        let e = crate::cgroup::Resources::new()
            .docker_flag("--device-cgroup-rule", "c 1:3 x")
            .unwrap_err();
        assert_eq!(e.field(), Some("--device-cgroup-rule"));
    }

    #[test]
    fn emulation_follows_the_v1_kernel() {
        let st = emulate(&rules(&[
            "deny a *:* rwm",
            "c 1:3 rwm",
            "c 1:5 r",
            "c 1:5 w",
        ]));
        assert!(!st.default_allow);
        assert_eq!(st.exceptions.len(), 2);
        assert_eq!(
            st.exceptions[1].access,
            DeviceAccess::READ | DeviceAccess::WRITE
        );
        assert_eq!(
            st.v1_lines(),
            vec![
                ("devices.deny", "a".into()),
                ("devices.allow", "c 1:3 rwm".into()),
                ("devices.allow", "c 1:5 rw".into()),
            ]
        );
        // A deny of the same device narrows it; a reset clears all.
        let st2 = emulate(&rules(&["deny a *:* rwm", "c 1:3 rwm", "deny c 1:3 w"]));
        assert_eq!(
            st2.exceptions[0].access,
            DeviceAccess::READ | DeviceAccess::MKNOD
        );
        assert_eq!(
            emulate(&rules(&["deny a *:* rwm", "c 1:3 rwm", "a *:* rwm"])).exceptions,
            vec![]
        );
        // Default allow with a deny exception.
        let st3 = emulate(&rules(&["deny c 1:3 w"]));
        assert!(st3.default_allow);
        assert_eq!(st3.v1_lines()[1], ("devices.deny", "c 1:3 w".into()));
        // `a *:* r` partial: one exception per type.
        let st4 = emulate(&rules(&["deny a *:* rwm", "a *:* r"]));
        assert_eq!(st4.v1_lines().len(), 3);
    }

    #[test]
    fn the_program_decides_as_the_kernel_would() {
        let lists: [&[&str]; 5] = [
            &[
                "deny a *:* rwm",
                "c 1:3 rwm",
                "c 1:5 r",
                "b 8:* rw",
                "c *:* m",
                "a 10:200 r",
            ],
            &["deny c 1:3 w", "deny b *:* m", "deny a 4:* r"],
            &[],
            &["deny a *:* rwm"],
            &["deny a *:* rwm", "a *:* r"],
        ];
        for list in lists {
            let st = emulate(&rules(list));
            let prog = program(&st);
            for kind in [DeviceType::Char, DeviceType::Block] {
                for (major, minor) in [(1, 3), (1, 5), (8, 0), (8, 1), (10, 200), (4, 2), (7, 7)] {
                    for bits in 1..=7u8 {
                        let a = DeviceAccess::from_bits(bits).unwrap();
                        let want = st.allows(kind, major, minor, a);
                        let got = interpret(&prog, kind, major, minor, a) == 1;
                        assert_eq!(got, want, "{list:?} {kind:?} {major}:{minor} {a}");
                    }
                }
            }
        }
        // The deny-all list: /dev/null allowed, /dev/zero refused.
        let st = emulate(&rules(&["deny a *:* rwm", "c 1:3 rw"]));
        assert!(st.allows(DeviceType::Char, 1, 3, DeviceAccess::READ));
        assert!(!st.allows(DeviceType::Char, 1, 5, DeviceAccess::READ));
        assert!(!st.allows(DeviceType::Char, 1, 3, DeviceAccess::MKNOD));
    }

    #[test]
    fn v1_transitions() {
        let target = |l: &[&str]| emulate(&rules(l));
        let w = |v: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
            v.iter().map(|(f, l)| (*f, l.to_string())).collect()
        };
        // Deny to deny: the difference, removals first, no reset.
        let t = target(&["deny a *:* rwm", "c 1:3 rwm", "c 1:8 r", "c 1:5 rw"])
            .v1_transition(Some("c 1:3 rwm\nc 1:5 rwm\nc 1:9 r\n"));
        assert_eq!(
            t.writes,
            w(&[
                ("devices.deny", "c 1:5 m"),
                ("devices.deny", "c 1:9 r"),
                ("devices.allow", "c 1:8 r"),
            ])
        );
        assert!(!t.freeze);
        // Nothing to do.
        let t = target(&["deny a *:* rwm", "c 1:3 rwm"]).v1_transition(Some("c 1:3 rwm\n"));
        assert!(t.writes.is_empty() && !t.freeze, "{t:?}");
        // An `a` exception with numbers is compared as its c and b lines.
        let t = target(&["deny a *:* rwm", "a 7:* r"]).v1_transition(Some("c 7:* r\n"));
        assert_eq!(t.writes, w(&[("devices.allow", "b 7:* r")]));
        // From a default of allow (its denies unknown), from an unknown
        // list, or from an `a` exception: reset to deny first.
        for from in [Some("a *:* rwm\n"), None, Some("a 1:3 r\n"), Some("x")] {
            let t = target(&["deny a *:* rwm", "c 1:3 rwm"]).v1_transition(from);
            assert_eq!(
                t.writes,
                w(&[("devices.deny", "a"), ("devices.allow", "c 1:3 rwm")]),
                "{from:?}"
            );
            assert!(!t.freeze);
        }
        // To a default of allow: every device allowed for a moment, frozen.
        for from in [Some("a *:* rwm\n"), Some("c 1:3 rwm\n"), None] {
            let t = target(&["deny c 1:3 w"]).v1_transition(from);
            assert_eq!(
                t.writes,
                w(&[("devices.allow", "a"), ("devices.deny", "c 1:3 w")])
            );
            assert!(t.freeze, "{from:?}");
        }
        // An empty default-deny cgroup lists nothing.
        let t = target(&["deny a *:* rwm", "c 1:3 r"]).v1_transition(Some(""));
        assert_eq!(t.writes, w(&[("devices.allow", "c 1:3 r")]));
    }

    #[test]
    fn systemd_properties() {
        let devs = "Character devices:\n  1 mem\n136 pts\n\nBlock devices:\n  8 sd\n";
        let st = emulate(&rules(&[
            "deny a *:* rwm",
            "c 1:3 rwm",
            "c 136:* rw",
            "b *:* m",
        ]));
        let (policy, allow) = st.systemd(devs).unwrap();
        assert_eq!(policy, "strict");
        assert_eq!(
            allow,
            vec![
                ("/dev/char/1:3".to_string(), "rwm".to_string()),
                ("char-pts".into(), "rw".into()),
                ("block-*".into(), "m".into()),
            ]
        );
        assert_eq!(emulate(&[]).systemd(devs), Some(("auto", vec![])));
        assert_eq!(emulate(&rules(&["deny c 1:3 w"])).systemd(devs), None);
        assert_eq!(
            emulate(&rules(&["deny a *:* rwm", "c 99:* r"])).systemd(devs),
            None
        );
    }
}
