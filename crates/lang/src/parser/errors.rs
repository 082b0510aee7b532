//! Syntax errors: pest's, turned into a located diagnostic that says what was expected in the
//! user's words, with a hint for the usual mistakes.

use super::Rule;
use crate::ast::*;
use crate::diagnostic::Diagnostic;

/// Turns pest's error into one diagnostic with a readable list of what was expected.
pub(super) fn syntax_error(e: pest::error::Error<Rule>, source: &str) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let (start, end) = match e.location {
        InputLocation::Pos(p) => (p, p + 1),
        InputLocation::Span((s, t)) => (s, t.max(s + 1)),
    };
    let expected = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives.iter().filter_map(|r| rule_name(*r)).collect();
            names.sort_unstable();
            names.dedup();
            match names.len() {
                0 => String::new(),
                1 => format!("; expected {}", names[0]),
                _ => {
                    let last = names.pop().unwrap_or_default();
                    format!("; expected {} or {last}", names.join(", "))
                }
            }
        }
        ErrorVariant::CustomError { message } => format!(": {message}"),
    };
    let found: String = {
        let rest = e.line().chars().skip(match e.line_col {
            pest::error::LineColLocation::Pos((_, c))
            | pest::error::LineColLocation::Span((_, c), _) => c - 1,
        });
        let rest: String = rest.collect();
        let word: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if word.is_empty() {
            rest.chars().next().map(String::from).unwrap_or_default()
        } else {
            word
        }
    };
    let message = format!("syntax error: unexpected `{found}`{expected}");
    if start >= source.len() {
        // Point just past the last thing written, not at an empty last line.
        let at = source.trim_end().len();
        return Diagnostic::error(Span::new(at, at + 1), "unexpected end of the program")
            .with_hint("a closing `}` or `)` may be missing");
    }
    let mut d = Diagnostic::error(Span::new(start, end), message);
    let line = e.line();
    if let InputLocation::Pos(p) = e.location {
        let col = match e.line_col {
            pest::error::LineColLocation::Pos((_, c)) => c,
            pest::error::LineColLocation::Span((_, c), _) => c,
        };
        let before = line.get(..col.saturating_sub(1)).unwrap_or("").trim_end();
        if p > 0
            && (before.ends_with(')')
                || before.ends_with(|c: char| c.is_alphanumeric() || c == '"'))
        {
            d = d.with_hint("statements are separated by `;`");
        }
    }
    d
}

pub(super) fn rule_name(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "end of input",
        Rule::probe | Rule::attach_list | Rule::attach_point => {
            "a probe such as `tracepoint:syscalls:sys_enter_openat`"
        }
        Rule::predicate => "`/predicate/`",
        Rule::block => "`{`",
        Rule::stmts | Rule::if_stmt | Rule::assign_stmt | Rule::expr_stmt => "a statement",
        Rule::expr
        | Rule::integer
        | Rule::string
        | Rule::call
        | Rule::variable
        | Rule::ident
        | Rule::map
        | Rule::map_name => "an expression",
        Rule::log_or
        | Rule::log_and
        | Rule::bit_or
        | Rule::bit_xor
        | Rule::bit_and
        | Rule::eq
        | Rule::ne
        | Rule::le
        | Rule::ge
        | Rule::lt
        | Rule::gt
        | Rule::shl
        | Rule::shr
        | Rule::add
        | Rule::sub
        | Rule::mul
        | Rule::div
        | Rule::rem => "an operator",
        Rule::field | Rule::arrow_field => "`.field`",
        Rule::not | Rule::bit_not | Rule::neg => "an expression",
        Rule::else_clause => "`else`",
        _ => return None,
    })
}
