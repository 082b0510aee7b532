//! The `scry` binary: the command line, the pipeline from text to running probes, and exit
//! codes. Only glue: each stage lives in its crate (`scry_lang`, `scry_codegen`,
//! `scry_runtime`).

mod cli;
mod command;
mod config;
mod flamegraph;
mod repl;
mod report;

use clap::Parser;
use cli::Cli;
use report::Failure;
use scry_codegen::{compile, elf, CompileOptions};
use scry_lang::{check, parse, CheckOptions};
use scry_runtime::output::folded::FoldedPrinter;
use scry_runtime::output::{JsonPrinter, Printer, TextPrinter};
use scry_runtime::probes::{self, KernelResolver};
use scry_runtime::signals::StopSignals;
use scry_runtime::{privileges, RuntimeError, Session, Stop};
use std::io::{self, IsTerminal, Read, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            scry_runtime::output::to_stderr(failure.render());
            ExitCode::from(1)
        }
    }
}

/// The script's name for messages (`stdin` for `-e` and `-`, as bpftrace) and its text.
fn read_script(cli: &Cli) -> Result<(String, String), Failure> {
    match (&cli.program, &cli.file) {
        (Some(text), _) => Ok(("stdin".into(), text.clone())),
        (None, Some(path)) if path == "-" => {
            let mut bytes = Vec::new();
            io::stdin().read_to_end(&mut bytes).map_err(|e| {
                Failure::plain(format!("reading the script from standard input: {e}"))
            })?;
            Ok(("stdin".into(), utf8("stdin", bytes)?))
        }
        (None, Some(path)) => {
            let bytes = std::fs::read(path)
                .map_err(|e| Failure::plain(format!("cannot read script {path}: {e}")))?;
            Ok((path.clone(), utf8(path, bytes)?))
        }
        (None, None) => Err(Failure::plain(
            "no program given: pass -e 'PROGRAM', a script file, -l, or --repl for an interactive session (see --help)",
        )),
    }
}

/// A script's bytes as text; a script that is not UTF-8 (a binary file given by mistake) is
/// an error located at its first bad byte.
fn utf8(file: &str, bytes: Vec<u8>) -> Result<String, Failure> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let byte = e.as_bytes()[at];
        // Shown with the bad bytes replaced; everything before `at` is as it was.
        let shown = String::from_utf8_lossy(e.as_bytes()).into_owned();
        let d = scry_lang::Diagnostic::error(
            scry_lang::ast::Span::new(at, at + 1),
            format!("the script is not UTF-8 text (byte 0x{byte:02x})"),
        )
        .with_hint("a script is a text file of probes, as in `BEGIN { printf(\"hello\\n\"); }`");
        Failure::diagnostics(vec![d], file, &shown)
    })
}

