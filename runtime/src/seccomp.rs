//! `linux.seccomp` → a classic BPF program: the OCI profile is rewritten
//! into seccompiler's JSON form (which knows the syscall names of this
//! architecture) and compiled; the library installs the program.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};
use serde_json::{json, Value};

fn action(field: &str, a: LinuxSeccompAction, errno: Option<u32>) -> Result<Value> {
    use LinuxSeccompAction as A;
    Ok(match a {
        A::ScmpActAllow => json!("allow"),
        A::ScmpActErrno => json!({"errno": errno.unwrap_or(libc::EPERM as u32)}),
        A::ScmpActKill | A::ScmpActKillThread => json!("kill_thread"),
        A::ScmpActKillProcess => json!("kill_process"),
        A::ScmpActTrap => json!("trap"),
        A::ScmpActLog => json!("log"),
        A::ScmpActTrace => json!({"trace": errno.unwrap_or(0)}),
        other => return Err(Error::field(field, format!("{other:?} is not supported"))),
    })
}

/// A syscall name and its condition sets (None: unconditional).
type Rule = (String, Option<Vec<Value>>);

/// Compiles the profile for this architecture.
pub fn compile(s: &LinuxSeccomp) -> Result<containment::seccomp::Filter> {
    if s.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(Error::field("linux.seccomp.flags", "not supported yet"));
    }
    if s.listener_path().is_some() {
        return Err(Error::field(
            "linux.seccomp.listenerPath",
            "user notification is not supported yet",
        ));
    }
    let default = action(
        "linux.seccomp.defaultAction",
        s.default_action(),
        s.default_errno_ret(),
    )?;
    // (branch engines) Engines' profiles (docker's, podman's) use several
    // actions (allow, errno 1, errno 38 for clone3 ...). seccompiler
    // compiles one match action per program: one program per action, the
    // most restrictive first, each falling through to the next where it
    // does not match; the last one returns the allowed syscalls and the
    // default. As with stacked filters, the most restrictive action wins.
    // action -> [(name, condition sets (None: unconditional))].
    let mut groups: Vec<(Value, Vec<Rule>)> = Vec::new();
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        let a = action(&format!("{field}.action"), sc.action(), sc.errno_ret())?;
        if a == default {
            continue; // the same as not listed
        }
        let mut conds = Vec::new();
        for (j, arg) in sc.args().iter().flatten().enumerate() {
            let op = match arg.op() {
                LinuxSeccompOperator::ScmpCmpNe => json!("ne"),
                LinuxSeccompOperator::ScmpCmpLt => json!("lt"),
                LinuxSeccompOperator::ScmpCmpLe => json!("le"),
                LinuxSeccompOperator::ScmpCmpEq => json!("eq"),
                LinuxSeccompOperator::ScmpCmpGe => json!("ge"),
                LinuxSeccompOperator::ScmpCmpGt => json!("gt"),
                LinuxSeccompOperator::ScmpCmpMaskedEq => json!({"masked_eq": arg.value()}),
            };
            let val = if arg.op() == LinuxSeccompOperator::ScmpCmpMaskedEq {
                arg.value_two().unwrap_or(0)
            } else {
                arg.value()
            };
            if arg.index() > 5 {
                return Err(Error::field(
                    format!("{field}.args[{j}].index"),
                    "a syscall has 6 arguments (0..=5)",
                ));
            }
            conds.push(json!({"index": arg.index(), "type": "qword", "op": op, "val": val}));
        }
        let at = match groups.iter().position(|(g, _)| *g == a) {
            Some(at) => at,
            None => {
                groups.push((a, Vec::new()));
                groups.len() - 1
            }
        };
        for name in sc.names() {
            groups[at]
                .1
                .push((name.clone(), (!conds.is_empty()).then(|| conds.clone())));
        }
    }
    let arch: seccompiler::TargetArch = std::env::consts::ARCH
        .try_into()
        .map_err(|e| Error::msg(format!("seccomp: {e:?}")))?;
    // Names this architecture does not have are skipped (as libseccomp
    // does for a profile written for several architectures).
    let known = |name: &str| {
        let probe = json!({"main": {"mismatch_action": "allow", "match_action": {"errno": 1},
            "filter": [{"syscall": name}]}});
        seccompiler::compile_from_json(probe.to_string().as_bytes(), arch).is_ok()
    };
    let mut checked = std::collections::HashMap::new();
    let mut filter_of = |rules: &mut Vec<Rule>| -> Vec<Value> {
        // A syscall listed without conditions matches unconditionally: drop
        // its conditional entries (seccompiler would make it conditional
        // only).
        let unconditional: std::collections::HashSet<String> = rules
            .iter()
            .filter(|(_, c)| c.is_none())
            .map(|(n, _)| n.clone())
            .collect();
        rules.retain(|(n, c)| c.is_none() || !unconditional.contains(n));
        rules.dedup();
        let mut filter = Vec::new();
        for (n, c) in rules.iter() {
            let ok = *checked.entry(n.clone()).or_insert_with(|| known(n));
            if !ok {
                crate::log::debug(&format!("seccomp: no syscall {n} here, skipped"));
                continue;
            }
            filter.push(match c {
                Some(c) => json!({"syscall": n, "args": c}),
                None => json!({"syscall": n}),
            });
        }
        filter
    };
    let rank = |a: &Value| match a.as_str() {
        Some("kill_process") => 0,
        Some("kill_thread") => 1,
        Some("trap") => 2,
        None if a.get("errno").is_some() => 3,
        None => 4, // trace
        Some("log") => 5,
        _ => 6, // allow
    };
    groups.sort_by_key(|(a, _)| rank(a));
    let allow = json!("allow");
    let (mut allowed, rest): (Vec<_>, Vec<_>) = groups.into_iter().partition(|(a, _)| *a == allow);
    let mut prog: Vec<libc::sock_filter> = Vec::new();
    for (a, mut rules) in rest {
        let filter = filter_of(&mut rules);
        if filter.is_empty() {
            continue;
        }
        let json = json!({"main": {"mismatch_action": "allow", "match_action": a,
            "filter": filter}});
        // Where this program allows (it did not match), go on to the next.
        let part = compile_one(&json, arch)?;
        let len = part.len();
        for (i, mut ins) in part.into_iter().enumerate() {
            if ins.code == (BPF_RET | BPF_K) as u16 && ins.k == SECCOMP_RET_ALLOW {
                ins = libc::sock_filter {
                    code: (BPF_JMP | BPF_JA) as u16,
                    jt: 0,
                    jf: 0,
                    k: (len - i - 1) as u32,
                };
            }
            prog.push(ins);
        }
    }
    let last = match allowed.pop() {
        Some((_, mut rules)) => {
            let filter = filter_of(&mut rules);
            if filter.is_empty() {
                None
            } else {
                Some(
                    json!({"main": {"mismatch_action": default, "match_action": "allow",
                    "filter": filter}}),
                )
            }
        }
        None => None,
    };
    match last {
        Some(last) => prog.extend(compile_one(&last, arch)?),
        // Nothing listed as allowed: every syscall that got here takes the
        // default (the programs before checked the architecture).
        None => prog.push(libc::sock_filter {
            code: (BPF_RET | BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: ret_value(&default),
        }),
    }
    containment::seccomp::Filter::from_bpf(prog).map_err(|e| Error::field("linux.seccomp", e))
}

