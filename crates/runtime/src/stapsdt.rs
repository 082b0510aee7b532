//! USDT probes as `<sys/sdt.h>` records them: one `stapsdt` note in `.note.stapsdt` per probe
//! location, giving its address, its semaphore's address and its arguments as assembler
//! operands (`-4@%edi 8@-16(%rbp) -4@$42 -4@counter(%rip) -4@-40(%rsp,%rdi,4)`), which this
//! module turns into file offsets and `UsdtArg`s.

use crate::symbols::{file_offset, symbol_address};
use object::{Object, ObjectSection};
use scry_lang::types::{UsdtArg, UsdtOperand};

/// One location of a USDT probe in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub provider: String,
    pub name: String,
    /// Where the probe is, as a file offset (what a uprobe attaches to).
    pub offset: u64,
    /// The semaphore's file offset, for probes that have one.
    pub semaphore: Option<u64>,
    /// The argument specs as written in the note.
    pub spec: String,
    /// The arguments, or why one cannot be read.
    pub args: Result<Vec<UsdtArg>, String>,
}

/// Every USDT probe location in an ELF file, in note order; `None` when it is not an ELF
/// file. Only the parts needed are read (headers, notes, and the symbol table when an argument
/// names a symbol), so scanning large libraries is cheap.
pub fn locations(file: std::fs::File) -> Option<Vec<Location>> {
    let cache = object::ReadCache::new(file);
    let file = object::File::parse(&cache).ok()?;
    let Some(notes) = file.section_by_name(".note.stapsdt") else {
        return Some(Vec::new());
    };
    let notes = notes.data().ok()?;
    let little = file.is_little_endian();
    let word = if file.is_64() { 8 } else { 4 };
    // Prelinking moves a file; `.stapsdt.base`'s address then differs from the one the notes
    // were written against, and probe addresses move with it.
    let base = file.section_by_name(".stapsdt.base").map(|s| s.address());
    let mut out = Vec::new();
    for (kind, name, desc) in note_records(notes, little) {
        if kind != 3 || name != b"stapsdt" || desc.len() < 3 * word {
            continue;
        }
        let read = |i: usize| read_word(&desc[i * word..(i + 1) * word], little);
        let (mut pc, note_base, semaphore) = (read(0), read(1), read(2));
        if let Some(base) = base.filter(|_| note_base != 0) {
            pc = pc.wrapping_add(base).wrapping_sub(note_base);
        }
        let mut strings = desc[3 * word..].split(|&b| b == 0);
        let mut next = || String::from_utf8_lossy(strings.next().unwrap_or_default()).into_owned();
        let (provider, probe, spec) = (next(), next(), next());
        let Some(offset) = file_offset(&file, pc) else {
            continue;
        };
        let args = parse_args(&spec, |symbol| symbol_address(&file, symbol)).map(|args| {
            args.into_iter()
                .map(|a| a.relative_to(pc))
                .collect::<Vec<UsdtArg>>()
        });
        out.push(Location {
            provider,
            name: probe,
            offset,
            semaphore: (semaphore != 0)
                .then(|| file_offset(&file, semaphore))
                .flatten(),
            spec,
            args,
        });
    }
    Some(out)
}

/// The (type, name, descriptor) of each ELF note in a note section.
fn note_records(mut data: &[u8], little: bool) -> Vec<(u32, &[u8], &[u8])> {
    let mut out = Vec::new();
    let pad = |n: usize| n.next_multiple_of(4);
    while data.len() >= 12 {
        let word = |i: usize| read_word(&data[i * 4..i * 4 + 4], little) as usize;
        let (namesz, descsz, kind) = (word(0), word(1), word(2) as u32);
        let name_end = 12 + pad(namesz);
        let desc_end = name_end + pad(descsz);
        if desc_end > data.len() || 12 + namesz > data.len() {
            break;
        }
        let name = &data[12..12 + namesz];
        let name = name.strip_suffix(&[0]).unwrap_or(name);
        out.push((kind, name, &data[name_end..name_end + descsz]));
        data = &data[desc_end..];
    }
    out
}

