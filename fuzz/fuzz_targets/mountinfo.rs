//! `/proc/self/mountinfo` and `/proc/self/cgroup`: `Hierarchy::from_mountinfo`,
//! initramfs detection (`root_fstype`), `own_cgroup_path`, `Hierarchy::dir_of`.
#![no_main]

use containment::cgroup::hierarchy::own_cgroup_path;
use containment::cgroup::{Hierarchy, HierarchyKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    let h = Hierarchy::from_mountinfo(s);
    assert_eq!(h.mount_point().is_none(), h.kind() == HierarchyKind::Legacy);
    let v1 = h.v1_controllers();
    assert!(v1.windows(2).all(|w| w[0] < w[1]), "{v1:?}");
    let _ = containment::fuzzing::root_fstype(s);
    // The same text as a /proc/self/cgroup.
    if let Some(p) = own_cgroup_path(s) {
        if let Some(dir) = h.dir_of(&p) {
            // Inside the mount: under it, and no `..` climbing out again.
            let mount = h.mount_point().expect("dir_of needs a mount");
            let rel = dir
                .strip_prefix(mount)
                .expect("dir_of stays under the mount");
            assert!(
                rel.components()
                    .all(|c| !matches!(c, std::path::Component::ParentDir)),
                "{p:?} -> {dir:?}"
            );
        }
    }
});
