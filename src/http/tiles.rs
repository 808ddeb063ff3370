//! The C2SP tlog-tiles static read API: `GET /checkpoint`, `GET /tile/<L>/<N>[.p/<W>]` and
//! `GET /tile/entries/<N>[.p/<W>]`. Tiles never change once they exist (a partial tile of width
//! W is itself immutable), so they carry long immutable cache headers and any HTTP cache or CDN
//! can serve them; only the checkpoint moves.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::log::tile::{encode_entry_bundle, TilePath, TILE_HEIGHT, TILE_WIDTH};

use super::extract::P;
use super::{ApiError, AppState};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `GET /checkpoint`: the latest signed checkpoint, `text/plain`; with a witness policy, the
/// latest one with a witness quorum and its cosignatures.
#[utoipa::path(get, path = "/checkpoint", tag = "c2sp", operation_id = "checkpoint",
    summary = "C2SP signed checkpoint (with a witness policy: the latest one with a quorum)",
    responses((status = 200, description = "A C2SP tlog-checkpoint in a signed note",
               content_type = "text/plain", body = String)),
    extensions(("x-problems" = json!(["not_witnessed"]))))]
pub async fn checkpoint(State(state): State<AppState>) -> Response {
    if let Some(witnessed) = super::witnessed::witnessed_checkpoint(&state) {
        return witnessed;
    }
    let head = state.sequencer.head();
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        head.checkpoint.clone(),
    )
        .into_response()
}

/// `GET /tile/...`: a hash tile or an entry bundle, if the log is large enough to have it.
#[utoipa::path(get, path = "/tile/{*path}", tag = "c2sp", operation_id = "tile",
    summary = "C2SP tlog-tiles: a hash tile or an entry bundle",
    params(("path" = String, Path, description = "The rest of the tile path, several segments: `<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`, N in three-digit groups (`x001/x234/067`)",
            pattern = "^(?:entries|[0-9]+)/(?:x[0-9]{3}/)*[0-9]{3}(?:\\.p/[0-9]+)?$", example = "0/000.p/5")),
    responses((status = 200, description = "The tile's bytes (immutable)",
               content_type = "application/octet-stream", body = ref("#/components/schemas/Binary"))),
    extensions(("x-problems" = json!(["bad_tile_path", "not_found"]))))]
pub async fn tile(State(state): State<AppState>, P(rest): P<String>) -> Result<Response, ApiError> {
    let path = format!("tile/{rest}");
    let tile = TilePath::parse(&path).map_err(|e| {
        ApiError::bad_request("bad_tile_path", format!("`{path}` is not a tile path: {e}"))
    })?;
    let size = state.sequencer.head().size;
    let body = match tile {
        TilePath::Hashes {
            level,
            index,
            width,
        } => {
            let node_level = u32::from(level) * u32::from(TILE_HEIGHT);
            let nodes_at_level = if node_level >= 64 {
                0
            } else {
                size >> node_level
            };
            let start = index.saturating_mul(TILE_WIDTH);
            if start.saturating_add(u64::from(width)) > nodes_at_level {
                return Err(ApiError::not_found(format!(
                    "tile {path} is beyond the tree of size {size}"
                )));
            }
            let hashes = state
                .store
                .node_row(node_level as u8, start, u64::from(width))
                .map_err(ApiError::internal)?;
            if hashes.len() != usize::from(width) {
                return Err(ApiError::internal(format!("tile {path}: missing nodes")));
            }
            hashes.iter().flat_map(|h| h.0).collect::<Vec<u8>>()
        }
        TilePath::Entries { index, width } => {
            let start = index.saturating_mul(TILE_WIDTH);
            if start.saturating_add(u64::from(width)) > size {
                return Err(ApiError::not_found(format!(
                    "entry bundle {path} is beyond the log of size {size}"
                )));
            }
            let entries = state
                .store
                .raw_entries(start, start + u64::from(width))
                .map_err(ApiError::internal)?;
            let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
            encode_entry_bundle(&refs).map_err(ApiError::internal)?
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, IMMUTABLE),
        ],
        body,
    )
        .into_response())
}
