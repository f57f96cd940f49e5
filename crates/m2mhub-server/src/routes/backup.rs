//! `GET /v1/backup` (operator): the ledger as of one read snapshot, in the backup format of
//! `m2mhub_ledger::backup`, streamed while ingest keeps running. A blocking thread reads the
//! snapshot in chunks and hands them to the response body through a bounded channel, so
//! memory stays bounded whatever the ledger's size and a slow client only slows the reader
//! (it never holds the ledger's writer). The hub's key files are never served.

use std::io::Write;

use axum::{
    body::{Body, Bytes},
    extract::State,
    http::header::{CONTENT_DISPOSITION, CONTENT_TYPE},
    response::{IntoResponse, Response},
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::{extract::Operator, state::AppState};

/// Bytes gathered before a chunk is handed to the body.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks in flight between the reader and the connection: with [`CHUNK_BYTES`], at most
/// half a MiB of a backup is in memory per request.
const CHUNKS_IN_FLIGHT: usize = 8;

/// `GET /v1/backup`: `application/octet-stream`, `ledger.m2mbackup`. A failure after the
/// first byte (the store fails, the hub shuts down) cuts the body short: the file then has no
/// trailer and `restore` refuses it.
#[utoipa::path(get, path = "/v1/backup", operation_id = "backup", tag = "operations",
    summary = "A consistent snapshot of the ledger as a backup (format m2mhub-backup v1, docs/BACKUP.md), streamed while ingest runs",
    security(("operator" = [])),
    responses((status = 200, description = "the backup file, `ledger.m2mbackup`", body = Vec<u8>, content_type = "application/octet-stream")))]
pub async fn backup(_: Operator, State(s): State<AppState>) -> Response {
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(CHUNKS_IN_FLIGHT);
    let ledger = s.ledger.clone();
    tokio::task::spawn_blocking(move || {
        let out = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK_BYTES),
        };
        match ledger.backup(out) {
            Ok(b) => tracing::info!(entries = b.entries, blocks = b.blocks, "backup served"),
            Err(e) => {
                tracing::warn!("backup stopped: {e}");
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        }
    });
    let mut closing = s.closing.clone();
    // A shutdown ends the stream (cut short, so refused by restore) instead of waiting for it.
    let body = futures_util::StreamExt::take_until(ReceiverStream::new(rx), async move {
        let _ = closing.wait_for(|c| *c).await;
    });
    (
        [
            (CONTENT_TYPE, "application/octet-stream"),
            (
                CONTENT_DISPOSITION,
                "attachment; filename=\"ledger.m2mbackup\"",
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// Hands what is written to the body in chunks; fails once the client has gone (which stops
/// the backup and releases its snapshot).
struct ChannelWriter {
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}
