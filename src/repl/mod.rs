//! The interactive REPL (`scry` on a terminal with no program, or `scry --repl`): probe blocks
//! typed at the prompt are checked, loaded and attached beside those already running; statements
//! typed alone run once; maps are shared by name across all of them; `:commands` look at and
//! steer the session. Output streams above the line being typed.

mod commands;
mod complete;
mod helper;
mod input;
mod live;

use crate::cli::Cli;
use crate::report::Failure;
use helper::ReplHelper;
use input::{open_braces, parse_input, Parsed};
use live::{lock, Delivery, Live, Screen};
use rustyline::config::{ColorMode, CompletionType};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::Editor;
use scry_codegen::{compile, CompileOptions};
use scry_lang::ast::Program;
use scry_lang::typed::MapDecl;
use scry_lang::{check_with_maps, CheckOptions};
use scry_runtime::probes::KernelResolver;
use scry_runtime::signals::StopSignals;
use scry_runtime::{privileges, RuntimeError, Session, SetId};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How typed input is named in messages, as `-e` programs are.
const FILE: &str = "stdin";

/// A block typed (or loaded) into the session.
struct Block {
    id: usize,
    set: SetId,
    text: String,
}

/// The session as the prompt knows it.
pub struct Repl {
    live: Arc<Mutex<Live>>,
    screen: Screen,
    /// Every map of the session, as the checker typed them.
    maps: Vec<MapDecl>,
    /// The next record id free in the shared ring buffer.
    records: u32,
    blocks: Vec<Block>,
    /// Map declarations, macros and types typed alone, joined to every later input.
    definitions: String,
    check_options: CheckOptions,
    /// `-I` folders, searched for the headers an input includes.
    include_dirs: Vec<PathBuf>,
    compile_options: CompileOptions,
    pid: Option<u32>,
    warnings: bool,
    /// Ctrl-C outside the line editor (it stops `:watch`).
    interrupts: StopSignals,
}

/// What an input asks of the loop.
enum Next {
    Prompt,
    Quit,
}

/// The terminal's settings at start, put back if SIGTERM ends the session mid-line.
struct Terminal(Option<libc::termios>);

impl Terminal {
    fn save() -> Terminal {
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            Terminal((libc::tcgetattr(0, &mut t) == 0).then_some(t))
        }
    }

    fn restore(&self) {
        if let Some(t) = &self.0 {
            // SAFETY: a termios tcgetattr gave.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, t) };
        }
    }
}

pub fn run(cli: &Cli) -> Result<u8, Failure> {
    if !privileges::can_trace() {
        return Err(Failure::plain(RuntimeError::NoPrivileges.to_string()));
    }
    let failure = |e: RuntimeError| Failure::plain(e.to_string());
    let io = |context: &'static str| {
        move |source| Failure::plain(RuntimeError::Io { context, source }.to_string())
    };
    // Before any thread: the signal mask and the mount namespace are inherited.
    let interrupts = StopSignals::of(&[libc::SIGINT]).map_err(io("blocking SIGINT"))?;
    let terms = StopSignals::of(&[libc::SIGTERM, libc::SIGUSR1])
        .map_err(io("blocking SIGTERM and SIGUSR1"))?;
    // The settings from the environment (SCRY_MAX_STRLEN…), as for a script.
    let empty = scry_lang::parse("").map_err(|d| Failure::diagnostics(d, FILE, ""))?;
    let settings = crate::config::Config::from_script(&empty, FILE, "")?;
    let mut session = Session::new(scry_lang::MissingProbes::Error);
    session.share_maps().map_err(failure)?;
    session.count_runs();

    let colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let config = rustyline::Config::builder()
        .auto_add_history(false)
        .completion_type(CompletionType::List)
        .color_mode(if colour {
            ColorMode::Enabled
        } else {
            ColorMode::Disabled
        })
        .build();
    let mut editor: Editor<ReplHelper, FileHistory> = Editor::with_config(config)
        .map_err(|e| Failure::plain(format!("starting the line editor: {e}")))?;
    editor.set_helper(Some(ReplHelper::new()));
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    let screen: Screen = match editor.create_external_printer() {
        Ok(p) => Arc::new(Mutex::new(Box::new(p))),
        Err(_) => Arc::new(Mutex::new(Box::new(live::Plain))),
    };
    let live = Arc::new(Mutex::new(Live::new(session, screen.clone(), cli.format)));
    let terminal = Terminal::save();
    let on_term = {
        let live = live.clone();
        move || {
            let mut l = lock(&live);
            let l = &mut *l;
            // The line being typed is left as it is; what follows goes below it.
            terminal.restore();
            l.write_directly();
            l.say("\n");
            let _ = l.session.finish(l.printer.as_mut(), true);
            std::process::exit(0);
        }
    };
    let delivery = Delivery::start(live.clone(), terms, on_term);
    let mut repl = Repl {
        live,
        screen,
        maps: Vec::new(),
        records: 0,
        blocks: Vec::new(),
        definitions: String::new(),
        check_options: CheckOptions {
            max_strlen: settings.max_strlen,
            args: Vec::new(),
            cpid: None,
            unsafe_allowed: cli.unsafe_allowed,
            missing_probes: scry_lang::MissingProbes::Error,
            named_args: Vec::new(),
            constants: Default::default(),
            settings: settings.settings.clone(),
        },
        include_dirs: cli.include_dirs.clone(),
        compile_options: CompileOptions {
            // Every block's maps are shared with the blocks after it.
            shared: true,
            ..crate::compile_options(cli, &settings)
        },
        pid: cli.pid,
        warnings: !cli.no_warnings,
        interrupts,
    };
    repl.say("scry: probe blocks are attached as typed, statements run once; :help lists commands, Ctrl-D quits\n");

    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() {
            "scry> "
        } else {
            "  ... "
        };
        if let Some(h) = editor.helper_mut() {
            h.earlier = pending.clone();
            h.maps = lock(&repl.live).session.map_names();
        }
        match editor.readline(prompt) {
            Ok(line) => {
                pending.push_str(&line);
                pending.push('\n');
                if open_braces(&pending) > 0 {
                    continue;
                }
                let text = std::mem::take(&mut pending);
                let text = text.trim_end();
                if text.trim().is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(text);
                if let Some(path) = &history {
                    let _ = editor.append_history(path);
                }
                let next = repl.input(text);
                if let Next::Quit = next {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => pending.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                repl.error(&format!("scry: error: reading the line: {e}\n"));
                break;
            }
        }
    }
    drop(delivery);
    let mut l = lock(&repl.live);
    let l = &mut *l;
    l.session
        .finish(l.printer.as_mut(), true)
        .map_err(failure)?;
    Ok(0)
}

