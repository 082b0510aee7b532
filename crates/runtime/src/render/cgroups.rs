//! `cgroup_path(id)`: a cgroup id shown as its path in the mounted cgroup hierarchies, found
//! as bpftrace finds it, by the directory whose inode number is the id. cgroup2 hierarchies are
//! named `unified`, v1 ones by their mount directory (`cpu`); v2 comes first, then v1 in name
//! order, joined by commas: `unified:/user.slice/session-2.scope,cpu:/`.

use crate::probes::glob_match;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Paths found so far, by (id, hierarchy root); each checked again before it is used.
#[derive(Default)]
pub struct Cgroups {
    found: HashMap<(u64, PathBuf), String>,
}

impl Cgroups {
    pub fn path(&mut self, id: u64, filter: &str) -> String {
        let mut parts = Vec::new();
        for (name, root) in hierarchies() {
            if !glob_match(filter, &name) {
                continue;
            }
            if let Some(path) = self.path_in(id, &root) {
                parts.push(format!("{name}:{path}"));
            }
        }
        parts.join(",")
    }

    /// The path below `root` of the cgroup with this id, `/` for the root itself.
    fn path_in(&mut self, id: u64, root: &Path) -> Option<String> {
        let key = (id, root.to_path_buf());
        if let Some(known) = self.found.get(&key) {
            let full = root.join(known.trim_start_matches('/'));
            if std::fs::metadata(full).is_ok_and(|m| m.ino() == id) {
                return Some(known.clone());
            }
        }
        let dir = find(root, id)?;
        let path = format!("/{}", dir.strip_prefix(root).ok()?.display());
        self.found.insert(key, path.clone());
        Some(path)
    }
}

/// The directory at or below `dir` whose inode number is `id`.
fn find(dir: &Path, id: u64) -> Option<PathBuf> {
    if std::fs::metadata(dir).ok()?.ino() == id {
        return Some(dir.to_path_buf());
    }
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if e.metadata().is_ok_and(|m| m.ino() == id) {
                return Some(e.path());
            }
            pending.push(e.path());
        }
    }
    None
}

/// The mounted hierarchies, as (name, mount point): cgroup2 ones first, then v1 by name.
fn hierarchies() -> Vec<(String, PathBuf)> {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut v2 = Vec::new();
    let mut v1 = Vec::new();
    for line in mounts.lines() {
        let mut fields = line.split(' ');
        let (Some(_), Some(at), Some(fs)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let at = PathBuf::from(at);
        match fs {
            "cgroup2" => v2.push(("unified".to_string(), at)),
            "cgroup" => {
                let name = at
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                v1.push((name, at));
            }
            _ => {}
        }
    }
    v1.sort();
    v2.extend(v1);
    v2
}
