//! The service every request passes through before routing: the refusal of requests without
//! a usable `Host` (the token realm is built from it), the request timeout, the answer to a
//! handler that panicked, one log line and one metrics observation per request, and a request
//! id on every answer.
//!
//! Written as one plain tower service around the whole router rather than as
//! `axum::middleware::from_fn`, tower-http's `TimeoutLayer` and `CatchPanicLayer` added with
//! `Router::layer`: a router layer wraps every route in a boxed service of its own, so each
//! layer boxed the request's future again, cloned the route's service, and (for the panic
//! catcher) boxed the response body twice. Here the timer is armed only when the handler has
//! to wait (most reads are answered on their first poll), and a panic is caught with
//! `catch_unwind` around the poll, which costs nothing until one happens.

use super::extract::request_host;
use super::response::{ActorLabel, GunLabel, RouteLabel};
use super::AppState;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{HeaderName, HeaderValue};
use axum::http::{Method, Response, StatusCode};
use axum::response::IntoResponse;
use pin_project_lite::pin_project;
use std::convert::Infallible;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tower::Service;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids: a random per-process prefix and a counter, so ids from several instances do
/// not collide and making one costs no system call.
static ID_PREFIX: LazyLock<u32> = LazyLock::new(rand::random);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// `pppppppp-nnnnnnnnnn`: the prefix and the counter in lower-case hex, written straight
/// into the header value.
fn new_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let prefix = u64::from(*ID_PREFIX);
    // Ten hex digits for the counter, as `{:010x}` writes them (more past 2^40).
    let digits = if n >> 40 == 0 {
        10
    } else {
        16 - n.leading_zeros() as usize / 4
    };
    let mut out = Vec::with_capacity(9 + digits);
    let hex = |v: u64, digits: usize, out: &mut Vec<u8>| {
        for i in (0..digits).rev() {
            out.push(HEX[((v >> (4 * i)) & 0xf) as usize]);
        }
    };
    hex(prefix, 8, &mut out);
    out.push(b'-');
    hex(n, digits, &mut out);
    HeaderValue::from_maybe_shared(bytes::Bytes::from(out))
        .unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// A client's own request id is kept when it is short and printable (it goes into logs).
fn client_request_id(v: &HeaderValue) -> Option<HeaderValue> {
    let s = v.as_bytes();
    (!s.is_empty() && s.len() <= 64 && s.iter().all(|b| b.is_ascii_graphic())).then(|| v.clone())
}

/// Whether the per-request log lines are written (`--log-level` info or lower).
pub fn enabled() -> bool {
    tracing::enabled!(target: "signet::request", tracing::Level::INFO)
}

/// The router wrapped in [`LogAndMeasure`].
pub fn wrap<S>(inner: S, app: AppState, timeout: Duration) -> LogAndMeasure<S> {
    LogAndMeasure {
        inner,
        app,
        timeout,
    }
}

#[derive(Clone)]
pub struct LogAndMeasure<S> {
    inner: S,
    app: AppState,
    timeout: Duration,
}

impl<S: super::listener::ForClient> super::listener::ForClient for LogAndMeasure<S> {
    fn for_client(&self, client: crate::password_guard::ClientAddress) -> Self {
        LogAndMeasure {
            inner: self.inner.for_client(client),
            app: self.app.clone(),
            timeout: self.timeout,
        }
    }
}

impl<S> Service<Request> for LogAndMeasure<S>
where
    S: Service<Request, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Answer<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Answer<S::Future> {
        let started = Instant::now();
        let method = req.method().clone();
        let id = req
            .headers()
            .get(REQUEST_ID)
            .and_then(client_request_id)
            .unwrap_or_else(new_request_id);
        let (inner, refused) = match request_host(req.headers(), req.uri()) {
            // Handlers start their work when first polled; a panic before that (in routing or
            // an extractor) is answered like one in the handler.
            Ok(_) => match catch_unwind(AssertUnwindSafe(|| self.inner.call(req))) {
                Ok(f) => (Some(f), None),
                Err(_) => (None, Some(panic_response())),
            },
            Err(e) => (None, Some(e.into_response())),
        };
        Answer {
            inner,
            deadline: None,
            refused,
            started,
            timeout: self.timeout,
            method,
            id: Some(id),
            app: self.app.clone(),
        }
    }
}

/// A panic in a handler is a bug; the client gets notary's `UNKNOWN` error and the
/// connection stays usable.
fn panic_response() -> Response<Body> {
    tracing::error!("request handler panicked");
    crate::api_error::ApiError::new(crate::api_error::ErrorCode::Unknown).into_response()
}