/// `$XDG_STATE_HOME/scry/history`, or `~/.local/state/scry/history`; its folder is made.
fn history_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    let dir = state.join("scry");
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join("history"))
}

impl Repl {
    /// Text for the person at the prompt, in order with the records.
    fn say(&self, text: &str) {
        let mut w = live::ScreenWriter::new(self.screen.clone());
        let _ = std::io::Write::write_all(&mut w, text.as_bytes());
        let _ = std::io::Write::flush(&mut w);
    }

    fn error(&self, text: &str) {
        scry_runtime::output::to_stderr(text);
    }

    /// One complete input: a command, blocks or statements.
    fn input(&mut self, text: &str) -> Next {
        if let Some(command) = text.trim_start().strip_prefix(':') {
            return self.command(command.trim());
        }
        match parse_input(text) {
            Ok(Parsed::Blocks(program)) if program.probes.is_empty() => {
                self.define(text, &program);
                Next::Prompt
            }
            Ok(Parsed::Blocks(program)) => {
                self.add(text, &program, false);
                Next::Prompt
            }
            Ok(Parsed::Statements(program)) => {
                if self.add(text, &program, true) == Some(true) {
                    Next::Quit
                } else {
                    Next::Prompt
                }
            }
            Err(d) => {
                self.error(Failure::diagnostics(d, FILE, text).render());
                Next::Prompt
            }
        }
    }

