//! Settings a script may change: the `config = { … }` block, overridden by environment variables
//! (`BPFTRACE_MAX_STRLEN=64` or `SCRY_MAX_STRLEN=64`), as in bpftrace.

use crate::report::Failure;
use scry_lang::ast::{ConfigValue, Program};
use scry_lang::types::StackMode;
use scry_lang::{Diagnostic, MissingProbes, Setting};

pub struct Config {
    /// Capacity of strings read with `str()`, NUL included.
    pub max_strlen: u32,
    /// How many keys each map holds.
    pub max_map_keys: u32,
    /// Whether the maps are printed when the program ends.
    pub print_maps_on_exit: bool,
    /// How stacks print when the script does not say.
    pub stack_mode: StackMode,
    /// What a probe that does not exist is.
    pub missing_probes: MissingProbes,
    /// Appended to strings that were cut at their capacity.
    pub str_trunc_trailer: String,
    /// The license the programs are loaded under.
    pub license: String,
    /// The most of a file `cat()` prints.
    pub max_cat_bytes: u64,
    /// Pages of the ring buffer that carries records to scry.
    pub perf_rb_pages: u32,
    /// The most probes a program may attach, and the most BPF programs it may compile to.
    pub max_probes: u64,
    pub max_bpf_progs: u64,
    /// Every setting with its value, in the table's order: the `config` builtin.
    pub settings: Vec<(String, Setting)>,
}

/// The licenses the kernel takes as GPL-compatible, which the helpers scry calls need; the
/// list bpftrace accepts.
const LICENSES: &[&str] = &[
    "GPL",
    "GPL v2",
    "GPL and additional rights",
    "Dual BSD/GPL",
    "Dual MIT/GPL",
    "Dual MPL/GPL",
];

/// The choices of bpftrace's unstable-feature flags.
const FEATURE_FLAG: Kind = Kind::Choice(&["error", "warn", "enable"]);

/// The values a setting takes.
enum Kind {
    Int { lo: u64, hi: u64 },
    Bool,
    Choice(&'static [&'static str]),
    Text,
}

/// The settings scry knows.
const SETTINGS: &[(&str, Kind, &str)] = &[
    (
        "max_strlen",
        Kind::Int {
            lo: 2,
            hi: 32 * 1024,
        },
        "1024",
    ),
    ("max_map_keys", Kind::Int { lo: 1, hi: 1 << 24 }, "4096"),
    ("print_maps_on_exit", Kind::Bool, "true"),
    ("stack_mode", Kind::Choice(&StackMode::NAMES), "bpftrace"),
    (
        "missing_probes",
        Kind::Choice(&["error", "warn", "ignore"]),
        "error",
    ),
    ("str_trunc_trailer", Kind::Text, ".."),
    ("license", Kind::Choice(LICENSES), "GPL"),
    ("max_cat_bytes", Kind::Int { lo: 1, hi: 1 << 30 }, "10240"),
    ("perf_rb_pages", Kind::Int { lo: 1, hi: 4096 }, "256"),
    ("max_probes", Kind::Int { lo: 1, hi: 1 << 20 }, "1024"),
    ("max_bpf_progs", Kind::Int { lo: 1, hi: 1 << 20 }, "1024"),
    // Taken as bpftrace takes them, with nothing to change in scry: it symbolizes each
    // process's addresses when they are printed, from the symbol tables as they are; values
    // too big for a register live in its scratch map whatever their size; it sizes the
    // verifier's log itself; and every feature these flags guard is stable in scry.
    (
        "cache_user_symbols",
        Kind::Choice(&["PER_PROGRAM", "PER_PID", "NONE"]),
        "PER_PID",
    ),
    ("cpp_demangle", Kind::Bool, "true"),
    ("lazy_symbolication", Kind::Bool, "false"),
    ("show_debug_info", Kind::Bool, "false"),
    ("on_stack_limit", Kind::Int { lo: 0, hi: 1 << 20 }, "32"),
    ("log_size", Kind::Int { lo: 1, hi: 1 << 30 }, "1000000"),
    ("unstable_map_decl", FEATURE_FLAG, "warn"),
    ("unstable_macro", FEATURE_FLAG, "warn"),
    ("unstable_import", FEATURE_FLAG, "warn"),
    ("unstable_tseries", FEATURE_FLAG, "warn"),
    ("unstable_dw_ustack", FEATURE_FLAG, "warn"),
];

/// The names of the settings, for completion.
pub fn setting_names() -> impl Iterator<Item = &'static str> {
    SETTINGS.iter().map(|(n, _, _)| *n)
}