fn run(cli: &Cli) -> Result<u8, Failure> {
    if let Some(pid) = cli.pid {
        if pid == 0 || !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            return Err(Failure::plain(format!(
                "-p {pid}: there is no process {pid}\n  hint: the running processes are listed by `ps -e`"
            )));
        }
    }
    if cli.list {
        return list(cli);
    }
    if cli.info {
        return info();
    }
    let no_program = cli.program.is_none() && cli.file.is_none();
    if cli.repl || (no_program && io::stdin().is_terminal() && io::stdout().is_terminal()) {
        if cli.metrics.is_some() {
            return Err(Failure::plain(
                "--metrics serves a script's maps: give the script with -e or a file",
            ));
        }
        return repl::run(cli);
    }
    let (file, source) = read_script(cli)?;
    let failure = |e: RuntimeError| Failure::runtime(e, &file, &source);
    let ast = parse(&source).map_err(|d| Failure::diagnostics(d, &file, &source))?;
    // Only what needs the kernel needs privileges: a script of BEGIN and END is checked and
    // compiled (and its errors reported) by anyone.
    let resolving_needs_privileges = ast
        .probes
        .iter()
        .flat_map(|p| &p.attach_points)
        .any(|ap| probes::resolving_needs_privileges(ap.provider()));
    if resolving_needs_privileges && !privileges::can_trace() {
        return Err(failure(RuntimeError::NoPrivileges));
    }
    let config = config::Config::from_script(&ast, &file, &source)?;
    // Each attach point is at least one program, unless a missing one may be left out: a
    // script of 100,000 probes stops here, before they are checked one by one.
    if config.missing_probes == scry_lang::MissingProbes::Error {
        check_programs(
            ast.probes.iter().map(|p| p.attach_points.len()).sum(),
            &config,
        )?;
    }
    // With -e, what looks like a script file is the first argument.
    let mut args = cli.args.clone();
    if cli.program.is_some() {
        if let Some(first) = &cli.file {
            args.insert(0, first.clone());
        }
    }
    let (args, named_args) = cli::split_args(args);
    // Forked now, so `cpid` is known when the script is checked; it runs once attached.
    let mut command = match &cli.command {
        Some(line) => Some(command::Command::spawn(line).map_err(Failure::plain)?),
        None => None,
    };
    let check_options = CheckOptions {
        max_strlen: config.max_strlen,
        args,
        cpid: command.as_ref().map(command::Command::pid),
        unsafe_allowed: cli.unsafe_allowed,
        missing_probes: config.missing_probes,
        named_args,
        constants: header_constants(
            &ast,
            &cli.include_dirs,
            &cli.include_files,
            !cli.no_warnings,
            &file,
            &source,
        ),
        settings: config.settings.clone(),
    };
    let resolver = KernelResolver { pid: cli.pid };
    let typed = check(&ast, &resolver, &check_options)
        .map_err(|d| Failure::diagnostics(d, &file, &source))?;
    if let Some((name, _)) = check_options
        .named_args
        .iter()
        .find(|(n, _)| !typed.options.contains(n))
    {
        let known: Vec<String> = typed.options.iter().map(|o| format!("--{o}")).collect();
        return Err(Failure::plain(if known.is_empty() {
            format!("unknown argument --{name}: the script reads no named arguments")
        } else {
            format!(
                "unknown argument --{name}: the script reads {}",
                known.join(", ")
            )
        }));
    }
    check_programs(typed.probes.len(), &config)?;
    if !cli.no_warnings {
        scry_runtime::output::to_stderr(&scry_lang::diagnostic::render_all(
            &typed.warnings,
            &file,
            &source,
        ));
    }
    let options = CompileOptions {
        // Asked of the kernel (a program load) only when it matters; an object written for
        // another loader, perhaps for another kernel, calls the helper every kernel has.
        comm_from_task: cli.emit_elf.is_none()
            && scry_codegen::reads_comm(&typed)
            && privileges::can_trace()
            && scry_runtime::features::comm_from_task(),
        ..compile_options(cli, &config)
    };
    let mut module = compile(&typed, &options).map_err(|e| Failure::compile(e, &file, &source))?;
    module.locate(|span| scry_lang::diagnostic::Location::of(&file, &source, span));
    check_limits(&module, &config)?;

    if cli.debug {
        let mut text = format!("AST:\n{ast}\n");
        for prog in &module.programs {
            let dis = prog.disassemble(&module.maps);
            text.push_str(&format!("{} ({}):\n{dis}\n", prog.probe, prog.name));
        }
        scry_runtime::output::to_stderr(&text);
    }
    if let Some(path) = &cli.emit_elf {
        let object = elf::write(&module).map_err(|e| Failure::plain(e.to_string()))?;
        std::fs::write(path, &object)
            .map_err(|e| Failure::plain(format!("cannot write {}: {e}", path.display())))?;
        return Ok(0);
    }

    if !privileges::can_trace() {
        return Err(failure(RuntimeError::NoPrivileges));
    }
    let out: Box<dyn Write + Send> = match &cli.output {
        Some(path) => Box::new(io::BufWriter::with_capacity(
            OUTPUT_BUFFER,
            std::fs::File::create(path)
                .map_err(|e| Failure::plain(format!("cannot create {}: {e}", path.display())))?,
        )),
        None => {
            stdout_pipe_grown();
            Box::new(io::BufWriter::with_capacity(OUTPUT_BUFFER, io::stdout()))
        }
    };
    let buffering = cli.buffering.into();
    let mut printer: Box<dyn Printer> = match cli.format {
        cli::Format::Text => Box::new(TextPrinter::new(out, buffering)),
        cli::Format::Json => Box::new(JsonPrinter::new(out, buffering)),
        cli::Format::Folded => Box::new(FoldedPrinter::new(TextPrinter::new(out, buffering))),
    };
    let signals = StopSignals::install().map_err(|source| {
        failure(RuntimeError::Io {
            context: "installing signal handlers",
            source,
        })
    })?;

    // BEGIN, END and iterators (which run to their end as they are attached) leave nothing to
    // wait for; events and SIGUSR1 (`self:signal:SIGUSR1`) do.
    let only_special = module.programs.iter().all(|p| {
        !matches!(
            p.kind.runs,
            scry_lang::types::Runs::OnEvents | scry_lang::types::Runs::OnSignal
        )
    });
    // Listening first: an address in use fails before anything is loaded.
    let metrics = match &cli.metrics {
        Some(addr) => Some(
            scry_runtime::metrics::MetricsServer::bind(addr)
                .map_err(|e| Failure::plain(e.to_string()))?,
        ),
        None => None,
    };
    let mut session = Session::new(config.missing_probes);
    let set = session.add(module).map_err(failure)?;
    if let Some(server) = metrics {
        if !cli.quiet {
            if let Ok(addr) = server.local_addr() {
                scry_runtime::output::to_stderr(&format!(
                    "Serving metrics on http://{addr}/metrics\n"
                ));
            }
        }
        session.serve_metrics(server);
    }
    let warn_skipped = |session: &mut Session| {
        for e in session.take_skipped() {
            if config.missing_probes == scry_lang::MissingProbes::Warn && !cli.no_warnings {
                scry_runtime::output::to_stderr(&report::warning(&e, &file, &source));
            }
        }
    };
    if cli.dry_run {
        session.attach(set, cli.pid).map_err(failure)?;
        warn_skipped(&mut session);
        if !cli.quiet {
            let _ = printer.attached(session.probe_count());
            let _ = printer.flush();
        }
        return Ok(0);
    }
    let begin_exited = session.run_begin(set).map_err(failure)?;
    if !begin_exited {
        session.attach(set, cli.pid).map_err(failure)?;
    }
    warn_skipped(&mut session);
    if !cli.quiet {
        let _ = printer.attached(session.probe_count());
    }
    if let Some(c) = &mut command {
        if !begin_exited {
            c.release();
            scry_runtime::symbols::keep_mappings(c.pid());
        }
    }
    if let Some(pid) = cli.pid {
        scry_runtime::symbols::keep_mappings(pid);
    }
    // A script with nothing but BEGIN and END has nothing to wait for, unless a command runs.
    let stop = if only_special && command.is_none() {
        session.deliver_pending(printer.as_mut()).map_err(failure)?
    } else {
        let exited = command.as_ref().map(command::Command::exited);
        session
            .deliver(printer.as_mut(), &signals, exited)
            .map_err(failure)?
    };
    session
        .finish(printer.as_mut(), config.print_maps_on_exit)
        .map_err(failure)?;
    let mut code = match stop {
        Stop::Exit(code) => code as u8,
        Stop::Signal | Stop::OutputClosed | Stop::Done | Stop::CommandExited => 0,
    };
    if let Some(path) = &cli.flamegraph {
        let (written, errors) = flamegraph::draw_all(&mut session, path);
        if !cli.quiet {
            for file in written {
                scry_runtime::output::to_stderr(&format!("Wrote {}\n", file.display()));
            }
        }
        for e in &errors {
            scry_runtime::output::to_stderr(Failure::plain(e).render());
        }
        if !errors.is_empty() && code == 0 {
            code = 1;
        }
    }
    Ok(code)
}

