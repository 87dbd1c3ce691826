//! `fork()` as a safe function, for a process that has exactly one thread.
//!
//! The project forbids `unsafe` code everywhere but here. The container
//! runtime's monitor (one small process per container) used to start the
//! container's init by executing its own binary again, only so that a new
//! process would run init's code: an `execve`, the dynamic loader and the
//! C and Rust start-up, about half a millisecond of every container start.
//! A `fork` gives the same new process without any of that. The runtime's
//! launcher, one single-threaded process per kubelet, forks each monitor
//! the same way instead of the kubelet executing the binary for it.
//!
//! Rust calls `fork` unsafe because of threads: the child is a copy of the
//! whole memory but runs only the thread that called `fork`. Had another
//! thread held a lock at that moment (the allocator's, stdout's, any
//! `Mutex`), the child would find it locked forever, or data half changed.
//! In a process with a single thread there is no other thread: the child is
//! a copy of a consistent program and may do anything the parent could.
//! So [`fork`] asks the kernel how many threads the process has (the
//! `num_threads` field of `/proc/self/stat`) and forks only when the answer
//! is one. Nothing can start a thread between that check and the `fork`:
//! only a thread of this process could, and the caller is the only one.
//!
//! Upstream runtimes face the same question: runc re-executes itself
//! (`runc init`) from Go, which cannot fork safely; crun and youki fork from
//! a single-threaded C or Rust process, as this does.

use std::io::Read;

pub use nix::unistd::Pid;

/// Which side of the fork the caller is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// The original process; the child's pid.
    Parent(Pid),
    /// The new process.
    Child,
}

/// Why no fork happened.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The process has other threads: forking it would not be safe.
    #[error("fork refused: the process has {0} threads, a safe fork needs exactly one")]
    Threads(usize),
    /// `/proc/self/stat` could not be read or understood.
    #[error("counting the process' threads in /proc/self/stat: {0}")]
    Stat(String),
    /// The kernel refused (`EAGAIN`: a pid or memory limit).
    #[error("fork: {0}")]
    Fork(#[from] nix::Error),
}

/// The kernel's count of the calling process' threads.
pub fn thread_count() -> Result<usize, Error> {
    let mut text = String::new();
    std::fs::File::open("/proc/self/stat")
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|e| Error::Stat(e.to_string()))?;
    parse_thread_count(&text).ok_or_else(|| Error::Stat(format!("unexpected content {text:?}")))
}

/// `num_threads` (field 20) of a `/proc/<pid>/stat` line. The command name
/// (field 2) may hold spaces and parentheses: fields are counted after its
/// closing parenthesis, the last one on the line.
fn parse_thread_count(stat: &str) -> Option<usize> {
    let after = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name: field 20 is the 18th.
    after.split_whitespace().nth(17)?.parse().ok()
}

/// Forks the calling process if it has exactly one thread.
pub fn fork() -> Result<Forked, Error> {
    match thread_count()? {
        1 => {}
        n => return Err(Error::Threads(n)),
    }
    // SAFETY: the process has one thread (checked just above, and only this
    // thread could have started another since), so the child's copy of the
    // memory holds no lock or data structure that another thread was in
    // the middle of changing.
    #[allow(unsafe_code)]
    let forked = unsafe { nix::unistd::fork() }?;
    Ok(match forked {
        nix::unistd::ForkResult::Parent { child } => Forked::Parent(child),
        nix::unistd::ForkResult::Child => Forked::Child,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_count_is_read_after_the_command_name() {
        let line = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 90 0 0 0 1 0 0 0 20 0 3 0 77 \
                    1000 20 18446744073709551615";
        assert_eq!(parse_thread_count(line), Some(3));
        assert_eq!(parse_thread_count("4242 (x) S 1"), None);
        assert_eq!(parse_thread_count("no parenthesis"), None);
    }

    #[test]
    fn a_process_with_threads_is_refused() {
        // The test harness runs tests on threads of their own: this
        // process has several, so a fork here must be refused.
        let n = thread_count().expect("counting threads");
        let helper =
            std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_millis(200)));
        match fork() {
            Err(Error::Threads(k)) => assert!(k > 1 && k >= n, "{k} threads"),
            other => panic!("fork in a process with threads: {other:?}"),
        }
        helper.join().expect("the helper thread");
    }
}
