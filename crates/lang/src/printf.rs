//! printf format strings: parsed once at compile time into literal text and conversions, so the
//! checker can match arguments to conversions and the runtime can format records without
//! re-parsing.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conv {
    /// `%d` `%i`
    Signed,
    /// `%u`
    Unsigned,
    /// `%x`
    Hex,
    /// `%X`
    HexUpper,
    /// `%o`
    Octal,
    /// `%c`
    Char,
    /// `%s`
    Str,
    /// `%p`
    Pointer,
    /// `%f` `%e` `%g` (and upper-case): an integer printed as a floating-point number.
    Float(u8),
    /// `%r` (escaped text), `%rx` (hex bytes), `%rh` (hex bytes without spaces): a `buf()`.
    Buffer(BufStyle),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufStyle {
    Text,
    Hex,
    HexCompact,
}

impl Conv {
    pub fn takes_int(self) -> bool {
        !matches!(self, Conv::Str | Conv::Buffer(_))
    }
}

/// Length modifiers say how wide an integer is read, as in C: without one, as an int.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    Default,
    /// `hh`
    Char,
    /// `h`
    Short,
    /// `l`, `ll`, `j`, `z`, `t`
    Long,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Flags {
    pub left: bool,
    pub zero: bool,
    pub plus: bool,
    pub space: bool,
    pub alt: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub conv: Conv,
    pub flags: Flags,
    pub width: Option<usize>,
    pub precision: Option<usize>,
    pub length: Length,
    /// Byte range of the `%…` text within the (unescaped) format string.
    pub at: (usize, usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Text(Vec<u8>),
    Spec(Spec),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Format {
    pub segments: Vec<Segment>,
}

impl Format {
    pub fn specs(&self) -> impl Iterator<Item = &Spec> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Spec(spec) => Some(spec),
            Segment::Text(_) => None,
        })
    }
}

/// A problem in a format string, with its byte range in the unescaped string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError {
    pub at: (usize, usize),
    pub message: String,
}

pub fn parse(fmt: &[u8]) -> Result<Format, FormatError> {
    let mut segments = Vec::new();
    let mut text = Vec::new();
    let mut i = 0;
    while i < fmt.len() {
        if fmt[i] != b'%' {
            text.push(fmt[i]);
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        if fmt.get(i) == Some(&b'%') {
            text.push(b'%');
            i += 1;
            continue;
        }
        let mut flags = Flags::default();
        while let Some(&c) = fmt.get(i) {
            match c {
                b'-' => flags.left = true,
                b'0' => flags.zero = true,
                b'+' => flags.plus = true,
                b' ' => flags.space = true,
                b'#' => flags.alt = true,
                _ => break,
            }
            i += 1;
        }
        let number = |i: &mut usize| {
            let s = *i;
            while fmt.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            std::str::from_utf8(&fmt[s..*i])
                .ok()
                .and_then(|d| d.parse::<usize>().ok())
        };
        let width = number(&mut i);
        let precision = if fmt.get(i) == Some(&b'.') {
            i += 1;
            Some(number(&mut i).unwrap_or(0))
        } else {
            None
        };
        let length = match (fmt.get(i), fmt.get(i + 1)) {
            (Some(b'h'), Some(b'h')) => {
                i += 2;
                Length::Char
            }
            (Some(b'h'), _) => {
                i += 1;
                Length::Short
            }
            (Some(b'l'), Some(b'l')) => {
                i += 2;
                Length::Long
            }
            (Some(b'l' | b'j' | b'z' | b't'), _) => {
                i += 1;
                Length::Long
            }
            _ => Length::Default,
        };
        let conv = match fmt.get(i) {
            Some(b'd' | b'i') => Conv::Signed,
            Some(b'u') => Conv::Unsigned,
            Some(b'x') => Conv::Hex,
            Some(b'X') => Conv::HexUpper,
            Some(b'o') => Conv::Octal,
            Some(b'c') => Conv::Char,
            Some(b's') => Conv::Str,
            Some(b'p') => Conv::Pointer,
            Some(&c @ (b'f' | b'F' | b'e' | b'E' | b'g' | b'G' | b'a' | b'A')) => Conv::Float(c),
            Some(b'r') => match fmt.get(i + 1) {
                Some(b'x') => {
                    i += 1;
                    Conv::Buffer(BufStyle::Hex)
                }
                Some(b'h') => {
                    i += 1;
                    Conv::Buffer(BufStyle::HexCompact)
                }
                _ => Conv::Buffer(BufStyle::Text),
            },
            Some(_) => {
                return Err(FormatError {
                    at: (start, i + 1),
                    message: format!(
                        "unknown printf conversion `%{}`",
                        String::from_utf8_lossy(&fmt[start + 1..=i.min(fmt.len() - 1)])
                    ),
                })
            }
            None => {
                return Err(FormatError {
                    at: (start, fmt.len()),
                    message: "incomplete printf conversion at the end of the format".to_string(),
                })
            }
        };
        i += 1;
        if !text.is_empty() {
            segments.push(Segment::Text(std::mem::take(&mut text)));
        }
        segments.push(Segment::Spec(Spec {
            conv,
            flags,
            width,
            precision,
            length,
            at: (start, i),
        }));
    }
    if !text.is_empty() {
        segments.push(Segment::Text(text));
    }
    Ok(Format { segments })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_width_length() {
        let f = parse(b"pid %-6d %05lu %s%%\n").unwrap();
        let specs: Vec<&Spec> = f.specs().collect();
        assert_eq!(specs.len(), 3);
        assert!(specs[0].flags.left && specs[0].width == Some(6) && specs[0].conv == Conv::Signed);
        assert!(
            specs[1].flags.zero
                && specs[1].length == Length::Long
                && specs[1].conv == Conv::Unsigned
        );
        assert_eq!(specs[2].conv, Conv::Str);
        assert_eq!(f.segments.last(), Some(&Segment::Text(b"%\n".to_vec())));
    }

    #[test]
    fn rejects_unknown_conversion() {
        let e = parse(b"a %q b").unwrap_err();
        assert_eq!(e.at, (2, 4));
        assert!(parse(b"%k").is_err());
        assert_eq!(
            parse(b"%rx").unwrap().specs().next().unwrap().conv,
            Conv::Buffer(BufStyle::Hex)
        );
        assert!(parse(b"x %").is_err());
    }
}
