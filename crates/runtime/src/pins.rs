//! Maps shared by name between objects loaded one after another into one session (the REPL's
//! blocks): the loader is told a pin path for every shareable map, and reuses the map pinned
//! there or creates and pins it.
//!
//! The pins live in a bpffs mounted at `/sys/fs/bpf` inside a mount namespace of scry's own, so
//! nobody else sees them and nothing is left behind however scry ends: the namespace, its mount
//! and the pins go when the process does.

use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};

pub struct MapPins {
    dir: PathBuf,
}

impl MapPins {
    /// Moves this thread (and the threads it starts later) into a private mount namespace with a
    /// bpffs of its own. Call before starting threads.
    pub fn private() -> io::Result<MapPins> {
        let dir = PathBuf::from("/sys/fs/bpf");
        // SAFETY: plain syscalls with valid NUL-terminated strings.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(io::Error::last_os_error());
            }
            // Otherwise a shared root would propagate our mount back to everyone.
            let root = CString::new("/").expect("no NUL");
            if libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            let fs = CString::new("bpf").expect("no NUL");
            let target = CString::new("/sys/fs/bpf").expect("no NUL");
            if libc::mount(
                fs.as_ptr(),
                target.as_ptr(),
                fs.as_ptr(),
                0,
                std::ptr::null(),
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(MapPins { dir })
    }

    /// Where the map of this kernel name is pinned.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The names pinned now.
    pub fn names(&self) -> Vec<String> {
        std::fs::read_dir(&self.dir)
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Unpins every map not in `keep`: the maps a failed load created go with it, so a later
    /// map of the same name is created afresh with its own types.
    pub fn unpin_all_but(&self, keep: &[String]) {
        for name in self.names() {
            if !keep.contains(&name) {
                let _ = std::fs::remove_file(Path::new(&self.dir).join(name));
            }
        }
    }
}
