//! Running the `pollmsgr` binary from tests: one-shot verbs that print JSON,
//! and `pollmsgr serve` children stopped by their pid.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};

use super::ceph::pollmsgr_bin;

/// Runs `pollmsgr ARGS`, requires success, and parses the last stdout line as JSON.
pub fn run_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(pollmsgr_bin())
        .args(args)
        .output()
        .expect("run pollmsgr");
    assert!(
        out.status.success(),
        "pollmsgr {args:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("pollmsgr {args:?} printed no JSON ({e}): {text}"))
}

/// The strings of array `key` in a ready line or report (e.g. a serve's
/// `endpoints` or `memif` sockets).
pub fn strings(v: &serde_json::Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} array in {v}"))
        .iter()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// A `pollmsgr serve` child that is stopped (SIGTERM, by its pid) on drop.
pub struct Serve {
    child: Option<Child>,
    stdout: Option<BufReader<ChildStdout>>,
    /// Read by a thread from the start, so a chatty child never blocks on a
    /// full stderr pipe.
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Serve {
    /// Starts `pollmsgr serve ARGS` and returns it with its endpoints line.
    pub fn start(args: &[&str]) -> (Serve, serde_json::Value) {
        Self::start_under(&[], args)
    }

    /// Starts `WRAPPER... pollmsgr serve ARGS` (e.g. `prlimit --nofile=N:N --`),
    /// where the wrapper execs pollmsgr in its own process.
    pub fn start_under(wrapper: &[&str], args: &[&str]) -> (Serve, serde_json::Value) {
        let bin = pollmsgr_bin();
        let mut cmd = match wrapper.split_first() {
            Some((prog, rest)) => {
                let mut c = Command::new(prog);
                c.args(rest).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        let mut child = cmd
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pollmsgr serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut stderr = child.stderr.take().expect("stderr");
        let drain = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let mut serve = Serve {
            child: Some(child),
            stdout: None,
            stderr: Some(drain),
        };
        let mut line = String::new();
        // EOF (serve exited) yields an empty line and a failed parse below.
        let _ = stdout.read_line(&mut line);
        serve.stdout = Some(stdout);
        let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap_or_else(|e| {
            let (_, err) = serve.stop();
            panic!("serve printed no endpoints line ({e}): {line:?}\nstderr: {err}")
        });
        (serve, v)
    }

    /// The child's pid (for /proc reads), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the child by pid and returns the rest of its stdout and its stderr.
    pub fn stop(&mut self) -> (String, String) {
        self.signal("-TERM")
    }

    /// Kills the child with SIGKILL (no shutdown work at all), by its pid.
    pub fn kill(&mut self) -> (String, String) {
        self.signal("-KILL")
    }

    fn signal(&mut self, sig: &str) -> (String, String) {
        let Some(mut child) = self.child.take() else {
            return (String::new(), String::new());
        };
        let _ = Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status();
        let mut out = String::new();
        if let Some(mut s) = self.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        let status = child.wait();
        let mut err = self
            .stderr
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        // How it ended, for failures that find no summary (a crash by
        // signal prints nothing of its own).
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => err.push_str(&format!("[serve ended: {s}]\n")),
            Err(e) => err.push_str(&format!("[serve: wait failed: {e}]\n")),
        }
        (out, err)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.stop();
    }
}
