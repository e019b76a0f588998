//! Pulling from a registry (feature `pull`): a real registry server
//! (Debian's `docker-registry`, the distribution registry) started by the
//! test on 127.0.0.1, two images pushed to it with a shared base layer,
//! pulled into a store: the shared layer is fetched and unpacked once.

#[macro_use]
mod common;

use containment::image::{LayerProgress, PullOptions, Store, StoreOptions};
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A registry server on 127.0.0.1, killed (by its pid) on drop.
struct Registry {
    child: std::process::Child,
    dir: PathBuf,
    addr: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_registry() -> Option<Registry> {
    let bin = Path::new("/usr/bin/docker-registry");
    if !bin.exists() {
        return None;
    }
    let dir = std::env::temp_dir().join(common::unique("containment-registry"));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    std::fs::write(
        dir.join("config.yml"),
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("log")).unwrap();
    let child = std::process::Command::new(bin)
        .arg("serve")
        .arg(dir.join("config.yml"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let reg = Registry { child, dir, addr };
    // Ready when /v2/ answers (bounded: 600 tries).
    for _ in 0..600 {
        if let Ok(mut s) = std::net::TcpStream::connect(&reg.addr) {
            let _ = write!(s, "GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", reg.addr);
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.0 200") {
                return Some(reg);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "the registry did not start: {}",
        std::fs::read_to_string(reg.dir.join("log")).unwrap_or_default()
    );
}

fn layer(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&tar).unwrap();
    e.finish().unwrap()
}

fn diff_id(gz: &[u8]) -> String {
    use sha2::Digest;
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut tar)
        .unwrap();
    format!(
        "sha256:{}",
        sha2::Sha256::digest(&tar)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

fn push(addr: &str, name: &str, layers: &[Vec<u8>]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    });
    let r = Reference::from_str(&format!("{addr}/{name}")).unwrap();
    let ls: Vec<ImageLayer> = layers
        .iter()
        .map(|l| {
            ImageLayer::new(
                l.clone(),
                "application/vnd.oci.image.layer.v1.tar+gzip".into(),
                None,
            )
        })
        .collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": [format!("/{name}")]},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| diff_id(l)).collect::<Vec<_>>()},
    });
    let config = Config::new(
        serde_json::to_vec(&config).unwrap(),
        "application/vnd.oci.image.config.v1+json".into(),
        None,
    );
    rt.block_on(client.push(&r, &ls, config, &RegistryAuth::Anonymous, None))
        .unwrap();
}

#[test]
fn pull_two_images_sharing_a_layer() {
    require_root!();
    let Some(reg) = start_registry() else {
        return common::skip(
            "pull_two_images_sharing_a_layer",
            "docker-registry is not installed (apt-get install docker-registry)",
        );
    };
    let base = layer(&[("base", b"shared\n")]);
    push(
        &reg.addr,
        "test/a:1",
        &[base.clone(), layer(&[("a", b"A\n")])],
    );
    push(&reg.addr, "test/b:1", &[base, layer(&[("b", b"B\n")])]);

    let store_dir = reg.dir.join("store");
    let store = Store::open(&store_dir, StoreOptions::new()).unwrap();
    let opts = PullOptions::new().insecure_registry(reg.addr.clone());
    let mut seen: Vec<LayerProgress> = Vec::new();
    let a = store
        .pull(&format!("{}/test/a:1", reg.addr), &opts, &mut |p| {
            seen.push(p)
        })
        .unwrap();
    assert_eq!(seen.iter().filter(|p| p.cached).count(), 0);
    assert_eq!(seen.len(), 2);
    seen.clear();
    let b = store
        .pull(&format!("{}/test/b:1", reg.addr), &opts, &mut |p| {
            seen.push(p)
        })
        .unwrap();
    // The base layer was in the cache: fetched once.
    let cached: Vec<usize> = seen.iter().filter(|p| p.cached).map(|p| p.index).collect();
    assert_eq!(cached, [0], "{seen:?}");
    assert_eq!(seen.iter().filter(|p| !p.cached).count(), 1);

    let ua = store.unpack(&a, &mut |_| {}).unwrap();
    let ub = store.unpack(&b, &mut |_| {}).unwrap();
    assert!(ua.layers().iter().all(|l| l.fresh));
    assert!(!ub.layers()[0].fresh, "the shared layer is unpacked once");
    assert_eq!(ub.layers()[0].path, ua.layers()[0].path);
    assert_eq!(
        std::fs::read(ub.layers()[1].path.join("b")).unwrap(),
        b"B\n"
    );
    assert_eq!(
        std::fs::read(ua.layers()[0].path.join("base")).unwrap(),
        b"shared\n"
    );
    assert_eq!(
        b.config().config().as_ref().unwrap().cmd().as_deref(),
        Some(&["/test/b:1".to_string()][..])
    );
    // Blob cache: base, a, b layers, two configs, two manifests.
    assert_eq!(
        std::fs::read_dir(store_dir.join("blobs/sha256"))
            .unwrap()
            .count(),
        7
    );
    assert_eq!(std::fs::read_dir(store_dir.join("tmp")).unwrap().count(), 0);
}
