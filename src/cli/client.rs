//! A small blocking HTTP client for the Lodestone API, with errors a person can act on:
//! an unreachable server, a problem+json refusal (status, code and detail), a bad response.

use std::time::Duration;

use anyhow::{anyhow, Context as _};
use serde_json::Value;

/// A refusal by the server, carrying its problem `code`.
#[derive(Debug, thiserror::Error)]
#[error("the server refused ({status} {code}): {detail}")]
pub struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// Problem code.
    pub code: String,
    /// Problem detail.
    pub detail: String,
}

/// The scheme and authority of `url` (`http://host:port`), for messages that suggest a base URL.
fn base_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}")
}

/// Talks to one server.
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Client {
        Client {
            base: base.trim_end_matches('/').to_owned(),
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(5))
                .timeout(Duration::from_secs(120))
                .build(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn fail(&self, path: &str, error: ureq::Error) -> anyhow::Error {
        match error {
            ureq::Error::Status(status, response) => {
                let body = response.into_string().unwrap_or_default();
                match serde_json::from_str::<Value>(&body) {
                    Ok(problem)
                        if status == 404
                            && problem["detail"]
                                .as_str()
                                .is_some_and(|d| d.starts_with("no such route")) =>
                    {
                        anyhow!(
                            "{}{path} is not a Lodestone route: give --server the server's base URL without a path (e.g. {})",
                            self.base,
                            base_url(&self.base)
                        )
                    }
                    Ok(problem) if problem.get("code").is_some() => anyhow!(Refusal {
                        status,
                        code: problem["code"].as_str().unwrap_or("unknown").to_owned(),
                        detail: problem["detail"].as_str().unwrap_or("").to_owned(),
                    }),
                    _ if status == 404 => anyhow!(
                        "{} answered 404 for {path}: is it a Lodestone server, and is the URL its base (e.g. {}), without a path?",
                        self.base,
                        base_url(&self.base)
                    ),
                    _ => anyhow!("{} answered {status} for {path}", self.base),
                }
            }
            ureq::Error::Transport(_)
                if !(self.base.starts_with("http://") || self.base.starts_with("https://")) =>
            {
                anyhow!(
                    "`{}` is not a URL: write the scheme too, e.g. --server http://{}",
                    self.base,
                    self.base
                )
            }
            ureq::Error::Transport(t) => anyhow!("cannot reach {}: {t}", self.base),
        }
    }

    /// GET a JSON document.
    pub fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .agent
            .get(&self.url(path))
            .call()
            .map_err(|e| self.fail(path, e))?;
        response
            .into_json()
            .with_context(|| format!("{} sent invalid JSON for {path}", self.base))
    }

    /// GET raw bytes; `None` for 404.
    pub fn get_bytes(&self, path: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match self.agent.get(&self.url(path)).call() {
            Ok(response) => {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes)
                    .with_context(|| format!("reading {path} from {}", self.base))?;
                Ok(Some(bytes))
            }
            Err(ureq::Error::Status(404, _)) => Ok(None),
            Err(e) => Err(self.fail(path, e)),
        }
    }

    /// GET text.
    pub fn get_text(&self, path: &str) -> anyhow::Result<String> {
        let bytes = self
            .get_bytes(path)?
            .ok_or_else(|| anyhow!("{} has no {path}", self.base))?;
        String::from_utf8(bytes).with_context(|| format!("{path} is not UTF-8"))
    }

    /// POST a JSON body; returns the status and the JSON answer (refusals are errors).
    pub fn post_json(&self, path: &str, body: &[u8]) -> anyhow::Result<(u16, Value)> {
        let response = self
            .agent
            .post(&self.url(path))
            .set("content-type", "application/json")
            .send_bytes(body)
            .map_err(|e| self.fail(path, e))?;
        let status = response.status();
        let value = response
            .into_json()
            .with_context(|| format!("{} sent invalid JSON for {path}", self.base))?;
        Ok((status, value))
    }
}
