//! The connection layer under the router: HTTP/1.1 with hyper, with every resource a client can
//! hold bounded (docs/API.md, "Connections"):
//!
//! - a request head must arrive within [`ServeConfig::header_timeout`] of the connection being
//!   ready for it — on a fresh connection and between keep-alive requests alike, so the same
//!   timeout closes idle keep-alive connections;
//! - at most [`ServeConfig::max_connections`] connections are open; beyond that, a new connection
//!   closes the oldest one that is not inside a request (idle, or still sending its head), and is
//!   closed itself only when every open connection is inside a request — so idle connections
//!   cannot lock anyone out;
//! - on shutdown the listener closes, every connection finishes the request it is in and closes,
//!   and whatever is still open after [`ServeConfig::shutdown_grace`] is dropped: shutdown ends
//!   in bounded time whatever clients do.
//!
//! Request bodies have their own deadline ([`super::BODY_TIMEOUT`]), enforced where they are
//! read. Every request carries the client's address ([`ClientAddr`]) for the fair shares.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

/// The address a request came from: the key of the per-client fair shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl Default for ClientAddr {
    /// Requests that did not come through [`crate::http::serve`] (a router driven directly)
    /// count as local.
    fn default() -> Self {
        ClientAddr(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }
}

/// Connection limits. [`ServeConfig::default`] is what `lodestone serve` uses.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Time to receive a request head, from when the connection is ready for one; also the
    /// idle keep-alive timeout.
    pub header_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// How long shutdown waits for open requests before dropping their connections.
    pub shutdown_grace: Duration,
}

/// Default header-read and idle timeout.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default cap on open connections (lowered to fit the descriptor limit).
pub const MAX_CONNECTIONS: usize = 4096;
/// Default time shutdown waits for open requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);
/// Descriptors kept for everything but client connections (the database, files, the listener).
const RESERVED_DESCRIPTORS: u64 = 256;

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            header_timeout: HEADER_TIMEOUT,
            max_connections: fitting_connections(MAX_CONNECTIONS),
            shutdown_grace: SHUTDOWN_GRACE,
        }
    }
}

/// Raises the soft limit on open files to the hard limit, so the connection cap, not the
/// descriptor table, is what bounds clients. Returns the soft limit now in force.
pub fn raise_descriptor_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// `wanted` connections, or fewer if the descriptor limit would not leave room for the rest.
fn fitting_connections(wanted: usize) -> usize {
    let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
    let room = soft.saturating_sub(RESERVED_DESCRIPTORS).max(16);
    wanted.min(usize::try_from(room).unwrap_or(usize::MAX))
}

/// One open connection as the registry sees it.
struct Open {
    /// Requests it is inside of (0: idle or sending a head).
    busy: Arc<AtomicUsize>,
    /// Tells it to close now.
    evict: Arc<Notify>,
    opened: Instant,
}

/// The open connections, for the cap.
#[derive(Default)]
struct Registry {
    open: Mutex<HashMap<u64, Open>>,
}

impl Registry {
    /// Makes room for one more connection under `max`: closes the oldest idle one if needed.
    /// False when every open connection is inside a request.
    fn make_room(&self, max: usize) -> bool {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.len() < max {
            return true;
        }
        let idle = open
            .iter()
            .filter(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
            .min_by_key(|(_, c)| c.opened)
            .map(|(id, _)| *id);
        match idle.and_then(|id| open.remove(&id)) {
            Some(evicted) => {
                evicted.evict.notify_one();
                true
            }
            None => false,
        }
    }

    fn add(&self, id: u64, busy: Arc<AtomicUsize>, evict: Arc<Notify>) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.insert(
            id,
            Open {
                busy,
                evict,
                opened: Instant::now(),
            },
        );
    }

    fn remove(&self, id: u64) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.remove(&id);
    }
}

/// Counts a request as in progress on its connection while it lives.
struct InRequest(Arc<AtomicUsize>);

impl InRequest {
    fn enter(busy: &Arc<AtomicUsize>) -> InRequest {
        busy.fetch_add(1, Ordering::AcqRel);
        InRequest(Arc::clone(busy))
    }
}

impl Drop for InRequest {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves `app` on `listener` with `config` until `shutdown` resolves; then closes gracefully
/// within `config.shutdown_grace`.
pub async fn serve_router(
    listener: TcpListener,
    app: Router,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let registry = Arc::new(Registry::default());
    let (closing, closed) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut next_id = 0u64;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of descriptors or a connection reset before accept: wait a little
                        // rather than spin, and go on.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if !registry.make_room(config.max_connections) {
                    tracing::warn!(%peer, "connection refused: every connection is busy");
                    drop(stream);
                    continue;
                }
                next_id += 1;
                let id = next_id;
                let busy = Arc::new(AtomicUsize::new(0));
                let evict = Arc::new(Notify::new());
                registry.add(id, Arc::clone(&busy), Arc::clone(&evict));
                let registry = Arc::clone(&registry);
                let app = app.clone();
                let closed = closed.clone();
                let header_timeout = config.header_timeout;
                connections.spawn(async move {
                    connection(stream, peer, app, header_timeout, busy, evict, closed).await;
                    registry.remove(id);
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = closing.send(true);
    let drained = tokio::time::timeout(config.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "shutdown grace over: dropping the connections still open"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Serves one connection until it closes, is evicted, or shutdown has it finish.
async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    header_timeout: Duration,
    busy: Arc<AtomicUsize>,
    evict: Arc<Notify>,
    mut closed: watch::Receiver<bool>,
) {
    let client = ClientAddr(peer.ip());
    let requests = Arc::clone(&busy);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(client);
        let in_request = InRequest::enter(&busy);
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await;
            drop(in_request);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let evicted = tokio::select! {
        _ = conn.as_mut() => return,
        () = evict.notified() => true,
        _ = closed.wait_for(|closed| *closed) => false,
    };
    // Evicted while idle (or still sending its head): close at once. A request that started
    // meanwhile is finished first, like on shutdown.
    if evicted && requests.load(Ordering::Acquire) == 0 {
        return;
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}
