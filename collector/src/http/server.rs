//! The accept loop, in place of `axum::serve`, for what it cannot bound:
//! - at most `max_connections` open connections; one past it is answered 503 with
//!   Retry-After at once and closed, so a flood costs a few bytes each, never a task;
//! - each connection buffers at most `READ_BUFFER_BYTES` (a head past `MAX_HEAD_BYTES`
//!   is 431), so connections waiting on their heads hold bounded memory;
//! - a header timeout, which also ends idle keep-alive connections (hyper starts it
//!   whenever it waits for the next request's head);
//! - a write-stall timeout: a response the client does not read for that long ends the
//!   connection, so its body is freed (the body timeout is in `http::ingest`);
//! - a lingering close (as nginx's): a connection the server ends may still have request
//!   bytes in flight (a body left unread by a 503 or a 408); closing the socket over them
//!   makes the kernel send a reset, which can destroy the answer before the client reads
//!   it. So an ended connection's socket is shut for writing and drained for up to
//!   `LINGER` or `LINGER_BYTES`, keeping its place among `max_connections` meanwhile.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::Router;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Sleep,
};

use crate::metrics::Metrics;

/// Most bytes hyper buffers per connection (a request's head must fit): waiting
/// connections hold at most this each.
pub const READ_BUFFER_BYTES: usize = 64 * 1024;
/// How long, and how many bytes, a closing connection is drained (see the module doc).
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

/// Largest request head (request line and headers).
pub const MAX_HEAD_BYTES: usize = 32 * 1024;

/// What the accept loop enforces on every connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub write_timeout: Duration,
    pub retry_after_secs: u64,
}

/// Serves `router` on `listener` until `shutdown` resolves, then waits for open
/// connections to finish their requests.
pub async fn run(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // hyper's read buffer grows to ~400 KB by default: with --max-connections
        // connections waiting on their heads, that is 400 MB. A head past
        // `MAX_HEAD_BYTES` is 431 (hyper checks the buffer only while a head is
        // incomplete, so a head read whole needs its own limit).
        .max_buf_size(READ_BUFFER_BYTES)
        .max_header_size(MAX_HEAD_BYTES);
    let service = TowerToHyperService::new(router);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                // Out of fds or a connection reset before accept: keep serving.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::task::yield_now().await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            metrics.connections_refused.inc();
            tokio::spawn(refuse(stream, limits.retry_after_secs));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(WriteStall::new(stream, limits.write_timeout, permit));
        let connection = graceful.watch(http.serve_connection(io, service.clone()));
        let gauge = metrics.connections_open.clone();
        gauge.inc();
        tokio::spawn(async move {
            let _ = connection.await;
            gauge.dec();
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// One connection past the bound: a fixed 503, written without waiting on the client.
async fn refuse(mut stream: TcpStream, retry_after_secs: u64) {
    const BODY: &str =
        r#"{"success":false,"error":"overloaded","message":"too many open connections"}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nretry-after: {retry_after_secs}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        stream.write_all(response.as_bytes()),
    )
    .await;
}

/// Drains a closing connection (the lingering close of the module doc); its place among
/// the open connections is released at the end.
async fn linger(mut stream: TcpStream, _place: Option<OwnedSemaphorePermit>) {
    let _ = stream.shutdown().await;
    let mut buf = [0u8; 4096];
    let mut left = LINGER_BYTES;
    let _ = tokio::time::timeout(LINGER, async {
        while left > 0 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// A connection's stream: its writes fail once they have made no progress for `limit`,
/// and when dropped it lingers (see the module doc) holding the connection's place.
struct WriteStall {
    inner: Option<TcpStream>,
    limit: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
    place: Option<OwnedSemaphorePermit>,
}

impl WriteStall {
    fn new(inner: TcpStream, limit: Duration, place: OwnedSemaphorePermit) -> Self {
        Self {
            inner: Some(inner),
            limit,
            stalled: None,
            place: Some(place),
        }
    }

    fn stream(&mut self) -> &mut TcpStream {
        self.inner
            .as_mut()
            .expect("the stream is taken only on drop")
    }

    fn check<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading its response",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for WriteStall {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(self.stream()).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteStall {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(self.stream()).poll_write(cx, buf);
        self.check(cx, poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(self.stream()).poll_flush(cx);
        self.check(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.stream()).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(self.stream()).poll_write_vectored(cx, bufs);
        self.check(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.as_ref().is_some_and(|s| s.is_write_vectored())
    }
}

impl Drop for WriteStall {
    fn drop(&mut self) {
        let Some(stream) = self.inner.take() else {
            return;
        };
        // Without a runtime (it is shutting down) the socket just closes.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(linger(stream, self.place.take()));
        }
    }
}
