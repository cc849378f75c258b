//! Signet's admin API (`/admin/v1/`, with the operator credential from the data directory)
//! and its token endpoint, as the tests call them.

use crate::upload;
use crate::{basic_auth, https_agent, SignetServer};
use serde_json::Value;

pub struct AdminClient {
    pub agent: ureq::Agent,
    pub url: String,
    operator: String,
}

impl AdminClient {
    pub fn new(server: &SignetServer) -> AdminClient {
        let operator = std::fs::read_to_string(server.data_dir.path().join("operator.token"))
            .expect("operator token file")
            .trim()
            .to_string();
        AdminClient {
            agent: https_agent(&server.ca_path),
            url: server.url.clone(),
            operator,
        }
    }

    /// An admin call with the operator credential; status and JSON (or the text as a string).
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(&self.operator, method, path, body)
    }

    /// An admin call with any bearer credential.
    pub fn call_as(
        &self,
        cred: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let req = self
            .agent
            .request(method, &format!("{}/admin/v1/{path}", self.url))
            .set("Authorization", &format!("Bearer {cred}"));
        let (status, text) = match body {
            Some(b) => upload::send(
                req.set("Content-Type", "application/json"),
                b.to_string().as_bytes(),
            ),
            None => upload::send(req, b""),
        };
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// An admin call that must succeed; its JSON.
    pub fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, v) = self.call(method, path, Some(body.clone()));
        assert!(
            (200..300).contains(&status),
            "{method} /admin/v1/{path} {body}: {status} {v}"
        );
        v
    }

    /// `GET /oauth2/token` for `service` and `scope`, with Basic credentials when given and
    /// extra query pairs (`k=v&k=v`); status and JSON.
    pub fn token(
        &self,
        user: Option<(&str, &str)>,
        service: &str,
        scope: &str,
        extra: &str,
    ) -> (u16, Value) {
        let mut req = self
            .agent
            .get(&format!("{}/oauth2/token", self.url))
            .query("service", service)
            .query("scope", scope);
        for pair in extra.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            req = req.query(k, v);
        }
        if let Some((u, p)) = user {
            req = req.set("Authorization", &format!("Basic {}", basic_auth(u, p)));
        }
        let (status, text) = upload::send(req, b"");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A token that must be issued; the JWT.
    pub fn token_for(&self, user: (&str, &str), service: &str, scope: &str) -> String {
        let (status, v) = self.token(Some(user), service, scope, "");
        assert_eq!(status, 200, "token for {}: {v}", user.0);
        v["token"].as_str().expect("token").to_string()
    }
}
