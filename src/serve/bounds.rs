//! How much the server takes on at once, and for how long. Without bounds, 50
//! connections that each asked for a 16 MB render and never read the answer held
//! 2.44 GB, and 300 connections that never finished their headers made the server
//! unreachable. So:
//!
//! - at most [`MAX_IN_PROGRESS`] requests are handled at once, and
//!   [`MAX_SENDING`] sends besides (one waits for a turn up to [`WAIT_FOR_TURN`],
//!   then gets 503), and at most [`MAX_WORKING`] of them evaluate, render, check
//!   or list leaves at once, on the blocking pool;
//! - answers larger than [`SMALL_ANSWER`] bytes share a budget of
//!   [`MAX_ANSWER_BYTES`] until they are written out (an answer that does not fit
//!   is a 503): an unread answer holds its share, never more. Small answers (an
//!   `/v1/eval`) never wait on it;
//! - a connection has [`HEADER_READ_TIMEOUT`] to send a request's headers, counted
//!   from when the server waits for them — so it is also the idle timeout of a
//!   kept-alive connection —, [`BODY_READ_TIMEOUT`] to send its body, and a write
//!   that makes no progress for [`WRITE_TIMEOUT`] closes the connection.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use super::errors::ApiError;

/// Most requests handled at once, besides sends.
pub const MAX_IN_PROGRESS: usize = 32;

/// Most `/v1/send` requests handled at once: each may wait on a slow service for
/// its whole timeout, so they have turns of their own and never hold the others'.
pub const MAX_SENDING: usize = 8;

/// Most requests evaluating, rendering, checking or listing at once (each may use
/// an evaluation's byte budget, 64 MiB, and a 16 MiB output).
pub const MAX_WORKING: usize = 4;

/// The longest a request waits for its turn before it is answered 503.
pub const WAIT_FOR_TURN: Duration = Duration::from_secs(10);

/// Answers up to this size are not counted against [`MAX_ANSWER_BYTES`].
pub const SMALL_ANSWER: usize = 64 << 10;

/// Most bytes of larger answers being written at once.
pub const MAX_ANSWER_BYTES: usize = 256 << 20;

/// The time a connection has to send a request's headers, from when the server
/// waits for them (after connecting, or after the previous answer).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The time a request has to send its body.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest a write to a connection may make no progress.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The pieces a large answer is written in: the answer is held until its last
/// piece is taken, and so is its share of [`MAX_ANSWER_BYTES`].
const PIECE: usize = 64 << 10;

/// The server's turns and answer budget.
#[derive(Debug)]
pub(crate) struct Bounds {
    in_progress: Arc<Semaphore>,
    sending: Arc<Semaphore>,
    working: Arc<Semaphore>,
    answers: Arc<Semaphore>,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            in_progress: Arc::new(Semaphore::new(MAX_IN_PROGRESS)),
            sending: Arc::new(Semaphore::new(MAX_SENDING)),
            working: Arc::new(Semaphore::new(MAX_WORKING)),
            answers: Arc::new(Semaphore::new(MAX_ANSWER_BYTES)),
        }
    }
}

impl Bounds {
    /// A turn to do CPU work on the blocking pool, held until the work ends.
    pub(crate) async fn work_turn(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        turn(&self.working).await
    }
}

fn busy(what: &str) -> ApiError {
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: format!("the server is busy ({what}); try again shortly"),
    }
}

async fn turn(semaphore: &Arc<Semaphore>) -> Result<OwnedSemaphorePermit, ApiError> {
    match tokio::time::timeout(WAIT_FOR_TURN, semaphore.clone().acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(busy("too many requests in progress")),
    }
}

/// The middleware: a request waits for a turn, and a large answer takes its share
/// of the answer budget until it is written.
pub(crate) async fn limit(State(bounds): State<Arc<Bounds>>, request: Request, next: Next) -> Response {
    let turns = if request.uri().path() == "/v1/send" { &bounds.sending } else { &bounds.in_progress };
    let turn = match turn(turns).await {
        Ok(turn) => turn,
        Err(refusal) => return refusal.into_response(),
    };
    let response = next.run(request).await;
    drop(turn);
    let size = usize::try_from(http_body::Body::size_hint(response.body()).lower()).unwrap_or(usize::MAX);
    if size <= SMALL_ANSWER {
        return response;
    }
    let share = u32::try_from(size).ok().and_then(|size| bounds.answers.clone().try_acquire_many_owned(size).ok());
    let Some(share) = share else {
        return busy("too many large answers are being written").into_response();
    };
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => Response::from_parts(parts, Body::new(Pieces { bytes, _share: share })),
        Err(_) => ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, message: "the answer failed".to_owned() }
            .into_response(),
    }
}

/// An answer written piece by piece, holding its share of the budget until the
/// last piece is taken (or the connection is dropped).
struct Pieces {
    bytes: Bytes,
    _share: OwnedSemaphorePermit,
}

impl http_body::Body for Pieces {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.bytes.is_empty() {
            return Poll::Ready(None);
        }
        let length = self.bytes.len().min(PIECE);
        Poll::Ready(Some(Ok(Frame::data(self.bytes.split_to(length)))))
    }

    fn is_end_stream(&self) -> bool {
        self.bytes.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.bytes.len() as u64)
    }
}

/// A connection whose writes fail after [`WRITE_TIMEOUT`] without progress, so
/// that a client that stops reading cannot hold its answer forever.
pub(crate) struct Timed<T> {
    io: T,
    stalled: Option<Pin<Box<Sleep>>>,
    timeout: Duration,
}

impl<T> Timed<T> {
    /// `io` with [`WRITE_TIMEOUT`].
    pub(crate) fn new(io: T) -> Self {
        Timed::with_timeout(io, WRITE_TIMEOUT)
    }

    fn with_timeout(io: T, timeout: Duration) -> Self {
        Timed { io, stalled: None, timeout }
    }

    /// After a write that did not progress: pending until the timeout, then an error.
    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timeout = self.timeout;
        let sleep = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + timeout)));
        ready!(sleep.as_mut().poll(cx));
        Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, "the client read nothing for too long"))
    }

    fn progress<R>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        match polled {
            Poll::Pending => self.wait(cx).map(Err),
            ready => {
                self.stalled = None;
                ready
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Timed<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Timed<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.progress(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.progress(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_flush(cx);
        self.progress(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_shutdown(cx);
        self.progress(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_write_the_peer_does_not_read_fails_after_the_timeout() {
        // A pipe of 1 KiB whose other end never reads.
        let (near, _far) = tokio::io::duplex(1024);
        let mut timed = Timed::with_timeout(near, Duration::from_millis(200));
        let started = std::time::Instant::now();
        let written = tokio::time::timeout(Duration::from_secs(5), timed.write_all(&[0; 64 << 10])).await;
        let error = written.expect("the write ends by itself").expect_err("the write times out");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_write_that_progresses_is_not_cut() {
        let (near, mut far) = tokio::io::duplex(1024);
        let mut timed = Timed::with_timeout(near, Duration::from_millis(200));
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            let mut buffer = [0; 512];
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                match tokio::io::AsyncReadExt::read(&mut far, &mut buffer).await {
                    Ok(0) | Err(_) => return all.len(),
                    Ok(read) => all.extend_from_slice(&buffer[..read]),
                }
            }
        });
        // 16 KiB at 512 bytes per 20 ms: ~640 ms in all, never 200 ms without progress.
        timed.write_all(&[1; 16 << 10]).await.expect("a slow but steady reader is served");
        timed.shutdown().await.unwrap();
        drop(timed);
        assert_eq!(reader.await.unwrap(), 16 << 10);
    }
}
