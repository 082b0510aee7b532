//! The namespaces scry runs in, as its programs name them: `pid(curr_ns)` reads ids in
//! scry's own pid namespace.

/// The device and inode of this process's pid namespace, unless it is the initial one (whose
/// inode is the kernel's PROC_PID_INIT_INO).
pub fn pid_namespace() -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    const PROC_PID_INIT_INO: u64 = 0xEFFF_FFFC;
    let meta = std::fs::metadata("/proc/self/ns/pid").ok()?;
    (meta.ino() != PROC_PID_INIT_INO).then(|| (meta.dev(), meta.ino()))
}
