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
                    Ok(problem) if problem.get("code").is_some() => anyhow!(Refusal {
                        status,
                        code: problem["code"].as_str().unwrap_or("unknown").to_owned(),
                        detail: problem["detail"].as_str().unwrap_or("").to_owned(),
                    }),
                    _ => anyhow!("{} answered {status} for {path}", self.base),
                }
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
