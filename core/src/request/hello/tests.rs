use super::*;

/// The example hello of FoxIO's JA4 specification (a Chrome): its cipher and extension lists
/// and signature algorithms, which the spec fingerprints as t13d1516h2_8daaf6152771_e5627efa2ab1.
const CIPHERS: [u16; 15] = [
    0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c,
    0x009d, 0x002f, 0x0035,
];
const EXTS: [u16; 16] = [
    0x0000, 0x0017, 0xff01, 0x000a, 0x000b, 0x0023, 0x0010, 0x0005, 0x000d, 0x0012, 0x0033, 0x002d,
    0x002b, 0x001b, 0x0015, 0x4469,
];
const SIGALGS: [u16; 8] = [
    0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
];

fn be(v: u16) -> [u8; 2] {
    v.to_be_bytes()
}

fn list16(items: &[u16]) -> Vec<u8> {
    let mut out = be((items.len() * 2) as u16).to_vec();
    items.iter().for_each(|i| out.extend(be(*i)));
    out
}

fn ext_data(ty: u16) -> Vec<u8> {
    match ty {
        EXT_SIGALGS => list16(&SIGALGS),
        EXT_GROUPS => list16(&[0x001d, 0x0017]),
        EXT_VERSIONS => vec![4, 0x03, 0x04, 0x03, 0x03],
        EXT_ALPN => vec![
            0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
        ],
        EXT_SNI => vec![0, 5, 0, 0, 2, b'a', b'b'],
        _ => Vec::new(),
    }
}

/// A whole first record: the hello with `ciphers` and `exts` (plus `grease` entries).
fn record(ciphers: &[u16], exts: &[u16]) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend([7u8; 32]);
    body.push(0);
    body.extend(list16(ciphers));
    body.extend([1, 0]);
    let mut e = Vec::new();
    for ty in exts {
        let d = ext_data(*ty);
        e.extend(be(*ty));
        e.extend(be(d.len() as u16));
        e.extend(d);
    }
    body.extend(be(e.len() as u16));
    body.extend(e);
    let mut hs = vec![0x01, 0, (body.len() >> 8) as u8, body.len() as u8];
    hs.extend(body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend(be(hs.len() as u16));
    rec.extend(hs);
    rec
}

#[test]
fn the_specifications_example_fingerprints_as_published() {
    let h = TlsHello::parse(&record(&CIPHERS, &EXTS)).unwrap();
    assert_eq!(h.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
    assert_eq!(
        (h.version, h.sni, h.alpn.as_deref()),
        (0x0304, true, Some("h2"))
    );
    assert!(!h.has_grease());
}

#[test]
fn grease_is_seen_but_left_out_of_the_fingerprint() {
    let mut ciphers = vec![0x8a8a];
    ciphers.extend(CIPHERS);
    let mut exts = vec![0x3a3a];
    exts.extend(EXTS);
    exts.push(0xfafa);
    let h = TlsHello::parse(&record(&ciphers, &exts)).unwrap();
    assert!(h.has_grease());
    assert_eq!(h.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
    assert!((0..16).all(|n| is_grease(0x0a0a + n * 0x1010)));
    assert!(!is_grease(0x0a0b) && !is_grease(0x1a2a));
}

#[test]
fn a_bare_hello_has_no_sni_alpn_or_sigalgs() {
    let h = TlsHello::parse(&record(&[0x1301], &[])).unwrap();
    assert_eq!(h.ja4, format!("t12i010000_{}_000000000000", hash12("1301")));
    assert!(!h.has_record_size_limit());
}

#[test]
fn every_truncation_and_wrong_record_is_an_error_not_a_panic() {
    let full = record(&CIPHERS, &EXTS);
    // The version, random, session id length and cipher list length come before anything
    // optional: a hello cut inside them is no hello.
    let fixed = 5 + 4 + 2 + 32 + 1 + 2;
    for cut in 0..full.len() {
        // The record header still promises the whole body: every cut is short of it.
        assert!(TlsHello::parse(&full[..cut]).is_err(), "cut {cut}");
        // A header made to match the cut: a hello may continue in a second record, so what
        // this one holds is read as far as it goes. Before the fixed fields end, that fails;
        // later cuts parse or fail, and none panics.
        let mut short = full[..cut].to_vec();
        if short.len() >= 5 {
            let n = (short.len() - 5) as u16;
            short[3..5].copy_from_slice(&n.to_be_bytes());
        }
        let parsed = TlsHello::parse(&short);
        assert!(cut >= fixed || parsed.is_err(), "cut {cut}: {parsed:?}");
    }
    assert_eq!(
        TlsHello::parse(b"GET / HTTP/1.1\r\n"),
        Err(HelloError::NotHandshake)
    );
    let mut server_hello = full.clone();
    server_hello[5] = 0x02;
    assert_eq!(
        TlsHello::parse(&server_hello),
        Err(HelloError::NotClientHello)
    );
}

/// First records captured on loopback from Debian's curl (OpenSSL) and headless Chromium, both
/// asking for https://localhost/ with HTTP/2.
const CURL: &[u8] = include_bytes!("../../../tests/data/curl-hello.bin");
const CHROMIUM: &[u8] = include_bytes!("../../../tests/data/chromium-hello.bin");

#[test]
fn real_hellos_tell_a_browser_stack_from_a_script_stack() {
    let curl = TlsHello::parse(CURL).unwrap();
    let chromium = TlsHello::parse(CHROMIUM).unwrap();
    for h in [&curl, &chromium] {
        assert_eq!(
            (h.version, h.sni, h.alpn.as_deref()),
            (0x0304, true, Some("h2"))
        );
        assert!(h.ja4.starts_with("t13d") && h.ja4.len() == 36, "{}", h.ja4);
    }
    assert!(chromium.has_grease() && !curl.has_grease());
    assert_ne!(curl.ja4, chromium.ja4);
    println!("curl {} chromium {}", curl.ja4, chromium.ja4);
}

#[test]
fn a_remembered_hello_costs_a_few_hundred_bytes() {
    // What the proxy keeps per TLS connection (README): the struct and its heap parts.
    let cost = |h: &TlsHello| {
        std::mem::size_of::<TlsHello>()
            + 2 * (h.ciphers.capacity()
                + h.extensions.capacity()
                + h.sigalgs.capacity()
                + h.groups.capacity())
            + h.alpn.as_ref().map_or(0, String::capacity)
            + h.ja4.capacity()
    };
    let (curl, chromium) = (
        TlsHello::parse(CURL).unwrap(),
        TlsHello::parse(CHROMIUM).unwrap(),
    );
    println!("curl {} B, chromium {} B", cost(&curl), cost(&chromium));
    assert!(cost(&curl) < 400 && cost(&chromium) < 400);
}
