//! The command line, bpftrace-compatible: every flag is defined once here, with the text that
//! `--help` shows.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "scry",
    version,
    about = "Trace the Linux kernel and programs with bpftrace's language, compiled straight to eBPF.",
    after_help = "Examples:\n  scry -e 'tracepoint:syscalls:sys_enter_execve { printf(\"%d %s\\n\", pid, str(args.filename)); }'\n  scry -l 'tracepoint:syscalls:sys_enter_*'\n  scry -lv tracepoint:sched:sched_switch\n  scry script.bt"
)]
pub struct Cli {
    /// The program text to run.
    #[arg(short = 'e', value_name = "PROGRAM")]
    pub program: Option<String>,

    /// A script file to run (`-` reads it from standard input); with -l, a probe pattern such as
    /// 'tracepoint:syscalls:*open*'.
    #[arg(value_name = "FILE")]
    pub file: Option<String>,

    /// The script's arguments, read as `$1`, `$2`… (`$#` counts them).
    #[arg(
        value_name = "ARG",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,

    /// Trace only this process: every probe but BEGIN and END skips other processes.
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = parse_pid)]
    pub pid: Option<u32>,

    /// Run CMD once the probes are attached, and stop when it exits; `cpid` is its pid.
    #[arg(short = 'c', long = "cmd", value_name = "CMD", conflicts_with = "pid")]
    pub command: Option<String>,

    /// Accepted as bpftrace takes it: a USDT probe's semaphore is always raised in every process
    /// that runs its file, by the kernel's uprobe reference counter.
    #[arg(long = "usdt-file-activation")]
    pub usdt_file_activation: bool,

    /// Output buffering: flush after each batch of events (line), only when the buffer is full
    /// (full), or after every write (none).
    #[arg(short = 'B', value_enum, default_value = "line", value_name = "MODE")]
    pub buffering: Buffering,

    /// Accepted as bpftrace takes them; headers are not read: kernel types come from BTF.
    #[arg(short = 'I', value_name = "DIR")]
    pub include_dirs: Vec<PathBuf>,

    /// Accepted as bpftrace takes it; headers are not read: kernel types come from BTF.
    #[arg(long = "include", value_name = "FILE")]
    pub include_files: Vec<PathBuf>,

    /// Do not print warnings about the script.
    #[arg(long = "no-warnings")]
    pub no_warnings: bool,

    /// Also warn when a read of kernel or user memory fails at run time (a map update that
    /// fails, a full map, is warned about unless --no-warnings); -kk is the same.
    #[arg(short = 'k', long = "warnings", action = clap::ArgAction::Count, conflicts_with = "no_warnings")]
    pub helper_warnings: u8,

    /// Allow functions that act on the system: system(), signal().
    #[arg(long = "unsafe")]
    pub unsafe_allowed: bool,

    /// List probes, optionally only those matching the pattern.
    #[arg(short = 'l', long = "list")]
    pub list: bool,

    /// With -l: show each probe's arguments with their C types.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,

    /// Write the program's output to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Output format: bpftrace's text layouts, NDJSON records, or text with maps keyed by
    /// stacks printed as folded stacks (`frame;frame count`) for flame graph tools.
    #[arg(short = 'f', long = "format", value_enum, default_value = "text")]
    pub format: Format,

    /// At exit, draw each map keyed by kstack or ustack as an SVG flame graph: FILE for one map,
    /// FILE-@name.svg for each of several.
    #[arg(long = "flamegraph", value_name = "FILE.svg")]
    pub flamegraph: Option<PathBuf>,

    /// Do not print the "Attached N probes" message.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,

    /// Print the syntax tree and each program's disassembly to standard error, then run.
    #[arg(short = 'd', long = "debug")]
    pub debug: bool,

    /// Write the compiled BPF object (ELF) to FILE and exit without loading it.
    #[arg(long = "emit-elf", value_name = "FILE")]
    pub emit_elf: Option<PathBuf>,

    /// Print the kernel facilities scry finds here (by loading tiny programs and opening
    /// events), and scry's version, then exit.
    #[arg(long = "info")]
    pub info: bool,

    /// Serve the script's maps on http://ADDR:PORT/metrics in Prometheus's text format while
    /// it runs (`127.0.0.1:9435`, `[::]:9435`).
    #[arg(long = "metrics", value_name = "ADDR:PORT")]
    pub metrics: Option<String>,

    /// Load and attach every probe, then exit without running the script.
    #[arg(long = "dry-run")]
    pub dry_run: bool,

    /// Start the interactive session (what `scry` with no program on a terminal does).
    #[arg(long = "repl")]
    pub repl: bool,
}

/// The largest pid the kernel hands out (`PID_MAX_LIMIT` on 64-bit kernels).
const PID_MAX_LIMIT: u64 = 4 * 1024 * 1024;

/// `-p`'s value, checked as bpftrace checks it: a decimal number no larger than the kernel's limit.
fn parse_pid(text: &str) -> Result<u32, String> {
    let pid: u64 = text
        .parse()
        .map_err(|_| format!("failed to parse pid: `{text}` is not a decimal number"))?;
    if pid > PID_MAX_LIMIT {
        return Err(format!(
            "pid out of range: {pid} (the kernel's pids go up to {PID_MAX_LIMIT})"
        ));
    }
    Ok(pid as u32)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Buffering {
    Line,
    Full,
    None,
}

impl From<Buffering> for scry_runtime::output::Buffering {
    fn from(b: Buffering) -> Self {
        match b {
            Buffering::Line => Self::Line,
            Buffering::Full => Self::Full,
            Buffering::None => Self::None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Folded,
}

/// The script's arguments: positional ones (`$1`…) and named ones (`--name` or `--name=value`,
/// read with `getopt`); a lone `--` only separates.
pub fn split_args(args: Vec<String>) -> (Vec<String>, Vec<(String, Option<String>)>) {
    let mut positional = Vec::new();
    let mut named = Vec::new();
    for a in args {
        match a.strip_prefix("--") {
            Some("") => {}
            Some(rest) => match rest.split_once('=') {
                Some((n, v)) => named.push((n.to_string(), Some(v.to_string()))),
                None => named.push((rest.to_string(), None)),
            },
            None => positional.push(a),
        }
    }
    (positional, named)
}
