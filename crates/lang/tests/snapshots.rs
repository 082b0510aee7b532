//! Data-driven parser and checker tests: each `cases/NAME.bt` is parsed and checked against the
//! recorded probes of `scry_lang::fixture`; the syntax tree and the types of every map and variable (or the
//! rendered diagnostics) must equal `cases/NAME.out`.
//! `UPDATE_SNAPSHOTS=1 cargo test -p scry-lang` rewrites the `.out` files; review the diff.

use scry_lang::diagnostic::render_all;
use scry_lang::fixture::Recorded;
use scry_lang::{check, parse, CheckOptions};
use std::path::Path;

fn outcome(source: &str) -> String {
    let ast = match parse(source) {
        Ok(ast) => ast,
        Err(diags) => return render_all(&diags, "case.bt", source),
    };
    match check(&ast, &Recorded, &CheckOptions::default()) {
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
