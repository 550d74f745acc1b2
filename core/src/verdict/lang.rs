//! The language a challenge page is shown in, picked from `Accept-Language`.

use crate::codes::code_table;

code_table! {
    /// Language of the page.
    pub enum Lang {
        En = "en",
        Zh = "zh",
    }
}

impl Lang {
    /// The preferred of the page's languages in an `Accept-Language` header (English if none).
    pub fn negotiate(header: Option<&str>) -> Self {
        let mut best = (Lang::En, 0.0f32);
        for item in header.unwrap_or("").split(',').take(16) {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let Some(lang) = tag.split('-').next().and_then(Lang::parse) else {
                continue;
            };
            if q > best.1 {
                best = (lang, q);
            }
        }
        best.0
    }
}
