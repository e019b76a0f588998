//! Unpacks one image layer (a tar, plain or gzip/zstd) into a directory
//! with the crate's hostile-archive-safe unpacker, in overlayfs' form, and
//! prints what it wrote and how fast (feature `image`, run as root).
//!
//! ```text
//! cargo run --release --features image --example image_unpack -- layer.tar.gz /tmp/dest
//! ```

use containment::image::{unpack_layer, UnpackOptions};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [layer, dest] = &args[..] else {
        eprintln!("usage: image_unpack LAYER DEST");
        std::process::exit(2);
    };
    let file = std::fs::File::open(layer).unwrap_or_else(|e| {
        eprintln!("{layer}: {e}");
        std::process::exit(1)
    });
    let _ = std::fs::create_dir_all(dest);
    let t = Instant::now();
    match unpack_layer(
        std::io::BufReader::new(file),
        dest.as_ref(),
        &[],
        &UnpackOptions::new(),
    ) {
        Ok(s) => {
            let secs = t.elapsed().as_secs_f64();
            println!(
                "{} entries, {} tar bytes in {secs:.3} s ({:.0} MB/s), diff_id {}",
                s.entries,
                s.tar_bytes,
                s.tar_bytes as f64 / secs / 1e6,
                s.diff_id
            );
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
