//! Tab completion at the prompt: commands, probe specs (probe types, then what `-l` lists for
//! them: tracepoint categories and events, raw tracepoints, uprobe paths and then the typed
//! binary's symbols), `args.` fields of the probe being written, struct members after `->`,
//! builtins, functions, keywords, config keys, and the maps and variables in scope.

use scry_lang::types::{ProbeResolver, RecordKind, Type};
use scry_runtime::probes::{self, KernelResolver};
use std::collections::BTreeSet;

/// The REPL's commands, with what `:help` says of each.
pub const COMMANDS: &[(&str, &str)] = &[
    (
        ":probes",
        "the attached blocks: ids, attach points, event counts",
    ),
    (":detach ID", "stop a block (its maps stay)"),
    (":maps", "every map with its values"),
    (
        ":watch @MAP [SECS]",
        "reprint a map every SECS (default 1) until Ctrl-C",
    ),
    (":list [-v] GLOB", "list probes, as scry -l (-lv with -v)"),
    (":load FILE", "add a script file's blocks to the session"),
    (":save FILE", "write the attached blocks out as a script"),
    (":format text|json|folded", "the output format from now on"),
    (
        ":flamegraph @MAP FILE",
        "draw a map keyed by stacks as an SVG flame graph",
    ),
    (":help", "this list"),
    (
        ":quit",
        "run END blocks, print the maps and leave (also Ctrl-D)",
    ),
];

const KEYWORDS: &[&str] = &[
    "if", "else", "for", "while", "unroll", "return", "break", "continue", "let", "config",
    "sizeof", "offsetof", "typeof", "BEGIN", "END",
];

/// At most this many candidates are offered.
const MOST: usize = 400;

/// What is in scope beside the line: the block's earlier lines and the session's maps.
pub struct Scope<'a> {
    pub earlier: &'a str,
    pub maps: &'a [String],
}

/// Where the word to complete starts, and its candidates.
pub fn complete(line: &str, pos: usize, scope: &Scope) -> (usize, Vec<String>) {
    let line = &line[..pos];
    if scope.earlier.is_empty() && line.starts_with(':') {
        return command(line);
    }
    let text = format!("{}{line}", scope.earlier);
    let head = crate::repl::input::open_braces(&text) == 0;
    let spec_start = after_last(line, |c| c.is_whitespace() || c == ',');
    let spec_word = &line[spec_start..];
    if head && spec_word.contains(':') && !spec_word.contains('(') {
        return (spec_start, spec(spec_word));
    }
    // The first word of an input may start a probe or a statement.
    let first_word =
        head && line[..spec_start].trim().is_empty() && scope.earlier.trim().is_empty();
    let start = after_last(line, |c| {
        !(c.is_ascii_alphanumeric() || c == '_' || c == '@' || c == '$')
    });
    let word = &line[start..];
    let before = &line[..start];
    let mut out: Vec<String> = if let Some(chain) = before.strip_suffix("->") {
        members(chain_before(chain), &text)
    } else if before.ends_with("args.") {
        args_fields(&text)
    } else if word.starts_with('@') {
        let mut names: BTreeSet<String> = scope.maps.iter().cloned().collect();
        names.extend(tokens(&text, '@'));
        names.into_iter().collect()
    } else if word.starts_with('$') {
        tokens(block_of(&text), '$').into_iter().collect()
    } else {
        let mut names: BTreeSet<String> = BTreeSet::new();
        names.extend(scry_lang::builtins::all_value_names().map(String::from));
        names.extend(scry_lang::builtins::all_function_names().map(String::from));
        names.extend(KEYWORDS.iter().map(|k| k.to_string()));
        names.extend(crate::config::setting_names().map(String::from));
        if first_word {
            names.extend(spec(word));
        }
        names.into_iter().collect()
    };
    out.retain(|c| c.starts_with(word) && c != word);
    out.truncate(MOST);
    (start, out)
}

/// `:com…`, and the arguments of the commands that take names.
fn command(line: &str) -> (usize, Vec<String>) {
    let Some((name, arg)) = line.split_once(' ') else {
        let names = COMMANDS
            .iter()
            .filter_map(|(c, _)| c.split(' ').next())
            .filter(|c| c.starts_with(line))
            .map(|c| format!("{c} "))
            .collect();
        return (0, names);
    };
    let start = line.len() - arg.len();
    match name {
        ":list" => {
            let (flag, rest) = match arg.strip_prefix("-v ") {
                Some(rest) => (3, rest),
                None => (0, arg),
            };
            (start + flag, spec(rest))
        }
        ":load" | ":save" => (start, paths(arg, false)),
        _ => (start, Vec::new()),
    }
}

