//! Structural errors (an unknown key, a wrong type, a missing field) all at once.
//!
//! serde stops at the first such error. So each one found is recorded, the entry it is in is
//! blanked out of the text (spaces, line breaks kept, so every later position stays true), and
//! the text is read again: a file with an unknown key and a wrong type reports both, and the
//! semantic checks still run on every entry that remains. A syntax error ends the search: there
//! is no entry to blank out.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml_edit::{ImDocument, Item, Table};

use super::error::Errors;

/// Most structural errors reported from one file.
const MAX_ERRORS: usize = 100;

/// `text` read as `T`, with every structural error recorded in `errs`. `Some` when what is left
/// once the broken entries are taken out reads (so its semantic errors can be found too).
pub(super) fn parse<T: DeserializeOwned>(text: &str, errs: &mut Errors<'_>) -> Option<T> {
    let mut text = text.to_string();
    for _ in 0..MAX_ERRORS {
        let e = match toml::from_str::<T>(&text) {
            Ok(v) => return Some(v),
            Err(e) => e,
        };
        let msg = e.message().trim().lines().collect::<Vec<_>>().join("; ");
        let span = e.span().unwrap_or(0..0);
        errs.at(span.clone(), None, msg);
        let entry = entry_at(&text, span.start)?;
        // Nothing left to take out there: the same error would only come back.
        if text.get(entry.clone()).is_none_or(|t| t.trim().is_empty()) {
            return None;
        }
        blank(&mut text, entry);
    }
    None
}

/// The extent of what holds byte `at`: the key-value it is in (a whole inline table or array
/// with it), else the whole table whose header or body it is in. `None` when the text does not
/// parse as TOML, or `at` is in no entry.
fn entry_at(text: &str, at: usize) -> Option<Range<usize>> {
    let doc = ImDocument::parse(text).ok()?;
    let mut best: Option<Range<usize>> = None;
    visit(doc.as_table(), &mut |r| {
        let inside = r.start <= at && at < r.end.max(r.start + 1);
        let narrower = best.as_ref().is_none_or(|b| r.len() < b.len());
        if inside && narrower {
            best = Some(r);
        }
    });
    best
}

/// Calls `f` with the extent of every table (header through its last entry) and of every
/// key-value directly in a table.
fn visit(table: &Table, f: &mut impl FnMut(Range<usize>)) {
    let mut end = table.span().map(|s| s.end);
    for (key, item) in table.iter() {
        match item {
            Item::Table(t) => visit(t, f),
            Item::ArrayOfTables(a) => a.iter().for_each(|t| visit(t, f)),
            Item::Value(v) => {
                let k = table.get_key_value(key).and_then(|(k, _)| k.span());
                if let (Some(k), Some(v)) = (k, v.span()) {
                    f(k.start..v.end);
                    end = end.map(|e| e.max(v.end));
                }
            }
            Item::None => {}
        }
    }
    if let (Some(header), Some(end)) = (table.span(), end) {
        f(header.start..end);
    }
}

/// Spaces over `r`, line breaks kept.
fn blank(text: &mut String, r: Range<usize>) {
    let Some(old) = text.get(r.clone()) else {
        return;
    };
    let blanked: String = old
        .chars()
        .map(|c| match c {
            '\n' | '\r' => c.to_string(),
            c => " ".repeat(c.len_utf8()),
        })
        .collect();
    text.replace_range(r, &blanked);
}
