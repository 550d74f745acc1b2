use super::{canonical, canonical_decoded, Ambiguity, PathPrefix};

#[test]
fn every_trick_resolves_to_the_path_a_permissive_upstream_serves() {
    for (raw, want) in [
        ("/login", "/login"),
        ("//login", "/login"),
        ("/./login", "/login"),
        ("/api/../admin", "/admin"),
        ("/%6cogin", "/login"),
        ("/%2egit/config", "/.git/config"),
        ("/protected%2Fsecret", "/protected/secret"),
        ("/protected%2fsecret", "/protected/secret"),
        ("/x/..%2Fprotected/secret", "/protected/secret"),
        ("/public/..%2Fprotected/secret", "/protected/secret"),
        ("/public/%2e%2e/protected/secret", "/protected/secret"),
        ("/protected;a=b/secret", "/protected/secret"),
        ("/protected/secret;jsessionid=1", "/protected/secret"),
        ("/protected%5Csecret", "/protected/secret"),
        ("/protected\\secret", "/protected/secret"),
        ("/protected%3Bx/secret", "/protected/secret"),
        ("/api/", "/api/"),
        ("/api/.", "/api/"),
        ("/api/..", "/"),
        ("/../../etc", "/etc"),
        ("", "/"),
        ("*", "/*"),
        ("/é/./x", "/é/x"),
        ("/caf%C3%A9", "/café"),
    ] {
        let c = canonical(raw);
        assert_eq!((c.path.as_ref(), c.ambiguity), (want, None), "{raw:?}");
    }
}

#[test]
fn targets_that_would_decode_again_or_hide_a_nul_are_ambiguous() {
    for (raw, why) in [
        ("/%2570rotected/secret", Ambiguity::DoubleEncoded),
        ("/%25%37%30rotected", Ambiguity::DoubleEncoded),
        ("/a/%", Ambiguity::BadEscape),
        ("/a/%4", Ambiguity::BadEscape),
        ("/a/%zz", Ambiguity::BadEscape),
        ("/a%00b", Ambiguity::Nul),
        ("/a\0b", Ambiguity::Nul),
    ] {
        assert_eq!(canonical(raw).ambiguity, Some(why), "{raw:?}");
    }
    // One decoding of `%25` followed by no escape is a plain percent sign.
    let c = canonical("/100%25off");
    assert_eq!((c.path.as_ref(), c.ambiguity), ("/100%off", None));
}

#[test]
fn an_already_decoded_path_is_not_decoded_twice() {
    assert_eq!(canonical_decoded("/100%off"), "/100%off");
    assert_eq!(canonical_decoded("/a%41"), "/a%41");
    assert_eq!(canonical_decoded("/x/../protected;p\\s"), "/protected/s");
}

#[test]
fn plain_paths_are_borrowed() {
    assert!(matches!(
        canonical("/articles/2026/x.html").path,
        std::borrow::Cow::Borrowed(_)
    ));
}

#[test]
fn prefixes_match_whole_segments_ignoring_ascii_case() {
    let p = PathPrefix::new("/protected/", false);
    for (path, covered) in [
        ("/protected", true),
        ("/protected/", true),
        ("/protected/secret", true),
        ("/PROTECTED/secret", true),
        ("/Protected", true),
        ("/protectedfoo", false),
        ("/protecte", false),
        ("/", false),
    ] {
        assert_eq!(p.covers(path), covered, "{path}");
    }
    let exact = PathPrefix::new("/Protected", true);
    assert!(exact.covers("/Protected/x") && !exact.covers("/protected/x"));
    assert!(PathPrefix::new("/", false).covers("/anything"));
    assert!(PathPrefix::new("/%70rotected", false).covers("/protected"));
}
