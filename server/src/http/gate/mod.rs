//! The signed-only registry gate: a reverse proxy in front of an OCI distribution registry.
//!
//! Every request goes to the registry unchanged (bodies streamed, auth headers and
//! `WWW-Authenticate` challenges passed through), with `X-Forwarded-Host`/`-Proto` so the
//! registry's own URLs name the gate. Only `GET`/`HEAD /v2/<name>/manifests/<reference>` is
//! decided (`service::gate`): the registry's successful answer is served when the trust data
//! signs it, else replaced by `403` with distribution's `DENIED` error. Anything else the
//! registry answers (401 challenges, 404) goes back as it is.
//!
//! The refusal's message is also the status line's reason phrase: a client that reads no
//! body (containerd resolves tags with `HEAD`) still shows it.

pub mod upstream;

use crate::service::gate::{GateDecision, GateOutcome, Served};
use crate::service::TrustService;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, Request, Response, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Instant;
use upstream::{Upstream, UpstreamClient};

/// Distribution refuses manifests over 4 MiB; the gate reads no more than that.
const MAX_MANIFEST_BYTES: usize = 4 << 20;

const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

/// What the gate accepts when it reads a signed manifest to see whether it is an index.
const INDEX_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

pub struct Gate {
    service: Arc<TrustService>,
    upstream: Upstream,
    client: UpstreamClient,
    /// `https` (or `http` on loopback): what `X-Forwarded-Proto` says.
    scheme: &'static str,
}

/// The gate's router: one handler for every path.
pub fn router(
    service: Arc<TrustService>,
    upstream: Upstream,
    client: UpstreamClient,
    scheme: &'static str,
) -> Router {
    let gate = Arc::new(Gate {
        service,
        upstream,
        client,
        scheme,
    });
    Router::new().fallback(proxy).with_state(gate)
}

/// `(repository, reference)` of a manifest path, read as the registry reads it: percent-decoded
/// (Go decodes `%2F` before routing) and with leading slashes collapsed. `Some` also for a
/// malformed one that mentions `/manifests/`, so it is decided (and refused) rather than passed.
fn manifest_path(path: &str) -> Option<(String, String)> {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    let rest = decoded.trim_start_matches('/').strip_prefix("v2/")?;
    let (name, reference) = rest.rsplit_once("/manifests/")?;
    Some((name.to_string(), reference.to_string()))
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and those the connection itself lists.
fn strip_hop_by_hop(h: &mut HeaderMap) {
    let listed: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::try_from(n.trim()).ok())
        .collect();
    for n in listed {
        h.remove(n);
    }
    for n in [
        header::CONNECTION,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        h.remove(n);
    }
    h.remove("keep-alive");
    h.remove("proxy-connection");
}

/// Distribution's error body: `{"errors":[{"code":"DENIED","message":…,"detail":…}]}`.
fn denied(method: &Method, d: &GateDecision, message: &str) -> Response<Body> {
    let body = serde_json::json!({"errors": [{
        "code": "DENIED",
        "message": message,
        "detail": {"repository": d.repository, "reference": d.reference, "gate": "signet"},
    }]});
    let body = if *method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(body.to_string())
    };
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::FORBIDDEN;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    // Printable ASCII only in a reason phrase.
    let phrase: String = format!("Forbidden: {message}")
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(512)
        .collect();
    if let Ok(p) = hyper::ext::ReasonPhrase::try_from(phrase.into_bytes()) {
        r.extensions_mut().insert(p);
    }
    r
}

fn plain_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({"errors": [{"code": code, "message": message, "detail": null}]});
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

async fn proxy(State(gate): State<Arc<Gate>>, req: Request<Body>) -> Response<Body> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let host = match super::extract::request_host(&parts.headers, &parts.uri).map(str::to_string) {
        Ok(h) => h,
        Err(_) => {
            return plain_error(
                StatusCode::BAD_REQUEST,
                "UNSUPPORTED",
                "the request needs exactly one valid Host header",
            )
        }
    };
    let manifest_read = matches!(parts.method, Method::GET | Method::HEAD)
        .then(|| manifest_path(parts.uri.path()))
        .flatten();
    let decision = match manifest_read {
        Some((name, reference)) => {
            let d = gate.service.gate_decide(&host, &name, &reference).await;
            if d.index_candidates.is_empty() {
                Some(d)
            } else {
                gate.learn_indexes(&parts, &d).await;
                Some(gate.service.gate_decide(&host, &name, &reference).await)
            }
        }
        None => None,
    };
    let response = gate.forward(&parts, &host, body, decision.as_ref()).await;
    let route = if decision.is_some() {
        "gate_manifest"
    } else {
        "gate_proxy"
    };
    gate.service
        .metrics()
        .observe(route, response.status().as_u16(), started.elapsed());
    response
}

