//! The recorded probes of `scry_lang::fixture` (which the language and code generator tests
//! check against, without a kernel) are what the recorded tracefs `format` files in
//! `crates/lang/tests/fixtures/tracefs/` say, read with the runtime's own parser. Needs no
//! kernel; the root package's `tests/golden.rs` compares them with the live kernel too.

use scry_lang::fixture::{Recorded, ATTACH_POINTS};
use scry_lang::types::ProbeResolver;
use scry_runtime::format;
use std::path::Path;

#[test]
fn recorded_tracepoints_are_their_format_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lang/tests/fixtures/tracefs");
    let mut compared = 0;
    for spec in ATTACH_POINTS {
        let Some(rest) = spec.strip_prefix("tracepoint:") else {
            continue;
        };
        let (category, event) = rest.split_once(':').unwrap();
        let path = root.join(category).join(event).join("format");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let parsed = format::parse(&text, format::pointer_space(category));
        let recorded = Recorded.resolve("tracepoint", &[category, event]).unwrap();
        assert_eq!(recorded[0].args.as_ref(), Some(&parsed), "{spec}");
        compared += 1;
    }
    assert_eq!(compared, 5);
}
