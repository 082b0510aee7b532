//! What a line typed at the prompt is: a command (`:probes`), probe blocks, or statements to run
//! once; and whether it is finished or continues on the next line (its braces do not balance).

use scry_lang::ast::Program;
use scry_lang::{parse, parse_statements, Diagnostic};

/// The characters of the text that are code, with their byte offsets: strings, character
/// literals and comments left out.
pub fn code(text: &str) -> Vec<(usize, char)> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' | '\'' => {
                while let Some((_, d)) = chars.next() {
                    if d == '\\' {
                        chars.next();
                    } else if d == c {
                        break;
                    }
                }
            }
            '/' if chars.peek().is_some_and(|(_, d)| *d == '/') => {
                for (_, d) in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek().is_some_and(|(_, d)| *d == '*') => {
                chars.next();
                let mut last = ' ';
                for (_, d) in chars.by_ref() {
                    if last == '*' && d == '/' {
                        break;
                    }
                    last = d;
                }
            }
            _ => out.push((i, c)),
        }
    }
    out
}

/// How many more `{` than `}` the text has, outside strings, character literals and comments.
pub fn open_braces(text: &str) -> i64 {
    code(text)
        .into_iter()
        .map(|(_, c)| match c {
            '{' => 1,
            '}' => -1,
            _ => 0,
        })
        .sum()
}

/// A complete input, parsed.
pub enum Parsed {
    /// Probe blocks (and definitions): loaded and attached, kept until detached.
    Blocks(Program),
    /// Statements: run once, like a BEGIN block.
    Statements(Program),
}

/// Parses an input as probe blocks, or else as statements. When it is neither, the error shown
/// is the one of the reading that got further into the text.
pub fn parse_input(text: &str) -> Result<Parsed, Vec<Diagnostic>> {
    let blocks = match parse(text) {
        Ok(p) => return Ok(Parsed::Blocks(p)),
        Err(e) => e,
    };
    let statements = match parse_statements(text) {
        Ok(p) => return Ok(Parsed::Statements(p)),
        Err(e) => e,
    };
    let reach = |d: &[Diagnostic]| d.first().map_or(0, |d| d.span.start);
    if reach(&statements) > reach(&blocks) {
        Err(statements)
    } else {
        Err(blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_in_strings_and_comments_do_not_count() {
        assert_eq!(open_braces("kprobe:f {"), 1);
        assert_eq!(open_braces("BEGIN { printf(\"}\"); // }\n"), 1);
        assert_eq!(open_braces("BEGIN { /* { */ }"), 0);
        assert_eq!(open_braces("BEGIN { $c = '{'; }"), 0);
        assert_eq!(open_braces("BEGIN { printf(\"\\\"{\"); }"), 0);
    }

    #[test]
    fn statements_and_blocks_are_told_apart() {
        assert!(matches!(
            parse_input("BEGIN { @n = 1; }"),
            Ok(Parsed::Blocks(_))
        ));
        assert!(matches!(
            parse_input("print(@n)"),
            Ok(Parsed::Statements(_))
        ));
        assert!(matches!(
            parse_input("clear(@n); printf(\"%d\\n\", 1)"),
            Ok(Parsed::Statements(_))
        ));
        // The statement reading gets further: its error is the one shown.
        let e = parse_input("printf(\"%d\\n\" 1)").err().unwrap();
        assert_eq!(e[0].span.start, 14);
    }
}
