//! Repository names as a docker image reference spells them (distribution's `reference`
//! grammar, the name without tag or digest): what a GUN may be.
//!
//! ```text
//! name             := [domain '/'] path-component ['/' path-component]*
//! domain           := domain-component ['.' domain-component]* [':' port]  |  '[' IPv6 ']' [':' port]
//! domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//! path-component   := alnum [separator alnum]*     alnum := [a-z0-9]+
//! separator        := [_.] | '__' | [-]+
//! ```
//!
//! Docker and notary clients only ever send such names. Anything else (Unicode format or bidi
//! characters, quotes, dot segments, upper case after the registry) cannot name an image, so
//! refusing it costs no client and keeps names that look alike, or that break out of a quoted
//! header or log field, out of the database.

/// The longest name the grammar allows.
pub const MAX_NAME_LEN: usize = 255;

/// Whether `name` is a repository name a docker image reference can contain.
pub fn is_image_name(name: &str) -> bool {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return false;
    }
    // Checked on every trust request, so written as byte loops rather than with `str::split`.
    let (first, rest) = match name.bytes().position(|b| b == b'/') {
        Some(i) => (&name[..i], Some(&name.as_bytes()[i + 1..])),
        None => (name, None),
    };
    // The first component is the registry when another follows; a lone component, or one that
    // also reads as a path component, is a path.
    let first_ok = is_path_component(first) || (rest.is_some() && is_domain(first));
    first_ok && rest.is_none_or(|r| r.split(|&b| b == b'/').all(path_component_bytes))
}

/// `alnum [separator alnum]*`, lowercase.
pub fn is_path_component(c: &str) -> bool {
    path_component_bytes(c.as_bytes())
}

/// [`is_path_component`] in one pass: a separator run is one '.', one '_', two '_', or any
/// number of '-'.
fn path_component_bytes(b: &[u8]) -> bool {
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) if alnum(first) && alnum(last) => {}
        _ => return false,
    }
    let (mut run_len, mut run_kind) = (0usize, 0u8);
    for &x in b {
        if alnum(x) {
            run_len = 0;
            continue;
        }
        match (x, run_len, run_kind) {
            (b'-' | b'.' | b'_', 0, _) => run_kind = x,
            (b'-', _, b'-') | (b'_', 1, b'_') => {}
            _ => return false,
        }
        run_len += 1;
    }
    true
}

/// `host[:port]`: a DNS name (components of letters, digits and inner hyphens) or a bracketed
/// IPv6 address.
pub fn is_domain(d: &str) -> bool {
    let (host, port) = if d.starts_with('[') {
        let Some(end) = d.find(']') else {
            return false;
        };
        let (host, rest) = d.split_at(end + 1);
        match rest {
            "" => (host, None),
            _ => match rest.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None => return false,
            },
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|x| x.is_ascii_digit())) {
        return false;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
        })
}

/// Every string of up to `max_len` pieces of `alphabet`, the empty one first: for checking a
/// hand-written parser against its definition exhaustively.
#[cfg(test)]
pub(crate) fn every_string(alphabet: &[&str], max_len: usize) -> Vec<String> {
    let mut all = vec![String::new()];
    let mut longest = vec![String::new()];
    for _ in 0..max_len {
        longest = longest
            .iter()
            .flat_map(|w| alphabet.iter().map(move |a| format!("{w}{a}")))
            .collect();
        all.extend(longest.iter().cloned());
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_docker_accepts() {
        for ok in [
            "alpine",
            "library/alpine",
            "docker.io/library/alpine",
            "registry.example.com/team/app",
            "registry.example.com:5000/team/app",
            "localhost:5000/a",
            "127.0.0.1:5000/a",
            "[::1]:5000/a",
            "[fe80::1]/a",
            "[fe80::1:2]:443/a",
            "Registry.Example.COM/app",
            "example.com/a.b_c__d-e---f",
            "example.com/0/9",
            "a/b/c/d/e/f/g/h",
            &format!("example.com/{}", "a".repeat(MAX_NAME_LEN - 12)),
        ] {
            assert!(is_image_name(ok), "{ok:?}");
        }
    }

    #[test]
    fn names_docker_refuses() {
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            "a/./b",
            "a/../b",
            "example.com/..",
            "example.com/.",
            "example.com/a..b",
            "example.com/a._b",
            "example.com/a___b",
            "example.com/-a",
            "example.com/a-",
            "example.com/_a",
            "example.com/App",
            "example.com/a b",
            "example.com/a\"b",
            "example.com/a'b",
            "example.com/a\\b",
            "example.com/a*b",
            "example.com/a%b",
            "example.com/a\u{0}b",
            "example.com/a\u{202e}b",
            "example.com/a\u{200b}b",
            "example.com/\u{fb01}",
            "exam\u{200d}ple.com/a",
            "example.com:/a",
            "example.com:x/a",
            "-example.com/a",
            "example..com/a",
            "[::1/a",
            "[zz]:5000/a",
            "a:b:c/d",
            "UPPER",
            &format!("example.com/{}", "a".repeat(MAX_NAME_LEN - 11)),
        ] {
            assert!(!is_image_name(bad), "{bad:?}");
        }
    }

    /// The one-pass check against the grammar's definition, on every string of up to five of
    /// the bytes that matter.
    #[test]
    fn path_components_match_the_grammar() {
        fn by_definition(c: &str) -> bool {
            let b = c.as_bytes();
            let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
            if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
                return false;
            }
            c.split(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
                .filter(|sep| !sep.is_empty())
                .all(|sep| matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-'))
        }
        for w in &every_string(&["a", "1", ".", "-", "_", "A", "/"], 5) {
            assert_eq!(is_path_component(w), by_definition(w), "{w:?}");
        }
    }
}
