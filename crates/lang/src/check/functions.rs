//! Functions beyond strings and maps: values rendered in userspace (`ksym`, `ntop`, `strftime`,
//! `strerror`…), `bswap`, `buf`, `kaddr`, and the statements carried out by userspace (`time`,
//! `join`, `cat`, `system`, `errorf`/`warnf`, `print(value)`) or by the kernel (`signal`).

use super::{expr, fold, Checker};
use crate::ast::{self, ExprKind as A, Span};
use crate::builtins::{StatementFn, ValueFn};
use crate::typed::{self, AsyncOp, Builtin, ExprKind as T, StmtKind};
use crate::types::{AddrSpace, Formatted, IntType, Type};

/// The address families `ntop` knows.
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;

/// Signal names `signal()` accepts, with their numbers on Linux.
const SIGNALS: &[(&str, u64)] = &[
    ("SIGHUP", 1),
    ("SIGINT", 2),
    ("SIGQUIT", 3),
    ("SIGILL", 4),
    ("SIGTRAP", 5),
    ("SIGABRT", 6),
    ("SIGBUS", 7),
    ("SIGFPE", 8),
    ("SIGKILL", 9),
    ("SIGUSR1", 10),
    ("SIGSEGV", 11),
    ("SIGUSR2", 12),
    ("SIGPIPE", 13),
    ("SIGALRM", 14),
    ("SIGTERM", 15),
    ("SIGCHLD", 17),
    ("SIGCONT", 18),
    ("SIGSTOP", 19),
    ("SIGTSTP", 20),
    ("SIGTTIN", 21),
    ("SIGTTOU", 22),
    ("SIGURG", 23),
    ("SIGXCPU", 24),
    ("SIGXFSZ", 25),
    ("SIGVTALRM", 26),
    ("SIGPROF", 27),
    ("SIGWINCH", 28),
    ("SIGIO", 29),
    ("SIGPWR", 30),
    ("SIGSYS", 31),
];