/// The integer constants of the script's `#include`s and of `--include FILE`s. A header that is
/// not found is a warning: its constants then come from BTF's enums and scry's own table.
fn header_constants(
    ast: &scry_lang::ast::Program,
    include_dirs: &[std::path::PathBuf],
    include_files: &[std::path::PathBuf],
    warn: bool,
    file: &str,
    source: &str,
) -> std::collections::HashMap<String, i64> {
    use scry_runtime::headers::{search_path, Headers};
    let mut names: Vec<String> = ast.includes.iter().map(|i| i.path.clone()).collect();
    names.extend(include_files.iter().map(|p| p.display().to_string()));
    if names.is_empty() {
        return Default::default();
    }
    let headers = Headers::read(&names, &search_path(include_dirs));
    if warn {
        let mut text = String::new();
        for missing in &headers.missing {
            let message = format!("header {missing} not found");
            let hint = "kernel types come from BTF, and common constants (AF_INET, TCP_ESTABLISHED, EPERM…) from scry's own table; -I DIR adds a folder to search";
            match ast.includes.iter().find(|i| &i.path == missing) {
                Some(i) => text.push_str(
                    &scry_lang::Diagnostic::warning(i.span, message)
                        .with_hint(hint)
                        .render(file, source),
                ),
                None => text.push_str(&format!("scry: warning: {message}\n  hint: {hint}\n")),
            }
        }
        scry_runtime::output::to_stderr(&text);
    }
    headers.all()
}

