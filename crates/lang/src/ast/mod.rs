//! The syntax tree the parser produces: what the user wrote, with a byte span on every node.
//! No types and no kernel knowledge here; `check` turns it into a `typed::Program`.

use std::fmt;

pub mod visit;

/// A byte range in the script text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Program {
    pub probes: Vec<Probe>,
    /// `config = { key = value; … }` entries, in order.
    pub config: Vec<ConfigEntry>,
    /// `macro name(params) { … }` definitions; calls are expanded by `macros::expand`.
    pub macros: Vec<Macro>,
    /// `#define NAME value` constants.
    pub defines: Vec<Define>,
    /// `let @name = lruhash(N);` declarations.
    pub map_decls: Vec<MapDeclaration>,
    /// `struct NAME { … }` and `enum NAME { … }` definitions.
    pub c_types: Vec<CDefinition>,
    /// `#include <linux/socket.h>`: headers whose integer constants the script may use.
    pub includes: Vec<Include>,
}

/// `#include <path>` or `#include "path"`.
#[derive(Clone, Debug, PartialEq)]
pub struct Include {
    /// As written between the brackets or quotes: `linux/socket.h`.
    pub path: String,
    pub span: Span,
}

/// A C type defined in the script.
#[derive(Clone, Debug, PartialEq)]
pub enum CDefinition {
    Record {
        union: bool,
        name: Ident,
        fields: Vec<CField>,
        /// `__attribute__((packed))`: no padding between members or after them.
        packed: bool,
    },
    /// An anonymous enum's name is empty.
    Enum {
        name: Ident,
        variants: Vec<(Ident, Option<i64>)>,
    },
}

/// `unsigned long flags`, `struct foo *next`, `char name[16]`.
#[derive(Clone, Debug, PartialEq)]
pub struct CField {
    /// The type's words: `["unsigned", "long"]`, `["struct", "foo"]`.
    pub ty: Vec<String>,
    pub pointers: u8,
    pub name: Ident,
    /// `[N]`s after the name, outermost first.
    pub array: Vec<u32>,
    pub span: Span,
}

