//! Crash points for the kill-and-resume tests: when `RIPCORD_CRASH_AT` names a point the
//! process reaches, it sends itself SIGKILL there, exactly as an operator's `kill -9` or a
//! lost machine would end it: no destructors, no flushing, no cleanup.

pub fn point(name: &str) {
    if let Ok(want) = std::env::var("RIPCORD_CRASH_AT")
        && want == name
    {
        // SAFETY: raising SIGKILL on ourselves; nothing runs after it.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
