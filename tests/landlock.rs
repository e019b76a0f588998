//! Landlock rules (feature `landlock`).

#[macro_use]
mod common;

use containment::landlock::{Compat, Landlock};
use containment::Container;

#[test]
fn landlock_denies_what_the_rules_do_not_allow() {
    require!(
        containment::landlock::kernel_abi() > 0,
        "the kernel has no Landlock (see /sys/kernel/security/lsm)"
    );
    let allowed = std::env::temp_dir().join(common::unique("containment-ll-ok"));
    let denied = std::env::temp_dir().join(common::unique("containment-ll-no"));
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::create_dir_all(&denied).unwrap();
    let rules = Landlock::new()
        .allow_read("/usr")
        .allow_read("/bin")
        .allow_read("/lib")
        .allow_read("/lib64")
        .allow_read("/etc")
        .allow_read_write(&allowed)
        .compat(Compat::Required);
    assert!(rules.status().enforced);
    let script = format!(
        "echo x > {a}/f && echo wrote-allowed; echo x > {d}/f 2>/dev/null && echo wrote-denied; cat /proc/self/status >/dev/null 2>&1 && echo read-proc; true",
        a = allowed.display(),
        d = denied.display()
    );
    // Directly, through the sealed exec helper (which applies the ruleset
    // just before the program's exec), and under the helper's init.
    for (helper, init) in [(false, false), (true, false), (false, true)] {
        let _ = std::fs::remove_file(allowed.join("f"));
        let out = Container::new()
            .landlock(rules.clone())
            .force_exec_helper(helper)
            .init(init)
            .command("/bin/sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            text, "wrote-allowed\n",
            "helper {helper} init {init}: {out:?}"
        );
        assert!(allowed.join("f").exists());
        assert!(!denied.join("f").exists());
    }
    std::fs::remove_dir_all(&allowed).unwrap();
    std::fs::remove_dir_all(&denied).unwrap();
}

#[test]
fn a_missing_rule_path_is_an_error() {
    let e = Container::new()
        .landlock(Landlock::new().allow_read("/nonexistent/path"))
        .command("/bin/true")
        .spawn()
        .unwrap_err();
    assert!(e.to_string().contains("/nonexistent/path"), "{e}");
}
