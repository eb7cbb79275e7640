//! Crash points for the kill-and-resume tests: when `RIPCORD_CRASH_AT` names a point the
//! process reaches, it sends itself SIGKILL there, exactly as an operator's `kill -9` or a
//! lost machine would end it: no destructors, no flushing, no cleanup. When
//! `RIPCORD_PAUSE_AT` names it, the process creates the file `RIPCORD_PAUSE_FILE` and waits
//! there, so a test can interrupt it at a known point (Ctrl-C, SIGTERM).

pub fn point(name: &str) {
    if let Ok(want) = std::env::var("RIPCORD_CRASH_AT")
        && want == name
    {
        // SAFETY: raising SIGKILL on ourselves; nothing runs after it.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
    if let Ok(want) = std::env::var("RIPCORD_PAUSE_AT")
        && want == name
    {
        if let Ok(f) = std::env::var("RIPCORD_PAUSE_FILE") {
            let _ = std::fs::write(f, name);
        }
        std::thread::sleep(std::time::Duration::from_secs(120));
    }
}
