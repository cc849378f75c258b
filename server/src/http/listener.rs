//! Accepting connections: TLS with a handshake deadline, HTTP/1 and HTTP/2 through hyper over
//! an I/O wrapper that keeps the header-read deadline (HTTP/1) and the idle deadline between
//! requests, a cap on open connections, and a graceful shutdown that lets in-flight requests
//! finish within a bound.
//!
//! A client that connects and sends nothing, or sends its headers a byte at a time, is
//! dropped after the deadline and never holds a slot others need for long.

use crate::password_guard::ClientAddress;
use axum::body::Body;
use axum::http::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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

/// A service made for each connection, told which client it serves (repeated failed logins
/// are slowed down per client address).
pub trait ForClient {
    fn for_client(&self, client: ClientAddress) -> Self;
}

/// The gate's router has no use for the address.
impl ForClient for axum::Router {
    fn for_client(&self, _client: ClientAddress) -> Self {
        self.clone()
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
        + ForClient
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The header deadline is kept by `IdleDeadline` (hyper's own allocates and registers a
    // timer for every request), so hyper's default one is switched off.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None);
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
                inner: router.for_client(ClientAddress(peer.ip())),
                in_flight: activity.clone(),
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
                    // HTTP/2 has no request heads to time (hyper's header timeout is HTTP/1's).
                    let h2 = tls.get_ref().1.alpn_protocol() == Some(&b"h2"[..]);
                    let deadlines = Deadlines {
                        idle: limits.idle_timeout,
                        header: (!h2).then_some(limits.header_read_timeout),
                    };
                    let io = TokioIo::new(IdleDeadline::new(tls, deadlines, activity));
                    let conn = builder.serve_connection(io, service);
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(error = %e, "connection ended with error");
                    }
                }
                None => {
                    let deadlines = Deadlines {
                        idle: limits.idle_timeout,
                        header: Some(limits.header_read_timeout),
                    };
                    let io = TokioIo::new(IdleDeadline::new(tcp, deadlines, activity));
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

/// A connection's requests: how many are being answered, and how many have started.
#[derive(Default)]
struct InFlight {
    answering: AtomicUsize,
    started: AtomicU64,
}

impl InFlight {
    fn busy(&self) -> bool {
        self.answering.load(Ordering::Acquire) > 0
    }

    fn started(&self) -> u64 {
        self.started.load(Ordering::Acquire)
    }
}

/// Counts a connection's requests in flight (until their response head is ready; the body's
/// writes count as activity on their own).
#[derive(Clone)]
struct CountInFlight<S> {
    inner: S,
    in_flight: Arc<InFlight>,
}

struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.answering.fetch_sub(1, Ordering::Release);
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
        let req = req.map(Body::new);
        self.in_flight.started.fetch_add(1, Ordering::AcqRel);
        self.in_flight.answering.fetch_add(1, Ordering::AcqRel);
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

/// The deadlines an [`IdleDeadline`] keeps.
struct Deadlines {
    /// No bytes moving while no request is in flight.
    idle: Duration,
    /// A request head, from its first byte (HTTP/1 only).
    header: Option<Duration>,
}

/// An I/O stream that fails reads, so that hyper closes the connection, when no request is in
/// flight and either no bytes have moved for the idle timeout, or a request head started
/// arriving longer than the header timeout ago (a client sending its headers a byte a second).
///
/// Moving bytes only records the time. The timer is re-armed when it fires, to the earliest
/// deadline but never further than one header timeout ahead: a head that starts later is then
/// caught on time without the timer being moved for every request.
struct IdleDeadline<T> {
    inner: T,
    deadlines: Deadlines,
    timer: Pin<Box<Sleep>>,
    last_activity: Instant,
    /// When the first bytes of a head arrived, and the connection's request count then: the
    /// head is complete once the count has moved on.
    head_started: Option<(Instant, u64)>,
    in_flight: Arc<InFlight>,
}

impl<T> IdleDeadline<T> {
    fn new(inner: T, deadlines: Deadlines, in_flight: Arc<InFlight>) -> Self {
        let now = Instant::now();
        let first = now
            + deadlines
                .header
                .unwrap_or(deadlines.idle)
                .min(deadlines.idle);
        IdleDeadline {
            inner,
            deadlines,
            timer: Box::pin(tokio::time::sleep_until(first)),
            last_activity: now,
            head_started: None,
            in_flight,
        }
    }

    fn touch(&mut self) {
        self.last_activity = Instant::now();
    }

    /// Bytes were read: the connection is active, and when no request is in flight they
    /// start (or continue) a request head.
    fn read_some(&mut self) {
        let now = Instant::now();
        self.last_activity = now;
        if self.deadlines.header.is_some() && !self.in_flight.busy() {
            let started = self.in_flight.started();
            if self.head_started.is_none_or(|(_, n)| n != started) {
                self.head_started = Some((now, started));
            }
        }
    }

    /// The earliest deadline now in force.
    fn due(&self) -> Instant {
        let idle = self.last_activity + self.deadlines.idle;
        match (self.head_started, self.deadlines.header) {
            (Some((at, n)), Some(header)) if n == self.in_flight.started() => idle.min(at + header),
            _ => idle,
        }
    }

    /// Whether a deadline has passed; registers for a wake-up when one might, if not.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            let now = Instant::now();
            let due = self.due();
            if due <= now {
                return true;
            }
            let next = match self.deadlines.header {
                Some(header) => due.min(now + header),
                None => due,
            };
            self.timer.as_mut().reset(next);
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
                    self.read_some();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                if self.in_flight.busy() {
                    // A handler is working: not idle. hyper reads again when it is done.
                    self.touch();
                    return Poll::Pending;
                }
                if self.poll_expired(cx) {
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection idle, or request headers too slow",
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
