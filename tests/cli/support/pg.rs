//! A throwaway PostgreSQL cluster for the state backend's tests.
//!
//! The postgres backend is only proven against a real server: advisory locks
//! that die with their session, commits visible to other sessions, a server
//! restart between two writes. No mock shows any of that. So the tests start
//! their own cluster from Debian's `postgresql` package (`.ci/run` installs it
//! when `initdb` is missing): `initdb` into a temp dir, `pg_ctl start` on a
//! free loopback port with its socket in the same dir, and on drop
//! `pg_ctl stop` and delete.
//!
//! - [`Cluster::shared`] is one cluster for the whole test binary run (tests
//!   take a database each with [`Cluster::create_database`]); as a static is
//!   never dropped, a watchdog shell stops and deletes it when the test
//!   process exits, however it exits.
//! - [`Cluster::start`] is a cluster of one's own, for a test that restarts
//!   the server ([`Cluster::restart`]) and must not disturb the others.
//!
//! `initdb` and the server refuse to run as root. Tests run as root in CI, so
//! the cluster then runs as the `postgres` system user (created by the
//! package) through `runuser`, in a temp dir under `/tmp` chowned to it.
//! Host connections need the superuser's password (SCRAM), so the tests also
//! exercise password authentication; fsync is off: the tests prove what is
//! committed and visible, not the disk.
//!
//! Shared by the library's unit tests (included with `#[path]`) and the CLI
//! tests, so it depends on nothing but std, `tempfile` and `postgres`.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The superuser initdb creates.
pub(crate) const SUPERUSER: &str = "postgres";

/// A running cluster, stopped and deleted on drop.
pub(crate) struct Cluster {
    /// Holds `data/`, the socket, the log and the password file; `None` once
    /// handed to the watchdog (the shared cluster).
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    bin: PathBuf,
    /// Run the server's tools as the `postgres` user (we are root).
    as_postgres: bool,
    port: u16,
    password: String,
    /// The test CA's certificate, once [`Cluster::enable_tls`] has run.
    tls_ca: OnceLock<PathBuf>,
}

