//! The kernel's clocks as the programs read them.

/// CLOCK_BOOTTIME now, in nanoseconds: the clock `nsecs` reads, and the origin of `elapsed`.
pub fn boot_ns() -> u64 {
    clock_ns(libc::CLOCK_BOOTTIME)
}

/// A clock now, in nanoseconds.
pub(crate) fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CLOCK_TAI minus CLOCK_BOOTTIME now: what `nsecs(sw_tai)` adds to the boot clock.
pub fn boot_to_tai_ns() -> u64 {
    clock_ns(libc::CLOCK_TAI).wrapping_sub(boot_ns())
}
