//! Whether this process may load BPF programs, asked up front so the user gets one clear line
//! instead of a failure from deep inside the loader.

/// CAP_SYS_ADMIN, CAP_PERFMON and CAP_BPF bit numbers.
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// True when the effective capabilities allow loading and attaching tracing programs.
pub fn can_trace() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    let Some(caps) = status.lines().find_map(|l| l.strip_prefix("CapEff:")) else {
        return false;
    };
    let Ok(caps) = u64::from_str_radix(caps.trim(), 16) else {
        return false;
    };
    let has = |bit: u32| caps & (1u64 << bit) != 0;
    has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))
}
