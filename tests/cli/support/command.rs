//! The one way every CLI test runs the built `pushform` binary: [`Pushform`], a builder that
//! starts from an environment the test process cannot leak into.
//!
//! The child gets none of the test process's variables but [`PASSED_THROUGH`] (`PATH`, so
//! pushform finds `git`; `TMPDIR`; the coverage profile path), plus `NO_COLOR=1`, plus what the
//! test sets itself with [`Pushform::env`] and friends. So a developer's pinned clock
//! (`PUSHFORM_NOW`), a crash hook (`PUSHFORM_CRASH_AT`), real credentials (`RONGCLOUD_*`), a
//! proxy, a `HOME` with a git identity, a CI run id or a terminal width never changes a result.
//! Every other variable is removed one by one (not `env_clear`) so that the built command shows
//! each removal in [`std::process::Command::get_envs`], which the harness's own tests check.
//!
//! Every run is bounded by [`RUN_TIMEOUT`]; stdin is a pipe holding `yes` (so never a terminal,
//! and an approval pushform must never read from a pipe). What came back is a [`Run`]: status,
//! stdout and stderr as text, the command line, and assertions that print all of it when they
//! fail.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The test process's variables the child keeps: where programs are (pushform runs `git`),
/// where temp files go, and where an instrumented (coverage) build writes its profile.
pub(crate) const PASSED_THROUGH: &[&str] = &["PATH", "TMPDIR", "LLVM_PROFILE_FILE"];

/// No single pushform run may take longer than this (some inputs once made it hang).
pub(crate) const RUN_TIMEOUT: Duration = Duration::from_mins(1);

/// One `pushform` invocation being prepared (see the module documentation).
pub(crate) struct Pushform {
    cmd: Command,
    /// The command line as a test failure shows it: variables set, then arguments.
    line: Vec<String>,
}

impl Pushform {
    /// `pushform` to run in `dir`, in the clean environment.
    pub(crate) fn new(dir: &Path) -> Pushform {
        Pushform::isolated_from(dir, std::env::vars_os().map(|(name, _)| name))
    }

    /// As [`Pushform::new`], with `outer` the names of the variables the child would inherit.
    pub(crate) fn isolated_from(dir: &Path, outer: impl IntoIterator<Item = OsString>) -> Pushform {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pushform"));
        for name in outer {
            if !PASSED_THROUGH.iter().any(|kept| name == **kept) {
                cmd.env_remove(name);
            }
        }
        cmd.env("NO_COLOR", "1").current_dir(dir);
        Pushform {
            cmd,
            line: vec!["pushform".to_owned()],
        }
    }

    pub(crate) fn arg(self, arg: impl AsRef<OsStr>) -> Self {
        self.args(&[arg])
    }

    pub(crate) fn args<S: AsRef<OsStr>>(mut self, args: &[S]) -> Self {
        for arg in args {
            let arg = arg.as_ref();
            self.line.push(arg.to_string_lossy().into_owned());
            self.cmd.arg(arg);
        }
        self
    }

    /// Sets `name` for the child (shown in the command line of a failure).
    pub(crate) fn env(mut self, name: &str, value: impl AsRef<OsStr>) -> Self {
        let value = value.as_ref();
        self.line
            .insert(0, format!("{name}={}", value.to_string_lossy()));
        self.cmd.env(name, value);
        self
    }

    /// Sets every `(name, value)` of `vars`.
    pub(crate) fn envs(self, vars: &[(&str, &str)]) -> Self {
        vars.iter()
            .fold(self, |cmd, (name, value)| cmd.env(name, value))
    }

    /// `PUSHFORM_ENDPOINT`: where apply sends (an emulator, never the real provider).
    pub(crate) fn endpoint(self, urls: &str) -> Self {
        self.env("PUSHFORM_ENDPOINT", urls)
    }

    /// The default credential variables.
    pub(crate) fn creds(mut self, key: &str, secret: &str) -> Self {
        // Not in `line`: a failing test must not print the secret either.
        self.cmd
            .env("RONGCLOUD_APP_KEY", key)
            .env("RONGCLOUD_APP_SECRET", secret);
        self
    }

    /// `PUSHFORM_NOW`: the instant pushform takes for now.
    pub(crate) fn now(self, rfc3339: &str) -> Self {
        self.env("PUSHFORM_NOW", rfc3339)
    }

    /// The command as built, to inspect (the harness's own tests read its environment).
    pub(crate) fn command(&self) -> &Command {
        &self.cmd
    }

    /// The command, for a test that wires the standard streams itself (a full disk, a closed
    /// pipe). It runs without [`RUN_TIMEOUT`].
    pub(crate) fn into_std(self) -> Command {
        self.cmd
    }

    /// The command for `assert_cmd`: stdin `yes`, bounded by [`RUN_TIMEOUT`].
    fn assert_cmd(self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::from_std(self.cmd);
        cmd.timeout(RUN_TIMEOUT).write_stdin("yes\n");
        cmd
    }

