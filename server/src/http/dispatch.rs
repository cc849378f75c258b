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

use super::listener::ForClient;
use super::trust;
use super::AppState;
use crate::password_guard::ClientAddress;
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
    /// The connection's client, given to the router's requests (the token route throttles
    /// failed logins by it; the Notary API takes no passwords).
    client: Option<ClientAddress>,
}

impl TrustFirst {
    pub fn new(router: Router, app: AppState) -> Self {
        TrustFirst {
            router,
            app,
            client: None,
        }
    }
}

impl ForClient for TrustFirst {
    fn for_client(&self, client: ClientAddress) -> Self {
        TrustFirst {
            client: Some(client),
            ..self.clone()
        }
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

    fn call(&mut self, mut req: Request) -> Routed {
        if direct(&req) {
            Routed::Trust(Box::pin(trust::trust(State(self.app.clone()), req)))
        } else {
            if let Some(client) = self.client {
                req.extensions_mut().insert(client);
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    /// The router's requests carry the connection's client address (the token route throttles
    /// failed logins by it); `/v2/` requests go to the trust handler.
    #[tokio::test]
    async fn the_router_gets_the_client_and_v2_goes_to_trust() {
        let fixture = crate::service::tests::fixture();
        let app = super::super::test_state(fixture.service.clone());
        let router = Router::new().route(
            "/whoami",
            axum::routing::get(|req: Request| async move {
                match req.extensions().get::<ClientAddress>() {
                    Some(c) => c.0.to_string(),
                    None => "nobody".to_string(),
                }
            }),
        );
        let client = ClientAddress("192.0.2.7".parse().unwrap());
        let body = |r: Response<Body>| async move {
            let status = r.status().as_u16();
            let b = axum::body::to_bytes(r.into_body(), 1 << 10).await.unwrap();
            (status, String::from_utf8_lossy(&b).into_owned())
        };
        let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
        let shared = TrustFirst::new(router, app);
        let r = shared
            .for_client(client)
            .oneshot(get("/whoami"))
            .await
            .unwrap();
        assert_eq!(body(r).await, (200, "192.0.2.7".into()));
        let r = shared.clone().oneshot(get("/whoami")).await.unwrap();
        assert_eq!(body(r).await, (200, "nobody".into()));
        // Not in the router's table: the trust handler answers notary's 404.
        let r = shared
            .for_client(client)
            .oneshot(get("/v2/example.com/app/_trust/tuf/root.json"))
            .await
            .unwrap();
        let (status, text) = body(r).await;
        assert_eq!(status, 404);
        assert!(text.contains("METADATA_NOT_FOUND"), "{text}");
    }
}
