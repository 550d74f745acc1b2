//! The one path every rule matches: the request target as a permissive upstream will act on it.
//!
//! Many upstreams (IIS, Express, Tomcat, most frameworks) decode every `%XX`, treat `\` as `/`,
//! drop `;params` and resolve `..` after decoding. If the rules matched anything less, then
//! `/protected%2Fsecret`, `/x/..%2Fprotected/secret` or `/protected;a=b/secret` would reach a
//! protected page unpaid. So the core decodes once, maps `\` to `/`, cuts each segment at `;`,
//! drops empty and `.` segments and resolves `..`, in that order. Targets that stay ambiguous
//! after that (they would decode again, hold a NUL, or carry a broken escape) are reported, and
//! refused by default. The request is forwarded unchanged; only matching sees this form. Paths
//! that need none of this (almost all) are borrowed, not copied.

use std::borrow::Cow;

/// Why a target is ambiguous: what one server decodes, another may not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ambiguity {
    /// A NUL byte, raw or escaped.
    Nul,
    /// `%` not followed by two hex digits.
    BadEscape,
    /// Decoded once it still holds an escape (`%2570`): a second decoder sees another path.
    DoubleEncoded,
}

/// A target's canonical path, and what was ambiguous about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical<'a> {
    pub path: Cow<'a, str>,
    pub ambiguity: Option<Ambiguity>,
}

/// The canonical form of `raw` (the target's path, without the query).
pub fn canonical(raw: &str) -> Canonical<'_> {
    let bytes = raw.as_bytes();
    if is_plain(bytes, false) {
        return Canonical {
            path: Cow::Borrowed(raw),
            ambiguity: None,
        };
    }
    let (decoded, mut ambiguity) = decode(bytes);
    if ambiguity.is_none() && holds_escape(&decoded) {
        ambiguity = Some(Ambiguity::DoubleEncoded);
    }
    Canonical {
        path: Cow::Owned(resolve(&decoded)),
        ambiguity,
    }
}

/// The canonical form of a path a server has already percent-decoded (nginx's URI after its
/// rewrite phase): the same steps without decoding again.
pub fn canonical_decoded(path: &str) -> Cow<'_, str> {
    if is_plain(path.as_bytes(), true) {
        return Cow::Borrowed(path);
    }
    Cow::Owned(resolve(path.as_bytes()))
}

/// Nothing to decode (unless `decoded`), map, cut or resolve. This runs on every request and
/// almost every path is plain, so it is memchr's vectorised scans, not a byte loop.
fn is_plain(b: &[u8], decoded: bool) -> bool {
    if b.first() != Some(&b'/') {
        return false;
    }
    let odd = match decoded {
        true => memchr::memchr3(b'\\', b';', 0, b).is_some(),
        false => memchr::memchr3(b'\\', b';', b'%', b).is_some() || memchr::memchr(0, b).is_some(),
    };
    !odd && memchr::memchr_iter(b'/', b).all(|i| !matches!(b.get(i + 1), Some(b'/' | b'.')))
}

/// Decodes every `%XX`; a broken escape is kept as written and reported.
fn decode(b: &[u8]) -> (Vec<u8>, Option<Ambiguity>) {
    let mut out = Vec::with_capacity(b.len());
    let mut ambiguity = None;
    let mut i = 0;
    while i < b.len() {
        let escape = (b[i] == b'%')
            .then(|| Some((hex(*b.get(i + 1)?)?, hex(*b.get(i + 2)?)?)))
            .flatten();
        match escape {
            Some((h, l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            None => {
                if b[i] == b'%' {
                    ambiguity.get_or_insert(Ambiguity::BadEscape);
                }
                out.push(b[i]);
                i += 1;
            }
        }
    }
    if out.contains(&0) {
        ambiguity = Some(Ambiguity::Nul);
    }
    (out, ambiguity)
}

fn holds_escape(b: &[u8]) -> bool {
    b.windows(3)
        .any(|w| w[0] == b'%' && hex(w[1]).is_some() && hex(w[2]).is_some())
}

/// `\` as `/`, each segment cut at `;`, empty and `.` segments dropped, `..` resolved; a
/// trailing `/` (or a final `.`/`..`) keeps the result directory-like.
fn resolve(b: &[u8]) -> String {
    let mapped: Vec<u8> = b
        .iter()
        .map(|&c| if c == b'\\' { b'/' } else { c })
        .collect();
    let mut segments: Vec<&[u8]> = Vec::new();
    let mut dir_like = false;
    for seg in mapped.split(|&c| c == b'/') {
        let seg = seg.split(|&c| c == b';').next().unwrap_or(&[]);
        dir_like = matches!(seg, b"" | b"." | b"..");
        match seg {
            b"" | b"." => {}
            b".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = Vec::with_capacity(mapped.len() + 1);
    for s in &segments {
        out.push(b'/');
        out.extend_from_slice(s);
    }
    if out.is_empty() || dir_like {
        out.push(b'/');
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// A route's `path_prefix`, matched by whole segments: `/protected/` (or `/protected`) covers
/// `/protected` and everything under it, not `/protectedfoo`. ASCII case is ignored unless the
/// rules say `[paths] case_sensitive = true`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPrefix {
    /// Canonical, without a trailing `/` (empty for `/`); lower-case when case-insensitive.
    base: String,
    case_sensitive: bool,
}

impl PathPrefix {
    /// The prefix as written in a rules file (it may be percent-encoded, like a request).
    pub fn new(written: &str, case_sensitive: bool) -> Self {
        let canon = canonical(written).path;
        let mut base = canon.trim_end_matches('/').to_string();
        if !case_sensitive {
            base.make_ascii_lowercase();
        }
        Self {
            base,
            case_sensitive,
        }
    }

    /// Whether canonical path `path` is this prefix or under it.
    pub fn covers(&self, path: &str) -> bool {
        let (p, b) = (path.as_bytes(), self.base.as_bytes());
        let Some(head) = p.get(..b.len()) else {
            return false;
        };
        let same = match self.case_sensitive {
            true => head == b,
            false => head.eq_ignore_ascii_case(b),
        };
        same && matches!(p.get(b.len()), None | Some(b'/'))
    }

    /// The canonical prefix (for messages and diffs).
    pub fn as_str(&self) -> &str {
        &self.base
    }
}

#[cfg(test)]
mod tests;