    /// Runs to the end and returns the raw output, for a test that reads the bytes itself.
    pub(crate) fn output(self) -> Output {
        let line = self.line.join(" ");
        self.assert_cmd()
            .output()
            .unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    /// Runs to the end, for `assert_cmd`'s assertions with `predicates`.
    pub(crate) fn assert(self) -> assert_cmd::assert::Assert {
        self.assert_cmd().assert()
    }

    /// Runs to the end (killed, failing the test, past [`RUN_TIMEOUT`]).
    pub(crate) fn run(self) -> Run {
        let line = self.line.join(" ");
        let output = self.output();
        Run {
            status: output.status,
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
            line,
        }
    }

    /// Starts it in the background: no terminal, output discarded (for runs that get killed).
    pub(crate) fn spawn(mut self) -> Child {
        self.cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", self.line.join(" ")))
    }

    /// Starts it in the background in a process group of its own, output discarded: kill it
    /// with [`kill_group`] and every process it started (git, and git's own children) dies with
    /// it, as on a runner that is lost.
    pub(crate) fn spawn_group(mut self) -> Child {
        use std::os::unix::process::CommandExt as _;
        self.cmd.process_group(0);
        self.spawn()
    }

    /// Starts it as [`Pushform::spawn_group`] does, lets it run for `delay`, then kills the
    /// whole group: `None` if it was killed, its exit code if it had ended first.
    pub(crate) fn kill_after(self, delay: Duration) -> Option<i32> {
        let mut child = self.spawn_group();
        std::thread::sleep(delay);
        kill_group(&mut child)
    }

    /// Starts it in the background with its output captured; finish with [`Running::finish`].
    pub(crate) fn start(mut self) -> Running {
        let child = self
            .cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", self.line.join(" ")));
        Running {
            child,
            line: self.line.join(" "),
            started: Instant::now(),
        }
    }
}

/// SIGKILL to the whole process group led by `child` (see [`Pushform::spawn_group`]), then
/// reaps it. `None` if it was killed, its exit code if it had already ended.
pub(crate) fn kill_group(child: &mut Child) -> Option<i32> {
    let _ = Command::new("kill")
        .args(["-9", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    child.wait().expect("wait for the killed group").code()
}

/// A pushform started in the background.
pub(crate) struct Running {
    child: Child,
    line: String,
    started: Instant,
}

impl Running {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for it to end, killing it if it runs past [`RUN_TIMEOUT`].
    pub(crate) fn finish(mut self) -> Run {
        // Drain the pipes on their own threads so a chatty child never blocks on a full pipe.
        let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut text);
                }
                String::from_utf8_lossy(&text).into_owned()
            })
        };
        let stdout = drain(self.child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = drain(self.child.stderr.take().map(|p| Box::new(p) as _));
        let mut status = None;
        while status.is_none() && self.started.elapsed() < RUN_TIMEOUT {
            status = self.child.try_wait().expect("try_wait");
            std::thread::sleep(Duration::from_millis(10));
        }
        let status = status.unwrap_or_else(|| {
            let _ = self.child.kill();
            self.child.wait().expect("wait")
        });
        Run {
            status,
            stdout: stdout.join().expect("stdout"),
            stderr: stderr.join().expect("stderr"),
            line: self.line,
        }
    }
}

/// What one run of the binary came back with.
#[derive(Debug)]
pub(crate) struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    line: String,
}

/// What [`Run::stderr_has`] looks for: one text, or several in order.
pub(crate) trait Needles<'a> {
    fn list(self) -> Vec<&'a str>;
}

impl<'a> Needles<'a> for &'a str {
    fn list(self) -> Vec<&'a str> {
        vec![self]
    }
}

impl<'a> Needles<'a> for &'a String {
    fn list(self) -> Vec<&'a str> {
        vec![self.as_str()]
    }
}

impl<'a, T: AsRef<str>, const N: usize> Needles<'a> for &'a [T; N] {
    fn list(self) -> Vec<&'a str> {
        self.iter().map(AsRef::as_ref).collect()
    }
}

impl<'a, T: AsRef<str>> Needles<'a> for &'a [T] {
    fn list(self) -> Vec<&'a str> {
        self.iter().map(AsRef::as_ref).collect()
    }
}

impl Run {
    /// The command line run (variables set and arguments, never credentials).
    pub(crate) fn line(&self) -> &str {
        &self.line
    }

    /// The exit code, `None` if killed by a signal (a crash, which only the crash tests expect).
    pub(crate) fn exit_code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Asserts exit code `expected`.
    #[track_caller]
    pub(crate) fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.exit_code(),
            Some(expected),
            "unexpected exit of {self}"
        );
        self
    }

    /// Asserts exit code 0.
    #[track_caller]
    pub(crate) fn success(&self) -> &Self {
        self.code(0)
    }

    /// Asserts exit code 1 (an error, reported, not a crash).
    #[track_caller]
    pub(crate) fn failure(&self) -> &Self {
        self.code(1)
    }

    /// Asserts that stderr contains `needles` (one text, or several in that order).
    #[track_caller]
    pub(crate) fn stderr_has<'a>(&self, needles: impl Needles<'a>) -> &Self {
        let mut rest = self.stderr.as_str();
        for needle in needles.list() {
            match rest.find(needle) {
                Some(at) => rest = &rest[at + needle.len()..],
                None => panic!("stderr lacks {needle:?} (after any earlier needles) in {self}"),
            }
        }
        self
    }

    #[track_caller]
    pub(crate) fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?} in {self}"
        );
        self
    }

    /// The error and warning lines of stderr (`error: …`, `warning: …`), without excerpts.
    pub(crate) fn finding_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("error: ") || l.starts_with("warning: "))
            .collect()
    }

    /// Stdout parsed as JSON.
    #[track_caller]
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not JSON ({err}) in {self}"))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` ({})\n--- stdout\n{}--- stderr\n{}---",
            self.line, self.status, self.stdout, self.stderr
        )
    }
}
