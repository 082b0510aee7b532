//! printf in userspace: a record's fields formatted by the conversions parsed at compile time,
//! with C's flags, width, precision and length modifiers.

use super::value::Scalar;
use scry_codegen::module::{Field, FieldKind};
use scry_lang::printf::{BufStyle, Conv, Format, Length, Segment, Spec};
use scry_lang::types::IntType;

/// Formats one printf record (`record` starts with the 8-byte id). `decode` turns a field
/// other than an integer or a string into its value.
pub fn format_printf(
    format: &Format,
    fields: &[Field],
    record: &[u8],
    decode: &mut dyn FnMut(&FieldKind, &[u8]) -> Scalar,
) -> Vec<u8> {
    let mut out = Vec::new();
    format_printf_into(&mut out, format, fields, record, None, decode);
    out
}

/// `format_printf` appending to `out`, which a caller reuses from record to record, so that
/// formatting allocates nothing. With `trailer` (what marks a truncated string), strings are
/// formatted straight from the record's bytes; without, through `decode` as other values.
pub fn format_printf_into(
    out: &mut Vec<u8>,
    format: &Format,
    fields: &[Field],
    record: &[u8],
    trailer: Option<&str>,
    decode: &mut dyn FnMut(&FieldKind, &[u8]) -> Scalar,
) {
    let mut fields = fields.iter();
    for seg in &format.segments {
        match seg {
            Segment::Text(t) => out.extend_from_slice(t),
            Segment::Spec(spec) => {
                let Some(field) = fields.next() else { break };
                let bytes = record.get(field.offset as usize..).unwrap_or(&[]);
                let raw = bytes
                    .get(..8)
                    .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
                match &field.kind {
                    FieldKind::Int(ty) => format_int(out, spec, raw, *ty),
                    FieldKind::Enum(e) if spec.conv != Conv::Str => {
                        format_int(out, spec, raw, e.int)
                    }
                    FieldKind::Pointer if spec.conv != Conv::Str => {
                        format_int(out, spec, raw, IntType::U64)
                    }
                    FieldKind::Bool if spec.conv != Conv::Str => {
                        format_int(out, spec, raw, IntType::U64)
                    }
                    FieldKind::Str(cap) if trailer.is_some() => {
                        let held = bytes.get(..*cap as usize).unwrap_or(bytes);
                        let text = crate::render::c_str(held);
                        let truncated = text.len() == *cap as usize && *cap > 0;
                        let trailer = if truncated { trailer.unwrap_or("") } else { "" };
                        match std::str::from_utf8(text) {
                            Ok(_) => pad_str(out, spec, &[text, trailer.as_bytes()]),
                            Err(_) => {
                                let lossy = String::from_utf8_lossy(text);
                                pad_str(out, spec, &[lossy.as_bytes(), trailer.as_bytes()]);
                            }
                        }
                    }
                    kind => match decode(kind, bytes) {
                        Scalar::Str(s) => {
                            let s = s.as_bytes();
                            let s = match spec.precision {
                                Some(p) => &s[..p.min(s.len())],
                                None => s,
                            };
                            pad(out, spec, s);
                        }
                        Scalar::Bytes(b) => {
                            let text = match spec.conv {
                                Conv::Buffer(BufStyle::Hex) => super::text::escaped(&b, true),
                                Conv::Buffer(BufStyle::HexCompact) => b
                                    .iter()
                                    .map(|c| format!("{c:02x}"))
                                    .collect::<Vec<_>>()
                                    .join(" "),
                                _ => super::text::escaped(&b, false),
                            };
                            pad(out, spec, text.as_bytes());
                        }
                        v => pad(out, spec, super::text::scalar(&v, 8).as_bytes()),
                    },
                }
            }
        }
    }
}

/// A string's parts, cut to the precision (in bytes, as C counts), padded to the width.
fn pad_str(out: &mut Vec<u8>, spec: &Spec, parts: &[&[u8]]) {
    let mut left = spec.precision.unwrap_or(usize::MAX);
    let mut cut: [&[u8]; 2] = [&[], &[]];
    for (slot, part) in cut.iter_mut().zip(parts) {
        *slot = &part[..left.min(part.len())];
        left -= slot.len();
    }
    pad_parts(out, spec, &cut);
}

