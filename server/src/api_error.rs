//! The error envelope notary-server sends: docker-registry's
//! `{"errors":[{"code","message","detail"}]}` written by Go's encoder (so ending in `\n`).

use serde_json::Value;

/// Notary's error codes with their HTTP status and exact message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    NoFilename,
    InvalidRole,
    MalformedJson,
    Updating,
    Version,
    MetadataNotFound,
    InvalidUpdate,
    MalformedUpload,
    GenericNotFound,
    InvalidGun,
    InvalidParameters,
    Unknown,
    Unauthorized,
    PayloadTooLarge,
    /// Not a notary code: the GUN's host is no registry's login server.
    RegistryUnknown,
    /// Not a notary code: the registry's content-trust policy is disabled.
    TrustDisabled,
}

impl ErrorCode {
    pub fn parse(code: &str) -> ErrorCode {
        match code {
            "VERSION" => ErrorCode::Version,
            "INVALID_UPDATE" => ErrorCode::InvalidUpdate,
            "UPDATING" => ErrorCode::Updating,
            _ => ErrorCode::Unknown,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            ErrorCode::NoFilename => "NO_FILENAME",
            ErrorCode::InvalidRole => "INVALID_ROLE",
            ErrorCode::MalformedJson => "MALFORMED_JSON",
            ErrorCode::Updating => "UPDATING",
            ErrorCode::Version => "VERSION",
            ErrorCode::MetadataNotFound => "METADATA_NOT_FOUND",
            ErrorCode::InvalidUpdate => "INVALID_UPDATE",
            ErrorCode::MalformedUpload => "MALFORMED_UPLOAD",
            ErrorCode::GenericNotFound => "GENERIC_NOT_FOUND",
            ErrorCode::InvalidGun => "INVALID_GUN",
            ErrorCode::InvalidParameters => "INVALID_PARAMETERS",
            ErrorCode::Unknown => "UNKNOWN",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            // Not a notary code: notary has no body limit. Same shape, so clients cope.
            ErrorCode::PayloadTooLarge => "MALFORMED_UPLOAD",
            ErrorCode::RegistryUnknown => "NAME_UNKNOWN",
            ErrorCode::TrustDisabled => "CONTENT_TRUST_DISABLED",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::NoFilename => "No file/role name provided.",
            ErrorCode::InvalidRole => "The role you are attempting to operate on is invalid.",
            ErrorCode::MalformedJson => "JSON sent by the client could not be parsed by the server",
            ErrorCode::Updating => "An error has occurred while updating the TUF repository.",
            ErrorCode::Version => "A newer version of metadata is already available.",
            ErrorCode::MetadataNotFound => "You have requested metadata that does not exist.",
            ErrorCode::InvalidUpdate => "Update sent by the client is invalid.",
            ErrorCode::MalformedUpload | ErrorCode::PayloadTooLarge => {
                "The body of your request is malformed."
            }
            ErrorCode::GenericNotFound => "You have requested a resource that does not exist.",
            ErrorCode::InvalidGun => "The server does not support actions on images of this name.",
            ErrorCode::InvalidParameters => "The parameters provided are not valid.",
            ErrorCode::Unknown => "unknown error",
            ErrorCode::Unauthorized => "authentication required",
            ErrorCode::RegistryUnknown => {
                "The repository's registry is not known to this trust server."
            }
            ErrorCode::TrustDisabled => "Content trust is disabled for this registry.",
        }
    }

    /// The HTTP status notary-server answers this code with.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::Updating | ErrorCode::Unknown => 500,
            ErrorCode::MetadataNotFound
            | ErrorCode::GenericNotFound
            | ErrorCode::RegistryUnknown => 404,
            ErrorCode::Unauthorized => 401,
            ErrorCode::PayloadTooLarge => 413,
            _ => 400,
        }
    }
}

/// An API error: code plus optional detail.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: Option<Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        ApiError { code, detail: None }
    }

    pub fn with_detail(code: ErrorCode, detail: Value) -> Self {
        ApiError {
            code,
            detail: Some(detail),
        }
    }

    /// The reference answers a missing file with an empty error struct as detail.
    pub fn not_found() -> Self {
        Self::with_detail(
            ErrorCode::MetadataNotFound,
            Value::Object(Default::default()),
        )
    }

    pub fn body(&self) -> Vec<u8> {
        // Field order code, message, detail as Go's struct encoder writes it.
        let mut out = br#"{"errors":[{"code":"#.to_vec();
        out.extend_from_slice(json_string(self.code.code()).as_bytes());
        out.extend_from_slice(br#","message":"#);
        out.extend_from_slice(json_string(self.code.message()).as_bytes());
        if let Some(d) = &self.detail {
            out.extend_from_slice(br#","detail":"#);
            out.extend_from_slice(go_compact(d).as_bytes());
        }
        out.extend_from_slice(b"}]}\n");
        out
    }
}

fn json_string(s: &str) -> String {
    signet_tuf::go_json::string(s)
}

/// Go-style compact JSON of a detail value (object keys in the order given: `Name` before
/// `Error`, `Missing` before `Msg`, as Go's structs order them).
fn go_compact(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            // Go struct field order for the detail shapes: Name, Error; Missing, Msg.
            let rank = |k: &str| match k {
                "Name" => 0,
                "Error" => 1,
                "Missing" => 0,
                "Msg" => 1,
                _ => 2,
            };
            keys.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
            let inner: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", json_string(k), go_compact(&m[k])))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_compact).collect::<Vec<_>>().join(",")
        ),
        Value::String(s) => json_string(s),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../fixtures/notary-0.7/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn bodies_match_the_reference_byte_for_byte() {
        assert_eq!(
            ApiError::not_found().body(),
            fixture("error-404-metadata-not-found.json")
        );
        assert_eq!(
            ApiError::with_detail(ErrorCode::Version, serde_json::json!({})).body(),
            fixture("error-400-stale-version.json")
        );
        let bad = crate::update::UpdateError::BadTargets(
            "valid signatures did not meet threshold for targets".into(),
        );
        assert_eq!(
            ApiError {
                code: ErrorCode::InvalidUpdate,
                detail: bad.detail()
            }
            .body(),
            fixture("error-400-bad-signature.json")
        );
    }
}