/// `let @name = KIND(SIZE);`
#[derive(Clone, Debug, PartialEq)]
pub struct MapDeclaration {
    pub map: Ident,
    /// `hash`, `lruhash`, `percpuhash`, `percpulruhash`, as written.
    pub kind: Ident,
    pub size: u64,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ConfigEntry {
    pub key: Ident,
    pub value: ConfigValue,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigValue {
    Int(u64),
    Str(String),
    /// A bare word: `warn`, `true`, `perf`.
    Word(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Macro {
    pub name: Ident,
    /// `$var` (an alias of the caller's variable), `@map`, or a bare name (an expression).
    pub params: Vec<Ident>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Define {
    pub name: Ident,
    pub value: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    pub attach_points: Vec<AttachPointSpec>,
    pub predicate: Option<Expr>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// An attach point as written: `tracepoint:syscalls:sys_enter_exec*`, split at `:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachPointSpec {
    pub text: String,
    pub span: Span,
}

impl AttachPointSpec {
    /// The provider (`tracepoint`, `BEGIN`, …) as written.
    pub fn provider(&self) -> &str {
        self.text.split(':').next().unwrap_or("")
    }
    /// The parts after the provider, without their quotes.
    pub fn parts(&self) -> Vec<String> {
        split_attach_point(&self.text).split_off(1)
    }
}

/// An attach point's text split at the colons outside quotes, each part without its quotes
/// (`uprobe:"/a b/bin":main` is `uprobe`, `/a b/bin`, `main`).
pub fn split_attach_point(text: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => parts.push(String::new()),
            c => parts.last_mut().expect("never empty").push(c),
        }
    }
    parts
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    Expr(Expr),
    AssignVar {
        name: Ident,
        value: Expr,
    },
    /// `@map = value` or `@map[keys] = value` (plain values and aggregations alike).
    AssignMap {
        map: Ident,
        keys: Vec<Expr>,
        value: Expr,
    },
    /// `let $x [: type] [= value]`
    Let {
        name: Ident,
        ty: Option<TypeName>,
        value: Option<Expr>,
    },
    If {
        cond: Expr,
        then: Vec<Stmt>,
        otherwise: Vec<Stmt>,
    },
    While {
        cond: Expr,
        body: Vec<Stmt>,
    },
    /// `unroll(n) { … }`: the body repeated n times.
    Unroll {
        count: Expr,
        body: Vec<Stmt>,
    },
    /// `for ($i : a..b) { … }`
    ForRange {
        var: Ident,
        start: Expr,
        end: Expr,
        body: Vec<Stmt>,
    },
    /// `for ($kv : @map) { … }`
    ForMap {
        var: Ident,
        map: Ident,
        body: Vec<Stmt>,
    },
    Break,
    Continue,
    /// `return [value];`: ends this run of the probe (the value is evaluated, then dropped).
    Return(Option<Expr>),
    Block(Vec<Stmt>),
}

/// A type as written: `uint32`, `struct task_struct *`, `uint8[4]`, `string`.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeName {
    pub base: BaseType,
    /// The number of `*`s.
    pub pointers: u8,
    /// `[N]`s after it, outermost first: `int[2][3]` is two arrays of three. `[]` (in a
    /// cast, whose operand gives the length) is 0.
    pub array: Vec<u32>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum BaseType {
    /// `int8` … `uint64`, `bool`, `string`.
    Scalar(String),
    /// `struct NAME`, `union NAME`, `enum NAME`: the keyword and the name.
    Record { keyword: String, name: String },
    /// `typeof(expr)` or `typeof(type)`: the type of that.
    Typeof(Box<TypeOrExpr>),
}

impl fmt::Display for TypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.base {
            BaseType::Scalar(s) => write!(f, "{s}")?,
            BaseType::Record { keyword, name } => write!(f, "{keyword} {name}")?,
            BaseType::Typeof(of) => match &**of {
                TypeOrExpr::Type(t) => write!(f, "typeof({t})")?,
                TypeOrExpr::Expr(e) => write!(f, "typeof({e})")?,
            },
        }
        if self.pointers > 0 {
            write!(f, " {}", "*".repeat(self.pointers.into()))?;
        }
        for n in &self.array {
            match n {
                0 => write!(f, "[]")?,
                n => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Int(u64),
    Bool(bool),
    /// A string literal: its bytes, and the text between the quotes as written.
    Str {
        value: Vec<u8>,
        raw: String,
    },
    /// A bare identifier: a builtin such as `pid`, or `args`.
    Ident(String),
    /// `$name`
    Var(String),
    /// `$1`, `$2`…: a script argument.
    Positional(u32),
    /// `$#`: the number of script arguments.
    ArgCount,
    /// `@name` or `@name[keys]`; `map.name` keeps the `@`.
    Map {
        map: Ident,
        keys: Vec<Expr>,
    },
    Call {
        func: Ident,
        args: Vec<Expr>,
    },
    /// `base.field` or `base->field`; a tuple's `.0` has the name `0`.
    Field {
        base: Box<Expr>,
        field: Ident,
        arrow: bool,
    },
    /// `base[index]`
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    /// `cond ? then : otherwise`; `cond ?: otherwise` has no `then` (the condition is the value).
    Ternary {
        cond: Box<Expr>,
        then: Option<Box<Expr>>,
        otherwise: Box<Expr>,
    },
    /// `(type) operand`
    Cast {
        ty: TypeName,
        operand: Box<Expr>,
    },
    /// `(a, b, …)`
    Tuple(Vec<Expr>),
    /// `(a = 1, b = "x")`
    Record(Vec<(Ident, Expr)>),
    /// `sizeof(type)` or `sizeof(expr)`
    SizeOf(TypeOrExpr),
    /// `offsetof(type, a.b.c)`
    OffsetOf {
        of: TypeOrExpr,
        path: Vec<Ident>,
    },
    /// A macro's statements with the value of its last expression (made by macro expansion).
    Block {
        stmts: Vec<Stmt>,
        value: Box<Expr>,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum TypeOrExpr {
    Type(TypeName),
    Expr(Box<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    BitNot,
    Neg,
    /// `*p`
    Deref,
    /// `&x`
    AddrOf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    LogOr,
    LogAnd,
    BitOr,
    BitXor,
    BitAnd,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Shl,
    Shr,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        use BinaryOp::*;
        match self {
            LogOr => "||",
            LogAnd => "&&",
            BitOr => "|",
            BitXor => "^",
            BitAnd => "&",
            Eq => "==",
            Ne => "!=",
            Lt => "<",
            Gt => ">",
            Le => "<=",
            Ge => ">=",
            Shl => "<<",
            Shr => ">>",
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Rem => "%",
        }
    }
    pub fn is_comparison(self) -> bool {
        use BinaryOp::*;
        matches!(self, Eq | Ne | Lt | Gt | Le | Ge)
    }
    pub fn is_logical(self) -> bool {
        matches!(self, BinaryOp::LogOr | BinaryOp::LogAnd)
    }
}

impl UnaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            UnaryOp::Not => "!",
            UnaryOp::BitNot => "~",
            UnaryOp::Neg => "-",
            UnaryOp::Deref => "*",
            UnaryOp::AddrOf => "&",
        }
    }
}

// ---- a compact, stable text form of the tree, for `-d` and snapshot tests ------------------------

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.c_types {
            match c {
                CDefinition::Record {
                    union,
                    name,
                    fields,
                    packed,
                } => {
                    let fields: Vec<String> = fields
                        .iter()
                        .map(|f| {
                            let stars = "*".repeat(f.pointers.into());
                            let array: String = f.array.iter().map(|n| format!("[{n}]")).collect();
                            format!("{} {stars}{}{array}", f.ty.join(" "), f.name.name)
                        })
                        .collect();
                    let kw = if *union { "union" } else { "struct" };
                    let attribute = if *packed {
                        " __attribute__((packed))"
                    } else {
                        ""
                    };
                    writeln!(
                        f,
                        "{kw} {} {{ {} }}{attribute}",
                        name.name,
                        fields.join("; ")
                    )?;
                }
                CDefinition::Enum { name, variants } => {
                    let vs: Vec<String> = variants
                        .iter()
                        .map(|(n, v)| match v {
                            Some(v) => format!("{} = {v}", n.name),
                            None => n.name.clone(),
                        })
                        .collect();
                    let name = if name.name.is_empty() {
                        String::new()
                    } else {
                        format!("{} ", name.name)
                    };
                    writeln!(f, "enum {name}{{ {} }}", vs.join(", "))?;
                }
            }
        }
        for d in &self.map_decls {
            writeln!(f, "let {} = {}({})", d.map.name, d.kind.name, d.size)?;
        }
        for probe in &self.probes {
            let aps: Vec<&str> = probe
                .attach_points
                .iter()
                .map(|a| a.text.as_str())
                .collect();
            writeln!(f, "probe {}", aps.join(", "))?;
            if let Some(pred) = &probe.predicate {
                writeln!(f, "  predicate {pred}")?;
            }
            write_stmts(f, &probe.body, 1)?;
        }
        Ok(())
    }
}

fn write_stmts(f: &mut fmt::Formatter<'_>, stmts: &[Stmt], depth: usize) -> fmt::Result {
    let pad = "  ".repeat(depth);
    for stmt in stmts {
        match &stmt.kind {
            StmtKind::Expr(e) => writeln!(f, "{pad}{e}")?,
            StmtKind::AssignVar { name, value } => writeln!(f, "{pad}${} = {value}", name.name)?,
            StmtKind::AssignMap { map, keys, value } => {
                writeln!(f, "{pad}{} = {value}", MapRef(map, keys))?
            }
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                writeln!(f, "{pad}if {cond}")?;
                write_stmts(f, then, depth + 1)?;
                if !otherwise.is_empty() {
                    writeln!(f, "{pad}else")?;
                    write_stmts(f, otherwise, depth + 1)?;
                }
            }
            StmtKind::Block(body) => {
                writeln!(f, "{pad}block")?;
                write_stmts(f, body, depth + 1)?;
            }
            StmtKind::Let { name, ty, value } => {
                write!(f, "{pad}let ${}", name.name)?;
                if let Some(t) = ty {
                    write!(f, ": {t}")?;
                }
                match value {
                    Some(v) => writeln!(f, " = {v}")?,
                    None => writeln!(f)?,
                }
            }
            StmtKind::While { cond, body } => {
                writeln!(f, "{pad}while {cond}")?;
                write_stmts(f, body, depth + 1)?;
            }
            StmtKind::Unroll { count, body } => {
                writeln!(f, "{pad}unroll {count}")?;
                write_stmts(f, body, depth + 1)?;
            }
            StmtKind::ForRange {
                var,
                start,
                end,
                body,
            } => {
                writeln!(f, "{pad}for ${} : {start}..{end}", var.name)?;
                write_stmts(f, body, depth + 1)?;
            }
            StmtKind::ForMap { var, map, body } => {
                writeln!(f, "{pad}for ${} : {}", var.name, map.name)?;
                write_stmts(f, body, depth + 1)?;
            }
            StmtKind::Break => writeln!(f, "{pad}break")?,
            StmtKind::Continue => writeln!(f, "{pad}continue")?,
            StmtKind::Return(None) => writeln!(f, "{pad}return")?,
            StmtKind::Return(Some(v)) => writeln!(f, "{pad}return {v}")?,
        }
    }
    Ok(())
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Int(v) => write!(f, "{v}"),
            ExprKind::Bool(b) => write!(f, "{b}"),
            ExprKind::Positional(n) => write!(f, "${n}"),
            ExprKind::ArgCount => write!(f, "$#"),
            ExprKind::Index { base, index } => write!(f, "{base}[{index}]"),
            ExprKind::Ternary {
                cond,
                then,
                otherwise,
            } => match then {
                Some(t) => write!(f, "({cond} ? {t} : {otherwise})"),
                None => write!(f, "({cond} ?: {otherwise})"),
            },
            ExprKind::Cast { ty, operand } => write!(f, "(({ty}){operand})"),
            ExprKind::Tuple(items) => {
                write!(f, "(")?;
                for (i, e) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{e}")?;
                }
                if items.len() == 1 {
                    write!(f, ",")?;
                }
                write!(f, ")")
            }
            ExprKind::Record(fields) => {
                write!(f, "(")?;
                for (i, (name, e)) in fields.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{}={e}", name.name)?;
                }
                write!(f, ")")
            }
            ExprKind::SizeOf(TypeOrExpr::Type(t)) => write!(f, "sizeof({t})"),
            ExprKind::SizeOf(TypeOrExpr::Expr(e)) => write!(f, "sizeof({e})"),
            ExprKind::OffsetOf { of, path } => {
                match of {
                    TypeOrExpr::Type(t) => write!(f, "offsetof({t}, ")?,
                    TypeOrExpr::Expr(e) => write!(f, "offsetof({e}, ")?,
                }
                let names: Vec<&str> = path.iter().map(|i| i.name.as_str()).collect();
                write!(f, "{})", names.join("."))
            }
            ExprKind::Block { stmts, value } => write!(f, "{{ {} stmts; {value} }}", stmts.len()),
            ExprKind::Str { value, .. } => write!(f, "{:?}", String::from_utf8_lossy(value)),
            ExprKind::Ident(name) => write!(f, "{name}"),
            ExprKind::Var(name) => write!(f, "${name}"),
            ExprKind::Map { map, keys } => write!(f, "{}", MapRef(map, keys)),
            ExprKind::Call { func, args } => {
                write!(f, "{}(", func.name)?;
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{arg}")?;
                }
                write!(f, ")")
            }
            ExprKind::Field { base, field, arrow } => {
                write!(f, "{base}{}{}", if *arrow { "->" } else { "." }, field.name)
            }
            ExprKind::Unary { op, operand } => write!(f, "({}{operand})", op.symbol()),
            ExprKind::Binary { op, lhs, rhs } => write!(f, "({lhs} {} {rhs})", op.symbol()),
        }
    }
}

/// `@name[k1, k2]` as written.
struct MapRef<'a>(&'a Ident, &'a [Expr]);

impl fmt::Display for MapRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.name)?;
        if !self.1.is_empty() {
            write!(f, "[")?;
            for (i, k) in self.1.iter().enumerate() {
                if i > 0 {
                    write!(f, ", ")?;
                }
                write!(f, "{k}")?;
            }
            write!(f, "]")?;
        }
        Ok(())
    }
}