/// `parts`, one after another, padded with spaces to the width.
fn pad_parts(out: &mut Vec<u8>, spec: &Spec, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let fill = spec.width.unwrap_or(0).saturating_sub(len);
    if !spec.flags.left {
        out.extend(std::iter::repeat_n(b' ', fill));
    }
    for p in parts {
        out.extend_from_slice(p);
    }
    if spec.flags.left {
        out.extend(std::iter::repeat_n(b' ', fill));
    }
}

/// `v` in decimal, in `buf`.
fn decimal(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[at..]
}

/// C's `%a`: `0x1.8p+1` for 3, with as many hex digits as the value needs.
fn hex_float(v: f64) -> String {
    if v == 0.0 {
        return "0x0p+0".into();
    }
    let bits = v.abs().to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mantissa = bits & ((1u64 << 52) - 1);
    let digits = format!("{mantissa:013x}");
    let digits = digits.trim_end_matches('0');
    let sign = if v < 0.0 { "-" } else { "" };
    let dot = if digits.is_empty() { "" } else { "." };
    format!("{sign}0x1{dot}{digits}p{exp:+}")
}

/// C's `%f`, `%e`, `%g` and `%a` of a value.
fn float(v: f64, conv: u8, precision: usize) -> String {
    let exp = |v: f64, p: usize| {
        let s = format!("{v:.p$e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    };
    let text = match conv.to_ascii_lowercase() {
        b'f' => format!("{v:.precision$}"),
        b'a' => hex_float(v),
        b'e' => exp(v, precision),
        _ => {
            let p = precision.max(1);
            let e = if v == 0.0 {
                0
            } else {
                v.abs().log10().floor() as i32
            };
            let trim = |s: String| {
                if s.contains('.') {
                    s.trim_end_matches('0').trim_end_matches('.').to_string()
                } else {
                    s
                }
            };
            if e < -4 || e >= p as i32 {
                let s = exp(v, p - 1);
                let (m, rest) = s.split_once('e').unwrap_or((&s, ""));
                format!("{}e{rest}", trim(m.to_string()))
            } else {
                trim(format!("{v:.*}", (p as i32 - 1 - e).max(0) as usize))
            }
        }
    };
    if conv.is_ascii_uppercase() {
        text.to_uppercase()
    } else {
        text
    }
}

fn pad(out: &mut Vec<u8>, spec: &Spec, body: &[u8]) {
    let width = spec.width.unwrap_or(0);
    let fill = width.saturating_sub(body.len());
    if spec.flags.left {
        out.extend_from_slice(body);
        out.extend(std::iter::repeat_n(b' ', fill));
    } else {
        out.extend(std::iter::repeat_n(b' ', fill));
        out.extend_from_slice(body);
    }
}

/// The value's bits as the conversion sees them: the field's own width, narrowed further by
/// `h`/`hh`, then read as signed or unsigned.
fn format_int(out: &mut Vec<u8>, spec: &Spec, raw: u64, ty: IntType) {
    // As C (and bpftrace) read them: `%d`, `%x` take an int; `l`, `ll`, `j`, `z`, `t` a
    // 64-bit value; `h` a short and `hh` a char.
    let bits = match spec.length {
        Length::Char => 8u32.min(u32::from(ty.bits)),
        Length::Short => 16u32.min(u32::from(ty.bits)),
        Length::Default => 32u32.min(u32::from(ty.bits)),
        Length::Long => u32::from(ty.bits),
    };
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let unsigned = raw & mask;
    // As C promotes them to int, unsigned values narrower than 32 bits keep their value.
    let signed = if bits == 64 {
        raw as i64
    } else if bits < 32 && !ty.signed {
        unsigned as i64
    } else {
        ((unsigned << (64 - bits)) as i64) >> (64 - bits)
    };

    let mut buf = [0u8; 20];
    let owned: String;
    let (negative, digits, prefix): (bool, &[u8], &str) = match spec.conv {
        Conv::Signed => (signed < 0, decimal(signed.unsigned_abs(), &mut buf), ""),
        Conv::Unsigned => (false, decimal(unsigned, &mut buf), ""),
        Conv::Hex => (
            false,
            {
                owned = format!("{unsigned:x}");
                owned.as_bytes()
            },
            if spec.flags.alt && unsigned != 0 {
                "0x"
            } else {
                ""
            },
        ),
        Conv::HexUpper => (
            false,
            {
                owned = format!("{unsigned:X}");
                owned.as_bytes()
            },
            if spec.flags.alt && unsigned != 0 {
                "0X"
            } else {
                ""
            },
        ),
        Conv::Octal => (
            false,
            {
                owned = format!("{unsigned:o}");
                owned.as_bytes()
            },
            if spec.flags.alt && unsigned != 0 {
                "0"
            } else {
                ""
            },
        ),
        Conv::Pointer => (
            false,
            {
                owned = format!("{raw:x}");
                owned.as_bytes()
            },
            "0x",
        ),
        Conv::Char => {
            pad(out, spec, &[raw as u8]);
            return;
        }
        Conv::Str | Conv::Buffer(_) => (signed < 0, decimal(signed.unsigned_abs(), &mut buf), ""),
        Conv::Float(c) => {
            let text = float(signed as f64, c, spec.precision.unwrap_or(6));
            let (neg, body) = match text.strip_prefix('-') {
                Some(b) => (true, b.to_string()),
                None => (false, text),
            };
            let sign = if neg {
                "-"
            } else if spec.flags.plus {
                "+"
            } else if spec.flags.space {
                " "
            } else {
                ""
            };
            pad(out, spec, format!("{sign}{body}").as_bytes());
            return;
        }
    };
    // Zeros the precision asks for before the digits; `%.0d` of zero prints no digits, as C.
    let zeros = match spec.precision {
        Some(p) if digits.len() < p => p - digits.len(),
        _ => 0,
    };
    let digits = if spec.precision == Some(0) && digits == b"0" {
        &[][..]
    } else {
        digits
    };
    let sign = if negative {
        "-"
    } else if spec.flags.plus && spec.conv == Conv::Signed {
        "+"
    } else if spec.flags.space && spec.conv == Conv::Signed {
        " "
    } else {
        ""
    };
    let body_len = sign.len() + prefix.len() + zeros + digits.len();
    let width = spec.width.unwrap_or(0);
    if spec.flags.zero && !spec.flags.left && spec.precision.is_none() && width > body_len {
        out.extend_from_slice(sign.as_bytes());
        out.extend_from_slice(prefix.as_bytes());
        out.extend(std::iter::repeat_n(b'0', width - body_len));
        out.extend_from_slice(digits);
    } else {
        let fill = width.saturating_sub(body_len);
        if !spec.flags.left {
            out.extend(std::iter::repeat_n(b' ', fill));
        }
        out.extend_from_slice(sign.as_bytes());
        out.extend_from_slice(prefix.as_bytes());
        out.extend(std::iter::repeat_n(b'0', zeros));
        out.extend_from_slice(digits);
        if spec.flags.left {
            out.extend(std::iter::repeat_n(b' ', fill));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scry_lang::printf::parse;

    /// What the session's renderer does for the fields these tests use.
    fn decode(kind: &FieldKind, bytes: &[u8]) -> Scalar {
        match kind {
            FieldKind::Str(cap) => Scalar::Str(
                String::from_utf8_lossy(crate::render::c_str(&bytes[..*cap as usize])).into_owned(),
            ),
            _ => Scalar::UInt(u64::from_le_bytes(bytes[..8].try_into().unwrap())),
        }
    }

    fn fmt(f: &str, vals: &[(u64, IntType)]) -> String {
        let format = parse(f.as_bytes()).unwrap();
        let mut record = vec![0u8; 8];
        let mut fields = Vec::new();
        for (v, ty) in vals {
            fields.push(Field {
                offset: record.len() as u32,
                kind: FieldKind::Int(*ty),
            });
            record.extend_from_slice(&v.to_le_bytes());
        }
        String::from_utf8(format_printf(&format, &fields, &record, &mut decode)).unwrap()
    }

    #[test]
    fn integers_like_c() {
        let m1 = (-1i64 as u64, IntType::I64);
        assert_eq!(
            fmt(
                "%d|%u|%x|%X|%o|%lu",
                &[
                    m1,
                    m1,
                    (255, IntType::I64),
                    (255, IntType::I64),
                    (8, IntType::I64),
                    m1
                ]
            ),
            "-1|4294967295|ff|FF|10|18446744073709551615"
        );
        // Without a length modifier an integer is read as an int: 64-bit values are cut.
        let big = (0x12345678abcdef, IntType::I64);
        assert_eq!(
            fmt("%d|%x|%hhx|%hx|%lx|%jx|%llx", &[big; 7]),
            "2024525295|78abcdef|ef|cdef|12345678abcdef|12345678abcdef|12345678abcdef"
        );
        assert_eq!(
            fmt("%5d|%-5d|%05d|%+d|% d", &[(42, IntType::I64); 5]),
            "   42|42   |00042|+42| 42"
        );
        assert_eq!(
            fmt(
                "%hd|%hhu|%c",
                &[
                    (70000, IntType::I64),
                    (257, IntType::I64),
                    (65, IntType::I64)
                ]
            ),
            "4464|1|A"
        );
        assert_eq!(
            fmt(
                "%#x|%p|%.3d",
                &[(255, IntType::I64), (255, IntType::U64), (7, IntType::I64)]
            ),
            "0xff|0xff|007"
        );
        // A 32-bit unsigned value read by %d is reinterpreted at its own width, as C does.
        assert_eq!(
            fmt(
                "%d %u",
                &[(0xffff_ffff, IntType::U32), (0xffff_ffff, IntType::U32)]
            ),
            "-1 4294967295"
        );
        assert_eq!(fmt("%-08d|", &[(-3i64 as u64, IntType::I64)]), "-3      |");
        assert_eq!(fmt("%08d", &[(-3i64 as u64, IntType::I64)]), "-0000003");
    }

    #[test]
    fn floats_like_c() {
        let v = |x: i64| (x as u64, IntType::I64);
        assert_eq!(
            fmt(
                "%a|%A|%a|%.2f|%e|%g",
                &[v(1), v(3), v(-10), v(2), v(0), v(100000)]
            ),
            "0x1p+0|0X1.8P+1|-0x1.4p+3|2.00|0.000000e+00|100000"
        );
    }

    #[test]
    fn strings_pad_and_truncate() {
        let format = parse(b"%-6s|%6s|%.2s").unwrap();
        let mut record = vec![0u8; 8];
        let mut fields = Vec::new();
        for s in ["ab", "cd", "efgh"] {
            fields.push(Field {
                offset: record.len() as u32,
                kind: FieldKind::Str(16),
            });
            let mut b = s.as_bytes().to_vec();
            b.resize(16, 0);
            record.extend_from_slice(&b);
        }
        assert_eq!(
            String::from_utf8(format_printf(&format, &fields, &record, &mut decode)).unwrap(),
            "ab    |    cd|ef"
        );
    }

    /// Strings formatted straight from the record (the session's way) come out as through
    /// `decode`, and a string that fills its capacity gets the truncation trailer.
    #[test]
    fn strings_from_the_record_match_the_decoded_ones() {
        let cases: [(&str, &[u8]); 5] = [
            ("[%s]", b"abc"),
            ("[%8s|%-8s]", b"abc"),
            ("[%.2s]", b"abcdef"),
            ("[%s]", b"\xff\xfeok"),
            ("[%.7s]", b"abcdefgh"),
        ];
        for (f, text) in cases {
            let format = parse(f.as_bytes()).unwrap();
            let cap = 8u32;
            let mut record = vec![0u8; 8];
            let mut slot = text.to_vec();
            slot.resize(crate::render::c_str(&slot).len().max(16), 0);
            record.extend_from_slice(&slot[..16]);
            let fields: Vec<Field> = (0..2)
                .map(|_| Field {
                    offset: 8,
                    kind: FieldKind::Str(cap),
                })
                .collect();
            let mut fast = Vec::new();
            format_printf_into(
                &mut fast,
                &format,
                &fields,
                &record,
                Some("..."),
                &mut decode,
            );
            let decoded =
                format_printf(&format, &fields, &record, &mut |kind, bytes| match decode(
                    kind, bytes,
                ) {
                    Scalar::Str(s) if bytes[..cap as usize].iter().all(|&b| b != 0) => {
                        Scalar::Str(s + "...")
                    }
                    v => v,
                });
            assert_eq!(
                String::from_utf8_lossy(&fast),
                String::from_utf8_lossy(&decoded),
                "{f}"
            );
        }
        let format = parse(b"%s").unwrap();
        let mut record = vec![0u8; 8];
        record.extend_from_slice(b"abcdefgh\0\0\0\0\0\0\0\0");
        let fields = [Field {
            offset: 8,
            kind: FieldKind::Str(8),
        }];
        let mut out = Vec::new();
        format_printf_into(
            &mut out,
            &format,
            &fields,
            &record,
            Some("..."),
            &mut decode,
        );
        assert_eq!(out, b"abcdefgh...");
    }
}
