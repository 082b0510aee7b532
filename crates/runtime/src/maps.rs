//! Reading the script's maps back: keys and values decoded from the kernel's bytes, per-CPU
//! values combined, entries sorted and histograms built the way bpftrace prints them; and the
//! map functions userspace carries out (`clear`, `zero`).

use crate::bpf_map::{map_data, possible_cpus, RawMap};
use crate::object::Object;
use crate::output::value::{DumpKind, Entries, Histogram, Label, MapDump, Scalar, Value};
use crate::render::Renderer;
use scry_codegen::module::{AggregateLayout, FieldKind, MapKind, UserMap, ValueLayout};
use scry_codegen::Module;
use scry_lang::typed::{Aggregate, LinearBuckets, MapValue};
use std::cmp::Ordering;

fn raw(object: &Object, module: &Module, map: &UserMap) -> Option<RawMap> {
    let spec = &module.maps[map.map.0];
    let data = map_data(object.map(&spec.name)?)?;
    Some(RawMap::new(
        data,
        spec.key_size,
        spec.value_size,
        map.decl.value.is_aggregation(),
    ))
}

/// Whether the map is a one-entry array (`MapKind::PerCpuArray`), whose value is all zeros
/// until it is first set: its entry is always there, and "no value" is those zeros.
fn in_array(module: &Module, map: &UserMap) -> bool {
    module.maps[map.map.0].kind == MapKind::PerCpuArray
}

/// Removes every key of the map (an array's value goes back to zeros).
pub fn clear(object: &Object, module: &Module, map: &UserMap) {
    let Some(m) = raw(object, module, map) else {
        return;
    };
    if in_array(module, map) {
        let _ = m.update(&[0; 4], &vec![0u8; m.value_size]);
        return;
    }
    for k in m.keys() {
        let _ = m.delete(&k);
    }
}

