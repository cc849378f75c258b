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

/// The `filename` parameter of the Content-Disposition header, unquoted but not cleaned.
fn filename_of(headers: &str) -> Option<String> {
    for line in headers.split("\r\n") {
        let (name, value) = line.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("content-disposition") {
            continue;
        }
        let mut rest = value;
        while let Some(i) = rest.find(';') {
            rest = &rest[i + 1..];
            let param = rest.trim_start();
            let Some((k, v)) = param.split_once('=') else {
                continue;
            };
            if !k.trim().eq_ignore_ascii_case("filename") {
                continue;
            }
            let v = v.trim_start();
            if let Some(q) = v.strip_prefix('"') {
                let mut out = String::new();
                let mut chars = q.chars();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                out.push(n)
                            }
                        }
                        '"' => return Some(out),
                        c => out.push(c),
                    }
                }
                return None;
            }
            return Some(v.split(';').next().unwrap_or("").trim().to_string());
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
}