const BPF_RET: u32 = 0x06;
const BPF_K: u32 = 0x00;
const BPF_JMP: u32 = 0x05;
const BPF_JA: u32 = 0x00;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;

/// The `SECCOMP_RET_*` value of an action in seccompiler's JSON form.
fn ret_value(a: &Value) -> u32 {
    match a.as_str() {
        Some("allow") => SECCOMP_RET_ALLOW,
        Some("kill_process") => 0x8000_0000,
        Some("kill_thread") => 0,
        Some("trap") => 0x0003_0000,
        Some("log") => 0x7ffc_0000,
        _ => match (a.get("errno"), a.get("trace")) {
            (Some(n), _) => 0x0005_0000 | (n.as_u64().unwrap_or(1) as u32 & 0xffff),
            (_, Some(n)) => 0x7ff0_0000 | (n.as_u64().unwrap_or(0) as u32 & 0xffff),
            _ => 0,
        },
    }
}

fn compile_one(json: &Value, arch: seccompiler::TargetArch) -> Result<Vec<libc::sock_filter>> {
    let mut map = seccompiler::compile_from_json(json.to_string().as_bytes(), arch)
        .map_err(|e| Error::field("linux.seccomp", e))?;
    Ok(map
        .remove("main")
        .ok_or_else(|| Error::msg("seccomp: no program compiled"))?
        .into_iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect())
}