fn read_word(bytes: &[u8], little: bool) -> u64 {
    let mut buf = [0u8; 8];
    if little {
        buf[..bytes.len()].copy_from_slice(bytes);
        u64::from_le_bytes(buf)
    } else {
        buf[8 - bytes.len()..].copy_from_slice(bytes);
        u64::from_be_bytes(buf)
    }
}

/// An argument whose rip-relative operand still holds the symbol's link-time address.
struct Parsed {
    arg: UsdtArg,
    rip_relative: bool,
}

impl Parsed {
    /// At run time the instruction pointer is the probe's own address, so a symbol is found
    /// at `ip + (symbol - pc)`, wherever the file was loaded.
    fn relative_to(self, pc: u64) -> UsdtArg {
        let mut arg = self.arg;
        if let (
            true,
            UsdtOperand::Memory {
                ref mut displacement,
                ..
            },
        ) = (self.rip_relative, &mut arg.operand)
        {
            *displacement = displacement.wrapping_sub(pc as i64);
        }
        arg
    }
}

/// Parses the space-separated argument specs of a note. `symbol` finds the link-time address
/// of a symbol a rip-relative operand names.
fn parse_args(spec: &str, symbol: impl Fn(&str) -> Option<u64>) -> Result<Vec<Parsed>, String> {
    spec.split_whitespace()
        .map(|one| parse_arg(one, &symbol).ok_or_else(|| format!("`{one}`")))
        .collect()
}

/// `SIZE@OPERAND`, where a negative size means a signed value. Without `SIZE@` (old notes),
/// the value is a signed 64-bit one.
fn parse_arg(spec: &str, symbol: &impl Fn(&str) -> Option<u64>) -> Option<Parsed> {
    let (size, signed, operand) = match spec.split_once('@') {
        Some((size, operand)) => {
            let n: i8 = size.parse().ok()?;
            (n.unsigned_abs(), n < 0, operand)
        }
        None => (8, true, spec),
    };
    if !matches!(size, 1 | 2 | 4 | 8) {
        return None;
    }
    let mut rip_relative = false;
    let operand = if let Some(value) = operand.strip_prefix('$') {
        UsdtOperand::Constant(parse_number(value)?)
    } else if let Some(name) = operand.strip_prefix('%') {
        UsdtOperand::Register {
            offset: register(name)?,
        }
    } else {
        // DISPLACEMENT(%BASE[,%INDEX[,SCALE]]), where DISPLACEMENT may be a symbol (`+N`).
        let open = operand.find('(')?;
        let inner = operand[open + 1..].strip_suffix(')')?;
        let disp = &operand[..open];
        let mut parts = inner.split(',');
        let base = match parts.next()?.trim() {
            "" => None,
            b => Some(b.strip_prefix('%')?),
        };
        let index = match parts.next() {
            None => None,
            Some(i) => {
                let i = register(i.trim().strip_prefix('%')?)?;
                let scale: u8 = match parts.next() {
                    Some(s) => s.trim().parse().ok()?,
                    None => 1,
                };
                if !matches!(scale, 1 | 2 | 4 | 8) {
                    return None;
                }
                Some((i, scale))
            }
        };
        let displacement = match parse_number(disp) {
            Some(n) => n,
            None if disp.is_empty() => 0,
            None => {
                // `symbol` or `symbol+N`, addressed relative to rip.
                if base != Some("rip") || index.is_some() {
                    return None;
                }
                rip_relative = true;
                let (name, addend) = match disp.split_once(['+', '-']) {
                    Some((name, n)) => {
                        let n = parse_number(n)?;
                        (name, if disp.contains('-') { -n } else { n })
                    }
                    None => (disp, 0),
                };
                (symbol(name)? as i64).wrapping_add(addend)
            }
        };
        let base = match base {
            // Only a symbol makes rip a usable base: its value is known at the probe.
            Some("rip") if !rip_relative => return None,
            Some("rip") => Some(register("rip")?),
            Some(b) => Some(register(b)?),
            None => None,
        };
        UsdtOperand::Memory {
            base,
            index,
            displacement,
        }
    };
    Some(Parsed {
        arg: UsdtArg {
            operand,
            size,
            signed,
        },
        rip_relative,
    })
}

fn parse_number(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let n = match digits.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok()? as i64,
        None => digits.parse::<u64>().ok()? as i64,
    };
    Some(if neg { n.wrapping_neg() } else { n })
}

