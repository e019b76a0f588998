//! A hostile registry (feature `pull`): a server of the test's own on
//! 127.0.0.1 whose manifest names a 1 KiB layer and who then sends an
//! endless blob (256 MiB announced). The pull must stop reading one byte
//! past the descriptor's size (what the server managed to write before
//! the connection was closed shows it), keep nothing and fail.

use containment::image::{PullOptions, Store, StoreOptions};
use sha2::{Digest as _, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

fn sha(b: &[u8]) -> String {
    format!(
        "sha256:{}",
        Sha256::digest(b)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

const HUGE: u64 = 256 << 20;

#[test]
fn an_endless_blob_is_cut_off_at_its_descriptor_size() {
    let layer = vec![b'x'; 1024];
    let layer_digest = sha(&layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest.clone()]},
    }))
    .unwrap();
    let config_digest = sha(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": layer.len()}],
    }))
    .unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let sent = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let (sent2, done2) = (sent.clone(), done.clone());
    let (cd, ld) = (config_digest.clone(), layer_digest.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let (manifest, config) = (manifest.clone(), config.clone());
            let (cd, ld, sent, done) = (cd.clone(), ld.clone(), sent2.clone(), done2.clone());
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split(' ').nth(1).unwrap_or("").to_string();
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                    }
                    let reply = |c: &mut std::net::TcpStream, ct: &str, body: &[u8]| {
                        let _ = write!(
                            c,
                            "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n",
                            body.len()
                        );
                        let _ = c.write_all(body);
                    };
                    if path == "/v2/" {
                        reply(&mut conn, "application/json", b"{}");
                    } else if path.contains("/manifests/") {
                        reply(
                            &mut conn,
                            "application/vnd.oci.image.manifest.v1+json",
                            &manifest,
                        );
                    } else if path.ends_with(&cd) {
                        reply(&mut conn, "application/octet-stream", &config);
                    } else if path.ends_with(&ld) {
                        let _ = write!(
                            conn,
                            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {HUGE}\r\n\r\n"
                        );
                        let chunk = vec![b'x'; 64 << 10];
                        while sent.load(Ordering::Relaxed) < HUGE {
                            match conn.write(&chunk) {
                                Ok(n) => {
                                    sent.fetch_add(n as u64, Ordering::Relaxed);
                                }
                                Err(_) => break,
                            }
                        }
                        done.store(1, Ordering::Relaxed);
                        return;
                    } else {
                        let _ = write!(conn, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                    }
                }
            });
        }
    });

    let dir = std::env::temp_dir().join(format!("containment-hostile-pull-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir, StoreOptions::new()).unwrap();
    let opts = PullOptions::new().insecure_registry(addr.clone());
    let res = store.pull(&format!("{addr}/evil/image:1"), &opts, &mut |_| {});
    let err = res.expect_err("an endless blob is refused");
    // The server's writes end when the connection goes (bounded wait: the
    // flag is set on EPIPE/ECONNRESET or after all of HUGE).
    for _ in 0..6000 {
        if done.load(Ordering::Relaxed) == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let n = sent.load(Ordering::Relaxed);
    assert!(
        n < 32 << 20,
        "the client read {n} bytes of a blob whose descriptor says 1024 ({err})"
    );
    let blob = dir
        .join("blobs/sha256")
        .join(&layer_digest["sha256:".len()..]);
    assert!(!blob.exists(), "the blob was kept");
    assert_eq!(std::fs::read_dir(dir.join("tmp")).unwrap().count(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// (branch brk2) A manifest that lies about a layer's size (64 GiB
/// announced): refused from the descriptor, before the blob is asked for,
/// when the store's layer limit is lower; nothing written to the store.
#[test]
fn a_blob_announced_over_the_store_limit_is_not_fetched() {
    use containment::image::{Error, UnpackOptions};
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [sha(b"x")]},
    }))
    .unwrap();
    let config_digest = sha(&config);
    let layer_digest = sha(b"the layer");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest, "size": 64u64 << 30}],
    }))
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let asked = Arc::new(AtomicU64::new(0));
    let asked2 = asked.clone();
    let (cd, ld) = (config_digest.clone(), layer_digest.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let (manifest, config, cd, ld, asked) = (
                manifest.clone(),
                config.clone(),
                cd.clone(),
                ld.clone(),
                asked2.clone(),
            );
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split(' ').nth(1).unwrap_or("").to_string();
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                    }
                    let (ct, body): (&str, Vec<u8>) = if path == "/v2/" {
                        ("application/json", b"{}".to_vec())
                    } else if path.contains("/manifests/") {
                        (
                            "application/vnd.oci.image.manifest.v1+json",
                            manifest.clone(),
                        )
                    } else if path.ends_with(&cd) {
                        ("application/octet-stream", config.clone())
                    } else if path.ends_with(&ld) {
                        asked.fetch_add(1, Ordering::Relaxed);
                        // A few MiB, then the connection closes.
                        ("application/octet-stream", vec![b'x'; 4 << 20])
                    } else {
                        let _ = write!(conn, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                        continue;
                    };
                    let _ = write!(
                        conn,
                        "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    let _ = conn.write_all(&body);
                }
            });
        }
    });
    let dir = std::env::temp_dir().join(format!("containment-lying-pull-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(
        &dir,
        StoreOptions::new().unpack(UnpackOptions::new().max_layer_bytes(1 << 20)),
    )
    .unwrap();
    let opts = PullOptions::new().insecure_registry(addr.clone());
    let res = store.pull(&format!("{addr}/evil/image:1"), &opts, &mut |_| {});
    let err = res.expect_err("a 64 GiB layer over a 1 MiB limit is refused");
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    assert_eq!(asked.load(Ordering::Relaxed), 0, "the blob was asked for");
    assert_eq!(std::fs::read_dir(dir.join("tmp")).unwrap().count(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
