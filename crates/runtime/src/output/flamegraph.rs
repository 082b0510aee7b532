//! Flame graphs: a map keyed by stacks drawn as an interactive SVG by the `inferno` crate,
//! from its folded stacks (`folded`). A frame's width is its share of the map's values.

use super::folded::{fold, FoldError};
use super::value::MapDump;
use inferno::flamegraph::{self, color};
use std::io::{self, Write};

/// What the picture says about the map beside its stacks.
pub struct Caption<'a> {
    /// The probes that use the map (`profile:hz:99`).
    pub probes: &'a [String],
    /// What the values count: `samples` for `count()`.
    pub unit: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    #[error(transparent)]
    Fold(#[from] FoldError),
    #[error("{0} holds no stacks yet: nothing to draw")]
    Empty(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Draws the map as an SVG flame graph on `out`.
pub fn draw(dump: &MapDump, caption: &Caption<'_>, out: impl Write) -> Result<(), PictureError> {
    let folded = fold(dump)?;
    if folded.lines.is_empty() {
        return Err(PictureError::Empty(dump.name.clone()));
    }
    let mut options = flamegraph::Options::default();
    options.title = title(&dump.name, caption.probes);
    if folded.mixed {
        // perf's colours: kernel frames (marked `_[k]`) orange, user frames red and yellow.
        options.colors = color::Palette::Multi(color::MultiPalette::Java);
        options.subtitle = Some("kernel frames orange, user frames red and yellow".to_string());
    } else {
        options.colors = color::Palette::Basic(color::BasicPalette::Hot);
    }
    options.count_name = caption.unit.to_string();
    // A function keeps its colour from one picture to the next.
    options.hash = true;
    flamegraph::from_lines(&mut options, folded.text().lines(), out)?;
    Ok(())
}

/// `@name: probe, probe`; past three probes, how many more.
fn title(name: &str, probes: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut shown = probes
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if probes.len() > SHOWN {
        shown.push_str(&format!(" and {} more", probes.len() - SHOWN));
    }
    if shown.is_empty() {
        name.to_string()
    } else {
        format!("{name}: {shown}")
    }
}

/// Where the picture of `map` goes when `--flamegraph PATH` draws `count` maps: `PATH` for
/// one, `PATH` with `-@name` before its extension for several (`cpu-@stacks.svg`).
pub fn path_for(path: &std::path::Path, map: &str, count: usize) -> std::path::PathBuf {
    if count <= 1 {
        return path.to_path_buf();
    }
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{map}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{map}"),
    };
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn one_picture_per_map_when_there_are_several() {
        let p = Path::new("out/cpu.svg");
        assert_eq!(path_for(p, "@s", 1), Path::new("out/cpu.svg"));
        assert_eq!(path_for(p, "@s", 2), Path::new("out/cpu-@s.svg"));
        assert_eq!(path_for(Path::new("cpu"), "@", 2), Path::new("cpu-@"));
    }

    #[test]
    fn the_title_names_the_map_and_its_probes() {
        let probes = |n: usize| (0..n).map(|i| format!("p{i}")).collect::<Vec<_>>();
        assert_eq!(title("@", &probes(1)), "@: p0");
        assert_eq!(title("@s", &probes(5)), "@s: p0, p1, p2 and 2 more");
        assert_eq!(title("@s", &[]), "@s");
    }
}