/// The offset in x86-64's `struct pt_regs` of a register, by any of its names (`rdi`, `edi`,
/// `di`, `dil`; `r8`, `r8d`, `r8w`, `r8b`). The high-byte registers (`ah`) are not offered.
fn register(name: &str) -> Option<u32> {
    const ALIASES: [(&str, [&str; 4]); 9] = [
        ("ax", ["rax", "eax", "ax", "al"]),
        ("bx", ["rbx", "ebx", "bx", "bl"]),
        ("cx", ["rcx", "ecx", "cx", "cl"]),
        ("dx", ["rdx", "edx", "dx", "dl"]),
        ("si", ["rsi", "esi", "si", "sil"]),
        ("di", ["rdi", "edi", "di", "dil"]),
        ("bp", ["rbp", "ebp", "bp", "bpl"]),
        ("sp", ["rsp", "esp", "sp", "spl"]),
        ("ip", ["rip", "eip", "ip", "ip"]),
    ];
    let canonical = match ALIASES.iter().find(|(_, names)| names.contains(&name)) {
        Some((canonical, _)) => canonical.to_string(),
        // r8…r15, with a d/w/b suffix for the narrower views.
        None => {
            let n: u32 = name
                .strip_prefix('r')?
                .trim_end_matches(['d', 'w', 'b'])
                .parse()
                .ok()?;
            if !(8..=15).contains(&n) {
                return None;
            }
            format!("r{n}")
        }
    };
    crate::probes::register_offset(&canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> UsdtArg {
        let symbols = |name: &str| (name == "counter").then_some(0x4010);
        let parsed = parse_arg(spec, &symbols).unwrap_or_else(|| panic!("{spec}"));
        parsed.relative_to(0x1000)
    }

    #[test]
    fn registers_by_every_name() {
        assert_eq!(register("rdi"), Some(112));
        assert_eq!(register("edi"), Some(112));
        assert_eq!(register("dil"), Some(112));
        assert_eq!(register("r8"), Some(72));
        assert_eq!(register("r11d"), Some(48));
        assert_eq!(register("r12"), Some(24));
        assert_eq!(register("r15b"), Some(0));
        assert_eq!(register("r16"), None);
        assert_eq!(register("ah"), None);
    }

    #[test]
    fn operands_gcc_writes() {
        assert_eq!(
            one("-4@%edi"),
            UsdtArg {
                operand: UsdtOperand::Register { offset: 112 },
                size: 4,
                signed: true
            }
        );
        assert!(!one("8@%rsi").signed);
        assert_eq!(one("-4@$42").operand, UsdtOperand::Constant(42));
        assert_eq!(one("-4@$-1").operand, UsdtOperand::Constant(-1));
        assert_eq!(
            one("8@-32(%rbp)").operand,
            UsdtOperand::Memory {
                base: Some(32),
                index: None,
                displacement: -32
            }
        );
        assert_eq!(
            one("-4@-40(%rsp,%rdi,4)").operand,
            UsdtOperand::Memory {
                base: Some(152),
                index: Some((112, 4)),
                displacement: -40
            }
        );
        assert_eq!(
            one("2@(%rax)").operand,
            UsdtOperand::Memory {
                base: Some(80),
                index: None,
                displacement: 0
            }
        );
        // The symbol's distance from the probe, added to the instruction pointer.
        assert_eq!(
            one("-4@counter(%rip)").operand,
            UsdtOperand::Memory {
                base: Some(128),
                index: None,
                displacement: 0x3010
            }
        );
        assert_eq!(
            one("-4@counter+8(%rip)").operand,
            UsdtOperand::Memory {
                base: Some(128),
                index: None,
                displacement: 0x3018
            }
        );
    }

    #[test]
    fn what_cannot_be_read_is_refused() {
        let none = |_: &str| None;
        assert!(parse_arg("-4@%ah", &none).is_none());
        assert!(parse_arg("3@%eax", &none).is_none());
        assert!(parse_arg("-4@unknown(%rip)", &none).is_none());
        assert!(parse_arg("-4@8(%rip)", &none).is_none());
        assert_eq!(
            parse_args("-4@%edi -4@%ah", none).err(),
            Some("`-4@%ah`".to_string())
        );
    }
}
