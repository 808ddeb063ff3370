//! The PostgreSQL schema: versioned migrations recorded in `lodestone_schema`, and the writer's
//! advisory lock.
//!
//! Each migration runs in its own transaction together with the row that records it, under a
//! transaction-level advisory lock, so two processes opening a new database at once cannot both
//! apply it. A database whose `lodestone_schema` names a version newer than this build knows is
//! refused before anything is read: an older build must not guess at a newer layout.

use postgres::Client;

use super::super::StoreError;
use super::pool::{pg_error, Pool};

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: i32 = 1;

/// Migration `n` (1-based) brings the schema from version `n - 1` to `n`.
const MIGRATIONS: [&str; 1] = [
    // 1: the log (entries, tree nodes, checkpoints, head) and the state records.
    "CREATE TABLE entries (idx bigint PRIMARY KEY, bytes bytea NOT NULL);
     CREATE TABLE nodes (level smallint NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL,
                         PRIMARY KEY (level, idx));
     CREATE TABLE checkpoints (size bigint PRIMARY KEY, note text NOT NULL);
     CREATE TABLE head (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                        size bigint NOT NULL, head bytea NOT NULL);
     CREATE TABLE state (key bytea PRIMARY KEY, value bytea NOT NULL);",
];

/// The advisory lock key of the one writer ("LODE" in ASCII); it shows in `pg_locks` as
/// `classid 0, objid 1280262213`.
pub const WRITER_LOCK: i64 = 0x4C4F_4445;
/// The lock key that serialises migrations.
const MIGRATION_LOCK: i64 = 0x4C4F_4446;

/// The schema version recorded in the database (`None`: no `lodestone_schema` table).
fn recorded_version(client: &mut Client) -> Result<Option<i32>, StoreError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('lodestone_schema') IS NOT NULL", &[])
        .map_err(pg_error("read the schema version"))?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_one("SELECT max(version) FROM lodestone_schema", &[])
        .map_err(pg_error("read the schema version"))?;
    Ok(Some(row.get::<_, Option<i32>>(0).unwrap_or(0)))
}

fn newer(database: &str, version: i32) -> StoreError {
    StoreError::Layout {
        dir: database.to_owned(),
        detail: format!(
            "the PostgreSQL schema is version {version} (table lodestone_schema), but this build \
             reads version {SCHEMA_VERSION}: it was written by a newer lodestone; use a release \
             that reads schema {version}"
        ),
    }
}

/// Brings the schema to [`SCHEMA_VERSION`], creating it in an empty database; refuses a newer
/// one.
pub(crate) fn migrate(client: &mut Client, database: &str) -> Result<(), StoreError> {
    loop {
        let mut tx = client.transaction().map_err(pg_error("begin"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(pg_error("lock for migration"))?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS lodestone_schema (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .map_err(pg_error("create lodestone_schema"))?;
        let version: i32 = tx
            .query_one(
                "SELECT coalesce(max(version), 0) FROM lodestone_schema",
                &[],
            )
            .map_err(pg_error("read the schema version"))?
            .get(0);
        if version > SCHEMA_VERSION {
            return Err(newer(database, version));
        }
        if version == SCHEMA_VERSION {
            return tx.commit().map_err(pg_error("commit"));
        }
        let next = version + 1;
        let sql = MIGRATIONS[usize::try_from(version).unwrap_or(0)];
        tx.batch_execute(sql)
            .map_err(pg_error("apply a schema migration"))?;
        tx.execute(
            "INSERT INTO lodestone_schema (version) VALUES ($1)",
            &[&next],
        )
        .map_err(pg_error("record the schema version"))?;
        tx.commit().map_err(pg_error("commit a schema migration"))?;
        tracing::info!(version = next, "applied a PostgreSQL schema migration");
    }
}

/// Checks, without changing anything, that the database holds a ledger this build reads.
pub(crate) fn check(pool: &Pool, database: &str) -> Result<(), StoreError> {
    pool.with(|client| match recorded_version(client)? {
        None => Err(StoreError::Layout {
            dir: database.to_owned(),
            detail: "no lodestone_schema table: not a Lodestone ledger (create one with \
                     `lodestone init --store <url>`)"
                .into(),
        }),
        Some(v) if v > SCHEMA_VERSION => Err(newer(database, v)),
        Some(v) if v < SCHEMA_VERSION => Err(StoreError::Layout {
            dir: database.to_owned(),
            detail: format!(
                "the PostgreSQL schema is version {v}, older than this build's \
                 {SCHEMA_VERSION}; open it once with a writer (`lodestone serve --store`) to \
                 migrate it"
            ),
        }),
        Some(_) => Ok(()),
    })
}

/// Takes the writer's session-level advisory lock on `client`, waiting up to `wait` for a
/// holder that is going away; refuses with the holder's name, process and host otherwise.
pub(crate) fn lock_writer(
    client: &mut Client,
    database: &str,
    wait: std::time::Duration,
) -> Result<(), StoreError> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&WRITER_LOCK])
            .map_err(pg_error("take the writer lock"))?
            .get(0);
        if got {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(StoreError::ReadOnly {
                reason: format!(
                    "another writer holds the ledger in {database}: {}; a ledger has one \
                     writer (stop it first, or serve this copy with --read-only)",
                    holder(client)
                ),
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Who holds the writer lock, from `pg_locks` and `pg_stat_activity`.
fn holder(client: &mut Client) -> String {
    let row = client.query_opt(
        "SELECT coalesce(a.application_name, ''), a.pid, \
                coalesce(a.client_hostname, host(a.client_addr), 'local socket'), \
                coalesce(to_char(a.backend_start, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'), '') \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 \
           AND l.objid = $1::bigint::oid \
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         LIMIT 1",
        &[&WRITER_LOCK],
    );
    match row {
        Ok(Some(row)) => {
            let name: String = row.get(0);
            let pid: i32 = row.get(1);
            let host: String = row.get(2);
            let since: String = row.get(3);
            format!(
                "application_name `{name}`, server backend pid {pid}, client {host}, connected since {since}"
            )
        }
        Ok(None) => "a session that has just released it".into(),
        Err(e) => format!("(who holds it could not be read: {e})"),
    }
}
