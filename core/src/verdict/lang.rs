//! The language a challenge page is shown in, chosen from the client's `Accept-Language`.

use crate::toll::locale::{Locale, ENGLISH, LOCALES};

/// One of the page's languages (an index into the locale table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Lang(u8);

/// Most `Accept-Language` items read: a header is not a place to spend time.
const MAX_ITEMS: usize = 16;

impl Lang {
    pub const ENGLISH: Lang = Lang(ENGLISH as u8);

    /// Every language the page has, by tag.
    pub fn all() -> impl Iterator<Item = Lang> {
        (0..LOCALES.len()).map(|i| Lang(i as u8))
    }

    /// The language tagged `tag` (`"de"`), if the page has it.
    pub fn parse(tag: &str) -> Option<Self> {
        let i = LOCALES
            .iter()
            .position(|l| l.tag.eq_ignore_ascii_case(tag))?;
        Some(Lang(i as u8))
    }

    /// Its tag: the page's `<html lang>`.
    pub fn as_str(self) -> &'static str {
        self.locale().tag
    }

    pub(crate) fn locale(self) -> &'static Locale {
        LOCALES
            .get(usize::from(self.0))
            .unwrap_or(&LOCALES[ENGLISH])
    }

    /// The client's most preferred of the page's languages (RFC 9110 `Accept-Language`: the
    /// highest `q`, the first of equals; `q=0` is "not this one"; `pt-BR` is Portuguese).
    /// English when none is acceptable.
    pub fn negotiate(header: Option<&str>) -> Self {
        let mut best: Option<(Lang, f32)> = None;
        for item in header.unwrap_or("").split(',').take(MAX_ITEMS) {
            let mut parts = item.split(';');
            let range = parts.next().unwrap_or("").trim();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())
                .filter(|q| (0.0..=1.0).contains(q));
            let (Some(q), Some(primary)) = (q, range.split('-').next()) else {
                continue;
            };
            let Some(lang) = Lang::parse(primary) else {
                continue;
            };
            if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
                best = Some((lang, q));
            }
        }
        best.map_or(Lang::ENGLISH, |(l, _)| l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(header: &str) -> &'static str {
        Lang::negotiate(Some(header)).as_str()
    }

    #[test]
    fn the_page_speaks_at_least_the_eight_languages() {
        let tags: Vec<_> = Lang::all().map(Lang::as_str).collect();
        for t in ["en", "zh", "es", "fr", "de", "ja", "ru", "pt"] {
            assert!(tags.contains(&t), "{t} missing from {tags:?}");
        }
        assert_eq!(Lang::ENGLISH.as_str(), "en");
    }

    #[test]
    fn the_highest_quality_known_language_wins() {
        assert_eq!(tag("zh-CN,zh;q=0.9,en;q=0.8"), "zh");
        assert_eq!(tag("en-US,en;q=0.9,zh;q=0.8"), "en");
        assert_eq!(tag("it, fr;q=0.5, de;q=0.7"), "de");
        assert_eq!(tag("pt-BR"), "pt");
        assert_eq!(tag("JA"), "ja");
        assert_eq!(tag("ru;q=0.3, es;q=0.3"), "ru", "the first of equals");
        assert_eq!(tag("de;q=0, fr;q=0.1"), "fr", "q=0 is a refusal");
        assert_eq!(
            tag("de;q=2, es;q=abc, fr;q=0.2"),
            "fr",
            "bad q values are skipped"
        );
        assert_eq!(tag("it, *;q=0.5"), "en");
        assert_eq!(Lang::negotiate(None).as_str(), "en");
    }
}
