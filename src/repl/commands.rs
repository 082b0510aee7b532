//! The `:commands` of the REPL: look at the session (`:probes`, `:maps`, `:watch`, `:list`),
//! change it (`:detach`, `:load`, `:format`), keep it (`:save`, `:flamegraph`), and leave it
//! (`:quit`).

use super::complete::COMMANDS;
use super::live::{lock, Format};
use super::{Next, Repl};
use scry_runtime::probes;
use std::io::IsTerminal;

impl Repl {
    pub(super) fn command(&mut self, line: &str) -> Next {
        let (name, arg) = line.split_once(' ').unwrap_or((line, ""));
        let arg = arg.trim();
        match name {
            "probes" => self.probes(),
            "detach" => self.detach(arg),
            "maps" => self.maps(),
            "watch" => self.watch(arg),
            "list" => self.list(arg),
            "load" => self.load(arg),
            "save" => self.save(arg),
            "format" => self.format(arg),
            "flamegraph" => self.flamegraph(arg),
            "help" => self.help(),
            "quit" | "q" | "exit" => return Next::Quit,
            _ => self.error(&format!(
                "scry: error: unknown command :{name}\nhint: {}\n",
                "commands: :probes :detach :maps :watch :list :load :save :format :flamegraph :help :quit"
            )),
        }
        Next::Prompt
    }

    fn help(&self) {
        let mut text = String::from(
            "Type a probe block to attach it (it may span lines), or statements to run them once.\n",
        );
        for (c, what) in COMMANDS {
            text.push_str(&format!("  {c:<20} {what}\n"));
        }
        self.say(&text);
    }

    fn probes(&self) {
        let live = lock(&self.live);
        let attached = live.session.attached_sets();
        let mut text = String::new();
        for b in self.blocks.iter().filter(|b| attached.contains(&b.set)) {
            let status = live.session.probe_status(b.set);
            if status.is_empty() {
                text.push_str(&format!("{:>3}  (BEGIN/END only)\n", b.id));
            }
            for p in status {
                let runs = p.runs.map_or("? events".to_string(), |n| {
                    format!("{n} event{}", if n == 1 { "" } else { "s" })
                });
                text.push_str(&format!("{:>3}  {:<50} {runs}\n", b.id, p.probe));
            }
        }
        drop(live);
        if text.is_empty() {
            text.push_str("no blocks attached\n");
        }
        self.say(&text);
    }

    fn detach(&mut self, arg: &str) {
        let attached = self.attached();
        let Some(block) = arg
            .parse::<usize>()
            .ok()
            .and_then(|id| attached.iter().find(|b| b.id == id))
        else {
            let ids: Vec<String> = attached.iter().map(|b| b.id.to_string()).collect();
            self.error(&format!(
                "scry: error: no attached block {arg:?}\nhint: attached: {}\n",
                if ids.is_empty() {
                    "none".to_string()
                } else {
                    ids.join(", ")
                }
            ));
            return;
        };
        let (id, set) = (block.id, block.set);
        let detached = lock(&self.live).session.detach(set);
        // Closing hundreds of perf events takes a while: not on the prompt's time.
        std::thread::spawn(move || drop(detached));
        self.say(&format!("block {id} detached\n"));
    }

    fn maps(&self) {
        let mut guard = lock(&self.live);
        let live = &mut *guard;
        let names = live.session.map_names();
        if names.is_empty() {
            drop(guard);
            self.say("no maps\n");
            return;
        }
        for name in names {
            let _ = live.session.print_map(&name, live.printer.as_mut());
        }
        let _ = live.printer.flush();
    }

