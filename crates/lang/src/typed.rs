//! The checked program: one `Probe` per expanded attach point, every expression typed, names
//! resolved to variables, builtins and context fields. This is what code generation consumes.

use crate::ast::{BinaryOp, Span, UnaryOp};
use crate::printf::Format;
use crate::types::{AddrSpace, ContextField, ResolvedProbe, Type};

#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub probes: Vec<Probe>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    pub resolved: ResolvedProbe,
    pub predicate: Option<Expr>,
    pub body: Vec<Stmt>,
    /// Scratch variables, indexed by `VarId`.
    pub vars: Vec<Var>,
    /// The attach point as written, for messages about this probe.
    pub attach_span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VarId(pub usize);

#[derive(Clone, Debug, PartialEq)]
pub struct Var {
    pub name: String,
    pub ty: Type,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// An expression evaluated for its effects (and then dropped).
    Expr(Expr),
    Assign {
        var: VarId,
        value: Expr,
    },
    If {
        cond: Expr,
        then: Vec<Stmt>,
        otherwise: Vec<Stmt>,
    },
    Block(Vec<Stmt>),
    Printf {
        format: Format,
        args: Vec<Expr>,
    },
    Exit {
        code: Option<Expr>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Type,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    Pid,
    Tid,
    Uid,
    Gid,
    Comm,
    Nsecs,
    Elapsed,
    Cpu,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// An integer constant; `ty` says how to read the bits.
    Int(u64),
    /// A string constant (without its NUL).
    Str(Vec<u8>),
    Builtin(Builtin),
    Var(VarId),
    /// `args.field`
    Arg(ContextField),
    /// `str(ptr[, len])`: read a NUL-terminated string through a pointer. The result's capacity
    /// is `ty`'s; `len` limits the characters read at run time.
    ReadStr {
        ptr: Box<Expr>,
        space: AddrSpace,
        len: Option<Box<Expr>>,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    /// `signed` selects signed division, remainder, shift right and comparisons.
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        signed: bool,
    },
}