/// `max_bpf_progs`: each probe (each attach point a wildcard expands to) is a program of
/// its own. Checked on the checked program too, before the programs are built: a generated
/// script of 100,000 probes stops in a moment instead of being compiled first.
fn check_programs(programs: usize, config: &config::Config) -> Result<(), Failure> {
    if programs as u64 > config.max_bpf_progs {
        return Err(Failure::plain(format!(
            "the program compiles to {programs} BPF programs, more than max_bpf_progs ({})\n  hint: raise it with `config = {{ max_bpf_progs = {programs} }}` or BPFTRACE_MAX_BPF_PROGS",
            config.max_bpf_progs
        )));
    }
    Ok(())
}

/// `max_bpf_progs` and `max_probes`, checked before anything is loaded, as bpftrace checks
/// them: a glob that matches more than the user expected stops here.
fn check_limits(module: &scry_codegen::Module, config: &config::Config) -> Result<(), Failure> {
    check_programs(module.programs.len(), config)?;
    let probes: u64 = module
        .programs
        .iter()
        .map(|p| probes::of(p.provider).map_or(1, |k| k.probe_count(&p.attach)) as u64)
        .sum();
    if probes > config.max_probes {
        return Err(Failure::plain(format!(
            "the program attaches {probes} probes, more than max_probes ({})\n  hint: raise it with `config = {{ max_probes = {probes} }}` or BPFTRACE_MAX_PROBES, with care: that many probes can slow the whole system",
            config.max_probes
        )));
    }
    Ok(())
}

/// How this run compiles: programs named after this process, times from now, this machine's
/// CPUs, and what the command line and settings say.
fn compile_options(cli: &Cli, config: &config::Config) -> CompileOptions {
    CompileOptions {
        name_prefix: format!("scry{:x}", std::process::id()),
        start_boot_ns: scry_runtime::clock::boot_ns(),
        boot_to_tai_ns: scry_runtime::clock::boot_to_tai_ns(),
        pid_ns: scry_runtime::namespaces::pid_namespace(),
        ncpus: scry_runtime::bpf_map::possible_cpus() as u32,
        max_map_keys: config.max_map_keys,
        pid_filter: cli.pid,
        stack_mode: config.stack_mode,
        // As bpftrace: failed map updates are reported unless --no-warnings, failed reads
        // with -k.
        helper_checks: match (cli.no_warnings, cli.helper_warnings) {
            (true, _) => 0,
            (false, 0) => 1,
            (false, _) => 2,
        },
        str_trailer: config.str_trunc_trailer.clone(),
        license: config.license.clone(),
        max_cat_bytes: config.max_cat_bytes,
        // A ring buffer's size is a power of two pages.
        ringbuf_bytes: (config.perf_rb_pages.next_power_of_two()).saturating_mul(4096),
        ..Default::default()
    }
}

