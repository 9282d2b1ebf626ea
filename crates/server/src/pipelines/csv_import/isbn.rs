//! ISBN clean-up and checksums.

/// Strips Goodreads' `="…"` Excel guard, spaces and hyphens.
pub fn unwrap_excel(raw: &str) -> &str {
    let t = raw.trim();
    let t = t
        .strip_prefix("=\"")
        .map_or(t, |r| r.strip_suffix('"').unwrap_or(r));
    t.trim()
}

fn compact(raw: &str) -> String {
    unwrap_excel(raw)
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .collect::<String>()
        .to_ascii_uppercase()
}

pub fn is_valid_isbn10(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 {
        return false;
    }
    let mut sum = 0u32;
    for (i, &c) in b.iter().enumerate() {
        let v = match c {
            b'0'..=b'9' => (c - b'0') as u32,
            b'X' if i == 9 => 10,
            _ => return false,
        };
        sum += v * (10 - i as u32);
    }
    sum.is_multiple_of(11)
}

/// An ISBN-13 is an EAN-13 in the 978/979 "Bookland" ranges; other EANs
/// with a good checksum (UPCs on the same books) are not ISBNs.
pub fn is_valid_isbn13(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 13
        || !b.iter().all(u8::is_ascii_digit)
        || !(s.starts_with("978") || s.starts_with("979"))
    {
        return false;
    }
    let sum: u32 = b
        .iter()
        .enumerate()
        .map(|(i, &c)| (c - b'0') as u32 * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    sum.is_multiple_of(10)
}

/// `body` (12 digits) with its ISBN-13 / EAN-13 check digit appended.
pub fn with_check_digit(body: &str) -> String {
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, c)| (c - b'0') as u32 * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// ISBN-13 of a valid ISBN-10 (prefix 978, new check digit).
pub fn isbn10_to_13(isbn10: &str) -> String {
    with_check_digit(&format!("978{}", &isbn10[..9]))
}

/// ISBN-10 of an ISBN-13 in the 978 range (the only range that has one).
pub fn isbn13_to_10(isbn13: &str) -> Option<String> {
    let body = isbn13.strip_prefix("978")?.get(..9)?;
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, c)| (c - b'0') as u32 * (10 - i as u32))
        .sum();
    let check = (11 - sum % 11) % 11;
    let c = if check == 10 {
        'X'
    } else {
        char::from(b'0' + check as u8)
    };
    Some(format!("{body}{c}"))
}

/// An Amazon ASIN (Kindle editions): `B0` and eight more letters or digits.
pub fn parse_asin(raw: &str) -> Option<String> {
    let c = compact(raw);
    (c.len() == 10 && c.starts_with("B0") && c.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some(c)
}

/// A number a spreadsheet re-saved in scientific notation (`9.78053E+12`):
/// its digits are gone, so it must be reported, never guessed.
pub fn is_excel_mangled(raw: &str) -> bool {
    let t = unwrap_excel(raw);
    let Some((mantissa, exp)) = t.split_once(['E', 'e']) else {
        return false;
    };
    let exp = exp.strip_prefix('+').unwrap_or(exp);
    !mantissa.is_empty()
        && mantissa.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && mantissa.bytes().filter(|b| *b == b'.').count() <= 1
        && !exp.is_empty()
        && exp.bytes().all(|b| b.is_ascii_digit())
}

/// What an identifier field holds once cleaned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identifier {
    Isbn13(String),
    /// A valid ISBN-10 with its ISBN-13.
    Isbn10 {
        isbn10: String,
        isbn13: String,
    },
    Asin(String),
    Mangled(String),
    None,
}

/// Classifies one identifier field. `restore_zeros` re-pads digits-only
/// values of 8–9 digits to 10 (StoryGraph drops ISBN-10 leading zeros) and
/// keeps the result only if its checksum holds.
pub fn classify(raw: &str, restore_zeros: bool) -> Identifier {
    if is_excel_mangled(raw) {
        return Identifier::Mangled(unwrap_excel(raw).to_string());
    }
    if let Some(i13) = parse_isbn13(raw) {
        return Identifier::Isbn13(i13);
    }
    let mut c = compact(raw);
    if restore_zeros && (8..10).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit()) {
        c = format!("{c:0>10}");
    }
    if is_valid_isbn10(&c) {
        let isbn13 = isbn10_to_13(&c);
        return Identifier::Isbn10 { isbn10: c, isbn13 };
    }
    match parse_asin(raw) {
        Some(a) => Identifier::Asin(a),
        None => Identifier::None,
    }
}

/// A cleaned ISBN-10, if the field holds a valid one.
pub fn parse_isbn10(raw: &str) -> Option<String> {
    let c = compact(raw);
    is_valid_isbn10(&c).then_some(c)
}

/// A cleaned ISBN-13, if the field holds a valid one.
pub fn parse_isbn13(raw: &str) -> Option<String> {
    let c = compact(raw);
    is_valid_isbn13(&c).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goodreads_wrappers_and_checksums() {
        assert_eq!(unwrap_excel("=\"9781250847393\""), "9781250847393");
        assert_eq!(unwrap_excel("=\"\""), "");
        assert_eq!(
            parse_isbn13("=\"9781250847393\"").as_deref(),
            Some("9781250847393")
        );
        assert_eq!(
            parse_isbn10("=\"1250847397\"").as_deref(),
            Some("1250847397")
        );
        assert_eq!(parse_isbn13("9781250847394"), None, "bad check digit");
        assert_eq!(parse_isbn10("080442957X").as_deref(), Some("080442957X"));
        assert_eq!(parse_isbn13("=\"\""), None);
        assert_eq!(
            parse_isbn13("0785342633719"),
            None,
            "a UPC with a valid EAN checksum"
        );
    }

    #[test]
    fn classifies_identifiers() {
        assert_eq!(
            classify("9.78053E+12", false),
            Identifier::Mangled("9.78053E+12".into())
        );
        assert!(is_excel_mangled("9.78001e+12"));
        assert!(!is_excel_mangled("9780802148049"));
        assert_eq!(
            classify("B07MNWKF2M", false),
            Identifier::Asin("B07MNWKF2M".into())
        );
        assert_eq!(
            classify("140143505", true),
            Identifier::Isbn10 {
                isbn10: "0140143505".into(),
                isbn13: isbn10_to_13("0140143505")
            }
        );
        assert_eq!(classify("140143505", false), Identifier::None);
        assert_eq!(
            classify("38549081", true),
            Identifier::None,
            "padding must give a valid checksum"
        );
        assert_eq!(
            classify("[2070291340]", false),
            Identifier::None,
            "brackets are LibraryThing's, stripped by the caller"
        );
        assert_eq!(
            classify("9780802148049", true),
            Identifier::Isbn13("9780802148049".into())
        );
        assert_eq!(classify("", true), Identifier::None);
    }

    #[test]
    fn isbn13_converts_back_to_10() {
        assert_eq!(isbn13_to_10("9781250847393").as_deref(), Some("1250847397"));
        assert_eq!(isbn13_to_10("9791034750000"), None);
    }

    #[test]
    fn isbn10_converts_to_13() {
        assert_eq!(isbn10_to_13("1250847397"), "9781250847393");
        assert_eq!(isbn10_to_13("0465026214"), "9780465026210");
        assert!(is_valid_isbn13(&isbn10_to_13("080442957X")));
    }
}
