//! Settings a script may change: the `config = { … }` block, overridden by environment variables
//! (`BPFTRACE_MAX_STRLEN=64` or `SCRY_MAX_STRLEN=64`), as in bpftrace.

use crate::report::Failure;
use scry_lang::ast::{ConfigValue, Program};
use scry_lang::Diagnostic;

pub struct Config {
    /// Capacity of strings read with `str()`, NUL included.
    pub max_strlen: u32,
    /// How many keys each map holds.
    pub max_map_keys: u32,
}

/// The settings scry knows, with the bounds it accepts.
const SETTINGS: &[(&str, u64, u64)] = &[("max_strlen", 2, 32 * 1024), ("max_map_keys", 1, 1 << 24)];

impl Config {
    pub fn from_script(program: &Program, file: &str, source: &str) -> Result<Config, Failure> {
        let mut config = Config {
            max_strlen: 1024,
            max_map_keys: 4096,
        };
        let mut diags = Vec::new();
        for entry in &program.config {
            let key = normalize(&entry.key.name);
            let Some((name, lo, hi)) = SETTINGS.iter().find(|(n, ..)| *n == key) else {
                diags.push(
                    Diagnostic::error(
                        entry.key.span,
                        format!("unknown setting `{}`", entry.key.name),
                    )
                    .with_hint(format!(
                        "settings: {}",
                        SETTINGS
                            .iter()
                            .map(|(n, ..)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
                continue;
            };
            match &entry.value {
                ConfigValue::Int(v) if (*lo..=*hi).contains(v) => config.set(name, *v),
                _ => diags.push(Diagnostic::error(
                    entry.span,
                    format!("{name} takes a number from {lo} to {hi}"),
                )),
            }
        }
        if !diags.is_empty() {
            return Err(Failure::diagnostics(diags, file, source));
        }
        for (name, lo, hi) in SETTINGS {
            let upper = name.to_uppercase();
            for var in [format!("BPFTRACE_{upper}"), format!("SCRY_{upper}")] {
                if let Ok(text) = std::env::var(&var) {
                    match text.trim().parse::<u64>() {
                        Ok(v) if (*lo..=*hi).contains(&v) => config.set(name, v),
                        _ => {
                            return Err(Failure::plain(format!(
                                "{var}={text}: {name} takes a number from {lo} to {hi}"
                            )))
                        }
                    }
                }
            }
        }
        Ok(config)
    }

    fn set(&mut self, name: &str, v: u64) {
        match name {
            "max_strlen" => self.max_strlen = v as u32,
            _ => self.max_map_keys = v as u32,
        }
    }
}

/// `MAX_STRLEN`, `BPFTRACE_MAX_STRLEN` and `max_strlen` name the same setting.
fn normalize(key: &str) -> String {
    let lower = key.to_lowercase();
    lower
        .strip_prefix("bpftrace_")
        .unwrap_or(&lower)
        .to_string()
}