fn list(cli: &Cli) -> Result<u8, Failure> {
    if !privileges::can_trace() {
        return Err(Failure::plain(RuntimeError::NoPrivileges.to_string()));
    }
    if let Some(definition) = cli.file.as_deref().and_then(scry_runtime::btf::definition) {
        print!("{}", definition.map_err(Failure::plain)?);
        return Ok(0);
    }
    // `-l -e PROGRAM` and `-l script.bt`: the probes that program would attach to.
    let script = match (&cli.program, cli.file.as_deref()) {
        (Some(text), _) => Some(text.clone()),
        (None, Some(path)) if !path.contains(':') && std::path::Path::new(path).is_file() => Some(
            std::fs::read_to_string(path).map_err(|e| Failure::plain(format!("{path}: {e}")))?,
        ),
        _ => None,
    };
    let listings = match (script, cli.pid) {
        (Some(text), _) => program_probes(&text)?,
        // `-l -p PID`: what can be probed in that process.
        (None, Some(pid)) => probes::list_process(pid, cli.file.as_deref())
            .map_err(|e| Failure::plain(e.to_string()))?,
        (None, None) => {
            probes::list(cli.file.as_deref()).map_err(|e| Failure::plain(e.to_string()))?
        }
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    for l in listings {
        let _ = writeln!(out, "{}", l.name);
        if cli.verbose {
            for a in &l.args {
                let _ = writeln!(out, "    {a}");
            }
        }
    }
    let _ = out.flush();
    Ok(0)
}

/// The probes a program's attach points expand to, each once, in the program's order.
fn program_probes(text: &str) -> Result<Vec<probes::Listing>, Failure> {
    use scry_lang::types::ProbeResolver;
    let program = scry_lang::parse(text).map_err(|d| {
        Failure::plain(
            d.iter()
                .map(|d| d.message.clone())
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    let resolver = probes::KernelResolver::default();
    let mut out: Vec<probes::Listing> = Vec::new();
    for ap in program.probes.iter().flat_map(|p| &p.attach_points) {
        let parts = ap.parts();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        let resolved = resolver
            .resolve(ap.provider(), &parts)
            .map_err(|e| Failure::plain(format!("{}: {}", ap.text, e.message)))?;
        for r in resolved {
            if !out.iter().any(|l| l.name == r.name) {
                let args = r.args.iter().flatten().map(|a| a.c_decl.clone()).collect();
                out.push(probes::Listing { name: r.name, args });
            }
        }
    }
    Ok(out)
}

/// `--info`: scry's build and the kernel's facilities, one `name: yes|no` per line.
fn info() -> Result<u8, Failure> {
    if !privileges::can_trace() {
        return Err(Failure::plain(RuntimeError::NoPrivileges.to_string()));
    }
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let build = format!("scry {}", env!("CARGO_PKG_VERSION"));
    print!("{}", scry_runtime::features::report(&build, profile));
    Ok(0)
}

/// The output's buffer: a batch of records (thousands of lines at full rate) is written at its
/// end in one `write`, not in 8 KiB pieces.
const OUTPUT_BUFFER: usize = 256 * 1024;

/// When standard output is a pipe, grows it to 1 MiB (the most an unprivileged process may
/// ask, `/proc/sys/fs/pipe-max-size`), so that a batch's write does not wait for the reader
/// to drain 64 KiB at a time. A pipe that cannot grow stays as it is.
fn stdout_pipe_grown() {
    use std::os::fd::AsRawFd;
    let fd = io::stdout().as_raw_fd();
    // SAFETY: fstat and fcntl on our own standard output, with a stat buffer of the right type.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFIFO {
            libc::fcntl(fd, libc::F_SETPIPE_SZ, 1 << 20);
        }
    }
}
