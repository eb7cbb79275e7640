//! The one way ripcord runs an outside program: run steps, command probes, command
//! switches and notifiers all go through [`Program::run`].
//!
//! The program runs in a process group of its own, so a timeout (or an emergency stop,
//! through [`Program::on_start`]) ends the shell *and* everything it started. Captured
//! output is read on threads (a chatty program never blocks on a full pipe) and kept to a
//! bound: the last `limit` bytes of each stream, where the verdict (a value, an error)
//! usually is. The timeout covers reading the pipes too, because a background child that
//! inherited them keeps them open after the program itself has exited.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// How much of each captured stream is kept by default (its tail).
pub const DEFAULT_CAPTURE: usize = 1 << 20;

/// Why a program did not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot start {program:?}: {source}")]
    Start {
        program: String,
        source: std::io::Error,
    },
    #[error("waiting for {program:?}: {source}")]
    Wait {
        program: String,
        source: std::io::Error,
    },
    /// The timeout passed; the process group was killed.
    #[error("timed out after {}", humantime::format_duration(*.0))]
    TimedOut(Duration),
}

/// A finished program. `stdout`/`stderr` are empty unless captured.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// The last line of stderr (what a failing command usually says), trimmed.
    pub fn stderr_tail(&self) -> &str {
        self.stderr.lines().last().unwrap_or("").trim()
    }
}

/// A program to run: a shell line (`sh -c`) or an argv without a shell.
pub struct Program<'a> {
    argv: Vec<String>,
    env: Vec<(&'a str, &'a str)>,
    timeout: Duration,
    capture: Option<usize>,
    on_start: Option<&'a dyn Fn(i32)>,
}

impl<'a> Program<'a> {
    /// `sh -c line`.
    pub fn shell(line: &str, timeout: Duration) -> Self {
        Self::argv(
            &["sh".to_string(), "-c".to_string(), line.to_string()],
            timeout,
        )
    }

    /// An argv run without a shell (`argv[0]` looked up on `PATH`).
    pub fn argv(argv: &[String], timeout: Duration) -> Self {
        Program {
            argv: argv.to_vec(),
            env: Vec::new(),
            timeout,
            capture: None,
            on_start: None,
        }
    }

    pub fn env(mut self, key: &'a str, value: &'a str) -> Self {
        self.env.push((key, value));
        self
    }

    /// Capture stdout and stderr (keeping the last `limit` bytes of each), with stdin
    /// closed. Without it the program shares ripcord's terminal: a run step's output is
    /// the operator's to see.
    pub fn capture(mut self, limit: usize) -> Self {
        self.capture = Some(limit);
        self
    }

    /// Called with the process group id once the program started, so another thread (an
    /// emergency stop) can end the group at once.
    pub fn on_start(mut self, f: &'a dyn Fn(i32)) -> Self {
        self.on_start = Some(f);
        self
    }

    /// How errors name the program: the shell line or argv[0], scrubbed of registered
    /// secrets (a plan's command may hold one).
    fn name(&self) -> String {
        crate::redact::scrub(match self.argv.as_slice() {
            [sh, c, line] if sh == "sh" && c == "-c" => line,
            [prog, ..] => prog,
            [] => "",
        })
    }

    /// Runs the program to its end or its timeout. A non-zero exit is not an error here:
    /// what it means is the caller's.
    pub fn run(&self) -> Result<Finished, ProcessError> {
        let Some((prog, args)) = self.argv.split_first() else {
            return Err(ProcessError::Start {
                program: String::new(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"),
            });
        };
        let mut cmd = Command::new(prog);
        cmd.args(args).process_group(0);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if self.capture.is_some() {
            cmd.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
        }
        let mut child = cmd.spawn().map_err(|source| ProcessError::Start {
            program: self.name(),
            source,
        })?;
        let pgid = child.id() as i32;
        if let Some(f) = self.on_start {
            f(pgid);
        }
        let pipes = self.capture.map(|limit| {
            (
                tail_reader(child.stdout.take().expect("piped"), limit),
                tail_reader(child.stderr.take().expect("piped"), limit),
            )
        });
        let t = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if t.elapsed() > self.timeout => {
                    kill_group(pgid);
                    let _ = child.wait();
                    return Err(ProcessError::TimedOut(self.timeout));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(source) => {
                    kill_group(pgid);
                    return Err(ProcessError::Wait {
                        program: self.name(),
                        source,
                    });
                }
            }
        };
        let (stdout, stderr) = match pipes {
            None => (String::new(), String::new()),
            Some((out, err)) => {
                let collect = |rx: Receiver<String>| {
                    rx.recv_timeout(self.timeout.saturating_sub(t.elapsed()))
                        .ok()
                };
                match (collect(out), collect(err)) {
                    (Some(o), Some(e)) => (o, e),
                    _ => {
                        kill_group(pgid);
                        return Err(ProcessError::TimedOut(self.timeout));
                    }
                }
            }
        };
        Ok(Finished {
            status,
            stdout,
            stderr,
        })
    }
}

/// Ends every process of group `pgid` (one ripcord created with `process_group(0)`).
pub fn kill_group(pgid: i32) {
    if pgid > 0 {
        // SAFETY: signalling a process group ripcord created for a program it runs.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// Reads a pipe to its end on a thread, keeping the last `limit` bytes.
fn tail_reader(mut pipe: impl Read + Send + 'static, limit: usize) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut kept: Vec<u8> = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    kept.extend_from_slice(&buf[..n]);
                    // Trim in large steps, not on every read.
                    if kept.len() > limit.saturating_mul(2).max(1 << 16) {
                        kept.drain(..kept.len() - limit);
                    }
                }
            }
        }
        if kept.len() > limit {
            kept.drain(..kept.len() - limit);
        }
        let _ = tx.send(String::from_utf8_lossy(&kept).into_owned());
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_output_keeps_the_tail_within_the_bound() {
        let f = Program::shell(
            "seq 1 100000; echo oops >&2; exit 3",
            Duration::from_secs(20),
        )
        .capture(64)
        .run()
        .unwrap();
        assert_eq!(f.status.code(), Some(3));
        assert!(f.stdout.len() <= 64, "{}", f.stdout.len());
        assert!(f.stdout.ends_with("100000\n"), "{:?}", f.stdout);
        assert_eq!(f.stderr_tail(), "oops");
    }

    #[test]
    fn a_timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("survived");
        // The background grandchild would write the marker after 1.5 s if it survived.
        let line = format!("(sleep 1.5; touch {}) & sleep 30", marker.display());
        let t = Instant::now();
        let e = Program::shell(&line, Duration::from_millis(300))
            .capture(1024)
            .run()
            .unwrap_err();
        assert!(matches!(e, ProcessError::TimedOut(_)), "{e}");
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_secs(2));
        assert!(
            !marker.exists(),
            "a process of the group outlived the timeout"
        );
    }

    #[test]
    fn an_argv_runs_without_a_shell_and_a_missing_program_is_named() {
        let f = Program::argv(&["echo".into(), "a;b".into()], Duration::from_secs(5))
            .capture(1024)
            .run()
            .unwrap();
        assert_eq!(f.stdout, "a;b\n");
        let e = Program::argv(&["/nonexistent/prog".into()], Duration::from_secs(5))
            .run()
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/prog"), "{e}");
    }
}
