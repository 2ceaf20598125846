//! The read+hash floor of the benchmarks: reads every input file of a repository once
//! (`pushform.yaml`, `pushform.lock`, everything under `campaigns/` and `templates/`) and SHA-1s
//! its bytes, on one thread, printing the file count, byte count and one digest of them all.
//! No command can do less work than this on the same files, so `scripts/bench.sh` reports
//! `plan` and `validate` as multiples of it.
//!
//! cargo run --release --example floor -- /tmp/perf-corpus-10000

use std::fs;
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".to_owned()));
    let mut files = Vec::new();
    for name in ["pushform.yaml", "pushform.lock"] {
        let path = root.join(name);
        if path.is_file() {
            files.push(path);
        }
    }
    for dir in ["campaigns", "templates"] {
        let path = root.join(dir);
        if path.is_dir() {
            collect(&path, &mut files)?;
        }
    }
    let mut all = Sha1::new();
    let mut bytes = 0usize;
    for path in &files {
        let data = fs::read(path)?;
        bytes += data.len();
        // One digest per file (as pushform hashes each body), folded into one to print.
        all.update(Sha1::digest(&data));
    }
    println!(
        "{} files, {bytes} bytes, sha1 {}",
        files.len(),
        hex::encode(all.finalize())
    );
    Ok(())
}
