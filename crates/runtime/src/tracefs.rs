//! tracefs: where it is (mounting it at `/sys/kernel/tracing` when it is nowhere), which events it
//! has, and each event's `format` file.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub const DEFAULT_MOUNT: &str = "/sys/kernel/tracing";

#[derive(Debug, thiserror::Error)]
pub enum TracefsError {
    #[error("tracefs is not mounted and mounting it at {DEFAULT_MOUNT} failed: {0}")]
    Mount(io::Error),
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
}

/// The tracefs root, found once per process.
pub fn root() -> Result<&'static Path, TracefsError> {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    if let Some(p) = ROOT.get() {
        return Ok(p);
    }
    let found = find_or_mount()?;
    Ok(ROOT.get_or_init(|| found))
}

fn find_or_mount() -> Result<PathBuf, TracefsError> {
    // Where it usually is (the kernel mounts it there on first access): one lookup.
    if Path::new(DEFAULT_MOUNT).join("events").is_dir() {
        return Ok(PathBuf::from(DEFAULT_MOUNT));
    }
    if let Ok(mounts) = fs::read_to_string("/proc/self/mounts") {
        for line in mounts.lines() {
            let mut f = line.split_whitespace();
            let (Some(_), Some(dir), Some(kind)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            if kind == "tracefs" && Path::new(dir).join("events").is_dir() {
                return Ok(PathBuf::from(dir));
            }
        }
    }
    for dir in [DEFAULT_MOUNT, "/sys/kernel/debug/tracing"] {
        if Path::new(dir).join("events").is_dir() {
            return Ok(PathBuf::from(dir));
        }
    }
    mount(DEFAULT_MOUNT).map_err(TracefsError::Mount)?;
    Ok(PathBuf::from(DEFAULT_MOUNT))
}

fn mount(dir: &str) -> io::Result<()> {
    let c = |s: &str| std::ffi::CString::new(s).expect("no NUL in constant paths");
    let (src, target, kind) = (c("tracefs"), c(dir), c("tracefs"));
    // SAFETY: all pointers are valid NUL-terminated strings; data may be NULL.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            kind.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Every `(category, event)` pair tracefs offers that `category` and `event` accept, sorted.
/// Only those categories are read, and an event is a directory of its category (its `format`
/// file is not looked at): a wildcard in one category lists one directory.
pub fn events(
    root: &Path,
    category: impl Fn(&str) -> bool,
    event: impl Fn(&str) -> bool,
) -> Result<Vec<(String, String)>, TracefsError> {
    let dir = root.join("events");
    let mut out = Vec::new();
    for cat in fs::read_dir(&dir).map_err(|source| TracefsError::Read {
        path: dir.clone(),
        source,
    })? {
        let Ok(cat) = cat else { continue };
        let name = cat.file_name().to_string_lossy().into_owned();
        if category(&name) && is_dir(&cat) {
            out.extend(events_of(root, &name, &event));
        }
    }
    out.sort();
    Ok(out)
}

/// The events of one category that `event` accepts, sorted (none when there is no such
/// category). Only those are kept: `syscalls` has 700.
pub fn events_of(
    root: &Path,
    category: &str,
    event: impl Fn(&str) -> bool,
) -> Vec<(String, String)> {
    let Ok(entries) = fs::read_dir(root.join("events").join(category)) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = entries
        .flatten()
        .filter_map(|ev| {
            let name = ev.file_name();
            let name = name.to_str()?;
            (event(name) && is_dir(&ev)).then(|| (category.to_string(), name.to_string()))
        })
        .collect();
    out.sort();
    out
}

fn is_dir(e: &fs::DirEntry) -> bool {
    e.file_type().is_ok_and(|t| t.is_dir())
}

/// The text of an event's `format` file, or `None` when there is no such event.
pub fn format(root: &Path, category: &str, event: &str) -> Result<Option<String>, TracefsError> {
    if category.contains(['/', '.']) || event.contains(['/', '.']) {
        return Ok(None);
    }
    let path = root
        .join("events")
        .join(category)
        .join(event)
        .join("format");
    // Read once per event: a script may name one event thousands of times (a generated
    // one), and the kernel formats the file anew at each read.
    static READ: std::sync::Mutex<Option<std::collections::HashMap<PathBuf, String>>> =
        std::sync::Mutex::new(None);
    let mut read = READ.lock().unwrap_or_else(|e| e.into_inner());
    let read = read.get_or_insert_with(Default::default);
    if let Some(text) = read.get(&path) {
        return Ok(Some(text.clone()));
    }
    match fs::read_to_string(&path) {
        Ok(text) => {
            read.insert(path, text.clone());
            Ok(Some(text))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TracefsError::Read { path, source }),
    }
}

/// An event's id, which perf events open it by.
pub fn id(root: &Path, category: &str, event: &str) -> io::Result<u64> {
    let path = root.join("events").join(category).join(event).join("id");
    fs::read_to_string(&path)?
        .trim()
        .parse()
        .map_err(|_| io::Error::other(format!("{} is not a number", path.display())))
}
