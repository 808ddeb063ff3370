//! The c2sp.org/tlog-witness wire formats: the `add-checkpoint` request body and the
//! `text/x.tlog.size` conflict body. Pure: no I/O.
//!
//! ```text
//! old <size, ASCII decimal, no leading zeros>\n
//! <base64 consistency proof hash>\n          (0 to 63 lines)
//! \n
//! <signed checkpoint note>                  (may carry several signatures)
//! ```

use crate::log::hash::Hash;

/// Most consistency proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;
/// Largest request body a witness reads.
pub const MAX_REQUEST_BODY: usize = 64 * 1024;
/// Content type of a 409 answer.
pub const TLOG_SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// A parsed `add-checkpoint` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the client believes the witness holds.
    pub old_size: u64,
    /// The consistency proof from `old_size` to the new checkpoint.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note.
    pub checkpoint: String,
}

/// Why a request body is malformed (answered `400`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed add-checkpoint body: {reason}")]
pub struct MalformedRequest {
    /// What is wrong.
    pub reason: &'static str,
}

fn malformed(reason: &'static str) -> MalformedRequest {
    MalformedRequest { reason }
}

/// Canonical decimal: `0`, or digits without a leading zero, fitting u64.
pub fn parse_decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

impl AddCheckpoint {
    /// The request body.
    pub fn to_text(&self) -> String {
        let mut text = format!("old {}\n", self.old_size);
        for hash in &self.proof {
            text.push_str(&hash.to_base64());
            text.push('\n');
        }
        text.push('\n');
        text.push_str(&self.checkpoint);
        text
    }

    /// Parses a request body.
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, MalformedRequest> {
        if body.len() > MAX_REQUEST_BODY {
            return Err(malformed("body is too large"));
        }
        let text = std::str::from_utf8(body).map_err(|_| malformed("body is not UTF-8"))?;
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or(malformed("no empty line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old_size = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(parse_decimal)
            .ok_or(malformed("first line is not `old <size>`"))?;
        let mut proof = Vec::new();
        for line in lines {
            if proof.len() == MAX_PROOF_LINES {
                return Err(malformed("more than 63 consistency proof lines"));
            }
            proof.push(
                Hash::from_base64(line)
                    .map_err(|_| malformed("a proof line is not base64 of 32 bytes"))?,
            );
        }
        if checkpoint.is_empty() {
            return Err(malformed("no checkpoint after the empty line"));
        }
        Ok(AddCheckpoint {
            old_size,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }
}

/// Parses a `text/x.tlog.size` body: a decimal size and a newline.
pub fn parse_size_body(body: &str) -> Option<u64> {
    body.strip_suffix('\n').and_then(parse_decimal)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../fixtures/vectors/c2sp/add-checkpoint-request.txt");

    #[test]
    fn the_spec_example_request_parses_and_prints_back() {
        let request = AddCheckpoint::parse(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(request.old_size, 20852014);
        assert_eq!(request.proof.len(), 4);
        assert!(request
            .checkpoint
            .starts_with("example.com/behind-the-sofa\n20852163\n"));
        assert_eq!(request.to_text(), EXAMPLE);
    }

    #[test]
    fn malformed_requests_are_refused() {
        let cp = "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— o AAAAAAA=\n";
        for bad in [
            format!("old 01\n\n{cp}"),
            format!("old -1\n\n{cp}"),
            format!("new 1\n\n{cp}"),
            format!("old 1\nAAAA\n\n{cp}"),
            format!("old 1\n{cp}"),
            "old 1\n\n".to_owned(),
            format!(
                "old 1\n{}\n{cp}",
                "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n".repeat(64)
            ),
        ] {
            assert!(AddCheckpoint::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert_eq!(parse_size_body("12\n"), Some(12));
        assert_eq!(parse_size_body("012\n"), None);
        assert_eq!(parse_size_body("12"), None);
    }
}
