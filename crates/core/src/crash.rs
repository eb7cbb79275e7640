//! Crash points for the kill-and-resume tests: when `RIPCORD_CRASH_AT` names a point the
//! process reaches, it sends itself SIGKILL there, exactly as an operator's `kill -9` or a
//! lost machine would end it: no destructors, no flushing, no cleanup. When
//! `RIPCORD_PAUSE_AT` names it, the process creates the file `RIPCORD_PAUSE_FILE` and waits
//! there while the file stands, so a test can interrupt it at a known point (Ctrl-C,
//! SIGTERM), or act beside it and remove the file to let it go on.

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
        // Waits while the file stands (a test removes it to let the process go on), at
        // most two minutes.
        let file = std::env::var("RIPCORD_PAUSE_FILE").ok();
        if let Some(f) = &file {
            let _ = std::fs::write(f, name);
        }
        let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while std::time::Instant::now() < until
            && file
                .as_ref()
                .is_none_or(|f| std::path::Path::new(f).exists())
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
