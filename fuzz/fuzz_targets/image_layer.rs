//! The image layer unpacker (`image::unpack_layer`) over arbitrary bytes:
//! a tar stream, plain or gzip/zstd (by its magic bytes), unpacked into a
//! fresh directory beside a canary file and a lower layer. The first byte
//! picks the options (privileged or rootless store, devices skipped or
//! refused). Properties: no panic; the canary and the lower layer are
//! untouched and nothing appears beside the destination, whatever the
//! archive holds (`..`, absolute paths, links out, absurd sizes).
#![no_main]

use containment::image::{unpack_layer, DeviceNodes, UnpackOptions};
use containment::IdMap;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

static N: AtomicU64 = AtomicU64::new(0);

fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, tar)) = data.split_first() else {
        return;
    };
    let base = std::env::temp_dir().join(format!(
        "containment-fuzz-layer-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let (dest, lower) = (base.join("dest"), base.join("lower"));
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::create_dir_all(lower.join("d")).unwrap();
    std::fs::write(base.join("canary"), b"canary").unwrap();
    std::fs::write(lower.join("d/file"), b"lower").unwrap();
    let map = vec![IdMap {
        inside: 0,
        outside: 100000,
        count: 65536,
    }];
    let opts = if mode & 1 == 0 {
        UnpackOptions::new().devices(DeviceNodes::Skip)
    } else {
        UnpackOptions::rootless(map.clone(), map)
    }
    .max_layer_bytes(4 << 20);
    let lowers: [&std::path::Path; 1] = [&lower];
    let _ = unpack_layer(tar, &dest, &lowers, &opts);
    assert_eq!(std::fs::read(base.join("canary")).unwrap(), b"canary");
    assert_eq!(std::fs::read(lower.join("d/file")).unwrap(), b"lower");
    assert_eq!(listing(&base), ["canary", "dest", "lower"]);
    assert_eq!(listing(&lower), ["d"]);
    assert_eq!(listing(&lower.join("d")), ["file"]);
    let _ = std::fs::remove_dir_all(PathBuf::from(&base));
});