pin_project! {
    /// A request being answered, by the route or by the refusal made before routing.
    pub struct Answer<F> {
        #[pin]
        inner: Option<F>,
        // Armed on the first poll that has to wait.
        #[pin]
        deadline: Option<Sleep>,
        refused: Option<Response<Body>>,
        started: Instant,
        timeout: Duration,
        method: Method,
        id: Option<HeaderValue>,
        app: AppState,
    }
}

impl<F> Future for Answer<F>
where
    F: Future<Output = Result<Response<Body>, Infallible>>,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let resp = match (this.refused.take(), this.inner.as_mut().as_pin_mut()) {
            (Some(r), _) => r,
            (None, Some(inner)) => match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
                Ok(Poll::Ready(Ok(r))) => r,
                Ok(Poll::Ready(Err(never))) => match never {},
                Err(_) => {
                    // A panicked future is never polled again.
                    this.inner.set(None);
                    panic_response()
                }
                Ok(Poll::Pending) => {
                    if this.deadline.is_none() {
                        let at = *this.started + *this.timeout;
                        this.deadline.set(Some(tokio::time::sleep_until(at)));
                    }
                    match this.deadline.as_mut().as_pin_mut().map(|d| d.poll(cx)) {
                        Some(Poll::Ready(())) => {
                            // The handler is dropped here, as tower-http's timeout does.
                            this.inner.set(None);
                            let mut r = Response::new(Body::empty());
                            *r.status_mut() = StatusCode::REQUEST_TIMEOUT;
                            r
                        }
                        _ => return Poll::Pending,
                    }
                }
            },
            // Polled after it finished: never done by hyper.
            (None, None) => {
                let mut r = Response::new(Body::empty());
                *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                r
            }
        };
        let id = this.id.take().unwrap_or_else(new_request_id);
        Poll::Ready(Ok(finish(
            this.app,
            this.method,
            id,
            this.started.elapsed(),
            resp,
        )))
    }
}

/// Counts the answer, logs it, and adds the request id.
fn finish(
    app: &AppState,
    method: &Method,
    id: HeaderValue,
    elapsed: Duration,
    mut resp: Response<Body>,
) -> Response<Body> {
    let route = resp
        .extensions()
        .get::<RouteLabel>()
        .map_or("other", |r| r.0);
    let status = resp.status().as_u16();
    app.service.metrics().observe(route, status, elapsed);
    let gun = resp.extensions().get::<GunLabel>().map(|g| g.0.as_str());
    let actor = resp.extensions().get::<ActorLabel>().map(|a| a.0.as_str());
    tracing::info!(
        target: "signet::request",
        request_id = %id.to_str().unwrap_or("-"),
        method = %method,
        route,
        gun = gun.unwrap_or("-"),
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        actor = actor.unwrap_or("-"),
    );
    resp.headers_mut().insert(REQUEST_ID, id);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_written_as_before() {
        let id = new_request_id();
        let s = id.to_str().unwrap();
        let (prefix, counter) = s.split_once('-').unwrap();
        assert_eq!(prefix, format!("{:08x}", *ID_PREFIX));
        assert_eq!(counter.len(), 10, "{s}");
        let n = u64::from_str_radix(counter, 16).unwrap();
        assert_eq!(s, format!("{:08x}-{:010x}", *ID_PREFIX, n));
    }

    /// A panic while routing or while the handler runs is answered with notary's `UNKNOWN`
    /// error, counted and logged like any answer.
    #[tokio::test]
    async fn a_panicking_handler_is_answered_500_unknown() {
        use tower::ServiceExt;
        let fixture = crate::service::tests::fixture();
        let app = crate::http::test_state(fixture.service.clone());
        let in_call = tower::service_fn(
            |_req: Request| -> std::future::Ready<Result<Response<Body>, Infallible>> {
                panic!("in call")
            },
        );
        let in_poll = tower::service_fn(|_req: Request| async move {
            if std::hint::black_box(true) {
                panic!("in poll");
            }
            Ok::<_, Infallible>(Response::new(Body::empty()))
        });
        let request = || {
            Request::builder()
                .uri("/v2/example.com/app/_trust/tuf/root.json")
                .header("host", "localhost:4443")
                .body(Body::empty())
                .unwrap()
        };
        let answers = [
            wrap(in_call, app.clone(), Duration::from_secs(5))
                .oneshot(request())
                .await
                .unwrap(),
            wrap(in_poll, app.clone(), Duration::from_secs(5))
                .oneshot(request())
                .await
                .unwrap(),
        ];
        for r in answers {
            assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert!(r.headers().contains_key(REQUEST_ID));
            let body = axum::body::to_bytes(r.into_body(), 1 << 10).await.unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["errors"][0]["code"], "UNKNOWN", "{v}");
        }
        let metrics = app.service.metrics().render();
        assert!(
            metrics.contains("signet_http_requests_total{route=\"other\",status=\"500\"} 2\n"),
            "{metrics}"
        );
    }
}
