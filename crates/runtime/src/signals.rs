//! Ctrl-C and SIGTERM (and SIGUSR1, which runs `self:signal:SIGUSR1` probes) as a file
//! descriptor: blocked for the process and read through a signalfd in the same poll as the ring
//! buffer, so stopping is immediate and never interrupts a write.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub struct StopSignals {
    fd: OwnedFd,
}

impl StopSignals {
    /// Blocks SIGINT, SIGTERM and SIGUSR1 and opens a signalfd for them. Call before starting
    /// threads, so every thread inherits the mask.
    pub fn install() -> io::Result<StopSignals> {
        StopSignals::of(&[libc::SIGINT, libc::SIGTERM, libc::SIGUSR1])
    }

    /// Blocks these signals and opens a signalfd for them (the REPL reads Ctrl-C in one place
    /// and SIGTERM in another).
    pub fn of(signals: &[libc::c_int]) -> io::Result<StopSignals> {
        // SAFETY: sigset_t is plain data; the libc calls get valid pointers.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for &s in signals {
                libc::sigaddset(&mut set, s);
            }
            if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(StopSignals {
                fd: OwnedFd::from_raw_fd(fd),
            })
        }
    }

    /// Consumes a pending signal; true if there was one.
    pub fn take(&self) -> bool {
        self.take_signal().is_some()
    }

    /// Consumes a pending signal: which one.
    pub fn take_signal(&self) -> Option<libc::c_int> {
        let mut info = std::mem::MaybeUninit::<libc::signalfd_siginfo>::uninit();
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: reads at most `size` bytes into `info`.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), info.as_mut_ptr().cast(), size) };
        // SAFETY: the kernel filled the whole struct when it returned its size.
        (n == size as isize).then(|| unsafe { info.assume_init() }.ssi_signo as libc::c_int)
    }
}

impl AsRawFd for StopSignals {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
