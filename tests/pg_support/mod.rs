//! A throwaway PostgreSQL cluster for the tests that need a real server: `initdb`
//! into a temporary folder, `pg_ctl start` on a free loopback port (its socket in
//! that folder too), and `pg_ctl stop` when the [`Cluster`] is dropped — also when
//! the test panics. Only when `COURIER_TEST_POSTGRES=1`; otherwise [`Cluster::start`]
//! says on stderr which test it skips and why, and the test passes without it.
//!
//! The binaries are taken from `COURIER_PG_BIN`, else Debian's
//! `/usr/lib/postgresql/15/bin`. `initdb` refuses to run as root, so as root the
//! cluster belongs to `nobody` and every server command runs through `runuser -u
//! nobody --` (util-linux, on every Debian); the folder is given to `nobody`.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The variable that turns the PostgreSQL tests on.
pub const ENABLE: &str = "COURIER_TEST_POSTGRES";

/// The user a root test process runs the cluster as.
const UNPRIVILEGED: &str = "nobody";

/// A running cluster; stopped and deleted when dropped.
pub struct Cluster {
    folder: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_user: Option<&'static str>,
}

impl Cluster {
    /// Whether the PostgreSQL tests run.
    pub fn enabled() -> bool {
        std::env::var(ENABLE).is_ok_and(|value| value == "1")
    }

    /// A new cluster, or `None` (with a note on stderr naming `test`) when the
    /// PostgreSQL tests are off.
    pub fn start(test: &str) -> Option<Cluster> {
        if !Cluster::enabled() {
            // Straight to stderr, past the test harness's capture, so that a plain
            // `cargo test` shows what it did not run.
            let _ = writeln!(
                std::io::stderr(),
                "skipped {test}: it needs a PostgreSQL server; set {ENABLE}=1 (and COURIER_PG_BIN if the binaries \
                 are not in /usr/lib/postgresql/15/bin) to run it against a throwaway cluster"
            );
            return None;
        }
        let bin = std::env::var_os("COURIER_PG_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"));
        assert!(
            bin.join("initdb").exists() && bin.join("pg_ctl").exists(),
            "{ENABLE}=1, but there is no initdb and pg_ctl in {} (set COURIER_PG_BIN)",
            bin.display()
        );
        let folder = tempfile::Builder::new().prefix("courier-pg-").tempdir().expect("a temporary folder");
        let as_user = is_root().then_some(UNPRIVILEGED);
        if as_user.is_some() {
            give_to_nobody(folder.path());
        }
        let mut cluster = Cluster { folder, bin, port: 0, as_user };
        let data = cluster.data();
        cluster
            .run_ok("initdb", &["-D", &data, "-U", "courier", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
        cluster.port = free_port();
        cluster.pg_ctl(&["start"]);
        Some(cluster)
    }

    /// Every file of the cluster (its data, its WAL, its log), with its bytes.
    pub fn files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut found = Vec::new();
        let mut pending = vec![self.folder.path().to_owned()];
        while let Some(folder) = pending.pop() {
            for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    found.push((path, bytes));
                }
            }
        }
        found
    }

    /// The address of its `postgres` database, as user `courier` (trust authentication).
    pub fn url(&self) -> String {
        format!("postgres://courier@127.0.0.1:{}/postgres", self.port)
    }

    /// A fresh database of this name; its address.
    pub fn database(&self, name: &str) -> String {
        let mut client = postgres::Client::connect(&self.url(), postgres::NoTls).expect("the cluster answers");
        client.batch_execute(&format!("CREATE DATABASE {name}")).expect("a new database");
        format!("postgres://courier@127.0.0.1:{}/{name}", self.port)
    }

    /// Crashes the server and starts it again (`pg_ctl restart -m immediate`): every
    /// connection is cut, and the server recovers from its WAL.
    pub fn restart_immediately(&self) {
        self.pg_ctl(&["restart", "-m", "immediate"]);
    }

    /// Stops the server (`pg_ctl stop -m fast`): every connection is refused until
    /// [`Cluster::start_again`].
    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast"]);
    }

    /// Starts a stopped server again, on the same port.
    pub fn start_again(&self) {
        self.pg_ctl(&["start"]);
    }

    /// The server's log, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.folder.path().join("server.log")).unwrap_or_default()
    }

    fn data(&self) -> String {
        self.folder.path().join("data").display().to_string()
    }

    fn pg_ctl(&self, action: &[&str]) {
        let data = self.data();
        let log = self.folder.path().join("server.log").display().to_string();
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200",
            self.port,
            self.folder.path().display()
        );
        let mut args = vec!["-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60"];
        args.extend_from_slice(action);
        self.run_ok("pg_ctl", &args);
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        match self.as_user {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(program);
                command
            }
            None => Command::new(program),
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        self.command(program)
            .args(args)
            .current_dir(self.folder.path())
            .output()
            .unwrap_or_else(|error| panic!("{program} does not run: {error}"))
    }

    fn run_ok(&self, program: &str, args: &[&str]) {
        let output = self.run(program, args);
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.port != 0 {
            let data = self.data();
            let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        }
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

fn give_to_nobody(folder: &Path) {
    let id = |flag: &str| -> u32 {
        let output = Command::new("id").args([flag, UNPRIVILEGED]).output().expect("id runs");
        String::from_utf8_lossy(&output.stdout).trim().parse().expect("nobody has an id")
    };
    std::os::unix::fs::chown(folder, Some(id("-u")), Some(id("-g"))).expect("the folder can be given to nobody");
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("an address").port()
}
