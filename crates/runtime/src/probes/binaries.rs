//! The files a user-space probe's binary part names when it is a glob: `uprobe:./bin*:f`
//! matches files in that directory; with `-p`, `uprobe:*:f` (or `*libc*`) matches the files
//! the process has mapped, as bpftrace does. A binary without wildcards is resolved by each
//! probe type (a path, or a library name from the loader's cache).

use super::glob_match;
use std::path::Path;

/// Whether the binary part is a glob.
pub fn is_glob(bin: &str) -> bool {
    bin.contains(['*', '?'])
}

/// The ELF files a glob matches: among process `pid`'s mapped files (by path or file name)
/// when there is one, else in the glob's directory (wildcards in the file name only).
pub fn matching(bin: &str, pid: Option<u32>) -> Vec<String> {
    if let Some(pid) = pid {
        return super::usdt::mapped_files(pid)
            .into_iter()
            .filter(|p| glob_match(bin, p) || glob_match(bin, file_name(p)))
            .collect();
    }
    let (dir, pattern) = match bin.rsplit_once('/') {
        Some((dir, pattern)) => (if dir.is_empty() { "/" } else { dir }, pattern),
        None => (".", bin),
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            glob_match(pattern, &name).then(|| {
                if bin.contains('/') {
                    format!("{}/{name}", dir.trim_end_matches('/'))
                } else {
                    name
                }
            })
        })
        .filter(|p| is_elf(p))
        .collect();
    out.sort();
    out
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn is_elf(path: &str) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(Path::new(path))
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}
