//! The language reference runs: every ```bt example in docs/language.md is executed. An
//! example followed by an ```output block must print exactly that (with `-q`); the others are
//! loaded and attached in the kernel (`--dry-run`), so each one at least compiles, passes the
//! verifier and attaches. Leading lines `// args: A B` pass script arguments, and
//! `// flags: --unsafe` command-line options.

mod common;

use common::{kernel, run};

struct Example {
    line: usize,
    code: String,
    output: Option<String>,
}

fn examples() -> Vec<Example> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/language.md"))
        .expect("docs/language.md");
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<Example> = Vec::new();
    let mut i = 0;
    // Reads the fenced block opening at line `i`; returns its text and the line after it.
    let block = |i: usize| {
        let mut j = i + 1;
        let mut body = String::new();
        while j < lines.len() && lines[j] != "```" {
            body.push_str(lines[j]);
            body.push('\n');
            j += 1;
        }
        (body, j + 1)
    };
    while i < lines.len() {
        match lines[i] {
            "```bt" => {
                let (code, next) = block(i);
                out.push(Example {
                    line: i + 1,
                    code,
                    output: None,
                });
                i = next;
            }
            "```output" => {
                let (body, next) = block(i);
                let last = out.last_mut().expect("an output block follows an example");
                assert!(last.output.is_none(), "line {}: two output blocks", i + 1);
                last.output = Some(body);
                i = next;
            }
            _ => i += 1,
        }
    }
    out
}

#[test]
fn every_example_in_the_reference_runs() {
    if !kernel() {
        return;
    }
    let examples = examples();
    assert!(
        examples.len() >= 15,
        "found only {} examples",
        examples.len()
    );
    let mut failures = Vec::new();
    for ex in &examples {
        let path =
            std::env::temp_dir().join(format!("scry-doc-{}-{}.bt", std::process::id(), ex.line));
        std::fs::write(&path, &ex.code).unwrap();
        // Leading `// args:` and `// flags:` lines.
        let header = |key: &str| -> Vec<String> {
            ex.code
                .lines()
                .take_while(|l| l.starts_with("//"))
                .filter_map(|l| l.strip_prefix(key))
                .flat_map(|a| a.split_whitespace().map(String::from))
                .collect()
        };
        let script_args = header("// args:");
        let flags = header("// flags:");
        let mut args: Vec<&str> = vec!["-q"];
        args.extend(flags.iter().map(String::as_str));
        if ex.output.is_none() {
            args.push("--dry-run");
        }
        let p = path.to_str().unwrap().to_string();
        args.push(&p);
        args.extend(script_args.iter().map(String::as_str));
        let (status, stdout, stderr) = run(&args);
        let _ = std::fs::remove_file(&path);
        let ok = status.success() && ex.output.as_ref().is_none_or(|want| *want == stdout);
        if !ok {
            failures.push(format!(
                "docs/language.md:{}: status {status}\n--- code\n{}--- want\n{}--- got\n{stdout}--- stderr\n{stderr}",
                ex.line,
                ex.code,
                ex.output.as_deref().unwrap_or("(dry run)\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