/// A probe spec: the probe types, then for a typed one what `-l` lists, up to the next `:`.
fn spec(word: &str) -> Vec<String> {
    let Some((provider, rest)) = word.split_once(':') else {
        let mut names: BTreeSet<String> = BTreeSet::new();
        for t in probes::ALL {
            for n in t.names() {
                let special = *n == "BEGIN" || *n == "END";
                names.insert(if special {
                    n.to_string()
                } else {
                    format!("{n}:")
                });
            }
        }
        return names
            .into_iter()
            .filter(|n| n.starts_with(word) && n != word)
            .collect();
    };
    let binary = matches!(provider, "uprobe" | "uretprobe" | "usdt" | "u" | "ur" | "U");
    if binary && !rest.contains(':') {
        return paths(rest, true)
            .into_iter()
            .map(|p| format!("{provider}:{p}"))
            .collect();
    }
    let Ok(listed) = probes::list(Some(&format!("{word}*"))) else {
        return Vec::new();
    };
    // The typed alias stays as typed (`t:` lists `tracepoint:…`).
    let full = listed.first().map(|l| l.name.clone()).unwrap_or_default();
    let typed_provider_len = provider.len();
    let full_provider_len = full.find(':').unwrap_or(0);
    let mut out = BTreeSet::new();
    for l in listed {
        let tail = &l.name[full_provider_len.min(l.name.len())..];
        let mut name = format!("{}{tail}", &word[..typed_provider_len]);
        if !name.starts_with(word) {
            // Listed with a module (`rawtracepoint:vmlinux:sched_switch`) but typed without.
            let mut parts = name.splitn(3, ':');
            let (p, _module, rest) = (parts.next(), parts.next(), parts.next());
            match (p, rest) {
                (Some(p), Some(rest)) if format!("{p}:{rest}").starts_with(word) => {
                    name = format!("{p}:{rest}");
                }
                _ => continue,
            }
        }
        let cut = name[word.len()..]
            .find(':')
            .map_or(name.len(), |i| word.len() + i + 1);
        out.insert(name[..cut].to_string());
        if out.len() >= MOST {
            break;
        }
    }
    out.into_iter().collect()
}

/// Files and folders starting with `prefix`; folders end in `/`, and with `probe_path` files end
/// in `:` (a uprobe's binary, whose symbols come next).
fn paths(prefix: &str, probe_path: bool) -> Vec<String> {
    let (dir, stem) = match prefix.rfind('/') {
        Some(i) => (&prefix[..=i], &prefix[i + 1..]),
        None => ("", prefix),
    };
    let Ok(entries) = std::fs::read_dir(if dir.is_empty() { "." } else { dir }) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().into_string().ok()?;
            if !name.starts_with(stem) || (stem.is_empty() && name.starts_with('.')) {
                return None;
            }
            let is_dir = std::fs::metadata(e.path()).is_ok_and(|m| m.is_dir());
            let end = if is_dir {
                "/"
            } else if probe_path {
                ":"
            } else {
                ""
            };
            Some(format!("{dir}{name}{end}"))
        })
        .collect();
    out.sort();
    out.truncate(MOST);
    out
}

/// The text of the block being written: from the last top-level `}` on.
fn block_of(text: &str) -> &str {
    let mut depth = 0i64;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    start = i + 1;
                }
            }
            _ => {}
        }
    }
    &text[start..]
}

/// The first attach point of the block being written.
fn block_probe(text: &str) -> Option<String> {
    let block = block_of(text).trim_start();
    let end = block
        .find(|c: char| c.is_whitespace() || c == ',' || c == '{' || c == '/')
        .unwrap_or(block.len());
    let spec = &block[..end];
    spec.contains(':').then(|| spec.to_string())
}

/// The fields of the block's probe (`args.` completes to these).
fn args_fields(text: &str) -> Vec<String> {
    probe_args(text).into_iter().map(|(name, _)| name).collect()
}

fn probe_args(text: &str) -> Vec<(String, Type)> {
    let Some(spec) = block_probe(text) else {
        return Vec::new();
    };
    let mut parts = spec.split(':');
    let provider = parts.next().unwrap_or("");
    let parts: Vec<&str> = parts.collect();
    let resolved = KernelResolver::default()
        .resolve(provider, &parts)
        .unwrap_or_default();
    resolved
        .into_iter()
        .next()
        .and_then(|p| p.args)
        .unwrap_or_default()
        .into_iter()
        .map(|f| (f.name, f.ty))
        .collect()
}

