//! A `lodestone serve` of the bench in a process of its own (the hostile-client section, the
//! read-only server on a replica): started with the real binary on 127.0.0.1:0, its address
//! read from its "listening on" line, killed when dropped, including on any early return.

use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context as _};

/// The server process, killed when dropped.
pub struct ChildServer {
    /// The process.
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl ChildServer {
    /// Runs `lodestone serve --addr 127.0.0.1:0` with `args` after it, and waits until it
    /// listens.
    pub fn start<S: AsRef<OsStr>>(args: &[S]) -> anyhow::Result<ChildServer> {
        let child = Command::new(std::env::current_exe()?)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting `lodestone serve`")?;
        // Owned at once, so that it is killed on any early return below.
        let mut server = ChildServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let stdout = server.child.stdout.take().context("server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        server.addr = loop {
            let Some(line) = lines.next() else {
                bail!("the server exited before listening");
            };
            if let Some(rest) = line?.strip_prefix("listening on http://") {
                break rest.trim().parse()?;
            }
        };
        // Keep draining its stdout so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(server)
    }

    /// Its base URL.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