/// Sets every value of the map to zero, keeping its keys.
pub fn zero(object: &Object, module: &Module, map: &UserMap) {
    let Some(m) = raw(object, module, map) else {
        return;
    };
    let zeros = vec![0u8; m.value_size];
    for k in m.keys() {
        let _ = m.update(&k, &zeros);
    }
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .map_or(0, |s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
}

/// Reads, combines and orders a map for printing. `top` keeps the largest entries only
/// (0: all); `div` divides values (not lhist counts). With `zero_if_empty`, a map without
/// keys that holds nothing yet shows its zero value, as `print(@m)` does in bpftrace.
pub fn dump(
    object: &Object,
    module: &Module,
    render: &mut Renderer,
    map: &UserMap,
    top: usize,
    div: u64,
    zero_if_empty: bool,
) -> Option<MapDump> {
    let m = raw(object, module, map)?;
    let div = div.max(1);
    let per_value = module.maps[map.map.0].value_size.next_multiple_of(8) as usize;
    let cpus = if map.decl.value.is_aggregation() {
        possible_cpus()
    } else {
        1
    };
    let mut entries: Vec<(Vec<u8>, Vec<Scalar>, Combined)> = Vec::new();
    let value_of = |render: &mut Renderer, bytes: &[u8]| {
        let per_cpu: Vec<&[u8]> = (0..cpus)
            .map(|c| &bytes[c * per_value..(c + 1) * per_value])
            .collect();
        match &map.value {
            ValueLayout::Stored(kind) => {
                Combined::Stored(render.value(object, module, kind, per_cpu[0]))
            }
            other => combine(other, &per_cpu, &module.str_trailer),
        }
    };
    let array = in_array(module, map);
    for key in m.keys() {
        let Some(bytes) = m.lookup(&key) else {
            continue;
        };
        if array && bytes.iter().all(|&b| b == 0) {
            continue;
        }
        let combined = value_of(render, &bytes);
        let fields = map
            .keys
            .iter()
            .map(|f| render.value(object, module, &f.kind, &key[f.offset as usize..]))
            .collect();
        entries.push((key, fields, combined));
    }
    if zero_if_empty && map.keys.is_empty() && entries.is_empty() {
        let zeros = vec![0u8; per_value * cpus];
        entries.push((Vec::new(), Vec::new(), value_of(render, &zeros)));
    }
    // By key first, so entries that tie on value keep a stable order.
    entries.sort_by(|a, b| compare_keys(map, &a.0, &b.0));
    entries.sort_by(|a, b| a.2.order(&b.2));
    if top > 0 && entries.len() > top {
        entries.drain(..entries.len() - top);
    }
    let kind = match map.decl.value {
        MapValue::Aggregate(Aggregate::Avg | Aggregate::Stats) => DumpKind::Stats,
        MapValue::Aggregate(Aggregate::Hist { .. } | Aggregate::Lhist(_)) => DumpKind::Hist,
        MapValue::Aggregate(
            Aggregate::Count | Aggregate::Sum | Aggregate::Min | Aggregate::Max,
        )
        | MapValue::Int(_)
        | MapValue::Str(_)
        | MapValue::Stored(_) => DumpKind::Map,
    };
    let values: Vec<(Vec<Scalar>, Value)> = entries
        .into_iter()
        .map(|(_, k, c)| (k, c.value(&map.decl.value, div)))
        .collect();
    let entries = if map.keys.is_empty() {
        Entries::Scalar(values.into_iter().next()?.1)
    } else {
        Entries::Keyed(values)
    };
    Some(MapDump {
        name: map.decl.name.clone(),
        kind,
        entries,
    })
}

/// Key order: each field in turn, integers by value, everything else by its bytes.
fn compare_keys(map: &UserMap, a: &[u8], b: &[u8]) -> Ordering {
    for f in &map.keys {
        let o = f.offset as usize;
        let ord = match f.kind {
            FieldKind::Int(ty) if ty.signed => (u64_at(a, o) as i64).cmp(&(u64_at(b, o) as i64)),
            _ if f.kind.is_word() => u64_at(a, o).cmp(&u64_at(b, o)),
            _ => {
                let end = o + f.kind.size() as usize;
                a[o..end].cmp(&b[o..end])
            }
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// A map value with every CPU's share combined.
enum Combined {
    Int(i64),
    UInt(u64),
    Str(String),
    /// A `MapValue::Stored` value, rendered.
    Stored(Scalar),
    /// min/max: no CPU had a value yet.
    Unset,
    Stats {
        count: i64,
        total: i64,
    },
    Buckets(Vec<u64>, i64),
}

fn combine(layout: &ValueLayout, per_cpu: &[&[u8]], trailer: &str) -> Combined {
    let word = |cpu: &[u8], off: u32| u64_at(cpu, off as usize);
    let (first, second) = (AggregateLayout::VALUE, AggregateLayout::SECOND);
    let aggregate = match layout {
        ValueLayout::Int(ty) if ty.signed => return Combined::Int(word(per_cpu[0], 0) as i64),
        ValueLayout::Int(_) => return Combined::UInt(word(per_cpu[0], 0)),
        ValueLayout::Stored(_) => return Combined::Unset,
        ValueLayout::Str(cap) => {
            return Combined::Str(crate::render::string(per_cpu[0], *cap, trailer))
        }
        ValueLayout::Aggregate(a) => a,
    };
    match *aggregate {
        AggregateLayout::Total { signed: false } => Combined::UInt(
            per_cpu
                .iter()
                .map(|c| word(c, first))
                .fold(0, u64::wrapping_add),
        ),
        AggregateLayout::Total { signed: true } => Combined::Int(
            per_cpu
                .iter()
                .map(|c| word(c, first) as i64)
                .fold(0, i64::wrapping_add),
        ),
        AggregateLayout::Extreme { max } => {
            let set = per_cpu
                .iter()
                .filter(|c| word(c, second) != 0)
                .map(|c| word(c, first) as i64);
            let v = if max { set.max() } else { set.min() };
            v.map_or(Combined::Unset, Combined::Int)
        }
        AggregateLayout::Moments => Combined::Stats {
            count: per_cpu.iter().map(|c| word(c, first) as i64).sum(),
            total: per_cpu
                .iter()
                .map(|c| word(c, second) as i64)
                .fold(0, i64::wrapping_add),
        },
        AggregateLayout::Log2 { .. } | AggregateLayout::Linear(_) => Combined::Buckets(
            (0..aggregate.buckets())
                .map(|i| per_cpu.iter().map(|c| word(c, 8 * i)).sum())
                .collect(),
            per_cpu
                .iter()
                .map(|c| word(c, aggregate.sum_word()) as i64)
                .fold(0, i64::wrapping_add),
        ),
    }
}

impl Combined {
    /// Print order: by value, average or total count.
    fn order(&self, other: &Combined) -> Ordering {
        match (self, other) {
            (Combined::Int(a), Combined::Int(b)) => a.cmp(b),
            (Combined::UInt(a), Combined::UInt(b)) => a.cmp(b),
            (Combined::Stats { .. }, Combined::Stats { .. }) => {
                self.average().cmp(&other.average())
            }
            (Combined::Buckets(a, _), Combined::Buckets(b, _)) => {
                a.iter().sum::<u64>().cmp(&b.iter().sum::<u64>())
            }
            _ => Ordering::Equal,
        }
    }

    fn average(&self) -> i64 {
        match self {
            Combined::Stats { count, total } if *count != 0 => total / count,
            _ => 0,
        }
    }

    fn value(self, kind: &MapValue, div: u64) -> Value {
        let average = self.average();
        match self {
            Combined::Int(v) => Value::Scalar(Scalar::Int(v / div as i64)),
            Combined::UInt(v) => Value::Scalar(Scalar::UInt(v / div)),
            Combined::Str(s) => Value::Scalar(Scalar::Str(s)),
            Combined::Stored(s) => Value::Scalar(s),
            Combined::Unset => Value::Scalar(Scalar::Int(0)),
            // Only avg() and stats() keep a count and a total.
            Combined::Stats { count, total } => match kind {
                MapValue::Aggregate(Aggregate::Avg) => {
                    Value::Scalar(Scalar::Int(average / div as i64))
                }
                MapValue::Aggregate(
                    Aggregate::Stats
                    | Aggregate::Count
                    | Aggregate::Sum
                    | Aggregate::Min
                    | Aggregate::Max
                    | Aggregate::Hist { .. }
                    | Aggregate::Lhist(_),
                )
                | MapValue::Int(_)
                | MapValue::Str(_)
                | MapValue::Stored(_) => Value::Stats {
                    count,
                    average: average / div as i64,
                    total,
                },
            },
            Combined::Buckets(counts, sum) => Value::Hist(match *kind {
                MapValue::Aggregate(Aggregate::Hist { bits }) => {
                    let counts: Vec<u64> = counts.iter().map(|c| c / div).collect();
                    Histogram {
                        sum,
                        ..log2_histogram(&counts, bits)
                    }
                }
                MapValue::Aggregate(Aggregate::Lhist(buckets)) => Histogram {
                    sum,
                    ..linear_histogram(&counts, buckets)
                },
                // Only histograms have buckets.
                MapValue::Aggregate(
                    Aggregate::Count
                    | Aggregate::Sum
                    | Aggregate::Min
                    | Aggregate::Max
                    | Aggregate::Avg
                    | Aggregate::Stats,
                )
                | MapValue::Int(_)
                | MapValue::Str(_)
                | MapValue::Stored(_) => Histogram::default(),
            }),
        }
    }
}

/// The first and last buckets with a count: only that range is printed.
fn used_range(counts: &[u64]) -> Option<(usize, usize)> {
    let first = counts.iter().position(|&c| c > 0)?;
    let last = counts.iter().rposition(|&c| c > 0)?;
    Some((first, last))
}

/// The lower bound of log2 bucket `index` (for index ≥ 2^bits), with a K/M/G… suffix.
fn log2_label(index: usize, bits: u8) -> Label {
    let n = 1u64 << bits;
    let interval = index as u64 & (n - 1);
    let mut power = (index as u64 >> bits) - 1;
    let value = (1u64 << power) * (n + interval);
    let decade = power / 10;
    power -= 10 * decade;
    let suffix = ["", "K", "M", "G", "T", "P", "E"][decade as usize];
    Label::Sym(
        format!("{}{suffix}", (1u64 << power) * (n + interval)),
        value as i64,
    )
}

/// bpftrace's log2 histogram: bucket 0 holds negatives, the next 2^bits hold one value each,
/// then 2^bits buckets per power of two.
pub fn log2_histogram(counts: &[u64], bits: u8) -> Histogram {
    let mut h = Histogram::default();
    let Some((first, last)) = used_range(counts) else {
        return h;
    };
    let exact = 2usize << bits;
    let label = |i: usize| {
        if i <= exact {
            Label::Int(i as i64)
        } else {
            log2_label(i, bits)
        }
    };
    if first != 0 {
        h.lower_bound = Some(label(first - 1));
    }
    for (i, &count) in counts.iter().enumerate().take(last + 1).skip(first) {
        h.labels.push(if i == 0 { Label::Int(0) } else { label(i) });
        h.counts.push(count);
    }
    h
}

fn linear_label(number: i64, step: i64) -> Label {
    const KILO: i64 = 1024;
    const MEGA: i64 = 1024 * 1024;
    if step % KILO != 0 {
        return Label::Int(number);
    }
    let text = if number == 0 {
        "0".to_string()
    } else if number % MEGA == 0 {
        format!("{}M", number / MEGA)
    } else if number % KILO == 0 {
        format!("{}K", number / KILO)
    } else {
        number.to_string()
    };
    Label::Sym(text, number)
}

/// bpftrace's linear histogram: an underflow bucket, one per step, and an overflow bucket.
pub fn linear_histogram(counts: &[u64], buckets: LinearBuckets) -> Histogram {
    let step = buckets.step;
    let mut h = Histogram::default();
    let Some((first, last)) = used_range(counts) else {
        return h;
    };
    if first != 0 {
        let lower = buckets.lower_bound(first as u32).unwrap_or(buckets.max);
        h.lower_bound = Some(linear_label(lower, step));
    }
    for (i, &count) in counts.iter().enumerate().take(last + 1).skip(first) {
        // Bucket i ends where bucket i + 1 starts.
        if let Some(upper) = buckets.lower_bound(i as u32 + 1) {
            h.labels.push(linear_label(upper, step));
        }
        h.counts.push(count);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_buckets_match_bpftrace() {
        // values 0, 1, 5, 1000: buckets 1, 2, 4 (=[4, 8)), 11 (=[512, 1K))
        let mut counts = vec![0u64; 65];
        for i in [1, 2, 4, 11] {
            counts[i] = 1;
        }
        let h = log2_histogram(&counts, 0);
        assert_eq!(h.lower_bound, Some(Label::Int(0)));
        assert_eq!(h.labels[0], Label::Int(1));
        assert_eq!(h.labels[2], Label::Sym("4".into(), 4));
        assert_eq!(h.labels[10], Label::Sym("1K".into(), 1024));
    }
}
