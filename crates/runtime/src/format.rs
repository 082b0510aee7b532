//! Parses tracefs `format` files into the fields of `args`, with scry types derived from each
//! field's C declaration, size and signedness.
//!
//! ```text
//! field:const char * filename;    offset:16;    size:8;    signed:0;
//! field:__data_loc char[] filename;    offset:8;    size:4;    signed:0;
//! field:char prev_comm[16];    offset:8;    size:16;    signed:0;
//! ```

use logos::Logos;
use scry_lang::types::{AddrSpace, ContextField, FieldLocation, IntType, Type};

/// Tokens of a C field declaration.
#[derive(Logos, Debug, PartialEq, Clone)]
#[logos(skip r"[ \t]+")]
enum Tok<'a> {
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident(&'a str),
    #[regex(r"[0-9]+")]
    Number(&'a str),
    #[token("*")]
    Star,
    #[token("[")]
    Open,
    #[token("]")]
    Close,
}

/// Which address space the pointers in an event's record point into: syscall arguments are user
/// pointers; everything else the kernel records is a kernel pointer.
pub fn pointer_space(category: &str) -> AddrSpace {
    if category == "syscalls" {
        AddrSpace::User
    } else {
        AddrSpace::Kernel
    }
}

/// The fields of a format file, without the `common_*` header every event shares.
pub fn parse(text: &str, space: AddrSpace) -> Vec<ContextField> {
    text.lines()
        .filter_map(|line| parse_line(line.trim(), space))
        .filter(|f| !f.name.starts_with("common_"))
        .collect()
}

fn parse_line(line: &str, space: AddrSpace) -> Option<ContextField> {
    let rest = line.strip_prefix("field:")?;
    let mut parts = rest.split(';').map(str::trim);
    let decl = parts.next()?;
    let mut offset = None;
    let mut size = None;
    let mut signed = false;
    for p in parts {
        if let Some(v) = p.strip_prefix("offset:") {
            offset = v.parse::<u32>().ok();
        } else if let Some(v) = p.strip_prefix("size:") {
            size = v.parse::<u32>().ok();
        } else if let Some(v) = p.strip_prefix("signed:") {
            signed = v == "1";
        }
    }
    let (offset, size) = (offset?, size?);
    let tokens: Vec<Tok<'_>> = Tok::lexer(decl).filter_map(Result::ok).collect();

    // The name is the last identifier; an array suffix `[N]` or `[]` may follow it.
    let name_at = tokens.iter().rposition(|t| matches!(t, Tok::Ident(_)))?;
    let Tok::Ident(name) = tokens[name_at] else {
        return None;
    };
    let base = &tokens[..name_at];
    let suffix = &tokens[name_at + 1..];
    let words: Vec<&str> = base
        .iter()
        .filter_map(|t| {
            if let Tok::Ident(w) = t {
                Some(*w)
            } else {
                None
            }
        })
        .collect();
    let stars = base.iter().filter(|t| matches!(t, Tok::Star)).count();

    let data_loc = words.first() == Some(&"__data_loc");
    let (ty, location) = if data_loc {
        // `__data_loc char[] name`: the brackets sit before the name.
        let is_char = words.get(1) == Some(&"char");
        let ty = if is_char {
            Type::Str(0)
        } else {
            Type::Opaque {
                name: decl.to_string(),
                size,
            }
        };
        (ty, FieldLocation::DataLoc { offset })
    } else if let [Tok::Open, Tok::Number(n), Tok::Close] = suffix {
        let len: u32 = n.parse().ok()?;
        let elem = base_type(&words, size.checked_div(len).unwrap_or(0), signed);
        let ty = if is_char(&words) && stars == 0 {
            Type::Str(len)
        } else {
            Type::Array {
                elem: Box::new(elem),
                len,
            }
        };
        (ty, FieldLocation::Inline { offset })
    } else if stars > 0 {
        // `char *` is a string; `char **` (argv) a pointer to strings.
        let mut ty = if is_char(&words) {
            Type::Int(IntType::I8)
        } else {
            Type::Opaque {
                name: words.join(" "),
                size: 0,
            }
        };
        for _ in 0..stars {
            ty = Type::Ptr {
                pointee: Box::new(ty),
                space,
            };
        }
        (ty, FieldLocation::Inline { offset })
    } else {
        (
            base_type(&words, size, signed),
            FieldLocation::Inline { offset },
        )
    };
    Some(ContextField {
        name: name.to_string(),
        ty,
        location,
        c_decl: decl.to_string(),
    })
}

fn is_char(words: &[&str]) -> bool {
    words.contains(&"char") && !words.contains(&"struct")
}

/// An integer of the field's size, or an opaque type for structs and odd sizes.
fn base_type(words: &[&str], size: u32, signed: bool) -> Type {
    let aggregate = words.iter().any(|w| matches!(*w, "struct" | "union"));
    match size {
        1 | 2 | 4 | 8 if !aggregate => Type::Int(IntType {
            bits: (size * 8) as u8,
            signed,
        }),
        _ => Type::Opaque {
            name: words.join(" "),
            size,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXECVE: &str = "name: sys_enter_execve\nID: 862\nformat:\n\
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\
\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\
\tfield:const char * filename;\toffset:16;\tsize:8;\tsigned:0;\n\
\tfield:const char *const * argv;\toffset:24;\tsize:8;\tsigned:0;\n\
\tfield:__data_loc char[] name;\toffset:32;\tsize:4;\tsigned:0;\n\
\tfield:char prev_comm[16];\toffset:36;\tsize:16;\tsigned:0;\n\
\tfield:u8 saddr[4];\toffset:52;\tsize:4;\tsigned:0;\n\
\nprint fmt: \"filename: 0x%08lx\"\n";

    #[test]
    fn parses_fields_with_types() {
        let fields = parse(EXECVE, AddrSpace::User);
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "__syscall_nr",
                "filename",
                "argv",
                "name",
                "prev_comm",
                "saddr"
            ]
        );
        assert_eq!(fields[0].ty, Type::Int(IntType::I32));
        assert_eq!(
            fields[1].ty,
            Type::Ptr {
                pointee: Box::new(Type::Int(IntType::I8)),
                space: AddrSpace::User
            }
        );
        assert_eq!(fields[1].location, FieldLocation::Inline { offset: 16 });
        assert!(
            matches!(fields[2].ty, Type::Ptr { ref pointee, .. } if matches!(**pointee, Type::Ptr { .. }))
        );
        assert_eq!(fields[3].location, FieldLocation::DataLoc { offset: 32 });
        assert_eq!(fields[4].ty, Type::Str(16));
        assert_eq!(
            fields[5].ty,
            Type::Array {
                elem: Box::new(Type::Int(IntType {
                    bits: 8,
                    signed: false
                })),
                len: 4
            }
        );
        assert_eq!(fields[1].c_decl, "const char * filename");
    }
}
