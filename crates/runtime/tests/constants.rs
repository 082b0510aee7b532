//! The table of C constants scripts may use without their headers (`crates/lang/src/constants.rs`,
//! for machines and guests with no headers) is what this machine's headers say:
//! `UPDATE_CONSTANTS=1 cargo test -p scry-runtime --test constants` writes it from them.

use scry_runtime::headers::{search_path, Headers};
use std::collections::BTreeMap;

/// The headers read, and which of their names go in the table.
const HEADERS: &[&str] = &[
    "sys/socket.h",
    "netinet/in.h",
    "netinet/tcp.h",
    "errno.h",
    "signal.h",
    "dirent.h",
    "fcntl.h",
];

fn wanted(name: &str) -> bool {
    let prefixed = |p: &str| name.strip_prefix(p).is_some_and(|r| !r.is_empty());
    [
        "AF_", "PF_", "SOCK_", "IPPROTO_", "TCP_", "DT_", "O_", "AT_",
    ]
    .iter()
    .any(|p| prefixed(p))
        || (name.starts_with('E')
            && name.len() > 2
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
        || (prefixed("SIG")
            && !name.starts_with("SIG_")
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
}

/// Kernel-internal constants no user header has: the task states of `include/linux/sched.h`
/// (Linux 6.x).
const KERNEL: &[(&str, i64)] = &[
    ("TASK_RUNNING", 0x0),
    ("TASK_INTERRUPTIBLE", 0x1),
    ("TASK_UNINTERRUPTIBLE", 0x2),
    ("__TASK_STOPPED", 0x4),
    ("__TASK_TRACED", 0x8),
    ("EXIT_DEAD", 0x10),
    ("EXIT_ZOMBIE", 0x20),
    ("TASK_PARKED", 0x40),
    ("TASK_DEAD", 0x80),
    ("TASK_WAKEKILL", 0x100),
    ("TASK_WAKING", 0x200),
    ("TASK_NOLOAD", 0x400),
    ("TASK_NEW", 0x800),
    ("TASK_KILLABLE", 0x102),
    ("TASK_STOPPED", 0x104),
    ("TASK_TRACED", 0x8),
    ("TASK_IDLE", 0x402),
];

fn table() -> Option<BTreeMap<String, i64>> {
    let dirs = search_path(&[]);
    let headers: Vec<String> = HEADERS.iter().map(|h| h.to_string()).collect();
    let found = Headers::read(&headers, &dirs);
    if !found.missing.is_empty() {
        return None;
    }
    let mut out: BTreeMap<String, i64> =
        found.all().into_iter().filter(|(n, _)| wanted(n)).collect();
    out.extend(KERNEL.iter().map(|(n, v)| (n.to_string(), *v)));
    Some(out)
}

fn render(table: &BTreeMap<String, i64>) -> String {
    let mut s = String::from(
        "//! Integer C constants a script may use without its headers (`AF_INET`, `TCP_ESTABLISHED`,\n\
         //! `EPERM`, `SIGKILL`, `DT_REG`, `O_RDONLY`, `TASK_RUNNING`…), for machines and guests that\n\
         //! have none. Generated from glibc's and linux-libc-dev's headers (x86-64), plus the kernel's\n\
         //! task states, by `UPDATE_CONSTANTS=1 cargo test -p scry-runtime --test constants`.\n\n\
         /// Sorted by name.\n\
         const TABLE: &[(&str, i64)] = &[\n",
    );
    for (n, v) in table {
        s.push_str(&format!("    (\"{n}\", {v}),\n"));
    }
    s.push_str(
        "];\n\n\
         /// The constant's value, if the table has it.\n\
         pub fn constant(name: &str) -> Option<i64> {\n    \
             TABLE\n        .binary_search_by(|(n, _)| (*n).cmp(name))\n        .ok()\n        .map(|i| TABLE[i].1)\n\
         }\n",
    );
    s
}

#[test]
fn the_table_is_what_the_headers_say() {
    let Some(table) = table() else {
        assert_ne!(
            std::env::var("SCRY_REQUIRE_KERNEL").as_deref(),
            Ok("1"),
            "the C library headers (libc6-dev) are missing"
        );
        return;
    };
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../lang/src/constants.rs");
    let text = render(&table);
    if std::env::var("UPDATE_CONSTANTS").as_deref() == Ok("1") {
        std::fs::write(path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == text,
        "{path} is not what the headers give; UPDATE_CONSTANTS=1 rewrites it"
    );
    for (name, value) in [
        ("AF_INET", 2),
        ("AF_INET6", 10),
        ("TCP_ESTABLISHED", 1),
        ("EPERM", 1),
        ("SIGKILL", 9),
        ("DT_REG", 8),
    ] {
        assert_eq!(table.get(name), Some(&value), "{name}");
    }
}