    /// Checks, compiles, loads and (blocks) attaches or (statements) runs a program; errors are
    /// shown and nothing of it stays. For statements, says whether they called `exit()`.
    fn add(&mut self, text: &str, program: &Program, once: bool) -> Option<bool> {
        let (source, program) = self.with_definitions(text, program)?;
        let typed_text = text;
        // Messages point into the input, or into the definitions shown after it.
        let text = source.as_str();
        let resolver = KernelResolver { pid: self.pid };
        let options = CheckOptions {
            constants: crate::header_constants(
                &program,
                &self.include_dirs,
                &[],
                self.warnings,
                FILE,
                text,
            ),
            ..self.check_options.clone()
        };
        let typed = match check_with_maps(&program, &resolver, &options, &self.maps) {
            Ok(t) => t,
            Err(d) => {
                self.error(Failure::diagnostics(d, FILE, text).render());
                return None;
            }
        };
        if self.warnings {
            self.error(&scry_lang::diagnostic::render_all(
                &typed.warnings,
                FILE,
                text,
            ));
        }
        let options = CompileOptions {
            first_record: self.records,
            comm_from_task: scry_codegen::reads_comm(&typed)
                && scry_runtime::features::comm_from_task(),
            ..self.compile_options.clone()
        };
        let mut module = match compile(&typed, &options) {
            Ok(m) => m,
            Err(e) => {
                self.error(Failure::compile(e, FILE, text).render());
                return None;
            }
        };
        // Ids are never used twice, even by a block that fails: its records may still come.
        self.records += module.records.len() as u32;
        module.locate(|span| scry_lang::diagnostic::Location::of(FILE, text, span));
        // BEGIN and END run as the block is typed; the rest stay, `self:signal` blocks too.
        let probes = module
            .programs
            .iter()
            .filter(|p| {
                !matches!(
                    p.kind.runs,
                    scry_lang::types::Runs::AtStart | scry_lang::types::Runs::AtExit
                )
            })
            .count();
        let mut guard = lock(&self.live);
        let l = &mut *guard;
        let set = match l.session.add(module) {
            Ok(set) => set,
            Err(e) => {
                drop(guard);
                self.error(Failure::runtime(e, FILE, text).render());
                return None;
            }
        };
        let id = self.blocks.len() + 1;
        if !once {
            // Before anything runs: a probe's exit() is reported with the block's id.
            l.block_ids.push((set, id));
        }
        let started = match l.session.run_begin(set) {
            Ok(exited) if !once && !exited => l.session.attach(set, self.pid),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = started {
            l.session.discard(set);
            l.block_ids.retain(|(s, _)| *s != set);
            drop(guard);
            self.error(Failure::runtime(e, FILE, text).render());
            return None;
        }
        self.maps = typed.maps;
        let _ = l.session.deliver_pending(l.printer.as_mut());
        // exit() typed as a statement ends the session; in a block it ends that block.
        let exit = l.session.take_exit();
        l.drain();
        drop(guard);
        if once {
            return Some(exit.is_some());
        }
        self.blocks.push(Block {
            id,
            set,
            text: typed_text.to_string(),
        });
        if exit.is_some() {
            drop(lock(&self.live).session.detach(set));
            self.say(&format!("block {id} called exit(): detached\n"));
        } else if probes > 0 {
            self.say(&format!(
                "Attached {probes} probe{} (block {id})\n",
                if probes == 1 { "" } else { "s" }
            ));
        }
        Some(false)
    }

    /// The program with the session's definitions joined in, and the text its spans are in:
    /// the input, then the definitions.
    fn with_definitions(&self, text: &str, program: &Program) -> Option<(String, Program)> {
        if self.definitions.is_empty() {
            return Some((text.to_string(), program.clone()));
        }
        let source = format!("{text}\n{}", self.definitions);
        // Parsed where they stand in `source`, so their spans are right there.
        let padded = format!("{}{}", " ".repeat(text.len() + 1), self.definitions);
        let defs = match scry_lang::parse(&padded) {
            Ok(d) => d,
            Err(d) => {
                self.error(Failure::diagnostics(d, FILE, &source).render());
                return None;
            }
        };
        let mut merged = program.clone();
        merged.macros.extend(defs.macros);
        merged.defines.extend(defs.defines);
        merged.map_decls.extend(defs.map_decls);
        merged.c_types.extend(defs.c_types);
        merged.includes.extend(defs.includes);
        Some((source, merged))
    }

    /// Definitions typed alone (map declarations, macros, structs, `#define`s): checked with
    /// those before them, then kept for every later input.
    fn define(&mut self, text: &str, program: &Program) {
        if let Some(entry) = program.config.first() {
            let d = scry_lang::Diagnostic::error(
                entry.span,
                "settings are read when the session starts",
            )
            .with_hint("set them in the environment: SCRY_MAX_STRLEN=128 scry --repl");
            self.error(&d.render(FILE, text));
            return;
        }
        let Some((source, mut merged)) = self.with_definitions(text, program) else {
            return;
        };
        // Checked as the definitions of an empty BEGIN block, whose unused maps go unsaid.
        let empty = scry_lang::parse_statements("").expect("no statements parse");
        merged.probes = empty.probes;
        let resolver = KernelResolver { pid: self.pid };
        if let Err(d) = check_with_maps(&merged, &resolver, &self.check_options, &self.maps) {
            self.error(Failure::diagnostics(d, FILE, &source).render());
            return;
        }
        self.definitions.push_str(text.trim_end());
        self.definitions.push('\n');
        self.say("kept: the definitions apply to what follows\n");
    }

    /// The blocks whose probes are attached now (the session knows: a block that called
    /// `exit()` was detached by the delivery thread).
    fn attached(&self) -> Vec<&Block> {
        let sets = lock(&self.live).session.attached_sets();
        self.blocks
            .iter()
            .filter(|b| sets.contains(&b.set))
            .collect()
    }
}
