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

pub fn is_valid_isbn13(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 13 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b
        .iter()
        .enumerate()
        .map(|(i, &c)| (c - b'0') as u32 * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    sum.is_multiple_of(10)
}

/// ISBN-13 of a valid ISBN-10 (prefix 978, new check digit).
pub fn isbn10_to_13(isbn10: &str) -> String {
    let mut s = format!("978{}", &isbn10[..9]);
    let sum: u32 = s
        .bytes()
        .enumerate()
        .map(|(i, c)| (c - b'0') as u32 * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    s.push(char::from(b'0' + ((10 - sum % 10) % 10) as u8));
    s
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
    }

    #[test]
    fn isbn10_converts_to_13() {
        assert_eq!(isbn10_to_13("1250847397"), "9781250847393");
        assert_eq!(isbn10_to_13("0465026214"), "9780465026210");
        assert!(is_valid_isbn13(&isbn10_to_13("080442957X")));
    }
}
