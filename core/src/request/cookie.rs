//! Reading and removing cookies in a `Cookie` header (several headers joined with "; ").

/// The value of cookie `name` (the first, when it repeats).
pub fn cookie_value<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    cookie_values(header, name).next()
}

/// Every value of cookie `name`, in order: a browser sends one per matching path and domain,
/// and a sibling subdomain can plant one of its own before the real one.
pub fn cookie_values<'a, 'n>(
    header: Option<&'a str>,
    name: &'n str,
) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
    header
        .into_iter()
        .flat_map(|h| h.split(';'))
        .filter_map(move |pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.trim().trim_matches('"'))
        })
}

/// The header without the cookies named in `names`. `None`: the header has none of them,
/// leave it alone; `Some("")`: remove the header.
pub fn without_cookie(header: Option<&str>, names: &[&str]) -> Option<String> {
    let header = header?;
    let named = |pair: &str| {
        pair.trim()
            .split_once('=')
            .is_some_and(|(k, _)| names.contains(&k))
    };
    if !header.split(';').any(named) {
        return None;
    }
    let rest: Vec<&str> = header
        .split(';')
        .filter(|p| !named(p) && !p.trim().is_empty())
        .map(str::trim)
        .collect();
    Some(rest.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "tollgate_clearance";

    #[test]
    fn cookies_are_found_among_others() {
        let h = Some("a=1; tollgate_clearance=xyz ;b=2");
        assert_eq!(cookie_value(h, C), Some("xyz"));
        assert_eq!(cookie_value(Some("tollgate_clearancex=1"), C), None);
        assert_eq!(cookie_value(None, C), None);
    }

    #[test]
    fn a_cookie_is_removed_and_the_rest_kept() {
        let strip = |h| without_cookie(h, &[C]);
        assert_eq!(
            strip(Some("a=1; tollgate_clearance=x; b=2")),
            Some("a=1; b=2".into())
        );
        assert_eq!(strip(Some("tollgate_clearance=x")), Some(String::new()));
        assert_eq!(strip(Some("a=1")), None);
        assert_eq!(strip(None), None);
    }
}
