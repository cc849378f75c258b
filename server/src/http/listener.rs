//! Accepting connections: TLS with a handshake deadline, HTTP/1 and HTTP/2 through hyper with
//! a header-read deadline, an idle deadline between requests, a cap on open connections, and
//! a graceful shutdown that lets in-flight requests finish within a bound.
//!
//! A client that connects and sends nothing, or sends its headers a byte at a time, is
//! dropped after the deadline and never holds a slot others need for long.

use axum::body::Body;
use axum::http::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tower::Service;

/// Connection limits and timeouts.
#[derive(Clone, Debug)]
pub struct Limits {
    /// A TLS handshake must finish within this.
    pub handshake_timeout: Duration,
    /// A request's headers must arrive within this once it has started.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and no bytes moving is closed after this.
    pub idle_timeout: Duration,
    /// Connections served at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// On shutdown, in-flight requests get this long to finish.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains: no new connections,
/// idle keep-alive connections closed, in-flight requests answered (for at most
/// `limits.shutdown_grace`).
pub async fn serve<S>(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    router: S,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            _ = &mut shutdown => break,
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let (router, acceptor, builder, limits) = (
            router.clone(),
            acceptor.clone(),
            builder.clone(),
            limits.clone(),
        );
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            let activity = Arc::new(InFlight::default());
            let service = CountInFlight {
                inner: router,
                in_flight: activity.clone(),
                client: crate::password_guard::ClientAddress(peer.ip()),
            };
            let service = hyper_util::service::TowerToHyperService::new(service);
            match acceptor {
                Some(acc) => {
                    let tls = match tokio::time::timeout(limits.handshake_timeout, acc.accept(tcp))
                        .await
                    {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!("TLS handshake timed out");
                            return;
                        }
                    };
                    let io = TokioIo::new(IdleDeadline::new(tls, limits.idle_timeout, activity));
                    let conn = builder.serve_connection(io, service);
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(error = %e, "connection ended with error");
                    }
                }
                None => {
                    let io = TokioIo::new(IdleDeadline::new(tcp, limits.idle_timeout, activity));
                    let conn = builder.serve_connection(io, service);
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(error = %e, "connection ended with error");
                    }
                }
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!(
                grace_secs = limits.shutdown_grace.as_secs(),
                "shutdown grace period over; closing connections with requests still running"
            );
        }
    }
}

/// Requests of one connection still being answered.
#[derive(Default)]
struct InFlight(AtomicUsize);

impl InFlight {
    fn busy(&self) -> bool {
        self.0.load(Ordering::Acquire) > 0
    }
}

/// Counts a connection's requests in flight (until their response head is ready; the body's
/// writes count as activity on their own), and tags each request with the peer's address
/// (repeated failed logins are slowed down per client).
#[derive(Clone)]
struct CountInFlight<S> {
    inner: S,
    in_flight: Arc<InFlight>,
    client: crate::password_guard::ClientAddress,
}

struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::Release);
    }
}

impl<S, B> Service<Request<B>> for CountInFlight<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
    B: axum::body::HttpBody<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = InFlightFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(self.client);
        self.in_flight.0.fetch_add(1, Ordering::AcqRel);
        let guard = InFlightGuard(self.in_flight.clone());
        InFlightFuture {
            inner: self.inner.call(req),
            guard: Some(guard),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's answer, counted in flight until it is ready.
    struct InFlightFuture<F> {
        #[pin]
        inner: F,
        guard: Option<InFlightGuard>,
    }
}

impl<F: Future> Future for InFlightFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let r = this.inner.poll(cx);
        if r.is_ready() {
            this.guard.take();
        }
        r
    }
}

/// An I/O stream that fails reads once no bytes have moved for `idle` while no request is in
/// flight: hyper then closes the connection. Bytes in either direction push the deadline out.
///
/// Moving bytes only records the time; the timer is moved when it fires early, so the many
/// reads and writes of a busy connection do not each reschedule it.
struct IdleDeadline<T> {
    inner: T,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    last_activity: Instant,
    in_flight: Arc<InFlight>,
}

impl<T> IdleDeadline<T> {
    fn new(inner: T, idle: Duration, in_flight: Arc<InFlight>) -> Self {
        let now = Instant::now();
        IdleDeadline {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep_until(now + idle)),
            last_activity: now,
            in_flight,
        }
    }

    fn touch(&mut self) {
        self.last_activity = Instant::now();
    }

    /// Whether the connection has been idle for the whole timeout; registers for a wake-up
    /// when it will have been, if not.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.deadline.as_mut().poll(cx).is_pending() {
                return false;
            }
            let due = self.last_activity + self.idle;
            if due <= Instant::now() {
                return true;
            }
            self.deadline.as_mut().reset(due);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleDeadline<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.touch();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                if self.in_flight.busy() {
                    // A handler is working: not idle. hyper reads again when it is done.
                    self.touch();
                    return Poll::Pending;
                }
                if self.poll_idle(cx) {
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection idle",
                    )))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleDeadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
