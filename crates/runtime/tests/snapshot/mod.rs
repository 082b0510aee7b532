//! Golden files of the printer tests: what a test produced must be the file's text;
//! `UPDATE_SNAPSHOTS=1` writes it instead.

pub fn check(path: &str, got: String) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if std::env::var("UPDATE_SNAPSHOTS").is_ok() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        got,
        want,
        "{} differs (UPDATE_SNAPSHOTS=1 to accept)",
        path.display()
    );
}
