//! What the admin service accepts as names and secrets: registry names, login servers,
//! identity names, repositories, GUNs, SKUs, and generated admin passwords.

use super::model::{RoleAssignment, Sku};
use super::service::AdminError;

/// Registry names as a managed registry has them: 5–50 letters and digits.
pub(super) fn check_registry_name(name: &str) -> Result<(), AdminError> {
    if (5..=50).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(AdminError::Invalid(format!(
            "registry name '{name}' must be 5-50 letters and digits"
        )))
    }
}

/// A login server: a DNS name or IPv4 address, optionally with a port (the host part of a GUN).
pub(super) fn check_login_server(host: &str) -> Result<String, AdminError> {
    let host = host.to_ascii_lowercase();
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host.as_str(), None),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    if name_ok && port_ok {
        Ok(host)
    } else {
        Err(AdminError::Invalid(format!(
            "login server '{host}' must be a host name or address with an optional :port"
        )))
    }
}

pub(super) fn check_identity_name(name: &str) -> Result<(), AdminError> {
    let ok = (1..=128).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(AdminError::Invalid(format!(
            "identity name '{name}' must be 1-128 letters, digits and . _ - @, starting with a letter or digit"
        )))
    }
}

/// Repository paths as docker names them: lowercase components separated by '/'.
pub(super) fn check_repository(repo: &str) -> Result<(), AdminError> {
    let ok = repo.len() <= crate::image_name::MAX_NAME_LEN
        && repo.split('/').all(crate::image_name::is_path_component);
    if ok {
        Ok(())
    } else {
        Err(AdminError::Invalid(format!(
            "repository {repo:?} must be lowercase path components separated by '/', each letters and digits joined by '.', '_', '__' or '-' (no '.' or '..' segments)"
        )))
    }
}

pub(super) fn check_secret(secret: &str) -> Result<(), AdminError> {
    if secret.chars().count() < 8 {
        return Err(AdminError::Invalid(
            "password must be at least 8 characters".into(),
        ));
    }
    Ok(())
}

pub(super) fn generate_password() -> String {
    let mut raw = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

pub(super) fn parse_sku(s: &str) -> Result<Sku, AdminError> {
    Sku::parse(s).ok_or_else(|| {
        AdminError::Invalid(format!("SKU '{s}' is not one of Basic, Standard, Premium"))
    })
}

/// A GUN as the trust routes accept it: a name a docker image reference can contain.
pub(super) fn check_gun(gun: &str) -> Result<(), AdminError> {
    if !crate::image_name::is_image_name(gun) {
        return Err(AdminError::Invalid(format!(
            "{gun:?} is not a repository name (GUN) such as registry.example.com/team/app"
        )));
    }
    Ok(())
}

/// `registry` or `registry/repository`, for messages and the audit target.
pub(super) fn scope_name(a: &RoleAssignment) -> String {
    match &a.repository {
        Some(r) => format!("{}/{r}", a.registry),
        None => a.registry.clone(),
    }
}