    fn watch(&self, arg: &str) {
        let mut words = arg.split_whitespace();
        let (Some(map), secs) = (words.next(), words.next()) else {
            self.error("scry: error: :watch needs a map\nhint: :watch @name [SECONDS]\n");
            return;
        };
        let secs = match secs.map(str::parse::<f64>) {
            None => 1.0,
            Some(Ok(s)) if s > 0.0 && s < 86400.0 => s,
            Some(_) => {
                self.error("scry: error: :watch takes a number of seconds, such as 1 or 0.5\n");
                return;
            }
        };
        if !lock(&self.live)
            .session
            .map_names()
            .iter()
            .any(|m| m == map)
        {
            self.error(&format!("scry: error: no map {map} in the session\n"));
            return;
        }
        // A Ctrl-C from before is not this one's.
        while self.interrupts.take() {}
        let clear = std::io::stdout().is_terminal();
        loop {
            {
                let mut guard = lock(&self.live);
                let live = &mut *guard;
                let _ = live.printer.flush();
                let header = format!(
                    "{}every {secs}s: {map}   (Ctrl-C stops)\n",
                    if clear { "\x1b[H\x1b[2J" } else { "" }
                );
                live.say(&header);
                let _ = live.session.print_map(map, live.printer.as_mut());
                let _ = live.printer.flush();
            }
            let mut fd = libc::pollfd {
                fd: std::os::fd::AsRawFd::as_raw_fd(&self.interrupts),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut fd, 1, (secs * 1000.0) as i32) };
            if n > 0 && self.interrupts.take() {
                break;
            }
        }
    }

    fn list(&self, arg: &str) {
        let (verbose, pattern) = match arg.strip_prefix("-v") {
            Some(rest) => (true, rest.trim()),
            None => (false, arg),
        };
        let pattern = (!pattern.is_empty()).then_some(pattern);
        match probes::list(pattern) {
            Ok(listings) => {
                let mut text = String::new();
                for l in listings {
                    text.push_str(&l.name);
                    text.push('\n');
                    if verbose {
                        for a in &l.args {
                            text.push_str(&format!("    {a}\n"));
                        }
                    }
                }
                self.say(&text);
            }
            Err(e) => self.error(&format!("scry: error: {e}\n")),
        }
    }

    fn load(&mut self, path: &str) {
        if path.is_empty() {
            self.error("scry: error: :load needs a file\nhint: :load script.bt\n");
            return;
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                self.error(&format!("scry: error: cannot read {path}: {e}\n"));
                return;
            }
        };
        match scry_lang::parse(&text) {
            Ok(program) => {
                self.add(&text, &program, false);
            }
            Err(d) => self.error(crate::report::Failure::diagnostics(d, path, &text).render()),
        }
    }

    fn save(&self, path: &str) {
        if path.is_empty() {
            self.error("scry: error: :save needs a file\nhint: :save session.bt\n");
            return;
        }
        let mut text =
            String::from("// Saved from a scry REPL session: the blocks attached then.\n");
        if !self.definitions.is_empty() {
            text.push('\n');
            text.push_str(&self.definitions);
        }
        let attached = self.attached();
        for b in &attached {
            text.push('\n');
            text.push_str(b.text.trim_end());
            text.push('\n');
        }
        match std::fs::write(path, text) {
            Ok(()) => self.say(&format!(
                "saved {} block{} to {path}\n",
                attached.len(),
                if attached.len() == 1 { "" } else { "s" }
            )),
            Err(e) => self.error(&format!("scry: error: cannot write {path}: {e}\n")),
        }
    }

    fn flamegraph(&self, arg: &str) {
        let mut words = arg.split_whitespace();
        let (Some(map), Some(path), None) = (words.next(), words.next(), words.next()) else {
            self.error("scry: error: :flamegraph needs a map and a file\nhint: :flamegraph @name FILE.svg\n");
            return;
        };
        let drawn = crate::flamegraph::draw(
            &mut lock(&self.live).session,
            map,
            std::path::Path::new(path),
        );
        match drawn {
            Ok(()) => self.say(&format!("wrote {path}\n")),
            Err(e) => self.error(&format!("scry: error: {e}\n")),
        }
    }

    fn format(&self, arg: &str) {
        let format = match arg {
            "text" => Format::Text,
            "json" => Format::Json,
            "folded" => Format::Folded,
            _ => {
                self.error("scry: error: :format takes text, json or folded\n");
                return;
            }
        };
        lock(&self.live).set_format(format);
        self.say(&format!("output format: {arg}\n"));
    }
}
