//! Data-driven parser and checker tests: each `cases/NAME.bt` is parsed and checked against a
//! fixed set of probes; the syntax tree and the types of every map and variable (or the
//! rendered diagnostics) must equal `cases/NAME.out`.
//! `UPDATE_SNAPSHOTS=1 cargo test -p scry-lang` rewrites the `.out` files; review the diff.

use scry_lang::diagnostic::render_all;
use scry_lang::types::{
    AddrSpace, ContextField, FieldLocation, IntType, ProbeResolver, ProbeTarget, ResolveError,
    ResolvedProbe, Type,
};
use scry_lang::{check, parse, CheckOptions};
use std::path::Path;

/// Two tracepoints with the fields the kernel describes for them.
struct Fixture;

fn field(name: &str, ty: Type, location: FieldLocation, c_decl: &str) -> ContextField {
    ContextField {
        name: name.into(),
        ty,
        location,
        c_decl: c_decl.into(),
    }
}

impl ProbeResolver for Fixture {
    fn resolve(&self, provider: &str, parts: &[&str]) -> Result<Vec<ResolvedProbe>, ResolveError> {
        let tp = |category: &str, event: &str, args| ResolvedProbe {
            name: format!("tracepoint:{category}:{event}"),
            target: ProbeTarget::Tracepoint {
                category: category.into(),
                event: event.into(),
            },
            args: Some(args),
            values: Vec::new(),
            func: None,
            registers: Vec::new(),
        };
        let execve = || {
            tp(
                "syscalls",
                "sys_enter_execve",
                vec![
                    field(
                        "__syscall_nr",
                        Type::Int(IntType::I32),
                        FieldLocation::Inline { offset: 8 },
                        "int __syscall_nr",
                    ),
                    field(
                        "filename",
                        Type::Ptr {
                            pointee: Box::new(Type::Int(IntType::I8)),
                            space: AddrSpace::User,
                        },
                        FieldLocation::Inline { offset: 16 },
                        "const char * filename",
                    ),
                ],
            )
        };
        let exec = || {
            tp(
                "sched",
                "sched_process_exec",
                vec![
                    field(
                        "filename",
                        Type::Str(0),
                        FieldLocation::DataLoc { offset: 8 },
                        "__data_loc char[] filename",
                    ),
                    field(
                        "pid",
                        Type::Int(IntType::I32),
                        FieldLocation::Inline { offset: 12 },
                        "pid_t pid",
                    ),
                ],
            )
        };
        match (provider, parts) {
            ("BEGIN", []) => Ok(vec![ResolvedProbe {
                name: "BEGIN".into(),
                target: ProbeTarget::Begin,
                args: None,
                values: Vec::new(),
                func: None,
                registers: Vec::new(),
            }]),
            ("END", []) => Ok(vec![ResolvedProbe {
                name: "END".into(),
                target: ProbeTarget::End,
                args: None,
                values: Vec::new(),
                func: None,
                registers: Vec::new(),
            }]),
            ("tracepoint", ["syscalls", "sys_enter_execve"]) => Ok(vec![execve()]),
            ("tracepoint", ["sched", "sched_process_exec"]) => Ok(vec![exec()]),
            ("tracepoint", ["*", "*exec*"]) => Ok(vec![exec(), execve()]),
            _ => Err(ResolveError {
                message: format!("tracepoint not found: {provider}:{}", parts.join(":")),
                hint: None,
            }),
        }
    }
}

fn outcome(source: &str) -> String {
    let ast = match parse(source) {
        Ok(ast) => ast,
        Err(diags) => return render_all(&diags, "case.bt", source),
    };
    match check(&ast, &Fixture, &CheckOptions::default()) {
        Ok(typed) => {
            let probes: Vec<&str> = typed
                .probes
                .iter()
                .map(|p| p.resolved.name.as_str())
                .collect();
            // The types checking gave: each map's keys and value, each probe's variables.
            let mut types = String::new();
            for m in &typed.maps {
                let keys: Vec<String> = m.keys.iter().map(ToString::to_string).collect();
                let storage = match m.storage {
                    Some(s) => format!(
                        " ({}{} entries)",
                        if s.lru { "lru, " } else { "" },
                        s.max_entries
                    ),
                    None => String::new(),
                };
                types.push_str(&format!(
                    "{}[{}]: {}{storage}\n",
                    m.name,
                    keys.join(", "),
                    m.value.describe()
                ));
            }
            for p in &typed.probes {
                for v in &p.vars {
                    types.push_str(&format!("{} ${}: {}\n", p.resolved.name, v.name, v.ty));
                }
            }
            for w in &typed.warnings {
                types.push_str(&w.render("case.bt", source));
            }
            format!("{ast}-- ok: {}\n{types}", probes.join(", "))
        }
        Err(diags) => format!("{ast}-- errors:\n{}", render_all(&diags, "case.bt", source)),
    }
}

#[test]
fn cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let update = std::env::var("UPDATE_SNAPSHOTS").is_ok();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bt"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 10, "the cases are there");
    let mut failures = Vec::new();
    for path in paths {
        let source = std::fs::read_to_string(&path).unwrap();
        let got = outcome(&source);
        let out = path.with_extension("out");
        if update {
            std::fs::write(&out, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&out).unwrap_or_default();
        if got != want {
            failures.push(format!(
                "{}:\n--- want\n{want}--- got\n{got}",
                path.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) differ (UPDATE_SNAPSHOTS=1 to accept):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
