//! Real PostgreSQL servers for the tests: the ones named by `LODESTONE_TEST_PG` (a primary) and
//! `LODESTONE_TEST_PG_REPLICA` (a streaming replica of it) when set — `.ci/run` starts both —
//! and otherwise a throwaway cluster this test process starts itself (`initdb` and `pg_ctl`
//! from `PATH` or `/usr/lib/postgresql/*/bin`, in a temporary directory, listening only on a
//! Unix socket there; as root, run as the `postgres` user), stopped by a watchdog when the test
//! process exits. With no PostgreSQL at all the tests fail, saying so: they are never skipped.
//!
//! Each test gets a database of its own ([`database`]), so tests run in parallel.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The primary's admin URL (a database to connect to for `CREATE DATABASE`).
pub fn primary() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| match std::env::var("LODESTONE_TEST_PG") {
        Ok(url) if !url.is_empty() => url,
        _ => Throwaway::start("primary", None).url,
    })
}

/// A streaming replica of [`primary`]: `LODESTONE_TEST_PG_REPLICA`, or one this process makes
/// with `pg_basebackup -R` from its own throwaway primary.
pub fn replica() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| match std::env::var("LODESTONE_TEST_PG_REPLICA") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            if std::env::var("LODESTONE_TEST_PG").is_ok_and(|u| !u.is_empty()) {
                panic!(
                    "LODESTONE_TEST_PG is set but LODESTONE_TEST_PG_REPLICA is not: set both \
                     (a streaming replica of that primary), or neither"
                );
            }
            let primary = primary();
            Throwaway::start("replica", Some(primary)).url
        }
    })
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or("");
    let mut out = format!("{scheme}://{authority}/{name}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A new, empty database on the primary with a unique name; its URL.
pub fn database(label: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "lodestone_{}_{}_{}_{}",
        label,
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let mut admin = postgres::Client::connect(primary(), postgres::NoTls)
        .unwrap_or_else(|e| panic!("connecting to the test PostgreSQL {}: {e}", primary()));
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    with_database(primary(), &name)
}

/// The URL of the same database as `url` (made by [`database`]) on the [`replica`].
pub fn on_replica(url: &str) -> String {
    let path = url.split_once("://").map_or("", |(_, rest)| rest);
    let path = path.split('?').next().unwrap_or("");
    let name = path.rsplit('/').next().unwrap_or("");
    with_database(replica(), name)
}

/// Waits until the replica has replayed everything the primary has committed so far.
pub fn wait_for_replica(replica_url: &str) {
    let mut primary_client =
        postgres::Client::connect(primary(), postgres::NoTls).expect("connect to the primary");
    let lsn: String = primary_client
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .expect("primary LSN")
        .get(0);
    let mut replica =
        postgres::Client::connect(replica_url, postgres::NoTls).expect("connect to the replica");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let caught_up: bool = replica
            .query_one(
                "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                &[&lsn],
            )
            .expect("replica LSN")
            .get(0);
        if caught_up {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replica did not reach the primary's LSN {lsn} in 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

struct Throwaway {
    url: String,
}

/// Where `initdb`, `pg_ctl` and `pg_basebackup` are (all three in one directory).
fn bin_dir() -> PathBuf {
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            if ["initdb", "pg_ctl", "pg_basebackup"]
                .iter()
                .all(|tool| dir.join(tool).is_file())
            {
                return dir;
            }
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|listing| {
            listing
                .flatten()
                .map(|e| e.path().join("bin"))
                .filter(|bin| bin.join("initdb").is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "the PostgreSQL tests need a PostgreSQL server: set LODESTONE_TEST_PG (and \
             LODESTONE_TEST_PG_REPLICA) to a primary and a streaming replica, or install \
             PostgreSQL (initdb and pg_ctl on PATH or under /usr/lib/postgresql/*/bin; on \
             Debian: apt-get install postgresql)"
        )
    })
}

fn is_root() -> bool {
    // The owner of our own /proc entry is our effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// A command for a PostgreSQL binary, run as `postgres` when we are root (it refuses root).
fn pg_command(bin: &Path, program: &str) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(bin.join(program));
        command
    } else {
        Command::new(bin.join(program))
    }
}

fn run(mut command: Command, what: &str) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Throwaway {
    /// Starts a cluster in a new temporary directory; a replica of `primary` when given.
    fn start(role: &str, primary: Option<&str>) -> Throwaway {
        let bin = bin_dir();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        // Short: a Unix socket path must fit 107 bytes.
        let dir = PathBuf::from(format!("/tmp/lpg-{role}-{}-{stamp}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the cluster directory");
        if is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.args(["postgres:postgres"]).arg(&dir);
                    c
                },
                "chown the cluster directory to postgres",
            );
        }
        let data = dir.join("data");
        // From here on the directory goes when this process does, whatever fails below.
        watchdog(&bin, &dir, &data);
        match primary {
            None => {
                let mut initdb = pg_command(&bin, "initdb");
                initdb.arg("-D").arg(&data).args([
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ]);
                run(initdb, "initdb");
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(data.join("pg_hba.conf"))
                    .and_then(|mut f| {
                        use std::io::Write as _;
                        f.write_all(b"local replication all trust\n")
                    })
                    .expect("allow local replication");
            }
            Some(primary) => {
                let mut base = pg_command(&bin, "pg_basebackup");
                base.arg("-d")
                    .arg(primary)
                    .arg("-D")
                    .arg(&data)
                    .args(["-R", "-X", "stream", "-c", "fast"]);
                run(base, "pg_basebackup from the primary");
            }
        }
        let options = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c max_connections=200 \
             -c wal_level=replica -c max_wal_senders=10 -c hot_standby=on \
             -c hot_standby_feedback=on",
            dir.display()
        );
        let mut start = pg_command(&bin, "pg_ctl");
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-o", &options, "-w", "-t", "60", "start"]);
        run(start, &format!("pg_ctl start ({role})"));
        Throwaway {
            url: format!("postgres:///postgres?host={}&user=postgres", dir.display()),
        }
    }
}

/// Stops the cluster in `data` and removes `dir` once this test process has exited.
fn watchdog(bin: &Path, dir: &Path, data: &Path) {
    let pg_ctl = bin.join("pg_ctl");
    let stop = if is_root() {
        format!("runuser -u postgres -- {}", pg_ctl.display())
    } else {
        pg_ctl.display().to_string()
    };
    // The outer shell returns at once, leaving the loop running in the background.
    let script = format!(
        "(while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
         {stop} -D '{data}' -m immediate -w stop; rm -rf '{dir}') >/dev/null 2>&1 &",
        pid = std::process::id(),
        data = data.display(),
        dir = dir.display(),
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("start the cluster's watchdog");
}
