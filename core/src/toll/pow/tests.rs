use super::*;
use crate::solve::{solve, Work};

fn keys() -> Keyring {
    Keyring::from_bytes(&[3; 32]).unwrap()
}

fn binding(ip: &str, ua: &str) -> Binding {
    Binding::new(&ClientKey::new(ip.parse().unwrap(), 32, 64), Some(ua))
}

fn offer(puzzle: Puzzle, b: Binding) -> Offer {
    issue(
        &keys(),
        &IssueParams {
            puzzle,
            route: "login",
            binding: b,
            now_secs: 1_000,
            ttl_secs: 60,
            serial: [1; 16],
            signals: 0,
        },
    )
}

fn answer(o: &Offer) -> u64 {
    let work = Work::from_offer(o).unwrap();
    solve(&work, 0, 1, &Default::default(), &Default::default()).unwrap()
}

#[test]
fn both_puzzles_verify_end_to_end_and_bind_to_the_client() {
    let me = binding("192.0.2.1", "Firefox");
    for puzzle in [Puzzle::Hashcash { bits: 8 }, Puzzle::Range { size: 5_000 }] {
        let o = offer(puzzle, me);
        let n = answer(&o);
        let ok = check(&keys(), &o.token, n, &me, 1_010).unwrap();
        assert_eq!((ok.puzzle, ok.route.as_str()), (puzzle, "login"));
        let other_ip = binding("192.0.2.2", "Firefox");
        let other_ua = binding("192.0.2.1", "curl");
        // Ours, for another client (a moved address, a changed user agent): not a forgery.
        for b in [other_ip, other_ua] {
            assert_eq!(
                check(&keys(), &o.token, n, &b, 1_010),
                Err(PowError::OtherClient)
            );
        }
        let retired = Keyring::from_bytes(&[9; 32]).unwrap();
        assert_eq!(
            check(&retired, &o.token, n, &me, 1_010),
            Err(PowError::UnknownKey)
        );
        assert_eq!(
            check(&keys(), &o.token, n, &me, 1_060),
            Err(PowError::Expired)
        );
    }
}

#[test]
fn wrong_answers_and_edited_tokens_are_refused() {
    let me = binding("192.0.2.1", "Firefox");
    let o = offer(Puzzle::Range { size: 1_000 }, me);
    let n = answer(&o);
    assert_eq!(
        check(&keys(), &o.token, (n + 1) % 1_000, &me, 1_001),
        Err(PowError::WrongAnswer)
    );
    // A weaker puzzle spliced into the payload breaks the signature.
    let easy = offer(Puzzle::Range { size: 2 }, me);
    let (_, mac) = o.token.split_once('.').unwrap();
    let (payload, _) = easy.token.split_once('.').unwrap();
    let spliced = format!("{payload}.{mac}");
    assert_eq!(
        check(&keys(), &spliced, 0, &me, 1_001),
        Err(PowError::BadSignature)
    );
    for bad in ["", ".", "x.y", &"A".repeat(5_000), &format!("{}.", o.token)] {
        assert_eq!(check(&keys(), bad, 0, &me, 1_001), Err(PowError::Malformed));
    }
}

#[test]
fn the_hashcash_answer_has_the_leading_zeros() {
    let me = binding("192.0.2.1", "Firefox");
    let o = offer(Puzzle::Hashcash { bits: 12 }, me);
    let n = answer(&o);
    let prefix: [u8; 64] = o.prefix.as_bytes().try_into().unwrap();
    assert!(leading_zero_bits(&hash(&prefix, n)) >= 12);
}

#[test]
fn harder_stays_in_bounds() {
    assert_eq!(
        Puzzle::Hashcash { bits: 30 }.harder(5),
        Puzzle::Hashcash { bits: 32 }
    );
    for (size, steps) in [(1 << 31, 40), (1 << 32, 32), (3 << 30, 1), (1 << 31, 1)] {
        assert_eq!(
            Puzzle::Range { size }.harder(steps),
            Puzzle::Range { size: 1 << 32 },
            "{size} {steps}"
        );
    }
    assert_eq!(
        Puzzle::Range { size: 1 << 20 }.harder(3),
        Puzzle::Range { size: 1 << 23 }
    );
    assert_eq!(Puzzle::Range { size: 1 << 22 }.work_bits(), 21);
    assert_eq!(Puzzle::Hashcash { bits: 21 }.work_bits(), 21);
}
