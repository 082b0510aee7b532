//! The REPL driven through a real terminal, as a person uses it: tmux runs `scry` in a pane,
//! `send-keys` types, `capture-pane` reads the screen. The probes fire on `getppid` calls this
//! test process makes, filtered to its pid.

mod common;

use common::{assert_no_programs_left, kernel, programs_of, scry_bin, TIMEOUT};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// The tests trigger the same syscall from one process: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// tmux, installed when missing (as root, from Debian's packages).
fn tmux_ready() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| common::debian_packages(&[("/usr/bin/tmux", "tmux")]));
}

/// One scry REPL in a tmux pane of a private tmux server.
struct Pane {
    socket: String,
    state: PathBuf,
}

impl Pane {
    /// Starts `scry --repl` with its history under `state`.
    fn start(name: &str, state: &Path, colour: bool) -> Pane {
        Pane::start_with(name, state, colour, "--repl")
    }

    /// Starts scry with `args` in the pane.
    fn start_with(name: &str, state: &Path, colour: bool, args: &str) -> Pane {
        tmux_ready();
        let socket = format!("scry-test-{}-{name}", std::process::id());
        let mut env = format!("XDG_STATE_HOME={} TERM=xterm-256color", state.display());
        if !colour {
            env.push_str(" NO_COLOR=1");
        }
        // The shell stays to write scry's exit status where the test reads it.
        let _ = std::fs::remove_file(state.join("status"));
        let command = format!(
            "env {env} {} {args}; echo $? > {}/status; sleep 600",
            scry_bin(),
            state.display()
        );
        let ok = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "150",
                "-y",
                "50",
            ])
            .arg(&command)
            .status()
            .expect("run tmux")
            .success();
        assert!(ok, "tmux new-session failed");
        let pane = Pane {
            socket,
            state: state.to_path_buf(),
        };
        pane.wait("the prompt", |s| s.contains("scry> "));
        pane
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types text as keys (nothing in it is a key name), without Enter.
    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-l", text]);
    }

    /// Presses keys by name: `Enter`, `Tab`, `C-c`, `C-d`, `Up`.
    fn press(&self, key: &str) {
        self.tmux(&["send-keys", key]);
    }

    /// Ctrl-C at the prompt: the line is cleared. Waits for the fresh prompt, as a person
    /// would (rustyline drops what was typed in the same read as the Ctrl-C).
    fn interrupt(&self) {
        self.press("C-c");
        self.wait("a fresh prompt", |s| {
            s.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::trim_end)
                == Some("scry>")
        });
    }

    fn line(&self, text: &str) {
        self.type_text(text);
        self.press("Enter");
    }

    /// What the pane shows, with what scrolled off its top.
    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-J", "-S", "-2000"])
    }

    /// The screen once `pred` holds of it.
    fn wait(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last line on the screen that is not blank: where the prompt is.
    fn last_line(&self) -> String {
        self.screen()
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_string()
    }

    /// scry's pid: the child of the pane's shell.
    fn pid(&self) -> u32 {
        let shell: u32 = self
            .tmux(&["display-message", "-p", "#{pane_pid}"])
            .trim()
            .parse()
            .expect("pane pid");
        let children =
            std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).unwrap();
        children
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .expect("scry's pid")
    }

    /// The exit status once scry has exited.
    fn exit_status(&self) -> i32 {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Ok(code) = std::fs::read_to_string(self.state.join("status")) {
                if code.ends_with('\n') {
                    return code.trim().parse().expect("status");
                }
            }
            assert!(
                Instant::now() < deadline,
                "scry did not exit:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

fn state_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scry-repl-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn getppid(times: usize) {
    for _ in 0..times {
        // SAFETY: no arguments, no memory.
        unsafe { libc::getppid() };
    }
}

/// The probe every test attaches: this process's getppid calls.
fn probe() -> String {
    format!(
        "tracepoint:syscalls:sys_enter_getppid /pid == {}/",
        std::process::id()
    )
}

fn count(screen: &str, text: &str) -> usize {
    screen.matches(text).count()
}

#[test]
fn blocks_statements_detach_and_quit() {
    if !kernel() {
        return;
    }
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let state = state_dir("main");
    let pane = Pane::start("main", &state, false);
    let scry_pid = pane.pid();

    // A block over two lines: a continuation prompt, then attached.
    pane.line(&format!("{} {{", probe()));
    pane.wait("the continuation prompt", |s| s.contains("  ... "));
    pane.line("@n = count(); printf(\"fired %d\\n\", pid); }");
    pane.wait("the block attached", |s| {
        s.contains("Attached 1 probe (block 1)")
    });

    // Output arrives above a half-typed line, which stays as typed.
    pane.type_text("print(@");
    getppid(2);
    let fired = format!("fired {}", std::process::id());
    pane.wait("the probe's output", |s| count(s, &fired) == 2);
    assert_eq!(pane.last_line(), "scry> print(@");
    let screen = pane.screen();
    let at_output = screen.rfind(&fired).unwrap();
    let at_prompt = screen.rfind("scry> print(@").unwrap();
    assert!(at_output < at_prompt, "output below the prompt:\n{screen}");

    // The statement finishes the line and reads the map the block counts.
    pane.line("n)");
    pane.wait("the map printed", |s| s.contains("@n: 2"));
    getppid(1);
    pane.wait("a third event", |s| count(s, &fired) == 3);
    pane.line("printf(\"n is %d\\n\", @n)");
    pane.wait("printf of the map", |s| s.contains("n is 3"));

    // A later block uses the map; a conflicting use is a located error and attaches nothing.
    pane.line(&format!("{} {{ @n = \"text\"; }}", probe()));
    let screen = pane.wait("the type conflict", |s| s.contains("error:"));
    assert!(screen.contains("@n = \"text\""), "{screen}");
    assert!(screen.contains('^'), "no caret:\n{screen}");
    pane.line(":probes");
    let screen = pane.wait("the block list", |s| s.contains("3 events"));
    assert!(
        screen.contains("  1  tracepoint:syscalls:sys_enter_getppid"),
        "{screen}"
    );
    assert!(
        !screen.contains("  2  "),
        "the failed block is listed:\n{screen}"
    );

    // An unknown probe and a syntax error: located, and the session goes on.
    pane.line("tracepoint:syscalls:sys_enter_nosuch { @x = 1; }");
    pane.wait("the unknown probe", |s| {
        s.contains("sys_enter_nosuch") && s.matches("error:").count() >= 2
    });
    pane.line("print(@n");
    pane.wait("the unclosed (", |s| s.matches("error:").count() >= 3);
    pane.line("printf(\"still here\\n\")");
    pane.wait("the session going on", |s| {
        s.lines().any(|l| l == "still here")
    });

    // Detached, the block prints no more; its map stays.
    pane.line(":detach 1");
    pane.wait("the detach", |s| s.contains("block 1 detached"));
    getppid(2);
    std::thread::sleep(Duration::from_millis(300));
    pane.line("printf(\"after detach\\n\")");
    let screen = pane.wait("the statement", |s| s.lines().any(|l| l == "after detach"));
    assert_eq!(
        count(&screen, &fired),
        3,
        "a detached block printed:\n{screen}"
    );
    pane.line(":probes");
    pane.wait("no blocks", |s| s.contains("no blocks attached"));
    pane.line("print(@n)");
    pane.wait("the map after detach", |s| s.contains("@n: 3"));

    // A block counting into a new map; Ctrl-D runs END, prints the maps, detaches all.
    pane.line(&format!("{} {{ @later[comm] = count(); }}", probe()));
    pane.wait("block 2", |s| s.contains("(block 2)"));
    getppid(4);
    pane.line("END { printf(\"bye\\n\"); }");
    pane.line("printf(\"ready\\n\")");
    pane.wait("the END block loaded", |s| s.lines().any(|l| l == "ready"));
    pane.press("C-d");
    assert_eq!(pane.exit_status(), 0);
    let screen = pane.screen();
    assert!(screen.contains("bye"), "END did not run:\n{screen}");
    let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
    assert!(
        screen.contains(&format!("@later[{}]: 4", comm.trim())),
        "maps not printed at exit:\n{screen}"
    );
    assert_no_programs_left(scry_pid);

    // The history has the two-line block as one entry: Up brings it back whole.
    let pane = Pane::start("again", &state, false);
    let head = format!("{} {{", probe());
    let whole = |s: &str| {
        let lines: Vec<&str> = s.lines().collect();
        lines
            .windows(2)
            .any(|w| w[0].ends_with(&head) && w[1].starts_with("@n = count(); printf("))
    };
    let mut found = false;
    for _ in 0..20 {
        pane.press("Up");
        std::thread::sleep(Duration::from_millis(100));
        if whole(&pane.screen()) {
            found = true;
            break;
        }
    }
    assert!(found, "the block is not in the history:\n{}", pane.screen());
    let history = std::fs::read_to_string(state.join("scry/history")).unwrap();
    assert!(history.contains("@n = count();"), "{history}");
    pane.interrupt();
    // The start of an earlier line is hinted with the rest of it.
    pane.type_text("printf(\"n is");
    pane.wait("the hint", |s| {
        s.contains("scry> printf(\"n is %d\\n\", @n)")
    });
    pane.interrupt();
    pane.press("C-d");
    assert_eq!(pane.exit_status(), 0);
}

#[test]
fn watch_complete_and_save() {
    if !kernel() {
        return;
    }
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let state = state_dir("watch");
    let pane = Pane::start("watch", &state, false);

    // Tab completes a tracepoint name, then a field of its args.
    pane.type_text("tracepoint:sysc");
    pane.press("Tab");
    pane.wait("the category completed", |s| {
        s.contains("scry> tracepoint:syscalls:")
    });
    pane.type_text("sys_enter_getpp");
    pane.press("Tab");
    pane.wait("the event completed", |s| {
        s.contains("scry> tracepoint:syscalls:sys_enter_getppid")
    });
    pane.press("C-u");
    pane.type_text("tracepoint:syscalls:sys_enter_openat { printf(\"%s\\n\", str(args.filen");
    pane.press("Tab");
    pane.wait("the field completed", |s| s.contains("str(args.filename"));
    pane.interrupt();

    // :watch reprints the map as it grows, until Ctrl-C.
    pane.line(&format!("{} {{ @calls = count(); }}", probe()));
    pane.wait("the block", |s| s.contains("(block 1)"));
    getppid(1);
    pane.line(":watch @calls 0.2");
    pane.wait("the first view", |s| s.contains("@calls: 1"));
    getppid(2);
    pane.wait("the view updated", |s| s.contains("@calls: 3"));
    pane.press("C-c");
    pane.line("printf(\"back at the prompt\\n\")");
    pane.wait("the prompt after :watch", |s| {
        s.contains("back at the prompt")
    });

    // :save writes the attached blocks; scry runs the file.
    let saved = state.join("session.bt");
    pane.line(&format!(
        "{} {{ printf(\"saved block %d\\n\", @calls); exit(); }}",
        probe()
    ));
    pane.wait("the second block", |s| s.contains("(block 2)"));
    pane.line(&format!(":save {}", saved.display()));
    pane.wait("saved", |s| s.contains("saved 2 blocks"));
    pane.press("C-d");
    assert_eq!(pane.exit_status(), 0);
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(
        text.contains("@calls = count();") && text.contains("saved block"),
        "{text}"
    );

    let child = Command::new(scry_bin())
        .arg(&saved)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let scry_pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    // Until it is attached, calls go unseen: keep calling until it exits.
    let deadline = Instant::now() + TIMEOUT;
    while !waiter.is_finished() {
        assert!(Instant::now() < deadline, "the saved script did not exit");
        getppid(1);
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = waiter.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("saved block 1"), "{stdout}");
    assert_no_programs_left(scry_pid);
}

#[test]
fn highlighting_on_a_colour_terminal() {
    if !kernel() {
        return;
    }
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let state = state_dir("colour");
    // No program on a terminal: the REPL starts by itself.
    let pane = Pane::start_with("colour", &state, true, "");
    pane.type_text("tracepoint:syscalls:sys_enter_openat { @[\"x\"] = count(); }");
    let deadline = Instant::now() + TIMEOUT;
    // Until the closing brace is on the screen: tmux types the keys one by one.
    let painted = loop {
        let s = pane.tmux(&["capture-pane", "-p", "-e"]);
        if s.contains("count();") && s.rfind('}') > s.find("count();") {
            break s;
        }
        assert!(Instant::now() < deadline, "not all typed:\n{s}");
        std::thread::sleep(Duration::from_millis(50));
    };
    // The spec, the map and the string each in their colour (tmux reports the SGR codes).
    assert!(
        painted.contains("\x1b[1m\x1b[34mtracepoint:syscalls:sys_enter_openat"),
        "{painted:?}"
    );
    assert!(painted.contains("\x1b[33m@"), "{painted:?}");
    assert!(painted.contains("\x1b[32m\"x\""), "{painted:?}");
    // The cursor is just past the `}`: it and its `{` are marked.
    assert!(
        painted.contains("\x1b[7m{") && painted.contains("\x1b[7m}"),
        "{painted:?}"
    );
    pane.interrupt();
    pane.line(":quit");
    assert_eq!(pane.exit_status(), 0);
}

#[test]
fn commands_and_exits() {
    if !kernel() {
        return;
    }
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let state = state_dir("commands");
    let pane = Pane::start("commands", &state, false);
    let scry_pid = pane.pid();

    pane.line(":help");
    pane.wait("the help", |s| {
        s.contains(":watch @MAP [SECS]") && s.contains(":quit")
    });
    pane.line(":list tracepoint:syscalls:sys_enter_getpp*");
    pane.wait("the listing", |s| {
        s.lines()
            .any(|l| l == "tracepoint:syscalls:sys_enter_getppid")
    });
    pane.line(":list -v tracepoint:sched:sched_process_exec");
    pane.wait("the verbose listing", |s| s.contains("    pid_t pid"));

    // Statements: map updates, delete, and :maps showing every map.
    pane.line("@m[1] = 10; @m[2] = 20; @s = \"text\"");
    pane.line("delete(@m[1])");
    pane.line(":maps");
    let screen = pane.wait("the maps", |s| {
        s.contains("@m[2]: 20") && s.contains("@s: text")
    });
    assert!(
        !screen.contains("@m[1]: 10"),
        "delete left the key:\n{screen}"
    );

    // :load adds a file's blocks; :format json switches the output.
    let script = state.join("loaded.bt");
    std::fs::write(
        &script,
        format!(
            "{} {{ printf(\"loaded %d\\n\", 1); @loaded = count(); }}\n",
            probe()
        ),
    )
    .unwrap();
    pane.line(&format!(":load {}", script.display()));
    pane.wait("the file's block", |s| s.contains("(block 1)"));
    getppid(1);
    pane.wait("its output", |s| s.lines().any(|l| l == "loaded 1"));
    pane.line(":format json");
    pane.wait("json", |s| s.contains("output format: json"));
    getppid(1);
    pane.wait("json output", |s| {
        s.contains(r#"{"type": "printf", "data": "loaded 1\n"}"#)
    });
    pane.line("print(@loaded)");
    pane.wait("a map in json", |s| {
        s.contains(r#"{"type": "map", "data": {"@loaded": 2}}"#)
    });
    pane.line(":format text");

    // A probe type this kernel lacks fails at attaching: located, and nothing of it stays.
    let before = programs_of(scry_pid);
    pane.line("kprobe:do_nanosleep { @k = count(); }");
    pane.wait("the kprobe error", |s| {
        s.contains("kprobes are not available")
    });
    assert_eq!(programs_of(scry_pid), before);
    // Without colours (NO_COLOR), the typed text has no colour codes.
    pane.type_text("@plain = \"text\"");
    pane.wait("typed", |s| s.contains("@plain = \"text\""));
    let painted = pane.tmux(&["capture-pane", "-p", "-e"]);
    assert!(!painted.contains("\x1b[3"), "{painted:?}");
    pane.interrupt();

    // exit() in a block detaches that block; the session goes on.
    pane.line(&format!("{} {{ printf(\"once\\n\"); exit(); }}", probe()));
    pane.wait("block 2", |s| s.contains("(block 2)"));
    getppid(3);
    pane.wait("the block's exit", |s| {
        s.contains("block 2 called exit(): detached")
    });
    let screen = pane.screen();
    assert_eq!(
        screen.lines().filter(|l| *l == "once").count(),
        1,
        "{screen}"
    );

    // Members after `->`, and a uprobe's binary then its symbols, complete with Tab.
    pane.type_text("BEGIN { $m = curtask->mm->map_cou");
    pane.press("Tab");
    pane.wait("a member completed", |s| {
        s.contains("curtask->mm->map_count")
    });
    pane.interrupt();
    pane.type_text("uprobe:/bin/bas");
    pane.press("Tab");
    pane.type_text("h:");
    pane.wait("the path typed", |s| s.contains("scry> uprobe:/bin/bash:"));
    pane.type_text("readline_internal_te");
    pane.press("Tab");
    pane.wait("a symbol completed", |s| {
        s.contains("uprobe:/bin/bash:readline_internal_teardown")
    });
    pane.interrupt();

    // A raw tracepoint (listed with its module, typed without), then a member of its BTF args.
    pane.type_text("rawtracepoint:sched_swi");
    pane.press("Tab");
    pane.wait("the raw tracepoint", |s| {
        s.contains("scry> rawtracepoint:sched_switch")
    });
    pane.type_text(" { @[args.prev->real_pa");
    pane.press("Tab");
    pane.wait("a member of a BTF arg", |s| {
        s.contains("@[args.prev->real_parent")
    });
    pane.interrupt();

    // exit() typed as a statement ends the session like Ctrl-D: maps printed, all detached.
    pane.line("exit()");
    assert_eq!(pane.exit_status(), 0);
    let screen = pane.screen();
    assert!(
        screen.contains("@loaded: 5") && screen.contains("@m[2]: 20"),
        "{screen}"
    );
    assert_no_programs_left(scry_pid);
}

#[test]
fn sigterm_ends_the_session_cleanly() {
    if !kernel() {
        return;
    }
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let state = state_dir("term");
    let pane = Pane::start("term", &state, false);
    let scry_pid = pane.pid();
    pane.line(&format!("{} {{ @hits = count(); }}", probe()));
    pane.wait("the block", |s| s.contains("(block 1)"));
    getppid(2);
    pane.type_text("half a line");
    // SAFETY: signalling the scry this test started.
    unsafe { libc::kill(scry_pid as i32, libc::SIGTERM) };
    assert_eq!(pane.exit_status(), 0);
    let screen = pane.wait("the maps", |s| s.contains("@hits: 2"));
    assert!(screen.contains("@hits: 2"), "{screen}");
    assert_no_programs_left(scry_pid);
}

#[test]
fn piped_input_without_a_terminal() {
    if !kernel() {
        return;
    }
    // `--repl` reads lines from a pipe as from a terminal, without the line editor.
    let home = state_dir("piped");
    let (status, stdout, stderr) = common::run_with_input(
        &["--repl"],
        &[("XDG_STATE_HOME", ""), ("HOME", home.to_str().unwrap())],
        b"BEGIN {\n @x = 41;\n}\n@x += 1\nprintf(\"x=%d\\n\", @x)\n@y[1] = 1\nclear(@y)\n",
    );
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("x=42\n"), "{stdout}");
    // At the end of the input, the maps as a script prints them (@y is empty).
    assert!(stdout.ends_with("\n\n@x: 42\n"), "{stdout:?}");
    // With no XDG_STATE_HOME, the history is under ~/.local/state; the block is one entry.
    let history = std::fs::read_to_string(home.join(".local/state/scry/history")).unwrap();
    assert!(history.contains("clear(@y)"), "{history}");
    assert!(!history.lines().any(|l| l.trim() == "}"), "{history}");
}

#[test]
fn flamegraph_draws_a_map_of_the_session() {
    if !kernel() {
        return;
    }
    // A statement's kernel stack is that of the system call that ran it (BPF_PROG_TEST_RUN).
    let home = state_dir("flamegraph");
    let svg = home.join("now.svg");
    let input = format!(
        "@s[kstack] = count()\n:flamegraph @s {svg}\n@n = 1\n:flamegraph @n {svg}.2\n:flamegraph @s\n",
        svg = svg.display()
    );
    let (status, stdout, stderr) = common::run_with_input(
        &["--repl"],
        &[("XDG_STATE_HOME", home.to_str().unwrap())],
        input.as_bytes(),
    );
    assert!(status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!("wrote {}", svg.display())),
        "{stdout}"
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("<title>__sys_bpf ("), "{text}");
    assert!(
        stderr.contains("scry: error: @n is not keyed by a stack (kstack or ustack)"),
        "{stderr}"
    );
    assert!(!home.join("now.svg.2").exists());
    assert!(
        stderr.contains(":flamegraph needs a map and a file"),
        "{stderr}"
    );
}

#[test]
fn definitions_typed_alone_are_kept_and_saved() {
    if !kernel() {
        return;
    }
    let state = state_dir("definitions");
    let saved = state.join("saved.bt");
    let input = format!(
        "let @q = lruhash(2);\nmacro twice(x) {{ x * 2 }}\n\
         BEGIN {{ @q[1] = twice(1); @q[2] = 2; @q[3] = 3; }}\n\
         printf(\"%d\\n\", twice(21))\nconfig = {{ max_strlen = 5 }}\n:save {}\n",
        saved.display()
    );
    let (status, stdout, stderr) = common::run_with_input(
        &["--repl"],
        &[("XDG_STATE_HOME", state.to_str().unwrap())],
        input.as_bytes(),
    );
    assert!(status.success(), "{stderr}");
    // The macro applies to a later statement; the declaration made @q keep two keys.
    assert!(stdout.contains("\n42\n"), "{stdout}");
    assert!(stdout.ends_with("@q[2]: 2\n@q[3]: 3\n"), "{stdout}");
    assert!(
        stderr.contains("stdin:1:12: error: settings are read when the session starts"),
        "{stderr}"
    );
    // The saved file has the definitions before the block, and runs as a script.
    let text = std::fs::read_to_string(&saved).unwrap();
    let decl = text
        .find("let @q = lruhash(2);")
        .expect("declaration saved");
    assert!(decl < text.find("BEGIN").unwrap(), "{text}");
    let (status, out, err) = common::run(&[saved.to_str().unwrap()]);
    assert!(status.success(), "{err}");
    assert_eq!(out, "\n\n@q[2]: 2\n@q[3]: 3\n");
}

#[test]
fn sigusr1_runs_self_signal_blocks() {
    if !kernel() {
        return;
    }
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let state = state_dir("usr1");
    let pane = Pane::start("usr1", &state, false);
    let scry_pid = pane.pid();
    pane.line(r#"self:signal:SIGUSR1 { @usr1 = count(); printf("usr1 %d\n", @usr1); }"#);
    pane.wait("the block", |s| s.contains("(block 1)"));
    for n in 1..=2 {
        // SAFETY: signalling the scry this test started.
        unsafe { libc::kill(scry_pid as i32, libc::SIGUSR1) };
        pane.wait("the block's output", |s| s.contains(&format!("usr1 {n}")));
    }
    pane.line(":quit");
    assert_eq!(pane.exit_status(), 0);
    assert_no_programs_left(scry_pid);
}
