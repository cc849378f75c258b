//! A strict multipart/form-data reader that keeps the raw `filename` parameter.
//!
//! The role travels in the part's file name (`targets/releases`); Go ≥ 1.17 strips it to its
//! last path element, which breaks delegation uploads, so the parameter is read as sent.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MultipartError {
    #[error("request is not multipart/form-data with a boundary")]
    NotMultipart,
    #[error("multipart body is malformed: {0}")]
    Malformed(&'static str),
    #[error("a multipart part exceeds {0} bytes")]
    PartTooLarge(usize),
}

#[derive(Debug)]
pub struct Part {
    /// The raw `filename` parameter, `None` when absent.
    pub filename: Option<String>,
    pub body: Vec<u8>,
}

/// The boundary from a `Content-Type` header value.
pub fn boundary(content_type: &str) -> Result<String, MultipartError> {
    let mut parts = content_type.split(';');
    let mime = parts.next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return Err(MultipartError::NotMultipart);
    }
    for p in parts {
        if let Some((k, v)) = p.split_once('=') {
            if k.trim().eq_ignore_ascii_case("boundary") {
                let v = v.trim().trim_matches('"');
                if !v.is_empty() && v.len() <= 70 {
                    return Ok(v.to_string());
                }
            }
        }
    }
    Err(MultipartError::NotMultipart)
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() || from > hay.len() - needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| &hay[i..i + needle.len()] == needle)
}

/// Splits a body into parts. Each part body must not exceed `max_part`.
pub fn parse(body: &[u8], boundary: &str, max_part: usize) -> Result<Vec<Part>, MultipartError> {
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let mut pos = find(body, delim, 0).ok_or(MultipartError::Malformed("no boundary"))?;
    let mut parts = Vec::new();
    loop {
        pos += delim.len();
        if body[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        // Skip transport padding and the line break after the boundary.
        while pos < body.len() && (body[pos] == b' ' || body[pos] == b'\t') {
            pos += 1;
        }
        if body[pos..].starts_with(b"\r\n") {
            pos += 2;
        } else if body[pos..].starts_with(b"\n") {
            pos += 1;
        } else {
            return Err(MultipartError::Malformed(
                "boundary not followed by a line break",
            ));
        }
        let header_end = find(body, b"\r\n\r\n", pos)
            .ok_or(MultipartError::Malformed("part headers never end"))?;
        let headers = std::str::from_utf8(&body[pos..header_end])
            .map_err(|_| MultipartError::Malformed("part headers are not UTF-8"))?;
        let content_start = header_end + 4;
        let mut next_delim = Vec::with_capacity(delim.len() + 2);
        next_delim.extend_from_slice(b"\r\n");
        next_delim.extend_from_slice(delim);
        let content_end = find(body, &next_delim, content_start)
            .ok_or(MultipartError::Malformed("part never ends"))?;
        if content_end - content_start > max_part {
            return Err(MultipartError::PartTooLarge(max_part));
        }
        parts.push(Part {
            filename: filename_of(headers),
            body: body[content_start..content_end].to_vec(),
        });
        pos = content_end + 2;
    }
}

/// The `filename` parameter of the (first) Content-Disposition header, unquoted but not
/// cleaned. `None` when it is absent, when the parameters cannot be read, or when `filename`
/// is given twice: Go's parameter parser refuses such a header, so notary-server sees no file
/// name (and answers `NO_FILENAME`) rather than picking one of the two.
fn filename_of(headers: &str) -> Option<String> {
    let value = headers.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-disposition")
            .then_some(value)
    })?;
    // Past the disposition type (`form-data`).
    let mut rest = &value[value.find(';')? + 1..];
    let mut found = None;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return found;
        }
        let (key, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let (param, tail) = match after.strip_prefix('"') {
            Some(quoted) => unquote(quoted)?,
            None => {
                let end = after.find(';').unwrap_or(after.len());
                (after[..end].trim_end().to_string(), &after[end..])
            }
        };
        if key.trim().eq_ignore_ascii_case("filename") {
            if found.is_some() {
                return None;
            }
            found = Some(param);
        }
        rest = tail.trim_start();
        if rest.is_empty() {
            return found;
        }
        rest = rest.strip_prefix(';')?;
    }
}

/// A quoted-string (after its opening quote): the value and what follows the closing quote.
fn unquote(quoted: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => return Some((out, &quoted[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_slashes_in_filenames() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"files\"; filename=\"targets/releases\"\r\nContent-Type: application/octet-stream\r\n\r\n{\"a\":1}\r\n--XX\r\nContent-Disposition: form-data; name=\"files\"; filename=\"root.json\"\r\n\r\n{}\r\n--XX--\r\n";
        let parts = parse(body, "XX", 1024).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].filename.as_deref(), Some("targets/releases"));
        assert_eq!(parts[0].body, b"{\"a\":1}");
        assert_eq!(parts[1].filename.as_deref(), Some("root.json"));
        assert_eq!(
            parse(body, "XX", 3).unwrap_err(),
            MultipartError::PartTooLarge(3)
        );
        assert!(parse(b"garbage", "XX", 10).is_err());
        assert_eq!(
            boundary("multipart/form-data; boundary=\"abc\"").unwrap(),
            "abc"
        );
        assert_eq!(
            boundary("application/json"),
            Err(MultipartError::NotMultipart)
        );
    }

    #[test]
    fn a_filename_given_twice_or_unreadable_is_no_filename() {
        let name = |cd: &str| filename_of(&format!("Content-Disposition: {cd}\r\nX: y"));
        assert_eq!(
            name(r#"form-data; name="files"; filename="targets.json""#).as_deref(),
            Some("targets.json")
        );
        assert_eq!(
            name(r#"form-data; filename="a;b\"c"; name=files"#).as_deref(),
            Some("a;b\"c")
        );
        assert_eq!(
            name("form-data; filename=root.json ;").as_deref(),
            Some("root.json")
        );
        assert_eq!(
            name(r#"form-data; filename="root.json"; filename="targets.json""#),
            None
        );
        assert_eq!(name(r#"form-data; FILENAME="root"; filename="root""#), None);
        assert_eq!(
            name(r#"form-data; filename="root.json"#),
            None,
            "unterminated"
        );
        assert_eq!(name(r#"form-data; filename="root" junk"#), None);
        assert_eq!(name("form-data; name=files"), None);
        assert_eq!(name("form-data"), None);
        // Only the first Content-Disposition counts.
        assert_eq!(
            filename_of("Content-Disposition: form-data; filename=root\r\nContent-Disposition: form-data; filename=targets").as_deref(),
            Some("root")
        );
    }
}
