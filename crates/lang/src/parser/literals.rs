//! Literals: integers (hex, `1e6`, `_` separators, C and duration suffixes) and the escapes
//! of strings, with where each byte came from for errors inside them.

/// Decimal, hex or `NeM`, with `_` separators, an ignored C suffix (`UL`…) or a duration suffix
/// (`ns us ms s m h d`, giving nanoseconds). `None` when it does not fit in 64 bits.
pub(super) fn parse_int(text: &str) -> Option<u64> {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    if let Some(hex) = clean
        .strip_prefix("0x")
        .or_else(|| clean.strip_prefix("0X"))
    {
        let hex = hex.trim_end_matches(['U', 'L', 'u', 'l']);
        return u64::from_str_radix(hex, 16).ok();
    }
    let digits_end = clean
        .find(|c: char| !c.is_ascii_digit() && c != 'e')
        .unwrap_or(clean.len());
    let (number, suffix) = clean.split_at(digits_end);
    let value = match number.split_once('e') {
        Some((m, e)) => m
            .parse::<u64>()
            .ok()?
            .checked_mul(10u64.checked_pow(e.parse().ok()?)?)?,
        None => number.parse().ok()?,
    };
    let scale: u64 = match suffix {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => 1,
    };
    value.checked_mul(scale)
}

/// Where byte `offset` of an unescaped string literal came from in its raw text.
pub fn raw_offset(raw: &str, offset: usize) -> usize {
    let mut i = 0;
    for _ in 0..offset {
        if i >= raw.len() {
            break;
        }
        i += escape_len(&raw.as_bytes()[i..]);
    }
    i
}

/// The length in the raw text of the character or escape starting `rest`.
pub(super) fn escape_len(rest: &[u8]) -> usize {
    if rest[0] != b'\\' || rest.len() < 2 {
        return 1;
    }
    match rest[1] {
        b'0'..=b'7' => {
            1 + rest[1..]
                .iter()
                .take(3)
                .take_while(|d| (b'0'..=b'7').contains(d))
                .count()
        }
        b'x' => {
            2 + rest[2..]
                .iter()
                .take(2)
                .take_while(|d| d.is_ascii_hexdigit())
                .count()
        }
        _ => 2,
    }
}

/// Decodes C escapes. On error, the byte offset and length of the bad escape within `text`.
pub(super) fn unescape(text: &str) -> Result<Vec<u8>, (usize, usize, String)> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let esc =
            *bytes
                .get(i + 1)
                .ok_or((i, 1, "a string cannot end with a lone `\\`".to_string()))?;
        let simple = match esc {
            b'n' => Some(b'\n'),
            b't' => Some(b'\t'),
            b'r' => Some(b'\r'),
            b'a' => Some(0x07),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'v' => Some(0x0b),
            b'\\' => Some(b'\\'),
            b'"' => Some(b'"'),
            b'\'' => Some(b'\''),
            b'?' => Some(b'?'),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            i += 2;
        } else if esc.is_ascii_digit() && esc < b'8' {
            let digits = bytes[i + 1..]
                .iter()
                .take(3)
                .take_while(|d| (b'0'..=b'7').contains(d))
                .count();
            let s = &text[i + 1..i + 1 + digits];
            let v = u32::from_str_radix(s, 8).unwrap_or(256);
            if v > 255 {
                return Err((
                    i,
                    digits + 1,
                    format!("octal escape `\\{s}` is larger than a byte"),
                ));
            }
            out.push(v as u8);
            i += 1 + digits;
        } else if esc == b'x' {
            let digits = bytes[i + 2..]
                .iter()
                .take(2)
                .take_while(|d| d.is_ascii_hexdigit())
                .count();
            if digits == 0 {
                return Err((i, 2, "`\\x` needs one or two hex digits".to_string()));
            }
            out.push(u8::from_str_radix(&text[i + 2..i + 2 + digits], 16).unwrap_or(0));
            i += 2 + digits;
        } else {
            let ch_len = text[i + 1..].chars().next().map_or(1, char::len_utf8);
            return Err((
                i,
                1 + ch_len,
                format!("unknown escape `\\{}`", &text[i + 1..i + 1 + ch_len]),
            ));
        }
    }
    Ok(out)
}
