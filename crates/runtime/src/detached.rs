//! What kept a detached set's probes attached (their perf events and links), and closing it:
//! at once on many threads when it is dropped, or, at scry's exit with hundreds of probes, in
//! the background, by a process of scry's own, so that the exit does not wait for the kernel.

use crate::probes::OwnedEvents;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// What kept a detached set's probes attached, closed when this is dropped (on any thread).
/// Closing a tracepoint's perf event waits for an RCU grace period (about 15 ms here), so they
/// are closed many at a time: waits that overlap share grace periods.
pub struct Detached(pub(crate) OwnedEvents);

impl Drop for Detached {
    fn drop(&mut self) {
        const THREADS: usize = 32;
        let mut held = std::mem::take(&mut self.0);
        if held.len() <= 2 {
            return;
        }
        let per_thread = held.len().div_ceil(THREADS);
        std::thread::scope(|scope| {
            while !held.is_empty() {
                let chunk: Vec<_> = held.drain(..per_thread.min(held.len())).collect();
                scope.spawn(move || drop(chunk));
            }
        });
    }
}

impl Detached {
    /// Closes what it holds in the background of scry's exit when that is many perf events
    /// (the kernel closes a tracepoint's event under a mutex, about 40 ms each, so hundreds
    /// take seconds): a process of its own, out of scry's session and process group, keeps
    /// them and closes them, while scry goes on at once. The programs were stopped
    /// (`Module::STOP`) before, so what they still run meanwhile changes nothing. Few are
    /// closed here and now.
    pub fn release(mut self) {
        const IN_BACKGROUND_FROM: usize = 32;
        if self.0.len() < IN_BACKGROUND_FROM {
            return;
        }
        let fds: Vec<RawFd> = self.0.iter().map(|f| f.as_raw_fd()).collect();
        if let Some(go) = release_in_background(&fds) {
            // The background process holds its own copies: closing ours frees nothing, and
            // then it may start. Were it to close first, ours would be the last copies, and
            // closing them would wait on the kernel here, behind its closing.
            self.0.clear();
            drop(go);
        }
    }
}

/// Forks a process that closes `fds` and exits, detached from scry (a grandchild, so it is
/// never left a zombie). It starts closing once the pipe end returned is closed (or scry
/// exits). None when it could not be started.
fn release_in_background(fds: &[RawFd]) -> Option<OwnedFd> {
    let mut ends = [0; 2];
    // SAFETY: pipe2 fills the two descriptors it creates.
    if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return None;
    }
    // SAFETY: both are ours alone from here on.
    let (wait_on, go) = unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
    // What the background process keeps open, sorted: collected before the fork.
    let mut keep: Vec<RawFd> = fds.to_vec();
    keep.push(wait_on.as_raw_fd());
    keep.sort_unstable();
    // SAFETY: the children only make async-signal-safe calls (no allocation) and end with
    // `_exit`.
    unsafe {
        let child = libc::fork();
        if child < 0 {
            return None;
        }
        if child == 0 {
            if libc::fork() != 0 {
                libc::_exit(0);
            }
            libc::setsid();
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE] {
                libc::signal(sig, libc::SIG_IGN);
            }
            // Everything but what it is to close and the pipe it waits on: no pipe or socket
            // of scry's stays open (nor the pipe's other end, whose closing it waits for).
            let mut from: RawFd = 0;
            for &fd in &keep {
                close_from_to(from, fd - 1);
                from = fd + 1;
            }
            close_from_to(from, RawFd::MAX);
            let mut byte = 0u8;
            while libc::read(wait_on.as_raw_fd(), (&raw mut byte).cast(), 1) < 0
                && *libc::__errno_location() == libc::EINTR
            {}
            for &fd in fds {
                libc::close(fd);
            }
            libc::_exit(0);
        }
        let mut status = 0;
        libc::waitpid(child, &mut status, 0);
    }
    Some(go)
}

/// Closes the descriptors `first..=last` (async-signal-safe).
fn close_from_to(first: RawFd, last: RawFd) {
    if first > last {
        return;
    }
    // SAFETY: closing descriptors; close_range(2) ignores the ones not open.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            last as libc::c_uint,
            0,
        )
    };
    if r != 0 {
        // Kernels before 5.9: one by one, as far as descriptors usually go.
        for fd in first..=last.min(65_535) {
            // SAFETY: as above.
            unsafe { libc::close(fd) };
        }
    }
}
