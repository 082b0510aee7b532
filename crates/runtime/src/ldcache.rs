//! Library names to paths, as the dynamic loader finds them: `/etc/ld.so.cache` (the
//! `glibc-ld.so.cache1.1` format), then the usual library directories.

use std::path::Path;

const MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
/// The new-format header: magic (20 bytes), then the entry count, the string table's length,
/// flags, padding, the extension offset and three unused words.
const HEADER: usize = 48;
/// Each entry: flags, key, value (string offsets), an OS version and hardware capabilities.
const ENTRY: usize = 24;

/// Every (library name, path) pair in the cache, e.g. (`libc.so.6`, `/lib/x86_64-linux-gnu/libc.so.6`).
pub fn entries() -> Vec<(String, String)> {
    let Ok(data) = std::fs::read("/etc/ld.so.cache") else {
        return Vec::new();
    };
    // An old-format cache may come first; the new format starts at its own magic.
    let Some(start) = data.windows(MAGIC.len()).position(|w| w == MAGIC) else {
        return Vec::new();
    };
    let base = &data[start..];
    let word = |off: usize| {
        base.get(off..off + 4)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let string = |off: usize| {
        let s = base.get(off..)?;
        let end = s.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&s[..end]).into_owned())
    };
    let count = word(MAGIC.len());
    (0..count)
        .filter_map(|i| {
            let e = HEADER + i * ENTRY;
            Some((string(word(e + 4))?, string(word(e + 8))?))
        })
        .collect()
}

/// The path of library `name`: a path as it is; otherwise `NAME`, `libNAME`, `NAME.so` or
/// `libNAME.so`, with or without a version, from the cache or the library directories.
pub fn resolve(name: &str) -> Option<String> {
    if name.contains('/') {
        return Some(name.to_string());
    }
    let stem = name.strip_prefix("lib").unwrap_or(name);
    let stem = stem.split(".so").next().unwrap_or(stem);
    let matches = |file: &str| {
        file == name
            || file
                .strip_prefix("lib")
                .and_then(|f| f.strip_prefix(stem))
                .is_some_and(|rest| rest.starts_with(".so"))
    };
    if let Some((_, path)) = entries().into_iter().find(|(lib, _)| matches(lib)) {
        return Some(path);
    }
    for dir in [
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
        "/lib64",
        "/usr/lib64",
        "/lib",
        "/usr/lib",
    ] {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut found: Vec<String> = rd
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|f| matches(f))
            .collect();
        found.sort();
        if let Some(f) = found.first() {
            return Some(Path::new(dir).join(f).to_string_lossy().into_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_libc_by_its_short_name() {
        let path = super::resolve("libc").expect("libc");
        assert!(path.contains("libc.so"), "{path}");
        assert_eq!(super::resolve("c"), Some(path));
        assert_eq!(super::resolve("/bin/sh").as_deref(), Some("/bin/sh"));
    }
}
