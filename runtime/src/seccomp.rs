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
    // One match action for every listed syscall (seccompiler's shape).
    let mut matched: Option<Value> = None;
    // name -> list of condition sets (None: unconditional).
    let mut rules: Vec<(String, Option<Vec<Value>>)> = Vec::new();
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        let a = action(&format!("{field}.action"), sc.action(), sc.errno_ret())?;
        if a == default {
            continue; // the same as not listed
        }
        match &matched {
            None => matched = Some(a.clone()),
            Some(m) if *m == a => {}
            Some(m) => {
                return Err(Error::field(
                    format!("{field}.action"),
                    format!(
                        "{a} differs from an earlier entry's {m}: one action besides the default \
                         is supported yet"
                    ),
                ))
            }
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
        for name in sc.names() {
            rules.push((name.clone(), (!conds.is_empty()).then(|| conds.clone())));
        }
    }
    // A syscall listed without conditions matches unconditionally: drop its
    // conditional entries (seccompiler would make it conditional only).
    let unconditional: std::collections::HashSet<String> = rules
        .iter()
        .filter(|(_, c)| c.is_none())
        .map(|(n, _)| n.clone())
        .collect();
    rules.retain(|(n, c)| c.is_none() || !unconditional.contains(n));
    rules.dedup();
    let arch: seccompiler::TargetArch = std::env::consts::ARCH
        .try_into()
        .map_err(|e| Error::msg(format!("seccomp: {e:?}")))?;
    let Some(matched) = matched else {
        // Nothing differs from the default action.
        let json = json!({"main": {"mismatch_action": default, "match_action": default,
            "filter": [{"syscall": "read"}]}});
        return build(&json, arch);
    };
    // Names this architecture does not have are skipped (as libseccomp
    // does for a profile written for several architectures).
    let known = |name: &str| {
        let probe = json!({"main": {"mismatch_action": "allow", "match_action": {"errno": 1},
            "filter": [{"syscall": name}]}});
        seccompiler::compile_from_json(probe.to_string().as_bytes(), arch).is_ok()
    };
    let mut checked = std::collections::HashMap::new();
    let mut filter = Vec::new();
    for (n, c) in &rules {
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
    if filter.is_empty() {
        return Err(Error::field(
            "linux.seccomp.syscalls",
            "none of the listed syscalls exists on this architecture",
        ));
    }
    let json = json!({"main": {"mismatch_action": default, "match_action": matched,
        "filter": filter}});
    build(&json, arch)
}

fn build(json: &Value, arch: seccompiler::TargetArch) -> Result<containment::seccomp::Filter> {
    let mut map = seccompiler::compile_from_json(json.to_string().as_bytes(), arch)
        .map_err(|e| Error::field("linux.seccomp", e))?;
    to_filter(
        map.remove("main")
            .ok_or_else(|| Error::msg("seccomp: no program compiled"))?,
    )
}

fn to_filter(prog: seccompiler::BpfProgram) -> Result<containment::seccomp::Filter> {
    let prog = prog
        .into_iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    containment::seccomp::Filter::from_bpf(prog).map_err(|e| Error::field("linux.seccomp", e))
}
