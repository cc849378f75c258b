//! The first routing step: the Notary API's `/v2/` paths go straight to [`trust::trust`], the
//! rest through the axum [`Router`].
//!
//! A route in the router costs every request a matching walk, a clone of the route's boxed
//! service, a boxed future, and the router's response bookkeeping. For the cached metadata
//! read, which is most of what a trust server answers, that was a third of the server's own
//! work per request, so the one prefix that carries it is dispatched here instead. `trust`
//! is also the router's fallback, so a request answers the same whichever way it comes.
//!
//! [`trust::trust`]: super::trust::trust

use super::trust;
use super::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, Response};
use axum::routing::future::RouteFuture;
use axum::Router;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower::Service;

/// `/v2/` paths to [`trust::trust`], the others to the router.
#[derive(Clone)]
pub struct TrustFirst {
    router: Router,
    app: AppState,
}

impl TrustFirst {
    pub fn new(router: Router, app: AppState) -> Self {
        TrustFirst { router, app }
    }
}

/// Whether a request skips the router. HEAD goes through it: axum answers HEAD without a
/// body on every protocol, which this path does not.
fn direct(req: &Request) -> bool {
    req.method() != Method::HEAD && req.uri().path().starts_with("/v2/")
}

impl Service<Request> for TrustFirst {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Routed;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The router is always ready (axum's own `poll_ready` says so).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Routed {
        if direct(&req) {
            Routed::Trust(Box::pin(trust::trust(State(self.app.clone()), req)))
        } else {
            Routed::Router(Box::pin(self.router.call(req)))
        }
    }
}

/// An answer from either way; the router's future is boxed too, or every trust answer
/// would carry its size.
pub enum Routed {
    Trust(Pin<Box<dyn Future<Output = Response<Body>> + Send>>),
    Router(Pin<Box<RouteFuture<Infallible>>>),
}

impl Future for Routed {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Routed::Trust(f) => f.as_mut().poll(cx).map(Ok),
            Routed::Router(f) => f.as_mut().poll(cx),
        }
    }
}