/// A setting's value, checked against its kind.
#[derive(Clone, Copy)]
enum Value<'a> {
    Int(u64),
    Bool(bool),
    Choice(&'a str),
    Text(&'a str),
}

impl Kind {
    /// What the setting takes, for error messages.
    fn describe(&self, name: &str) -> String {
        match self {
            Kind::Int { lo, hi } => format!("{name} takes a number from {lo} to {hi}"),
            Kind::Bool => format!("{name} takes true or false"),
            Kind::Choice(names) => format!("{name} takes one of {}", names.join(", ")),
            Kind::Text => format!("{name} takes a string"),
        }
    }

    fn parse<'a>(&self, text: &'a str) -> Option<Value<'a>> {
        match self {
            Kind::Int { lo, hi } => text
                .parse::<u64>()
                .ok()
                .filter(|v| (*lo..=*hi).contains(v))
                .map(Value::Int),
            Kind::Bool => match text {
                "true" | "1" => Some(Value::Bool(true)),
                "false" | "0" => Some(Value::Bool(false)),
                _ => None,
            },
            Kind::Choice(names) => names.contains(&text).then_some(Value::Choice(text)),
            Kind::Text => Some(Value::Text(text)),
        }
    }
}

impl Config {
    pub fn from_script(program: &Program, file: &str, source: &str) -> Result<Config, Failure> {
        let mut config = Config {
            max_strlen: 1024,
            max_map_keys: 4096,
            print_maps_on_exit: true,
            stack_mode: StackMode::Bpftrace,
            missing_probes: MissingProbes::Error,
            str_trunc_trailer: "..".to_string(),
            license: "GPL".to_string(),
            max_cat_bytes: 10240,
            perf_rb_pages: 256,
            max_probes: 1024,
            max_bpf_progs: 1024,
            settings: Vec::new(),
        };
        for (name, kind, default) in SETTINGS {
            if let Some(v) = kind.parse(default) {
                config.set(name, v);
            }
        }
        let mut diags = Vec::new();
        for entry in &program.config {
            let key = normalize(&entry.key.name);
            let Some((name, kind, _)) = SETTINGS.iter().find(|(n, _, _)| *n == key) else {
                diags.push(
                    Diagnostic::error(
                        entry.key.span,
                        format!("unknown setting `{}`", entry.key.name),
                    )
                    .with_hint(format!(
                        "settings: {}",
                        SETTINGS
                            .iter()
                            .map(|(n, _, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
                continue;
            };
            let text = match &entry.value {
                ConfigValue::Int(v) => v.to_string(),
                ConfigValue::Str(s) | ConfigValue::Word(s) => s.clone(),
            };
            match kind.parse(&text) {
                Some(v) => config.set(name, v),
                None => diags.push(Diagnostic::error(entry.span, kind.describe(name))),
            }
        }
        if !diags.is_empty() {
            return Err(Failure::diagnostics(diags, file, source));
        }
        for (name, kind, _) in SETTINGS {
            let upper = name.to_uppercase();
            for var in [format!("BPFTRACE_{upper}"), format!("SCRY_{upper}")] {
                if let Ok(text) = std::env::var(&var) {
                    let text = match kind {
                        Kind::Text => text.as_str(),
                        _ => text.trim(),
                    };
                    match kind.parse(text) {
                        Some(v) => config.set(name, v),
                        None => {
                            return Err(Failure::plain(format!(
                                "{var}={text}: {}",
                                kind.describe(name)
                            )))
                        }
                    }
                }
            }
        }
        Ok(config)
    }

    fn set(&mut self, name: &str, v: Value<'_>) {
        let shown = match v {
            Value::Int(n) => Setting::Int(n),
            Value::Bool(b) => Setting::Bool(b),
            Value::Choice(t) | Value::Text(t) => Setting::Text(t.to_string()),
        };
        match self.settings.iter_mut().find(|(n, _)| n == name) {
            Some((_, value)) => *value = shown,
            None => self.settings.push((name.to_string(), shown)),
        }
        match (name, v) {
            ("max_strlen", Value::Int(v)) => self.max_strlen = v as u32,
            ("max_map_keys", Value::Int(v)) => self.max_map_keys = v as u32,
            ("print_maps_on_exit", Value::Bool(b)) => self.print_maps_on_exit = b,
            ("stack_mode", Value::Choice(c)) => {
                self.stack_mode = StackMode::from_name(c).unwrap_or_default()
            }
            ("missing_probes", Value::Choice(c)) => {
                self.missing_probes = match c {
                    "warn" => MissingProbes::Warn,
                    "ignore" => MissingProbes::Ignore,
                    _ => MissingProbes::Error,
                }
            }
            ("str_trunc_trailer", Value::Text(t)) => self.str_trunc_trailer = t.to_string(),
            ("license", Value::Choice(c)) => self.license = c.to_string(),
            ("max_cat_bytes", Value::Int(v)) => self.max_cat_bytes = v,
            ("perf_rb_pages", Value::Int(v)) => self.perf_rb_pages = v as u32,
            ("max_probes", Value::Int(v)) => self.max_probes = v,
            ("max_bpf_progs", Value::Int(v)) => self.max_bpf_progs = v,
            _ => {}
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
