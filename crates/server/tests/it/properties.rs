//! Properties: ISBN conversions round-trip and keep checksums; no input
//! bytes, however broken, make the import parser panic.

use bookstrack_server::pipelines::csv_import::isbn::{self, Identifier};
use bookstrack_server::pipelines::csv_import::{scan, Format, Parser};
use proptest::prelude::*;
use std::io::Write;

fn check10(body: &str) -> char {
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, c)| (c - b'0') as u32 * (10 - i as u32))
        .sum();
    match (11 - sum % 11) % 11 {
        10 => 'X',
        d => char::from(b'0' + d as u8),
    }
}

proptest! {
    #[test]
    fn isbn10_13_round_trip(body in "[0-9]{9}") {
        let ten = format!("{body}{}", check10(&body));
        prop_assert!(isbn::is_valid_isbn10(&ten));
        let thirteen = isbn::isbn10_to_13(&ten);
        prop_assert!(isbn::is_valid_isbn13(&thirteen));
        prop_assert_eq!(isbn::isbn13_to_10(&thirteen), Some(ten.clone()));
        let hyphenated = format!("{}-{}-{}", &thirteen[..3], &thirteen[3..8], &thirteen[8..]);
        prop_assert_eq!(isbn::parse_isbn13(&hyphenated), Some(thirteen.clone()));
        prop_assert_eq!(isbn::parse_isbn13(&format!("=\"{thirteen}\"")), Some(thirteen));
    }

    #[test]
    fn a_changed_digit_breaks_the_checksum(body in "97[89][0-9]{9}", pos in 0usize..13, delta in 1u8..10) {
        let sum: u32 = body.bytes().enumerate().map(|(i, c)| (c - b'0') as u32 * if i % 2 == 0 { 1 } else { 3 }).sum();
        let valid = format!("{body}{}", (10 - sum % 10) % 10);
        prop_assert!(isbn::is_valid_isbn13(&valid));
        let mut bytes = valid.into_bytes();
        bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
        let changed = String::from_utf8(bytes).unwrap();
        if changed.starts_with("978") || changed.starts_with("979") {
            prop_assert!(!isbn::is_valid_isbn13(&changed), "{}", changed);
        }
    }

    #[test]
    fn stripped_zeros_are_restored_only_with_a_valid_checksum(body in "0[0-9]{8}") {
        let ten = format!("{body}{}", check10(&body));
        // Zeros are lost when the value was read as a number: never with an X.
        prop_assume!(!ten.ends_with('X'));
        let stripped = ten.trim_start_matches('0');
        match isbn::classify(stripped, true) {
            Identifier::Isbn10 { isbn10, .. } => prop_assert_eq!(isbn10, ten),
            // Fewer than 8 digits left (several zeros): too short to restore.
            other => prop_assert!(stripped.len() < 8, "{:?}", other),
        }
    }

    #[test]
    fn classify_never_panics(s in "\\PC{0,40}") {
        let _ = isbn::classify(&s, true);
        let _ = isbn::is_excel_mangled(&s);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        parse_all(&bytes);
    }

    #[test]
    fn broken_rows_under_a_real_header_never_panic(rows in proptest::collection::vec(any::<u8>(), 0..2048), tsv in any::<bool>()) {
        let header: &[u8] = if tsv {
            b"Book Id\tTitle\tPrimary Author\tISBN\tISBNs\tRating\tDate Read\tCollections\n"
        } else {
            b"Book Id,Title,Author,Additional Authors,ISBN,ISBN13,My Rating,Exclusive Shelf,My Review,Date Read\n"
        };
        let mut bytes = header.to_vec();
        bytes.extend_from_slice(&rows);
        parse_all(&bytes);
    }
}

/// Scans and parses every row under each format, discarding the outcome.
fn parse_all(bytes: &[u8]) {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    let _ = scan(f.path(), 10_000, None);
    for forced in [None, Some(Format::Generic), Some(Format::OpenLibrary)] {
        if let Ok(mut p) = Parser::open(f.path(), forced) {
            let mut n = 0;
            while p.next_row().is_some() {
                n += 1;
                assert!(n <= bytes.len() + 1, "the parser must make progress");
            }
        }
    }
}