impl Cluster {
    /// The cluster shared by every test of this binary run, started on first use.
    ///
    /// # Panics
    /// If no cluster can be started (the message says why and how to install one).
    pub(crate) fn shared() -> &'static Cluster {
        static SHARED: OnceLock<Cluster> = OnceLock::new();
        SHARED.get_or_init(|| {
            let mut cluster = Cluster::start();
            cluster.watch_for_exit();
            cluster
        })
    }

    /// A new cluster of one's own.
    ///
    /// # Panics
    /// If `initdb`/`pg_ctl` are missing or fail (with their output).
    pub(crate) fn start() -> Cluster {
        let bin = find_bin().unwrap_or_else(|| {
            panic!(
                "the PostgreSQL tests need initdb and pg_ctl (on PATH or in \
                 /usr/lib/postgresql/*/bin): apt-get install -y postgresql"
            )
        });
        let as_postgres = running_as_root();
        // Under /tmp, not $TMPDIR: the postgres user must be able to reach it.
        let base = if as_postgres {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let dir = tempfile::Builder::new()
            .prefix("pushform-pg-")
            .tempdir_in(&base)
            .expect("create the cluster's temp dir");
        let root = dir.path().to_path_buf();
        let password = format!("pw-{}", std::process::id()) + &random_suffix();
        fs::write(root.join("pwfile"), format!("{password}\n")).expect("write the password file");
        if as_postgres {
            run_checked(Command::new("chown").arg("-R").arg("postgres:").arg(&root));
        }
        let mut cluster = Cluster {
            dir: Some(dir),
            root,
            bin,
            as_postgres,
            port: 0,
            password,
            tls_ca: OnceLock::new(),
        };
        cluster.initdb();
        // A free port can be taken between our probe and the server's bind:
        // try a few.
        let mut last = None;
        for _ in 0..5 {
            cluster.port = free_port();
            match cluster.pg_ctl_start() {
                Ok(()) => return cluster,
                Err(output) => last = Some(output),
            }
        }
        panic!(
            "pg_ctl start failed 5 times; last output:\n{}\n--- server log:\n{}",
            last.unwrap_or_default(),
            fs::read_to_string(cluster.root.join("log")).unwrap_or_default()
        );
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn password(&self) -> &str {
        &self.password
    }

    /// The folder holding the server's unix socket.
    pub(crate) fn socket_dir(&self) -> &Path {
        &self.root
    }

    /// A URL for `user`/`password` to `database` over TCP on loopback.
    pub(crate) fn url_for(&self, user: &str, password: &str, database: &str) -> String {
        format!(
            "postgresql://{user}:{password}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// The superuser's URL for `database`.
    pub(crate) fn url(&self, database: &str) -> String {
        self.url_for(SUPERUSER, &self.password, database)
    }

    /// A superuser connection to `database`.
    pub(crate) fn admin(&self, database: &str) -> postgres::Client {
        postgres::Client::connect(&self.url(database), postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to {database} as the superuser: {e:?}"))
    }

    /// Creates a fresh database (dropping one of that name) and returns its superuser URL.
    pub(crate) fn create_database(&self, name: &str) -> String {
        let mut admin = self.admin("postgres");
        // Two statements: neither may run inside a (multi-statement) transaction.
        for sql in [
            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            format!("CREATE DATABASE \"{name}\""),
        ] {
            admin
                .batch_execute(&sql)
                .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        }
        self.url(name)
    }

    /// Restarts the server; `immediate` skips the shutdown checkpoint, as a
    /// crash would, so the restart replays the WAL. Every session is cut.
    pub(crate) fn restart(&self, immediate: bool) {
        let mode = if immediate { "immediate" } else { "fast" };
        let output = self.tool(
            "pg_ctl",
            &[
                "restart",
                "-D",
                &self.data().to_string_lossy(),
                "-l",
                &self.root.join("log").to_string_lossy(),
                "-w",
                "-t",
                "60",
                "-m",
                mode,
            ],
        );
        assert!(
            output.status.success(),
            "pg_ctl restart failed:\n{}",
            describe(&output)
        );
    }

    /// Turns TLS on (without cutting any session) with a server certificate
    /// for `127.0.0.1` and `localhost` signed by a throwaway CA, and returns
    /// the CA's PEM file: what a client's `sslrootcert` names. Needs the
    /// `openssl` command.
    pub(crate) fn enable_tls(&self) -> &Path {
        self.tls_ca.get_or_init(|| {
            let tls = self.root.join("tls");
            fs::create_dir(&tls).expect("create the tls folder");
            fs::write(
                tls.join("server.ext"),
                "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
                 keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
            )
            .expect("write the certificate extensions");
            let ec = [
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
            ];
            let openssl = |args: &[&str]| {
                run_checked(Command::new("openssl").args(args).current_dir(&tls));
            };
            openssl(
                &[
                    &["req", "-x509"],
                    &ec[..],
                    &[
                        "-keyout",
                        "ca.key",
                        "-out",
                        "ca.pem",
                        "-days",
                        "2",
                        "-subj",
                        "/CN=pushform test CA",
                        "-addext",
                        "basicConstraints=critical,CA:TRUE",
                        "-addext",
                        "keyUsage=critical,keyCertSign,cRLSign",
                    ],
                ]
                .concat(),
            );
            openssl(
                &[
                    &["req"],
                    &ec[..],
                    &[
                        "-keyout",
                        "server.key",
                        "-out",
                        "server.csr",
                        "-subj",
                        "/CN=localhost",
                    ],
                ]
                .concat(),
            );
            openssl(&[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ]);
            if self.as_postgres {
                run_checked(Command::new("chown").arg("-R").arg("postgres:").arg(&tls));
            }
            run_checked(Command::new("chmod").arg("600").arg(tls.join("server.key")));
            let mut admin = self.admin("postgres");
            for sql in [
                format!(
                    "ALTER SYSTEM SET ssl_cert_file = '{}'",
                    tls.join("server.pem").display()
                ),
                format!(
                    "ALTER SYSTEM SET ssl_key_file = '{}'",
                    tls.join("server.key").display()
                ),
                "ALTER SYSTEM SET ssl = on".to_owned(),
                "SELECT pg_reload_conf()".to_owned(),
            ] {
                admin
                    .batch_execute(&sql)
                    .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
            }
            // The reload is asynchronous: wait until the server says TLS is on.
            for _ in 0..100 {
                let on: String = admin.query_one("SHOW ssl", &[]).expect("SHOW ssl").get(0);
                if on == "on" {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            tls.join("ca.pem")
        })
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    fn initdb(&self) {
        let output = self.tool(
            "initdb",
            &[
                "-D",
                &self.data().to_string_lossy(),
                "-U",
                SUPERUSER,
                "--pwfile",
                &self.root.join("pwfile").to_string_lossy(),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        assert!(
            output.status.success(),
            "initdb failed:\n{}",
            describe(&output)
        );
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories='{}' -c fsync=off \
             -c full_page_writes=off",
            self.port,
            self.root.display()
        );
        // `-l`: the server's output goes to the log, not to our pipe (which
        // would otherwise stay open as long as the server runs).
        let output = self.tool(
            "pg_ctl",
            &[
                "start",
                "-D",
                &self.data().to_string_lossy(),
                "-l",
                &self.root.join("log").to_string_lossy(),
                "-w",
                "-t",
                "60",
                "-o",
                &options,
            ],
        );
        if output.status.success() {
            Ok(())
        } else {
            Err(describe(&output))
        }
    }

    fn stop_command(&self) -> Vec<String> {
        let mut command = Vec::new();
        if self.as_postgres {
            command.extend(["runuser", "-u", "postgres", "--"].map(String::from));
        }
        command.push(self.bin.join("pg_ctl").to_string_lossy().into_owned());
        command.extend(
            [
                "stop",
                "-D",
                &self.data().to_string_lossy(),
                "-m",
                "immediate",
                "-w",
            ]
            .map(str::to_owned),
        );
        command
    }

    /// Hands the cluster to a shell that waits for this process to end, then
    /// stops the server and deletes its folder.
    // Never waited for: it must outlive this process to clean up after it.
    #[allow(clippy::zombie_processes)]
    fn watch_for_exit(&mut self) {
        let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        let stop: Vec<String> = self.stop_command().iter().map(|s| quote(s)).collect();
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {root}",
            pid = std::process::id(),
            stop = stop.join(" "),
            root = quote(&self.root.to_string_lossy()),
        );
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the cluster's watchdog");
        // The watchdog deletes the folder; the TempDir must not.
        if let Some(dir) = self.dir.take() {
            let _ = dir.keep();
        }
    }

    /// Runs one of the server's tools, as the `postgres` user when we are root.
    fn tool(&self, name: &str, args: &[&str]) -> Output {
        let program = self.bin.join(name);
        let mut command = if self.as_postgres {
            let mut command = Command::new(runuser());
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        command
            .args(args)
            // The tools complain when they cannot read their working directory.
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.dir.is_none() {
            return; // the watchdog owns it
        }
        let command = self.stop_command();
        let _ = Command::new(&command[0])
            .args(&command[1..])
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // The TempDir deletes the folder when `self.dir` drops.
    }
}

/// `initdb`/`pg_ctl`'s folder: from PATH, else Debian's newest
/// `/usr/lib/postgresql/N/bin` (the package does not put them on PATH).
fn find_bin() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    });
    if let Some(dir) = on_path {
        // Follow a symlinked initdb to the folder holding the server too.
        let initdb = fs::canonicalize(dir.join("initdb")).ok()?;
        return initdb.parent().map(Path::to_path_buf);
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn running_as_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn runuser() -> PathBuf {
    ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("runuser"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("find a free loopback port")
        .port()
}

fn random_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("-{nanos:x}")
}

fn run_checked(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}",
        describe(&output)
    );
}

fn describe(output: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
