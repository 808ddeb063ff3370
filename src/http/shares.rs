//! Fair shares of the heavy routes (`POST /v1/entries:batch`, `POST /v1/verify`): each holds a
//! blocking thread and up to a body's worth of memory while it runs, so at most
//! [`HEAVY_REQUESTS`] run at once (`503 busy` beyond) and at most [`HEAVY_PER_CLIENT`] per
//! client address (`429 rate_limited` beyond). Bundle verification holds the whole parsed
//! bundle (up to 64 MiB of text) and a core, so at most [`VERIFY_REQUESTS`] of those run at once
//! (`503 busy` beyond). Every answer comes before the body is read.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;

use super::server::ClientAddr;
use super::ApiError;

/// Heavy requests served at once.
pub const HEAVY_REQUESTS: usize = 8;
/// Heavy requests one client address may have at once.
pub const HEAVY_PER_CLIENT: usize = 4;
/// Bundle verifications at once.
pub const VERIFY_REQUESTS: usize = 2;

/// The counters: heavy requests, verifications, heavy requests per client.
#[derive(Default)]
pub struct Gate {
    running: Mutex<(usize, usize, HashMap<IpAddr, usize>)>,
}

/// A heavy request in progress; leaving it frees its place.
pub struct Pass {
    gate: Arc<Gate>,
    client: IpAddr,
    verify: bool,
}

impl Gate {
    /// Takes a place for a batch from `client`, or says why not.
    pub fn enter(self: &Arc<Self>, client: ClientAddr) -> Result<Pass, ApiError> {
        self.take(client, false)
    }

    /// Takes a place for a bundle verification from `client`, or says why not.
    pub fn enter_verify(self: &Arc<Self>, client: ClientAddr) -> Result<Pass, ApiError> {
        self.take(client, true)
    }

    fn take(self: &Arc<Self>, client: ClientAddr, verify: bool) -> Result<Pass, ApiError> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if verify && running.1 >= VERIFY_REQUESTS {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                format!("{VERIFY_REQUESTS} bundles are being verified; retry shortly"),
            ));
        }
        if running.0 >= HEAVY_REQUESTS {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                format!("{HEAVY_REQUESTS} batch or verify requests are running; retry shortly"),
            ));
        }
        let mine = running.2.entry(client.0).or_insert(0);
        if *mine >= HEAVY_PER_CLIENT {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "this client already has {HEAVY_PER_CLIENT} batch or verify requests running"
                ),
            ));
        }
        *mine += 1;
        running.0 += 1;
        if verify {
            running.1 += 1;
        }
        Ok(Pass {
            gate: Arc::clone(self),
            client: client.0,
            verify,
        })
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        let mut running = self.gate.running.lock().unwrap_or_else(|e| e.into_inner());
        running.0 = running.0.saturating_sub(1);
        if self.verify {
            running.1 = running.1.saturating_sub(1);
        }
        if let Some(mine) = running.2.get_mut(&self.client) {
            *mine -= 1;
            if *mine == 0 {
                running.2.remove(&self.client);
            }
        }
    }
}
