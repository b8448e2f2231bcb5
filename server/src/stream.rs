//! Answers streamed as they are produced: an engine call writes on a blocking thread
//! into a bounded channel that the response body reads, so memory stays flat however
//! many rows a search finds. Each user may run only so many streams at once (the
//! reference's server had to add such a bound after its pool was exhausted).

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use valet::{Repo, RepoError};

use crate::auth::{as_caller, Caller};
use crate::reply::{Failure, Reply};
use crate::Shared;

/// Bytes gathered before a chunk goes to the client.
const CHUNK_BYTES: usize = 64 << 10;
/// Chunks a stream may run ahead of a slow client.
const CHUNKS_AHEAD: usize = 8;

/// The streams each user has open, bounded per user.
#[derive(Default)]
pub(crate) struct StreamBounds {
    per_user: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl StreamBounds {
    /// A permit for one more stream of `user`'s, or 429 when they have `limit` open.
    pub fn acquire(&self, user: &str, limit: usize) -> Result<OwnedSemaphorePermit, Failure> {
        let semaphore = {
            let mut map = self
                .per_user
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            map.entry(user.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(limit)))
                .clone()
        };
        semaphore.try_acquire_owned().map_err(|_| {
            Failure::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "{user:?} already has {limit} streaming queries running, the most one user may; \
                     retry when one has finished"
                ),
            )
        })
    }
}

/// What a stream's producer writes into: buffered, sent a chunk at a time, failing
/// once the client has gone, or has taken nothing for the stall timeout, so the
/// producer stops and its database connection is freed.
pub(crate) struct ChunkWriter {
    buffer: Vec<u8>,
    sent: bool,
    sender: mpsc::Sender<Bytes>,
    stall: Duration,
    runtime: tokio::runtime::Handle,
    /// The client stalled and the answer was cut.
    stalled: bool,
}

impl ChunkWriter {
    fn send_buffer(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        self.sent = true;
        let sent = self
            .runtime
            .block_on(self.sender.send_timeout(chunk, self.stall));
        sent.map_err(|e| match e {
            SendTimeoutError::Timeout(_) => {
                self.stalled = true;
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "the client took no data for {} s; the answer was cut short",
                        self.stall.as_secs_f64()
                    ),
                )
            }
            SendTimeoutError::Closed(_) => {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
            }
        })
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK_BYTES {
            self.send_buffer()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send_buffer()
    }
}

/// What a stream's first message says: data is coming, or the call failed before
/// writing anything (then the answer is an ordinary error with its status).
enum Start {
    Data,
    Failed(Failure),
}

/// Answer with what `produce` writes, as `content_type`, produced on a blocking
/// thread acting as the caller while `permit` is held (and, when it `reads_engine`,
/// one of the engine's turns: a search holds a connection while it streams; a file
/// does not). A failure before the first
/// chunk is an ordinary error answer; a later one cuts the body short, so a client
/// never takes a partial answer for a whole one.
pub(crate) async fn streamed(
    shared: &Arc<Shared>,
    caller: &Caller,
    permit: Option<OwnedSemaphorePermit>,
    reads_engine: bool,
    status: StatusCode,
    headers: HeaderMap,
    produce: impl FnOnce(&Repo, &mut ChunkWriter) -> Result<(), RepoError> + Send + 'static,
) -> Reply {
    let slot = if reads_engine {
        Some(shared.engine_slot().await?)
    } else {
        None
    };
    let (sender, mut receiver) = mpsc::channel(CHUNKS_AHEAD);
    let (start_tx, mut start_rx) = tokio::sync::oneshot::channel::<Start>();
    // Set when the producer fails after data has gone out: the body then ends in an
    // error, so the client sees a broken answer, never a short one that looks whole.
    let cut = Arc::new(AtomicBool::new(false));
    let producer_cut = cut.clone();
    let shared = shared.clone();
    let caller = caller.clone();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let _slot = slot;
        let mut writer = ChunkWriter {
            buffer: Vec::with_capacity(CHUNK_BYTES),
            sent: false,
            sender,
            stall: shared.options.stall_timeout,
            runtime,
            stalled: false,
        };
        let mut start = Some(start_tx);
        let result = as_caller(&caller, || {
            // The answer starts once the first chunk is ready (or the call is done),
            // so an early failure can still choose the status.
            produce(&shared.repo, &mut writer)
        });
        let result = result.and_then(|()| {
            writer.flush().map_err(|source| RepoError::Io {
                path: "the response".into(),
                source,
            })
        });
        match result {
            Ok(()) => {
                if let Some(s) = start.take() {
                    let _ = s.send(Start::Data);
                }
            }
            Err(e) => {
                if let Some(s) = start.take() {
                    if !writer.sent {
                        let _ = s.send(Start::Failed(e.into()));
                        return;
                    }
                    let _ = s.send(Start::Data);
                }
                if writer.stalled {
                    eprintln!("valet serve: a streamed answer was cut short: {e}");
                }
                producer_cut.store(true, Ordering::SeqCst);
            }
        }
    });
    // Data may be flowing before the producer finishes: the first chunk starts the
    // answer as surely as the end does.
    let first = tokio::select! {
        chunk = receiver.recv() => match chunk {
            Some(chunk) => Some(chunk),
            None => {
                if let Ok(Start::Failed(f)) = (&mut start_rx).await {
                    return Err(f);
                }
                None
            }
        },
        start = &mut start_rx => {
            if let Ok(Start::Failed(f)) = start {
                return Err(f);
            }
            None
        }
    };
    let pending: Vec<Result<Bytes, std::io::Error>> = first.into_iter().map(Ok).collect();
    let rest = futures_util::stream::unfold(Some(receiver), move |r| {
        let cut = cut.clone();
        async move {
            let mut r = r?;
            match r.recv().await {
                Some(chunk) => Some((Ok(chunk), Some(r))),
                // The producer is done: cleanly, or cut short.
                None if cut.load(Ordering::SeqCst) => {
                    Some((Err(std::io::Error::other("the answer was cut short")), None))
                }
                None => None,
            }
        }
    });
    let body = Body::from_stream(futures_util::StreamExt::chain(
        futures_util::stream::iter(pending),
        rest,
    ));
    let mut response = (status, body).into_response();
    response.headers_mut().extend(headers);
    Ok(response)
}

/// Headers naming a body's content type.
pub(crate) fn content_type(value: &'static str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
    headers
}
