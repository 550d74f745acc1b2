//! A route's `paths`: glob patterns on the canonical path.
//!
//! Feeds, sitemaps and other well-known files are named by pattern rather than by a prefix
//! (`/sitemap-posts-2.xml`, `/blog/feed/`, `/news.rss`), and a site behind the toll must exempt
//! them by what they are called. `*` and `?` stay inside one segment, `**` crosses segments,
//! `{a,b}` and `[...]` work as in a shell; patterns are matched against the canonical path, so
//! `%2e`, `\` and `;params` tricks reach the same pattern as the plain path does.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// Any of a route's patterns, compiled once into one matcher.
#[derive(Clone)]
pub struct PathGlobs {
    set: GlobSet,
    patterns: Vec<String>,
}

/// The patterns only: a reload's diff compares routes by their `Debug` text.
impl std::fmt::Debug for PathGlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PathGlobs").field(&self.patterns).finish()
    }
}

/// Why a pattern was refused.
#[derive(Debug, thiserror::Error)]
pub enum GlobError {
    #[error("path pattern {0:?} must start with '/' or '*'")]
    Unanchored(String),
    #[error("invalid path pattern {pattern:?}: {why}")]
    Invalid { pattern: String, why: String },
}

impl PathGlobs {
    /// Compiles `patterns`; `case_sensitive` follows `[paths] case_sensitive`.
    pub fn new<'a>(
        patterns: impl IntoIterator<Item = &'a str>,
        case_sensitive: bool,
    ) -> Result<Self, GlobError> {
        let globs = patterns.into_iter().map(|p| glob(p, case_sensitive));
        Self::of(globs.collect::<Result<Vec<_>, _>>()?)
    }

    /// One matcher for patterns compiled by [`glob`] (each checked where it was written).
    pub fn of(globs: Vec<globset::Glob>) -> Result<Self, GlobError> {
        let mut set = GlobSetBuilder::new();
        let mut kept = Vec::new();
        for g in globs {
            kept.push(g.glob().to_string());
            set.add(g);
        }
        let set = set.build().map_err(|e| GlobError::Invalid {
            pattern: kept.join(", "),
            why: e.kind().to_string(),
        })?;
        Ok(Self {
            set,
            patterns: kept,
        })
    }

    /// Whether canonical path `path` matches any pattern.
    pub fn matches(&self, path: &str) -> bool {
        self.set.is_match(path)
    }
}

/// One pattern: checked to be anchored at the path's start, and compiled.
pub fn glob(pattern: &str, case_sensitive: bool) -> Result<globset::Glob, GlobError> {
    if !pattern.starts_with(['/', '*']) {
        return Err(GlobError::Unanchored(pattern.to_string()));
    }
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .case_insensitive(!case_sensitive)
        .backslash_escape(true)
        .empty_alternates(true)
        .build()
        .map_err(|e| GlobError::Invalid {
            pattern: pattern.to_string(),
            why: e.kind().to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globs(p: &[&str]) -> PathGlobs {
        PathGlobs::new(p.iter().copied(), false).unwrap()
    }

    #[test]
    fn one_star_stays_in_its_segment_and_two_cross() {
        let g = globs(&["/sitemap*.xml", "/**/*.rss", "/**/feed{,/}"]);
        for yes in [
            "/sitemap.xml",
            "/sitemap-posts-2.xml",
            "/SiteMap.XML",
            "/news.rss",
            "/a/b/c.rss",
            "/feed",
            "/blog/feed/",
            "/feed/",
        ] {
            assert!(g.matches(yes), "{yes}");
        }
        for no in [
            "/sitemap/x.xml",
            "/sitemap.xml/x",
            "/feeds",
            "/blog/feed/page",
            "/x.rss.html",
            "/",
        ] {
            assert!(!g.matches(no), "{no}");
        }
    }

    #[test]
    fn case_follows_the_rules() {
        let g = PathGlobs::new(["/Feed.xml"], true).unwrap();
        assert!(g.matches("/Feed.xml"));
        assert!(!g.matches("/feed.xml"));
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        let unanchored = PathGlobs::new(["feed.xml"], false).unwrap_err();
        assert_eq!(
            unanchored.to_string(),
            "path pattern \"feed.xml\" must start with '/' or '*'"
        );
        let open = PathGlobs::new(["/feed{.xml"], false)
            .unwrap_err()
            .to_string();
        assert!(
            open.starts_with("invalid path pattern \"/feed{.xml\": "),
            "{open}"
        );
    }
}
