//! Request paths as the upstream will understand them, for route matching.
//!
//! Matching on the raw path lets `//login`, `/./login`, `/api/../admin` or `/%6cogin` slip past a
//! rule for `/login` or `/admin` while most upstream servers still serve the intended page. Before
//! matching we decode percent-escapes of unreserved characters (RFC 3986 §2.3), drop empty and `.`
//! segments and resolve `..`. The request is forwarded unchanged; only matching sees this form.
//! Paths that need none of this (almost all) are borrowed, not copied.

use std::borrow::Cow;

/// The normalized form of `path` (without query).
pub fn normalize(path: &str) -> Cow<'_, str> {
    if !path.starts_with('/') || path.contains("//") || path.contains("/.") || path.contains('%') {
        Cow::Owned(rebuild(&decode_unreserved(path)))
    } else {
        Cow::Borrowed(path)
    }
}

fn rebuild(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    let dir_like = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if out.is_empty() || (dir_like && !segments.is_empty()) {
        out.push('/');
    }
    out
}

/// Decodes `%XX` only where XX encodes an unreserved character; everything else stays escaped.
fn decode_unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                let c = h * 16 + l;
                if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                    out.push(char::from(c));
                    i += 3;
                    continue;
                }
            }
        }
        // Copy one whole character (paths may carry raw UTF-8).
        let ch_len = path[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&path[i..i + ch_len]);
        i += ch_len;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn tricks_resolve_to_the_real_path() {
        for (raw, want) in [
            ("/login", "/login"),
            ("//login", "/login"),
            ("/./login", "/login"),
            ("/api/../admin", "/admin"),
            ("/%6cogin", "/login"),
            ("/%2egit/config", "/.git/config"),
            ("/%2Fadmin", "/%2Fadmin"),
            ("/api/", "/api/"),
            ("/api/.", "/api/"),
            ("/../../etc", "/etc"),
            ("", "/"),
            ("/a/%", "/a/%"),
            ("/a/%4", "/a/%4"),
            ("/é/./x", "/é/x"),
        ] {
            assert_eq!(normalize(raw), want, "{raw:?}");
        }
    }
}
