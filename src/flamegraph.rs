//! Writing flame graphs to files: every stack-keyed map at exit (`--flamegraph FILE.svg`), or
//! one map of a running REPL session (`:flamegraph @m FILE.svg`).

use scry_runtime::output::flamegraph::{path_for, PictureError};
use scry_runtime::Session;
use std::path::{Path, PathBuf};

/// The hint for a map that cannot be drawn.
const HINT: &str = "a flame graph draws a map keyed by kstack or ustack (with other keys, such as comm, as its roots) and counted or summed, as in `profile:hz:99 { @[kstack] = count(); }`";

/// Draws every map keyed by a stack, one file each (`path_for`). Returns the files written,
/// and a message for each map that could not be drawn.
pub fn draw_all(session: &mut Session, path: &Path) -> (Vec<PathBuf>, Vec<String>) {
    let names = session.stack_maps();
    if names.is_empty() {
        let e = format!(
            "--flamegraph: no map of the script is keyed by a stack: nothing drawn\n  hint: {HINT}"
        );
        return (Vec::new(), vec![e]);
    }
    let mut written = Vec::new();
    let mut errors = Vec::new();
    for name in &names {
        let file = path_for(path, name, names.len());
        match draw(session, name, &file) {
            Ok(()) => written.push(file),
            Err(e) => errors.push(format!("--flamegraph: {e}")),
        }
    }
    (written, errors)
}

/// Draws the map `name` to the file `path`: the file is written only once the picture is
/// whole, so a map that cannot be drawn leaves no file.
pub fn draw(session: &mut Session, name: &str, path: &Path) -> Result<(), String> {
    let mut svg = Vec::new();
    match session.flame_graph(name, &mut svg) {
        None => return Err(format!("no map {name} in the session")),
        Some(Err(e @ PictureError::Empty(_))) => return Err(e.to_string()),
        Some(Err(e)) => return Err(format!("{e}\n  hint: {HINT}")),
        Some(Ok(())) => {}
    }
    std::fs::write(path, svg).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
