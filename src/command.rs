//! `-c CMD`: the command scry traces. It is forked before the script is checked (so `cpid` is a
//! constant), waits on a pipe until the probes are attached, then execs. scry stops when it
//! exits, watching it through a pidfd; if scry stops first, or fails before releasing it, the
//! command is terminated and reaped.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

pub struct Command {
    pid: libc::pid_t,
    /// Writing to it lets the command exec; `None` once released.
    release: Option<OwnedFd>,
    pidfd: OwnedFd,
}

/// The executable a command word names: a path, or a name found in `PATH`.
fn resolve(word: &str) -> Option<PathBuf> {
    let executable = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| {
                m.is_file()
                    && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
            })
            .unwrap_or(false)
    };
    if word.contains('/') {
        let p = PathBuf::from(word);
        return executable(&p).then_some(p);
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(word))
        .find(|p| executable(p))
}

impl Command {
    /// Forks the command, held before its exec. Its words are split on whitespace, with
    /// quotes grouping (`sh -c 'echo hi'`).
    pub fn spawn(line: &str) -> Result<Command, String> {
        let words = split(line)?;
        let Some(first) = words.first() else {
            return Err("-c needs a command".into());
        };
        let path =
            resolve(first).ok_or_else(|| format!("-c: cannot find the command `{first}`"))?;
        let cstr = |s: &str| CString::new(s).map_err(|_| format!("-c: `{s}` contains a NUL byte"));
        let path = cstr(&path.to_string_lossy())?;
        let argv: Vec<CString> = words.iter().map(|w| cstr(w)).collect::<Result<_, _>>()?;
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());

        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(format!("-c: pipe: {}", io::Error::last_os_error()));
        }
        // SAFETY: pipe2 returned two descriptors that nothing else owns.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let parent = unsafe { libc::getpid() };
        // SAFETY: the child only calls async-signal-safe functions before exec or _exit.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("-c: fork: {}", io::Error::last_os_error()));
        }
        if pid == 0 {
            // SAFETY: async-signal-safe calls on descriptors and strings prepared before fork.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                if libc::getppid() != parent {
                    libc::_exit(127);
                }
                let mut byte = 0u8;
                // The parent writes one byte to release us; end of file means it gave up.
                if libc::read(read.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) != 1 {
                    libc::_exit(127);
                }
                libc::execv(path.as_ptr(), argv_ptrs.as_ptr());
                libc::_exit(127);
            }
        }
        drop(read);
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if raw < 0 {
            let e = io::Error::last_os_error();
            // SAFETY: `pid` is our child; killing and reaping it leaves nothing behind.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
            return Err(format!("-c: pidfd_open: {e}"));
        }
        Ok(Command {
            pid,
            release: Some(write),
            // SAFETY: pidfd_open returned a descriptor nothing else owns.
            pidfd: unsafe { OwnedFd::from_raw_fd(raw as i32) },
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Lets the command exec.
    pub fn release(&mut self) {
        if let Some(fd) = self.release.take() {
            // SAFETY: writing one byte from a valid buffer to a descriptor we own.
            unsafe { libc::write(fd.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
        }
    }

    /// Readable once the command has exited.
    pub fn exited(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }
}

/// Words as a shell splits them, without expansions: whitespace separates, single and double
/// quotes group, a backslash escapes the next character (outside single quotes).
fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("-c: a quote is not closed".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => w.extend(chars.next()),
                        Some(c) => w.push(c),
                        None => return Err("-c: a quote is not closed".into()),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

impl Drop for Command {
    fn drop(&mut self) {
        // Never released: closing the pipe makes it exit. Released and still running: ask it
        // to stop. Either way, reap it.
        self.release.take();
        // SAFETY: `pid` is our child, not yet reaped.
        unsafe {
            if libc::waitpid(self.pid, std::ptr::null_mut(), libc::WNOHANG) == 0 {
                libc::kill(self.pid, libc::SIGTERM);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            super::split(r#"sh -c "echo 'a b'; exit 3" x\ y ''"#).unwrap(),
            ["sh", "-c", "echo 'a b'; exit 3", "x y", ""]
        );
        assert!(super::split("echo 'open").is_err());
    }
}