/// The expression before a `->`: `curtask`, `args.sk`, `curtask->mm`.
fn chain_before(text: &str) -> &str {
    &text[after_last(text, |c| {
        !(c.is_ascii_alphanumeric() || "_.->$".contains(c))
    })..]
}

/// Where the text after the last character matching `stop` begins (0 if none matches).
fn after_last(text: &str, stop: impl Fn(char) -> bool) -> usize {
    text.char_indices()
        .rev()
        .find(|(_, c)| stop(*c))
        .map_or(0, |(i, c)| i + c.len_utf8())
}

/// Members of the struct that `chain` points to, when its type can be told from the text.
fn members(chain: &str, text: &str) -> Vec<String> {
    let resolver = KernelResolver::default();
    let mut steps = chain.split("->");
    let first = steps.next().unwrap_or("");
    let mut ty = if first == "curtask" {
        Some(Type::Ptr {
            pointee: Box::new(Type::Record {
                kind: RecordKind::Struct,
                name: "task_struct".into(),
                size: 0,
            }),
            space: scry_lang::types::AddrSpace::Kernel,
        })
    } else if let Some(field) = first.strip_prefix("args.") {
        probe_args(text)
            .into_iter()
            .find(|(n, _)| n == field)
            .map(|(_, t)| t)
    } else {
        None
    };
    for step in steps {
        ty = ty.and_then(|t| {
            let (kind, name) = record_of(&t)?;
            resolver
                .members(kind, &name)?
                .into_iter()
                .find(|m| m.name == step)
                .map(|m| m.ty)
        });
    }
    let Some((kind, name)) = ty.as_ref().and_then(record_of) else {
        return Vec::new();
    };
    resolver
        .members(kind, &name)
        .unwrap_or_default()
        .into_iter()
        .map(|m| m.name)
        .filter(|n| !n.is_empty())
        .collect()
}

fn record_of(ty: &Type) -> Option<(RecordKind, String)> {
    match ty {
        Type::Ptr { pointee, .. } => match pointee.as_ref() {
            Type::Record { kind, name, .. } => Some((*kind, name.clone())),
            _ => None,
        },
        Type::Record { kind, name, .. } => Some((*kind, name.clone())),
        _ => None,
    }
}

/// Every `@name` or `$name` in the text.
fn tokens(text: &str, sigil: char) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find(sigil) {
        let after = &rest[i + 1..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        out.insert(format!("{sigil}{}", &after[..end]));
        rest = &after[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(line: &str, earlier: &str, maps: &[&str]) -> Vec<String> {
        let maps: Vec<String> = maps.iter().map(|m| m.to_string()).collect();
        let scope = Scope {
            earlier,
            maps: &maps,
        };
        complete(line, line.len(), &scope).1
    }

    #[test]
    fn commands_probe_types_names() {
        assert_eq!(offered(":de", "", &[]), vec![":detach "]);
        assert!(offered("trace", "", &[]).contains(&"tracepoint:".to_string()));
        assert!(offered("BEGIN { @n = co", "", &[]).contains(&"count".to_string()));
        assert!(offered("BEGIN { pri", "", &[]).contains(&"printf".to_string()));
        assert_eq!(offered("  print(@c", "", &["@count", "@x"]), vec!["@count"]);
        assert_eq!(
            offered("  printf(\"%d\", $s", "BEGIN { $start = 1; $x = 2;\n", &[]),
            vec!["$start"]
        );
        // A config key.
        assert!(offered("config = { max_s", "", &[]).contains(&"max_strlen".to_string()));
    }

    #[test]
    fn text_beyond_ascii_is_no_trouble() {
        for line in [
            "BEGIN { printf(\"é\u{3000}",
            "é\u{3000}tr",
            "@é",
            "$\u{3000}->",
            "t:é:",
        ] {
            for pos in (0..=line.len()).filter(|&p| line.is_char_boundary(p)) {
                let scope = Scope {
                    earlier: "",
                    maps: &[],
                };
                let _ = complete(line, pos, &scope);
                let _ = super::super::helper::paint(line, pos, "é{");
            }
        }
    }

    #[test]
    fn variables_of_earlier_blocks_are_not_offered() {
        assert!(offered("END { $o", "BEGIN { $old = 1; }\n", &[]).is_empty());
    }
}
