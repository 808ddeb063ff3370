//! One witness seen from a log or a monitor: blocking HTTP calls over a keep-alive agent
//! (c2sp.org/tlog-witness recommends keep-alive). Call it from a blocking thread.

use std::io::Read as _;
use std::time::Duration;

use super::protocol::{parse_size_body, AddCheckpoint, TLOG_SIZE_CONTENT_TYPE};
use super::state::origin_hash;

/// Largest answer read from a witness.
const MAX_ANSWER: u64 = 64 * 1024;

/// What a witness answered to `add-checkpoint`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddOutcome {
    /// `200`: the cosignature lines (not yet verified).
    Cosigned(String),
    /// `409`: the size the witness holds.
    Conflict(u64),
    /// Any other answer.
    Refused {
        /// HTTP status.
        status: u16,
        /// The body, for the log.
        detail: String,
    },
}

/// The witness could not be reached or answered something unreadable.
#[derive(Debug, thiserror::Error)]
#[error("witness {url}: {detail}")]
pub struct TransportError {
    /// The witness's URL.
    pub url: String,
    /// What happened.
    pub detail: String,
}

/// A witness at a submission prefix.
#[derive(Clone, Debug)]
pub struct WitnessClient {
    url: String,
    agent: ureq::Agent,
}

impl WitnessClient {
    /// A client for the witness whose submission (and monitoring) prefix is `url`.
    pub fn new(url: &str, timeout: Duration) -> WitnessClient {
        WitnessClient {
            url: url.trim_end_matches('/').to_owned(),
            agent: ureq::AgentBuilder::new().timeout(timeout).build(),
        }
    }

    /// The prefix.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn transport(&self, detail: impl ToString) -> TransportError {
        TransportError {
            url: self.url.clone(),
            detail: detail.to_string(),
        }
    }

    /// `POST <prefix>/add-checkpoint`.
    pub fn add_checkpoint(&self, request: &AddCheckpoint) -> Result<AddOutcome, TransportError> {
        let sent = self
            .agent
            .post(&format!("{}/add-checkpoint", self.url))
            .set("content-type", "text/plain; charset=utf-8")
            .send_string(&request.to_text());
        let response = match sent {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(self.transport(e)),
        };
        let status = response.status();
        let content_type = response.content_type().to_owned();
        let mut body = String::new();
        response
            .into_reader()
            .take(MAX_ANSWER)
            .read_to_string(&mut body)
            .map_err(|e| self.transport(e))?;
        Ok(match status {
            200 => AddOutcome::Cosigned(body),
            409 if content_type == TLOG_SIZE_CONTENT_TYPE => match parse_size_body(&body) {
                Some(size) => AddOutcome::Conflict(size),
                None => return Err(self.transport("409 with a malformed size body")),
            },
            _ => AddOutcome::Refused {
                status,
                detail: body,
            },
        })
    }

    /// `GET <prefix>/<origin hash>/checkpoint`: the latest checkpoint the witness cosigned for
    /// `origin`, or `None` if it has none.
    pub fn latest(&self, origin: &str) -> Result<Option<String>, TransportError> {
        let got = self
            .agent
            .get(&format!("{}/{}/checkpoint", self.url, origin_hash(origin)))
            .call();
        let response = match got {
            Ok(r) => r,
            Err(ureq::Error::Status(404, _)) => return Ok(None),
            Err(e) => return Err(self.transport(e)),
        };
        let mut body = String::new();
        response
            .into_reader()
            .take(MAX_ANSWER)
            .read_to_string(&mut body)
            .map_err(|e| self.transport(e))?;
        Ok(Some(body))
    }
}