impl Checker<'_> {
    /// Functions that give a value.
    pub(super) fn value_function(
        &mut self,
        f: ValueFn,
        args: &[ast::Expr],
        span: Span,
    ) -> Option<typed::Expr> {
        let formatted = |kind: Formatted, args: Vec<typed::Expr>| {
            expr(
                T::Format {
                    kind: kind.clone(),
                    args,
                },
                Type::Formatted(kind),
                span,
            )
        };
        match f {
            ValueFn::Str => self.str_call(args, span),
            ValueFn::Strncmp => self.strncmp(args, span),
            ValueFn::Strcontains | ValueFn::Strstr => self.strcontains(f, args, span),
            ValueFn::Strlen => self.strlen(args, span),
            ValueFn::Kstack | ValueFn::Ustack => Some(self.stack(f == ValueFn::Ustack, args, span)),
            ValueFn::Ksym => {
                let a = self.scalar(&args[0], "ksym's address")?;
                Some(formatted(Formatted::Ksym, vec![a]))
            }
            ValueFn::Usym => {
                let a = self.scalar(&args[0], "usym's address")?;
                let pid = expr(T::Builtin(Builtin::Pid), Type::Int(IntType::U32), span);
                Some(formatted(Formatted::Usym, vec![a, pid]))
            }
            ValueFn::Strerror => {
                let e = self.scalar(&args[0], "strerror's error number")?;
                Some(formatted(Formatted::Errno, vec![e]))
            }
            ValueFn::ErrnoName => {
                let e = self.scalar(&args[0], "errno_name's error number")?;
                Some(formatted(Formatted::ErrnoName, vec![e]))
            }
            ValueFn::CgroupPath => {
                let id = self.scalar(&args[0], "cgroup_path's cgroup id")?;
                let filter = match args.get(1).map(|a| &a.kind) {
                    None => "*".to_string(),
                    Some(A::Str { value, .. }) => String::from_utf8_lossy(value).into_owned(),
                    Some(_) => {
                        let d = self
                            .error(
                                args[1].span,
                                "cgroup_path's filter must be a string literal",
                            )
                            .with_hint("a glob of hierarchy names, as in \"unified\" or \"cpu*\"");
                        self.diags.push(d);
                        return None;
                    }
                };
                Some(formatted(Formatted::CgroupPath { filter }, vec![id]))
            }
            ValueFn::SignalName => {
                let n = self.scalar(&args[0], "signal_name's number")?;
                Some(formatted(Formatted::Signal, vec![n]))
            }
            ValueFn::Ppid => {
                let task = self.expr(&args[0])?;
                self.parent_member(task, "tgid", span)
            }
            ValueFn::SyscallName => {
                let n = self.scalar(&args[0], "syscall_name's number")?;
                Some(formatted(Formatted::Syscall, vec![n]))
            }
            ValueFn::Strftime => {
                let A::Str { value, .. } = &args[0].kind else {
                    let d = self.error(args[0].span, "strftime's format must be a string literal");
                    self.diags.push(d);
                    return None;
                };
                let format = String::from_utf8_lossy(value).into_owned();
                let ns = self.scalar(&args[1], "strftime's time")?;
                Some(formatted(Formatted::Timestamp { format }, vec![ns]))
            }
            ValueFn::Ntop => self.ntop(args, span),
            ValueFn::Buf => self.buf(args, span),
            ValueFn::Strs => self.strs(args, span),
            ValueFn::Nsecs => {
                let clock =
                    match self.mode_word(&args[0], &["monotonic", "boot", "tai", "sw_tai"])? {
                        "monotonic" => typed::Clock::Monotonic,
                        "boot" => typed::Clock::Boot,
                        "tai" => typed::Clock::Tai,
                        _ => typed::Clock::SwTai,
                    };
                Some(expr(T::Now(clock), Type::Int(IntType::U64), span))
            }
            ValueFn::Pid | ValueFn::Tid => {
                let thread = f == ValueFn::Tid;
                let kind = match self.mode_word(&args[0], &["curr_ns", "init"])? {
                    "init" if thread => T::Builtin(Builtin::Tid),
                    "init" => T::Builtin(Builtin::Pid),
                    _ => T::NsPid { thread },
                };
                Some(expr(kind, Type::Int(IntType::U32), span))
            }
            ValueFn::Macaddr => {
                let data = self.expr(&args[0])?;
                let fits = match &data.ty {
                    Type::Ptr { .. } => true,
                    Type::Array { .. } => data.ty.size() >= 6,
                    _ => false,
                };
                if !fits {
                    let d = self
                        .error(
                            args[0].span,
                            format!(
                                "macaddr() takes a pointer or an array of at least 6 bytes, not {}",
                                data.ty
                            ),
                        )
                        .with_hint("macaddr(skb->dev->dev_addr), or an `unsigned char[6]` member");
                    self.diags.push(d);
                    return None;
                }
                Some(formatted(Formatted::Macaddr, vec![data]))
            }
            ValueFn::Bswap => {
                let v = self.scalar(&args[0], "bswap's argument")?;
                let ty = match v.ty.as_int() {
                    Some(i) if matches!(v.kind, T::Int(_)) => IntType { bits: 64, ..i },
                    Some(i) => i,
                    None => IntType::U64,
                };
                let ty = Type::Int(IntType {
                    signed: false,
                    ..ty
                });
                Some(expr(T::Bswap(Box::new(v)), ty, span))
            }
            ValueFn::Pton => {
                let A::Str { value, .. } = &args[0].kind else {
                    let d = self
                        .error(args[0].span, "pton takes an address in quotes")
                        .with_hint("pton(\"127.0.0.1\") or pton(\"::1\")");
                    self.diags.push(d);
                    return None;
                };
                let text = String::from_utf8_lossy(value);
                let bytes = match text.parse::<std::net::IpAddr>() {
                    Ok(std::net::IpAddr::V4(a)) => a.octets().to_vec(),
                    Ok(std::net::IpAddr::V6(a)) => a.octets().to_vec(),
                    Err(_) => {
                        let d = self.error(
                            args[0].span,
                            format!("`{text}` is not an IPv4 or IPv6 address"),
                        );
                        self.diags.push(d);
                        return None;
                    }
                };
                let ty = Type::Array {
                    elem: Box::new(Type::Int(IntType {
                        bits: 8,
                        signed: false,
                    })),
                    len: bytes.len() as u32,
                };
                Some(expr(T::Bytes(bytes), ty, span))
            }
            ValueFn::Getopt => self.getopt(args, span),
            ValueFn::Reg => {
                let A::Str { value, .. } = &args[0].kind else {
                    let d = self.error(args[0].span, "reg takes a register's name in quotes");
                    self.diags.push(d);
                    return None;
                };
                let name = String::from_utf8_lossy(value).into_owned();
                let name = if name == "pc" { "ip".to_string() } else { name };
                match self.probe.registers.iter().find(|r| r.name == name) {
                    Some(r) => Some(expr(T::Arg(r.clone()), r.ty.clone(), span)),
                    None if self.probe.registers.is_empty() => {
                        let d = self
                            .error(
                                span,
                                format!("a {} probe has no registers to read", self.probe.provider),
                            )
                            .with_hint("reg() reads the registers of uprobes");
                        self.diags.push(d);
                        None
                    }
                    None => {
                        let names: Vec<&str> = self
                            .probe
                            .registers
                            .iter()
                            .map(|r| r.name.as_str())
                            .collect();
                        let d = self
                            .error(args[0].span, format!("no register `{name}`"))
                            .with_hint(format!("registers: {}", names.join(", ")));
                        self.diags.push(d);
                        None
                    }
                }
            }
            ValueFn::Kptr | ValueFn::Uptr => {
                let p = self.scalar(&args[0], "the address")?;
                let space = if f == ValueFn::Kptr {
                    AddrSpace::Kernel
                } else {
                    AddrSpace::User
                };
                let pointee = match &p.ty {
                    Type::Ptr { pointee, .. } => (**pointee).clone(),
                    _ => Type::Int(IntType {
                        bits: 8,
                        signed: false,
                    }),
                };
                let ty = Type::Ptr {
                    pointee: Box::new(pointee),
                    space,
                };
                Some(typed::Expr { ty, ..p })
            }
            ValueFn::Cgroupid => {
                let A::Str { value, .. } = &args[0].kind else {
                    let d = self.error(args[0].span, "cgroupid takes a path in quotes");
                    self.diags.push(d);
                    return None;
                };
                let path = String::from_utf8_lossy(value).into_owned();
                match self.resolver.cgroup_id(&path) {
                    Ok(id) => Some(expr(T::Int(id), Type::Int(IntType::U64), span)),
                    Err(e) => {
                        let d = self
                            .error(args[0].span, format!("no cgroup: {e}"))
                            .with_hint("cgroup v2 directories are under /sys/fs/cgroup");
                        self.diags.push(d);
                        None
                    }
                }
            }
            ValueFn::Uaddr => {
                if let (Some(path), A::Str { value, .. }) = (&self.probe.binary, &args[0].kind) {
                    let name = String::from_utf8_lossy(value).into_owned();
                    return match self.resolver.user_symbol(path, &name) {
                        Some(addr) => Some(expr(T::Int(addr), Type::Int(IntType::U64), span)),
                        None => {
                            let d = self
                                .error(args[0].span, format!("{path} has no symbol `{name}`"))
                                .with_hint(format!(
                                    "list its functions with `scry -l 'uprobe:{path}:*'`"
                                ));
                            self.diags.push(d);
                            None
                        }
                    };
                }
                let d = self
                    .error(
                        span,
                        format!(
                            "uaddr() finds a symbol in a uprobe's binary; this is a {} probe",
                            self.probe.provider
                        ),
                    )
                    .with_hint("kaddr(\"name\") gives a kernel symbol's address");
                self.diags.push(d);
                None
            }
            ValueFn::Kaddr => {
                let A::Str { value, .. } = &args[0].kind else {
                    let d = self.error(args[0].span, "kaddr takes a symbol name in quotes");
                    self.diags.push(d);
                    return None;
                };
                let name = String::from_utf8_lossy(value).into_owned();
                match self.resolver.kernel_symbol(&name) {
                    Some(addr) => Some(expr(T::Int(addr), Type::Int(IntType::U64), span)),
                    None => {
                        let d = self
                            .error(args[0].span, format!("no kernel symbol `{name}`"))
                            .with_hint("kernel symbols are listed in /proc/kallsyms (variables only when the kernel has CONFIG_KALLSYMS_ALL)");
                        self.diags.push(d);
                        None
                    }
                }
            }
        }
    }

    /// `ntop(addr)` / `ntop(af, addr)`: an integer is IPv4; a 4-byte array IPv4; a 16-byte
    /// array IPv6.
    fn ntop(&mut self, args: &[ast::Expr], span: Span) -> Option<typed::Expr> {
        let (family, addr) = match args {
            [a] => (None, self.expr(a)?),
            [f, a] => (
                Some(self.scalar(f, "ntop's address family")?),
                self.expr(a)?,
            ),
            _ => return None,
        };
        let implied = match &addr.ty {
            t if t.is_scalar() => AF_INET,
            Type::Array { elem, len: 4 } if elem.size() == 1 => AF_INET,
            Type::Array { elem, len: 16 } if elem.size() == 1 => AF_INET6,
            other => {
                let d = self
                    .error(addr.span, format!("ntop() takes an IPv4 address (an integer or 4 bytes) or an IPv6 address (16 bytes), not {other}"));
                self.diags.push(d);
                return None;
            }
        };
        let family = family.unwrap_or_else(|| expr(T::Int(implied), Type::Int(IntType::U64), span));
        if let Some(f) = fold(&family) {
            if f as u64 != implied && addr.ty.size() < 16 && f as u64 == AF_INET6 {
                let d = self.error(addr.span, "an IPv6 address has 16 bytes");
                self.diags.push(d);
                return None;
            }
        }
        Some(expr(
            T::Format {
                kind: Formatted::Inet,
                args: vec![family, addr],
            },
            Type::Formatted(Formatted::Inet),
            span,
        ))
    }

    /// `getopt("name"[, default[, "description"]])`: the named argument `--name[=value]` given
    /// after the script, typed like the default (a bool when there is none), known when the
    /// script is checked.
    fn getopt(&mut self, args: &[ast::Expr], span: Span) -> Option<typed::Expr> {
        let A::Str { value, .. } = &args[0].kind else {
            let d = self
                .error(args[0].span, "getopt takes the argument's name in quotes")
                .with_hint("getopt(\"verbose\") reads `--verbose`");
            self.diags.push(d);
            return None;
        };
        let name = String::from_utf8_lossy(value).into_owned();
        if !self.getopts.contains(&name) {
            self.getopts.push(name.clone());
        }
        let given = self
            .options_given()
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone());
        let bad = |me: &mut Self, what: &str| {
            let d = me.error(span, format!("--{name} takes {what}"));
            me.diags.push(d);
            None
        };
        match args.get(1).map(|a| &a.kind) {
            None | Some(A::Bool(_)) => {
                let default = matches!(args.get(1).map(|a| &a.kind), Some(A::Bool(true)));
                let v = match given {
                    None => default,
                    Some(None) => true,
                    Some(Some(v)) => match v.as_str() {
                        "true" | "1" | "yes" => true,
                        "false" | "0" | "no" => false,
                        _ => return bad(self, "true or false"),
                    },
                };
                Some(expr(T::Int(u64::from(v)), Type::Bool, span))
            }
            Some(A::Int(_) | A::Unary { .. }) if int_literal(&args[1]).is_some() => {
                let default = int_literal(&args[1]).unwrap_or(0);
                let v = match given {
                    None => default,
                    Some(Some(v)) => match v.parse::<i64>() {
                        Ok(n) => n,
                        Err(_) => return bad(self, "a number"),
                    },
                    Some(None) => return bad(self, "a number: --NAME=N"),
                };
                Some(expr(T::Int(v as u64), Type::Int(IntType::I64), span))
            }
            Some(A::Str { value, .. }) => {
                let v = match given {
                    None => value.clone(),
                    Some(Some(v)) => v.into_bytes(),
                    Some(None) => return bad(self, "a value: --NAME=TEXT"),
                };
                Some(super::str_literal(v, span))
            }
            Some(_) => {
                let d = self.error(
                    args[1].span,
                    "getopt's default is a literal: true, false, a number or a string",
                );
                self.diags.push(d);
                None
            }
        }
    }

    fn options_given(&self) -> &[(String, Option<String>)] {
        &self.options.named_args
    }

    /// `assert(cond, "message")`: when `cond` is false, the message as an error with the call's
    /// location, and the program exits with code 1.
    fn assert(&mut self, args: &[ast::Expr], span: Span) -> Option<StmtKind> {
        let cond = self.scalar(&args[0], "assert's condition")?;
        let A::Str { value, .. } = &args[1].kind else {
            let d = self.error(args[1].span, "assert's message is a string literal");
            self.diags.push(d);
            return None;
        };
        let mut text = b"Assertion failed: ".to_vec();
        // `%` in the message is text, not a conversion.
        for &b in value {
            text.push(b);
            if b == b'%' {
                text.push(b'%');
            }
        }
        let format = crate::printf::parse(&text).ok()?;
        let failed = expr(
            T::Unary {
                op: ast::UnaryOp::Not,
                operand: Box::new(cond),
            },
            Type::Bool,
            span,
        );
        let stmt = |kind| typed::Stmt { kind, span };
        Some(StmtKind::If {
            cond: failed,
            then: vec![
                stmt(StmtKind::Async(AsyncOp::Message {
                    error: true,
                    span,
                    format,
                    args: Vec::new(),
                })),
                stmt(StmtKind::Exit {
                    code: Some(expr(T::Int(1), Type::Int(IntType::I64), span)),
                }),
            ],
            otherwise: Vec::new(),
        })
    }

    /// One of `words`, written bare as a function's argument (`nsecs(boot)`, `pid(init)`).
    fn mode_word(&mut self, arg: &ast::Expr, words: &[&'static str]) -> Option<&'static str> {
        if let A::Ident(n) = &arg.kind {
            if let Some(w) = words.iter().find(|w| **w == n.as_str()) {
                return Some(w);
            }
        }
        let d = self
            .error(arg.span, format!("expected one of: {}", words.join(", ")))
            .with_hint(format!("written bare, as in `({})`", words[0]));
        self.diags.push(d);
        None
    }

    /// The argument of `join` and `strs`: a NULL-terminated array of string pointers
    /// (`char **`, or an address).
    fn string_pointers(&mut self, func: &str, arg: &ast::Expr) -> Option<typed::Expr> {
        let argv = self.expr(arg)?;
        let is_argv = match &argv.ty {
            Type::Ptr { pointee, .. } => matches!(**pointee, Type::Ptr { .. }),
            t => t.is_int(),
        };
        if !is_argv {
            let d = self
                .error(
                    arg.span,
                    format!(
                        "{func}() takes an array of string pointers (char **), not {}",
                        argv.ty
                    ),
                )
                .with_hint(format!("as in `{func}(args.argv)`"));
            self.diags.push(d);
            return None;
        }
        Some(argv)
    }

    /// `strs(argv[, max])`: up to `max` (20) strings of a NULL-terminated array of string
    /// pointers (`args.argv`), each of up to 256 bytes or `max_strlen`.
    fn strs(&mut self, args: &[ast::Expr], span: Span) -> Option<typed::Expr> {
        let argv = self.string_pointers("strs", &args[0])?;
        let max = match args.get(1) {
            Some(m) => {
                let v = self.const_int(m, "strs's count")?;
                if !(1..=64).contains(&v) {
                    let d = self.error(m.span, "strs reads between 1 and 64 strings");
                    self.diags.push(d);
                    return None;
                }
                v as u32
            }
            None => 20,
        };
        let cap = 256.min(self.options.max_strlen).next_multiple_of(8);
        let kind = Formatted::Strings { max, cap };
        Some(expr(
            T::Format {
                kind: kind.clone(),
                args: vec![argv],
            },
            Type::Formatted(kind),
            span,
        ))
    }

    /// `buf(p, n)` / `buf(array)`: bytes printed with `%r`.
    fn buf(&mut self, args: &[ast::Expr], span: Span) -> Option<typed::Expr> {
        let data = self.expr(&args[0])?;
        let (len, cap) = match (&data.ty, args.get(1)) {
            (Type::Array { .. } | Type::Str(_), None) => {
                let n = data.ty.size();
                (expr(T::Int(u64::from(n)), Type::Int(IntType::U64), span), n)
            }
            (Type::Ptr { .. } | Type::Int(_) | Type::Array { .. } | Type::Str(_), Some(n)) => {
                let n = self.scalar(n, "buf's length")?;
                let mut cap = match fold(&n) {
                    Some(c) if c >= 0 => (c as u32).min(self.options.max_strlen),
                    _ => self.options.max_strlen,
                };
                // A string's or array's bytes are all there are.
                if !data.ty.is_scalar() {
                    cap = cap.min(data.ty.size());
                }
                (n, cap)
            }
            (other, None) if other.is_scalar() => {
                let d = self
                    .error(span, "buf() of a pointer needs a length")
                    .with_hint("buf(ptr, 16)");
                self.diags.push(d);
                return None;
            }
            (other, _) => {
                let d = self.error(
                    args[0].span,
                    format!("buf() takes a pointer or an array, not {other}"),
                );
                self.diags.push(d);
                return None;
            }
        };
        let data = match data.ty {
            Type::Int(_) => typed::Expr {
                ty: Type::Ptr {
                    pointee: Box::new(Type::Int(IntType {
                        bits: 8,
                        signed: false,
                    })),
                    space: AddrSpace::Unknown,
                },
                ..data
            },
            _ => data,
        };
        Some(expr(
            T::Format {
                kind: Formatted::Buffer(cap),
                args: vec![data, len],
            },
            Type::Formatted(Formatted::Buffer(cap)),
            span,
        ))
    }

    /// Function calls that are statements.
    pub(super) fn statement_function(
        &mut self,
        f: StatementFn,
        func: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
    ) -> Option<StmtKind> {
        let op = match f {
            StatementFn::Printf => return self.printf(func.span, args),
            StatementFn::Exit => {
                let code = match args.first() {
                    Some(a) => Some(self.scalar(a, "exit's code")?),
                    None => None,
                };
                return Some(StmtKind::Exit { code });
            }
            StatementFn::Time => {
                let format = match args.first().map(|a| &a.kind) {
                    Some(A::Str { value, .. }) => String::from_utf8_lossy(value).into_owned(),
                    Some(_) => {
                        let d = self.error(args[0].span, "time's format must be a string literal");
                        self.diags.push(d);
                        return None;
                    }
                    None => "%H:%M:%S\n".to_string(),
                };
                AsyncOp::Time(format)
            }
            StatementFn::Join => {
                let argv = self.string_pointers("join", &args[0])?;
                let sep = match args.get(1).map(|a| &a.kind) {
                    Some(A::Str { value, .. }) => String::from_utf8_lossy(value).into_owned(),
                    Some(_) => {
                        let d =
                            self.error(args[1].span, "join's separator must be a string literal");
                        self.diags.push(d);
                        return None;
                    }
                    None => " ".to_string(),
                };
                AsyncOp::Join { argv, sep }
            }
            StatementFn::Cat => {
                let (format, args) = self.format_args("cat", span, args)?;
                AsyncOp::Cat { format, args }
            }
            StatementFn::System => {
                self.require_unsafe("system", span)?;
                let (format, args) = self.format_args("system", span, args)?;
                AsyncOp::System { format, args }
            }
            StatementFn::Errorf | StatementFn::Warnf => {
                let error = f == StatementFn::Errorf;
                let (format, args) = self.format_args(&func.name, span, args)?;
                AsyncOp::Message {
                    error,
                    span,
                    format,
                    args,
                }
            }
            StatementFn::Emit => self.emit(args, span)?,
            StatementFn::Assert => return self.assert(args, span),
            StatementFn::Debugf => return self.debugf(args, span),
            StatementFn::Signal => {
                self.require_unsafe("signal", span)?;
                let sig = match &args[0].kind {
                    A::Str { value, .. } => {
                        let name = String::from_utf8_lossy(value).to_uppercase();
                        let full = if name.starts_with("SIG") {
                            name
                        } else {
                            format!("SIG{name}")
                        };
                        match SIGNALS.iter().find(|(n, _)| *n == full) {
                            Some((_, n)) => expr(T::Int(*n), Type::Int(IntType::U32), args[0].span),
                            None => {
                                let d = self
                                    .error(args[0].span, format!("unknown signal `{full}`"))
                                    .with_hint(
                                        "signals: SIGKILL, SIGTERM, SIGUSR1, SIGSTOP… or a number",
                                    );
                                self.diags.push(d);
                                return None;
                            }
                        }
                    }
                    _ => self.scalar(&args[0], "signal's number")?,
                };
                return Some(StmtKind::Signal(sig));
            }
        };
        Some(StmtKind::Async(op))
    }

    /// `print(value)` of anything but a map.
    pub(super) fn print_value(&mut self, args: &[ast::Expr], span: Span) -> Option<StmtKind> {
        if args.len() != 1 {
            let d = self
                .error(
                    span,
                    format!("print() of a value takes 1 argument, not {}", args.len()),
                )
                .with_hint("`print(@map, top, div)` takes more, for maps");
            self.diags.push(d);
            return None;
        }
        let v = self.expr(&args[0])?;
        let v = self.record_value(v);
        if !super::storable(&v.ty) {
            let d = self.error(
                args[0].span,
                format!("print() cannot show a value of type {}", v.ty),
            );
            self.diags.push(d);
            return None;
        }
        Some(StmtKind::Async(AsyncOp::Print(v)))
    }

    fn require_unsafe(&mut self, func: &str, span: Span) -> Option<()> {
        if self.options.unsafe_allowed {
            return Some(());
        }
        let d = self
            .error(
                span,
                format!("{func}() is unsafe: it acts on the system, not just observes it"),
            )
            .with_hint("run scry with --unsafe to allow it");
        self.diags.push(d);
        None
    }
}

/// An integer literal, negated or not (`5`, `-1`).
fn int_literal(e: &ast::Expr) -> Option<i64> {
    match &e.kind {
        A::Int(v) => Some(*v as i64),
        A::Unary {
            op: ast::UnaryOp::Neg,
            operand,
        } => match operand.kind {
            A::Int(v) => Some((v as i64).wrapping_neg()),
            _ => None,
        },
        _ => None,
    }
}