impl Gate {
    /// Reads `d`'s index candidates from the registry (with the client's credentials) so the
    /// service learns which digests signed indexes name: an index served by another gate
    /// instance, or before this one started, is learnt here once.
    async fn learn_indexes(&self, parts: &axum::http::request::Parts, d: &GateDecision) {
        for digest in &d.index_candidates {
            let Ok(uri) = self
                .upstream
                .uri(&format!("/v2/{}/manifests/{digest}", d.repository))
            else {
                continue;
            };
            let mut req = Request::new(Body::empty());
            *req.uri_mut() = uri;
            let h = req.headers_mut();
            if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
                h.insert(header::AUTHORIZATION, auth.clone());
            }
            h.insert(header::ACCEPT, HeaderValue::from_static(INDEX_ACCEPT));
            let Ok(resp) = self.client.request(req).await else {
                return;
            };
            if resp.status() != StatusCode::OK {
                continue;
            }
            let (rparts, body) = resp.into_parts();
            let Ok(body) = http_body_util::Limited::new(body, MAX_MANIFEST_BYTES)
                .collect()
                .await
            else {
                continue;
            };
            let ct = rparts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            self.service.gate_learn(d, digest, ct, &body.to_bytes());
        }
    }

    async fn forward(
        &self,
        parts: &axum::http::request::Parts,
        host: &str,
        body: Body,
        decision: Option<&GateDecision>,
    ) -> Response<Body> {
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let Ok(uri) = self.upstream.uri(path_and_query) else {
            return plain_error(
                StatusCode::BAD_REQUEST,
                "UNSUPPORTED",
                "unusable request path",
            );
        };
        let mut headers = parts.headers.clone();
        strip_hop_by_hop(&mut headers);
        headers.remove(header::HOST);
        if let Ok(v) = HeaderValue::from_str(host) {
            headers.insert("x-forwarded-host", v);
        }
        headers.insert("x-forwarded-proto", HeaderValue::from_static(self.scheme));
        let mut up = Request::new(body);
        *up.method_mut() = parts.method.clone();
        *up.uri_mut() = uri;
        *up.headers_mut() = headers;
        let resp = match self.client.request(up).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(target: "signet::gate", error = %e, "upstream registry unreachable");
                return plain_error(
                    StatusCode::BAD_GATEWAY,
                    "UNAVAILABLE",
                    "the registry behind this gate did not answer",
                );
            }
        };
        let (mut rparts, rbody) = resp.into_parts();
        strip_hop_by_hop(&mut rparts.headers);
        self.rewrite_location(&mut rparts.headers, host);
        let Some(d) = decision else {
            return Response::from_parts(rparts, Body::new(rbody));
        };
        if rparts.status != StatusCode::OK {
            // Challenges, missing manifests and registry errors are the registry's to answer.
            return Response::from_parts(rparts, Body::new(rbody));
        }
        let head = parts.method == Method::HEAD;
        let bytes = if head {
            None
        } else {
            match http_body_util::Limited::new(rbody, MAX_MANIFEST_BYTES)
                .collect()
                .await
            {
                Ok(c) => Some(c.to_bytes()),
                Err(_) => {
                    return plain_error(
                        StatusCode::BAD_GATEWAY,
                        "UNAVAILABLE",
                        "the registry's manifest could not be read in full (or is over 4 MiB)",
                    )
                }
            }
        };
        let header_str = |n: &str| rparts.headers.get(n).and_then(|v| v.to_str().ok());
        let length = match &bytes {
            Some(b) => Some(b.len() as i64),
            None => header_str("content-length").and_then(|v| v.parse().ok()),
        };
        let served = Served {
            stated_digest: header_str(DOCKER_CONTENT_DIGEST),
            content_type: header_str("content-type"),
            body: bytes.as_deref(),
            length,
        };
        match self.service.gate_finish(d, &served) {
            GateOutcome::Serve => {
                Response::from_parts(rparts, bytes.map(Body::from).unwrap_or_else(Body::empty))
            }
            GateOutcome::Refuse(message) => denied(&parts.method, d, &message),
        }
    }

    /// A `Location` naming the registry's own origin is rewritten to the gate's, so uploads
    /// and redirects come back through the gate (distribution also honours
    /// `X-Forwarded-Host`; this covers registries that do not).
    fn rewrite_location(&self, headers: &mut HeaderMap, host: &str) {
        let Some(loc) = headers.get(header::LOCATION).and_then(|v| v.to_str().ok()) else {
            return;
        };
        let Some(rest) = loc.strip_prefix(&self.upstream.origin()) else {
            return;
        };
        let rest = rest.strip_prefix(&self.upstream.prefix).unwrap_or(rest);
        if let Ok(v) = HeaderValue::from_str(&format!("{}://{host}{rest}", self.scheme)) {
            headers.insert(header::LOCATION, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_paths() {
        let p = |a: &str, b: &str| Some((a.to_string(), b.to_string()));
        assert_eq!(manifest_path("/v2/app/manifests/v1"), p("app", "v1"));
        assert_eq!(
            manifest_path("/v2/team/app/manifests/sha256:ab"),
            p("team/app", "sha256:ab")
        );
        // As the registry decodes and routes them.
        assert_eq!(manifest_path("/v2/app/manifests%2Fv1"), p("app", "v1"));
        assert_eq!(manifest_path("/v2/app%2fmanifests%2fv1"), p("app", "v1"));
        assert_eq!(manifest_path("//v2/app/manifests/v1"), p("app", "v1"));
        assert_eq!(manifest_path("/v2/app/manifests/v%31"), p("app", "v1"));
        assert_eq!(manifest_path("/v2/app/blobs/sha256:ab"), None);
        assert_eq!(manifest_path("/v2/"), None);
        // Odd shapes are decided (and refused), never waved through.
        assert_eq!(
            manifest_path("/v2/a/manifests/x/manifests/y"),
            p("a/manifests/x", "y")
        );
    }
}
