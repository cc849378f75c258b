//! The gate's client to the registry behind it: HTTP or HTTPS (system roots plus an optional
//! CA file), pooled HTTP/1.1 connections, bodies streamed both ways.

use axum::body::Body;
use axum::http::uri::{Authority, Scheme};
use axum::http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::path::Path;
use std::time::Duration;

pub type UpstreamClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

/// Where the registry is: `http(s)://host[:port][/prefix]`.
#[derive(Clone, Debug)]
pub struct Upstream {
    pub scheme: Scheme,
    pub authority: Authority,
    /// A path prefix without its trailing `/` (usually empty).
    pub prefix: String,
}

impl Upstream {
    pub fn parse(url: &str) -> Result<Upstream, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("upstream URL {url:?}: {e}"))?;
        let scheme = uri
            .scheme()
            .filter(|s| *s == &Scheme::HTTP || *s == &Scheme::HTTPS)
            .cloned()
            .ok_or_else(|| format!("upstream URL {url:?} must start with http:// or https://"))?;
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("upstream URL {url:?} names no host"))?;
        if uri.query().is_some() || authority.as_str().contains('@') {
            return Err(format!(
                "upstream URL {url:?} must be scheme://host[:port][/path] (no query, no user)"
            ));
        }
        Ok(Upstream {
            scheme,
            authority,
            prefix: uri.path().trim_end_matches('/').to_string(),
        })
    }

    /// `scheme://authority` as the registry writes it in absolute `Location` headers.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }

    pub fn uri(&self, path_and_query: &str) -> Result<Uri, axum::http::Error> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(format!("{}{path_and_query}", self.prefix))
            .build()
    }
}

/// The pooled client. `ca` adds a CA file (PEM) to the system roots for an HTTPS upstream.
pub fn client(ca: Option<&Path>) -> Result<UpstreamClient, String> {
    let mut roots = rustls::RootCertStore::empty();
    let system = std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into());
    let mut files = vec![(system, false)];
    if let Some(ca) = ca {
        files.push((ca.to_path_buf(), true));
    }
    for (file, required) in files {
        match std::fs::File::open(&file) {
            Ok(f) => {
                for cert in rustls_pemfile::certs(&mut std::io::BufReader::new(f)).flatten() {
                    let _ = roots.add(cert);
                }
            }
            Err(e) if required => return Err(format!("{}: {e}", file.display())),
            Err(_) => {}
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS client: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .build(https))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls() {
        let u = Upstream::parse("http://127.0.0.1:5000").unwrap();
        assert_eq!(u.origin(), "http://127.0.0.1:5000");
        assert_eq!(
            u.uri("/v2/app/manifests/v1?x=1").unwrap().to_string(),
            "http://127.0.0.1:5000/v2/app/manifests/v1?x=1"
        );
        let p = Upstream::parse("https://r.example.com/prefix/").unwrap();
        assert_eq!(
            p.uri("/v2/").unwrap().to_string(),
            "https://r.example.com/prefix/v2/"
        );
        assert!(Upstream::parse("ftp://x").is_err());
        assert!(Upstream::parse("http://u:p@x").is_err());
    }
}
