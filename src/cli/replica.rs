//! `serve --read-only`: the thread that follows a streaming replica.
//!
//! Every [`POLL`] it reads the replica's head and publishes it when it is ahead of the head
//! served so far (never back: a reader never serves a checkpoint older than one it has served,
//! so several readers behind a load balancer each move only forward), and reads the replica's
//! lag for `/readyz`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::sequencer::HeadFollower;
use crate::store::postgres::replica::{ReplicaProbe, ReplicaStatus};
use crate::store::Store;

/// How often the replica is read.
pub const POLL: Duration = Duration::from_millis(200);

/// The follower thread and the status it keeps.
pub struct Follower {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// What `/readyz` reports.
    pub status: Arc<RwLock<ReplicaStatus>>,
}

impl Follower {
    /// Starts following the replica at `url` read through `store`, publishing through `head`.
    pub fn start(store: Store, url: &str, head: HeadFollower) -> anyhow::Result<Follower> {
        let probe = ReplicaProbe::new(url)?;
        let stop = Arc::new(AtomicBool::new(false));
        // The first reading before serving: `/readyz` never shows an unread replica.
        let status = Arc::new(RwLock::new(poll(&store, &probe, &head)));
        let thread = {
            let (stop, status) = (Arc::clone(&stop), Arc::clone(&status));
            std::thread::Builder::new()
                .name("replica-follower".into())
                .spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        let next = poll(&store, &probe, &head);
                        if let Ok(mut status) = status.write() {
                            *status = next;
                        }
                        std::thread::sleep(POLL);
                    }
                })?
        };
        Ok(Follower {
            stop,
            thread: Some(thread),
            status,
        })
    }

    /// Stops the thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn poll(store: &Store, probe: &ReplicaProbe, head: &HeadFollower) -> ReplicaStatus {
    let mut status = ReplicaStatus::default();
    match store.head() {
        Ok(Some(replica)) => {
            status.replica_size = replica.size;
            if head.follow(replica) {
                tracing::debug!(size = status.replica_size, "followed the replica");
            }
        }
        Ok(None) => {}
        Err(e) => status.error = Some(format!("the replica's head cannot be read: {e}")),
    }
    status.served_size = head.size();
    match probe.lag() {
        Ok(lag) => status.lag = Some(lag),
        Err(e) => {
            status
                .error
                .get_or_insert(format!("the replica's lag cannot be read: {e}"));
        }
    }
    status
}
