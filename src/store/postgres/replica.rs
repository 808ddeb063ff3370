//! What a read-only server knows of its streaming replica: how far behind the primary it is.
//!
//! Lag is read on the replica itself: the WAL received but not yet replayed
//! (`pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())`, bytes) and the age
//! of the last transaction replayed (`now() - pg_last_xact_replay_timestamp()`, seconds). The
//! age grows while the primary is idle even though nothing is missing, so it is reported as 0
//! when everything received has been replayed.

use std::str::FromStr as _;

use postgres::Config;
use serde::Serialize;

use super::pool::{pg_error, Pool};
use super::redacted;
use crate::store::StoreError;

/// The replica's lag at one moment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplicaLag {
    /// Whether the database is a standby (`pg_is_in_recovery()`); a primary has no lag.
    pub standby: bool,
    /// Seconds since the last replayed transaction committed on the primary; 0 when every
    /// received byte is replayed.
    pub lag_seconds: f64,
    /// WAL bytes received but not yet replayed.
    pub lag_bytes: u64,
}

/// A connection pool to a replica, for lag probes.
pub struct ReplicaProbe {
    pool: Pool,
}

impl ReplicaProbe {
    /// A probe of the database at `url` (nothing is opened yet).
    pub fn new(url: &str) -> Result<ReplicaProbe, StoreError> {
        let config = Config::from_str(url).map_err(|e| StoreError::Layout {
            dir: redacted(url),
            detail: format!("not a PostgreSQL connection URL: {e}"),
        })?;
        Ok(ReplicaProbe {
            pool: Pool::new(config),
        })
    }

    /// Reads the lag now.
    pub fn lag(&self) -> Result<ReplicaLag, StoreError> {
        self.pool.with(|c| {
            let row = c
                .query_one(
                    "SELECT pg_is_in_recovery(), \
                     CASE WHEN NOT pg_is_in_recovery() \
                            OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 \
                          ELSE coalesce(extract(epoch FROM now() - \
                               pg_last_xact_replay_timestamp())::float8, 0) END, \
                     CASE WHEN pg_is_in_recovery() THEN coalesce(pg_wal_lsn_diff( \
                          pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8, 0) \
                          ELSE 0 END",
                    &[],
                )
                .map_err(pg_error("read the replication lag"))?;
            let bytes: f64 = row.get(2);
            Ok(ReplicaLag {
                standby: row.get(0),
                lag_seconds: row.get::<_, f64>(1).max(0.0),
                // Byte counts are whole and far below 2^53.
                lag_bytes: bytes.max(0.0) as u64,
            })
        })
    }
}

/// What a read-only server last learned of its replica, for `/readyz`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReplicaStatus {
    /// The size of the head this server serves (it only grows).
    pub served_size: u64,
    /// The size of the replica's head when last read.
    pub replica_size: u64,
    /// The lag when last read.
    pub lag: Option<ReplicaLag>,
    /// Why the replica could not be read, if it could not.
    pub error: Option<String>,
}
