//! Process ids: this process's own (kept current across forks), and whether another
//! process still runs (`kill(pid, 0)`, and its start time in `/proc`).

use std::sync::atomic::AtomicI32;
use std::sync::atomic::Ordering::Relaxed;

use rustix::io::Errno;
use rustix::process::Pid;

/// This process's id once the fork hooks keep it current (0: not kept; ask the kernel).
static PID: AtomicI32 = AtomicI32::new(0);

/// This process's id: a plain read once [`remember_pid`] ran, else a system call (the
/// managers ask for it on every call).
pub(crate) fn getpid() -> libc::pid_t {
    match PID.load(Relaxed) {
        0 => asked_pid(),
        pid => pid,
    }
}

/// Keeps this process's id for [`getpid`]. Only `crate::lifecycle` calls it: once its fork
/// hooks are installed, and then first thing in every forked child. (A child made without
/// the hooks, by a raw `clone` or `vfork`, would read its parent's id.)
pub(crate) fn remember_pid() {
    PID.store(asked_pid(), Relaxed);
}

fn asked_pid() -> libc::pid_t {
    rustix::process::getpid().as_raw_nonzero().get()
}

/// The parent's pid (the process that reaps this one; 1 or a subreaper once it ended).
pub(crate) fn getppid() -> libc::pid_t {
    rustix::process::Pid::as_raw(rustix::process::getppid())
}

/// `pid` as rustix takes it: `None` for a number that names no single process (0 or
/// less, which `kill` and `waitid` would read as a process group or "any").
pub(super) fn pid(pid: libc::pid_t) -> Option<Pid> {
    Pid::from_raw(pid.max(0))
}

/// Whether process `pid` may still exist (`kill(pid, 0)` does not say ESRCH). Cheap, but a
/// zombie or a reused pid counts as existing: see [`start_time`] for the precise test.
pub(crate) fn pid_exists(pid: libc::pid_t) -> bool {
    match self::pid(pid) {
        Some(pid) => rustix::process::test_kill_process(pid) != Err(Errno::SRCH),
        // No single process to ask about: it may exist.
        None => true,
    }
}

/// The start time of a running process (clock ticks since boot, `/proc/PID/stat` field 22),
/// or `None` when it has ended (no such process, a zombie, or dead).
pub(crate) fn start_time(pid: libc::pid_t) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain anything: skip past it.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // fields[0] is the state (field 3), so field N is fields[N - 3].
    match fields.first()? {
        &"Z" | &"X" | &"x" => None,
        _ => fields.get(22 - 3)?.parse().ok(),
    }
}

/// This host's name (`gethostname`), or "localhost" if it has none.
pub(crate) fn hostname() -> String {
    let name = rustix::system::uname();
    match name.nodename().to_str() {
        Ok(name) if !name.is_empty() => name.to_owned(),
        _ => "localhost".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_pid_is_each_sides_own_after_a_plain_fork() {
        crate::lifecycle::install();
        assert_eq!(getpid(), asked_pid());
        // SAFETY: the child only compares two numbers and leaves with _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let code = i32::from(getpid() != asked_pid());
            // SAFETY: leave the forked test child at once.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: reaping our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        assert_eq!(getpid(), asked_pid());
    }
}
