//! `software:EVENT[:COUNT]` (`s`) and `hardware:EVENT[:COUNT]` (`h`): perf counters, firing
//! every COUNT occurrences on each CPU (or in the `-p` process), with bpftrace's event names and
//! default counts. Hardware events need a CPU PMU: on a machine without one the error says so,
//! as the kernel's list of PMUs (`/sys/bus/event_source/devices`) shows.

use super::{timer, Listing, OwnedEvents, ProbeType};
use crate::features::{self, Feature};
use crate::perf::{self, TYPE_HARDWARE, TYPE_SOFTWARE};
use crate::raw_prog::LoadAs;
use crate::RuntimeError;
use scry_lang::types::{Attach, ResolveError, ResolvedProbe};
use std::io;
use std::os::fd::BorrowedFd;

pub struct Counter {
    pub hardware: bool,
}

/// Name, alias, the kernel's event id, and bpftrace's default count.
const SOFTWARE: &[(&str, &str, u64, u64)] = &[
    ("cpu-clock", "cpu", 0, 1_000_000),
    ("task-clock", "", 1, 1),
    ("page-faults", "faults", 2, 100),
    ("context-switches", "cs", 3, 1000),
    ("cpu-migrations", "", 4, 1),
    ("minor-faults", "", 5, 100),
    ("major-faults", "", 6, 1),
    ("alignment-faults", "", 7, 1),
    ("emulation-faults", "", 8, 1),
    ("dummy", "", 9, 1),
    ("bpf-output", "", 10, 1),
];

const HARDWARE: &[(&str, &str, u64, u64)] = &[
    ("cpu-cycles", "cycles", 0, 1_000_000),
    ("instructions", "", 1, 1_000_000),
    ("cache-references", "", 2, 1_000_000),
    ("cache-misses", "", 3, 1_000_000),
    ("branch-instructions", "branches", 4, 100_000),
    ("branch-misses", "", 5, 100_000),
    ("bus-cycles", "", 6, 100_000),
    ("frontend-stalls", "", 7, 1_000_000),
    ("backend-stalls", "", 8, 1_000_000),
    ("ref-cycles", "", 9, 1_000_000),
];

/// The PMUs the kernel offers (`cpu` is the one with hardware counters).
fn pmus() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/bus/event_source/devices")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

impl Counter {
    fn provider(&self) -> &'static str {
        if self.hardware {
            "hardware"
        } else {
            "software"
        }
    }

    fn events(&self) -> &'static [(&'static str, &'static str, u64, u64)] {
        if self.hardware {
            HARDWARE
        } else {
            SOFTWARE
        }
    }
}

impl ProbeType for Counter {
    fn names(&self) -> &'static [&'static str] {
        if self.hardware {
            &["hardware", "h"]
        } else {
            &["software", "s"]
        }
    }

    fn resolve(
        &self,
        _provider: &str,
        parts: &[&str],
        _pid: Option<u32>,
    ) -> Result<Vec<ResolvedProbe>, ResolveError> {
        let provider = self.provider();
        let (name, count) = match parts {
            [name] => (*name, None),
            [name, count] => (*name, Some(*count)),
            _ => {
                return Err(ResolveError {
                    message: format!("a {provider} probe is written `{provider}:EVENT[:COUNT]`"),
                    hint: Some(format!("{provider}:{}:1000", self.events()[0].0)),
                })
            }
        };
        let Some(&(full, _, event, default)) = self
            .events()
            .iter()
            .find(|(n, alias, ..)| *n == name || (!alias.is_empty() && *alias == name))
        else {
            let names: Vec<&str> = self.events().iter().map(|e| e.0).collect();
            return Err(ResolveError {
                message: format!("unknown {provider} event `{name}`"),
                hint: Some(format!("{provider} events: {}", names.join(", "))),
            });
        };
        let count = match count {
            None => default,
            Some(c) => c
                .parse()
                .ok()
                .filter(|c| *c > 0)
                .ok_or_else(|| ResolveError {
                    message: format!("`{c}` is not a count"),
                    hint: Some(format!("{provider}:{full}:{default}")),
                })?,
        };
        if self.hardware && !pmus().iter().any(|p| p == "cpu") {
            return Err(ResolveError {
                message: format!(
                    "hardware:{full}: this machine has no hardware performance counters (no CPU PMU; the kernel offers: {})",
                    pmus().join(", ")
                ),
                hint: Some("software events and profile:hz:N sample without one".into()),
            });
        }
        // Named as written, an alias too (`probe` of `software:cpu:1000` is that, as in
        // bpftrace).
        let mut probe = ResolvedProbe::new(
            format!("{provider}:{name}:{count}"),
            self.provider(),
            timer::perf_event_program(),
            Attach::new(CounterTarget {
                hardware: self.hardware,
                event,
                count,
            }),
        );
        timer::perf_event_context(&mut probe);
        Ok(vec![probe])
    }

    fn list(&self, pattern: Option<&str>) -> Result<Vec<Listing>, RuntimeError> {
        // Only what can be attached is listed; asked for hardware events by name on a machine
        // without a CPU PMU, the answer says why there are none.
        if self.hardware && !pmus().iter().any(|p| p == "cpu") {
            if pattern.is_some_and(|p| p.starts_with("hardware:")) {
                return Err(RuntimeError::Listing(format!(
                    "no hardware events: this machine has no hardware performance counters (no CPU PMU; the kernel offers: {}); software events and profile:hz:N sample without one",
                    pmus().join(", ")
                )));
            }
            return Ok(vec![]);
        }
        Ok(self
            .events()
            .iter()
            .map(|(name, ..)| Listing {
                name: format!("{}:{name}", self.provider()),
                args: vec![],
            })
            .collect())
    }

    fn load_as(&self, _target: &Attach) -> io::Result<LoadAs> {
        Ok(timer::perf_event_load())
    }

    fn attach(
        &self,
        program: BorrowedFd<'_>,
        target: &Attach,
        pid: Option<u32>,
    ) -> io::Result<OwnedEvents> {
        let CounterTarget {
            hardware,
            event,
            count,
        } = super::target(target)?;
        let kind = if *hardware {
            TYPE_HARDWARE
        } else {
            TYPE_SOFTWARE
        };
        let scopes = match pid {
            Some(pid) => vec![perf::Scope::Process(pid)],
            None => timer::every_cpu(),
        };
        timer::attach_sampling(program, &scopes, |scope| {
            perf::sampling(kind, *event, perf::Every::Period(*count), scope)
        })
    }

    /// Hardware counters need a PMU; software ones only perf events (the timers report those).
    fn info(&self) -> Vec<Feature> {
        if !self.hardware {
            return Vec::new();
        }
        let opens = features::perf_event_opens(TYPE_HARDWARE, 0);
        vec![Feature::new("hardware", opens)]
    }
}

/// A perf counter: the kernel's event id, firing every `count` occurrences.
#[derive(Debug, PartialEq)]
struct CounterTarget {
    hardware: bool,
    event: u64,
    count: u64,
}
