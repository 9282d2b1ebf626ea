//! Field normalisation shared by every export format.

use serde::Serialize;

/// `2025/04/08`, `2025-04-08` or LibraryThing's `[2025-04-08]` → `2025-04-08`.
/// Anything else (notably a re-saved spreadsheet's `4/8/2022`) is left out
/// rather than guessed.
pub fn date(raw: &str) -> Option<String> {
    let t = raw
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim();
    let mut parts = t.split(['/', '-']);
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || y.len() != 4
        || m.is_empty()
        || m.len() > 2
        || d.is_empty()
        || d.len() > 2
    {
        return None;
    }
    let (y, m, d): (u32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then(|| format!("{y:04}-{m:02}-{d:02}"))
}

/// StoryGraph's `Dates Read`: `2023/05/23-2023/06/07` (started–finished) or
/// one date. Returns (started, finished).
pub fn date_range(raw: &str) -> (Option<String>, Option<String>) {
    let t = raw.trim();
    // Dates are 10 characters; a range is two joined by '-'.
    if t.len() == 21 && t.as_bytes()[10] == b'-' {
        return (date(&t[..10]), date(&t[11..]));
    }
    (None, date(t))
}

/// A star rating in quarter stars, 0.25–5; 0 and blanks mean "not rated".
pub fn rating(raw: &str) -> Option<f32> {
    let r: f32 = raw.trim().parse().ok()?;
    if !(r > 0.0 && r <= 5.0) {
        return None;
    }
    Some((r * 4.0).round() / 4.0)
}

/// A year, negative for BCE (Goodreads writes `-600`).
pub fn year(raw: &str) -> Option<i32> {
    let t = raw.trim();
    let y: i32 = t.parse().ok()?;
    (y != 0 && y.abs() < 10_000).then_some(y)
}

/// The reading states every format is mapped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadStatus {
    Read,
    CurrentlyReading,
    ToRead,
    DidNotFinish,
}

/// Maps a shelf or status name; `None` for a custom shelf (kept as a tag).
pub fn status(raw: &str) -> Option<ReadStatus> {
    // Called for every shelf of every row: squashed into a stack buffer
    // (lower-case ASCII letters and digits) rather than a new String.
    let mut buf = [0u8; 24];
    let mut n = 0;
    for b in raw.bytes().filter(u8::is_ascii_alphanumeric) {
        *buf.get_mut(n)? = b.to_ascii_lowercase();
        n += 1;
    }
    Some(match &buf[..n] {
        b"read" | b"alreadyread" | b"readbutunowned" | b"finished" => ReadStatus::Read,
        b"currentlyreading" | b"reading" => ReadStatus::CurrentlyReading,
        b"toread" | b"wanttoread" | b"tbr" => ReadStatus::ToRead,
        b"didnotfinish" | b"dnf" | b"abandoned" => ReadStatus::DidNotFinish,
        _ => return None,
    })
}

/// `Title (Series, #1)` → (`Title`, `Series`, `1`).
pub fn split_series(title: &str) -> (String, Option<(String, String)>) {
    let t = title.trim();
    if let Some(inner) = t
        .strip_suffix(')')
        .and_then(|s| s.rfind('(').map(|i| (i, &s[i + 1..])))
    {
        let (open, inner) = inner;
        if let Some(hash) = inner.rfind('#') {
            let number = inner[hash + 1..].trim();
            let name = inner[..hash].trim().trim_end_matches(',').trim();
            if number.starts_with(|c: char| c.is_ascii_digit()) && !name.is_empty() && open > 0 {
                return (
                    t[..open].trim().to_string(),
                    Some((name.to_string(), number.to_string())),
                );
            }
        }
    }
    (t.to_string(), None)
}

/// A person and what they did on the book; `role` is absent for authors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// `Name (Role)` → a person with that role.
pub fn person(raw: &str) -> Option<Person> {
    let t = raw.trim().trim_matches('"').trim();
    if t.is_empty() {
        return None;
    }
    if let Some(open) = t.rfind(" (") {
        if let Some(role) = t[open + 2..].strip_suffix(')') {
            return Some(Person {
                name: t[..open].trim().to_string(),
                role: Some(role.trim().to_string()),
            });
        }
    }
    Some(Person {
        name: t.to_string(),
        role: None,
    })
}

/// A comma-separated list of people (`A, B (Translator)`).
pub fn people(raw: &str) -> Vec<Person> {
    raw.split([',', ';']).filter_map(person).collect()
}

/// LibraryThing's `Last, First` → `First Last`.
pub fn first_last(raw: &str) -> String {
    match raw.split_once(',') {
        Some((last, first)) if !first.trim().is_empty() && !first.contains(',') => {
            format!("{} {}", first.trim(), last.trim())
        }
        _ => raw.trim().to_string(),
    }
}

/// Review text: `<br/>` to newlines, Goodreads `[b:Title|…]` links to their
/// title, other tags dropped, HTML entities decoded. Returns the text and
/// whether it held a `<spoiler>`.
///
/// Linear in the field's length: the closing `>` or `]` a `<` or `[b:`
/// looks for is found once and reused by every later opener before it
/// ([`NextByte`]); searching afresh from each opener made 600 KB of `<`
/// take ~35 s (issue 17).
pub fn review(raw: &str) -> (String, bool) {
    let mut out = String::with_capacity(raw.len());
    let mut spoiler = false;
    let (mut gt, mut bracket) = (NextByte::new(b'>'), NextByte::new(b']'));
    let mut pos = 0;
    while let Some(off) = raw[pos..].find(['<', '[', '&']) {
        let i = pos + off;
        out.push_str(&raw[pos..i]);
        let tail = &raw[i..];
        if let Some(close) = tail.starts_with('<').then(|| gt.find(raw, i + 1)).flatten() {
            let tag = raw[i + 1..close].trim().to_lowercase();
            let name = tag.trim_start_matches('/').trim_end_matches('/').trim();
            if name == "br" || name == "p" {
                out.push('\n');
            } else if name == "spoiler" {
                spoiler = true;
            }
            pos = close + 1;
        } else if let Some((text, len)) = goodreads_link(raw, i, &mut bracket) {
            out.push_str(text);
            pos = i + len;
        } else if let Some((ch, len)) = entity(tail) {
            out.push(ch);
            pos = i + len;
        } else {
            out.push_str(&tail[..1]);
            pos = i + 1;
        }
    }
    out.push_str(&raw[pos..]);
    (out.trim().to_string(), spoiler)
}

/// The next position of one byte at or after a point of a text scanned
/// forward: searched at most once per occurrence, so a scan that asks at
/// every character stays linear.
struct NextByte {
    byte: u8,
    /// The last search: from where, and what it found.
    from: usize,
    found: Option<usize>,
    searched: bool,
}

impl NextByte {
    fn new(byte: u8) -> NextByte {
        NextByte {
            byte,
            from: 0,
            found: None,
            searched: false,
        }
    }

    fn find(&mut self, text: &str, from: usize) -> Option<usize> {
        let still_valid = self.searched
            && from >= self.from
            && match self.found {
                Some(p) => p >= from,
                // None after an earlier point: none after this one either.
                None => true,
            };
        if !still_valid {
            self.from = from;
            self.found = text.as_bytes()[from..]
                .iter()
                .position(|b| *b == self.byte)
                .map(|p| from + p);
            self.searched = true;
        }
        self.found
    }
}

/// `[b:Title|123|Title (Series)|456]` or `[a:Name|1|Name|2]` at `at` of
/// `raw`: (shown text, length).
fn goodreads_link<'a>(raw: &'a str, at: usize, bracket: &mut NextByte) -> Option<(&'a str, usize)> {
    let tail = &raw[at..];
    if !(tail.starts_with("[b:") || tail.starts_with("[a:")) {
        return None;
    }
    let end = bracket.find(raw, at + 3)?;
    let text = raw[at + 3..end].split('|').next()?;
    Some((text, end + 1 - at))
}

/// Longest entity read: `&#x10FFFF;` and the named ones fit.
const MAX_ENTITY: usize = 12;

/// An HTML entity at the start of `s`: (character, length). Its `;` is
/// looked for in the first [`MAX_ENTITY`] bytes only, so that a run of
/// `&` stays linear.
fn entity(s: &str) -> Option<(char, usize)> {
    let end = s
        .as_bytes()
        .iter()
        .take(MAX_ENTITY)
        .position(|b| *b == b';')?;
    let name = &s[1..end];
    let ch = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        n if n.starts_with("#x") || n.starts_with("#X") => {
            char::from_u32(u32::from_str_radix(&n[2..], 16).ok()?)?
        }
        n if n.starts_with('#') => char::from_u32(n[1..].parse().ok()?)?,
        _ => return None,
    };
    Some((ch, end + 1))
}

/// The key two rows of one import are the same book by, failing an ISBN-13:
/// title without series and first author, letters and digits only.
pub fn title_author_key(title: &str, author: Option<&str>) -> String {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    format!("{}|{}", norm(title), author.map(norm).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date("2025/04/08").as_deref(), Some("2025-04-08"));
        assert_eq!(date("[2007-04-16]").as_deref(), Some("2007-04-16"));
        assert_eq!(date("4/8/2022"), None);
        assert_eq!(date("2025/4/8").as_deref(), Some("2025-04-08"));
        assert_eq!(date("2025/13/08"), None);
        assert_eq!(date("2025/00/08"), None);
        assert_eq!(date(""), None);
        assert_eq!(
            date_range("2023/05/23-2023/06/07"),
            (Some("2023-05-23".into()), Some("2023-06-07".into()))
        );
        assert_eq!(date_range("2022/08/06"), (None, Some("2022-08-06".into())));
    }

    #[test]
    fn ratings_and_years() {
        assert_eq!(rating("0"), None);
        assert_eq!(rating("4.25"), Some(4.25));
        assert_eq!(rating("3.8"), Some(3.75));
        assert_eq!(rating("5.0"), Some(5.0));
        assert_eq!(rating("7"), None);
        assert_eq!(year("-600"), Some(-600));
        assert_eq!(year("2019"), Some(2019));
        assert_eq!(year(""), None);
    }

    #[test]
    fn statuses() {
        assert_eq!(status("read"), Some(ReadStatus::Read));
        assert_eq!(
            status("currently-reading"),
            Some(ReadStatus::CurrentlyReading)
        );
        assert_eq!(status("to-read"), Some(ReadStatus::ToRead));
        assert_eq!(status("did-not-finish"), Some(ReadStatus::DidNotFinish));
        assert_eq!(
            status("Currently reading"),
            Some(ReadStatus::CurrentlyReading)
        );
        assert_eq!(status("owned-but-unread"), None);
    }

    #[test]
    fn series() {
        assert_eq!(
            split_series("Constitution (Legacy Fleet Trilogy, #1)"),
            (
                "Constitution".into(),
                Some(("Legacy Fleet Trilogy".into(), "1".into()))
            )
        );
        assert_eq!(
            split_series("Leviathan Wakes (The Expanse #1)"),
            (
                "Leviathan Wakes".into(),
                Some(("The Expanse".into(), "1".into()))
            )
        );
        assert_eq!(
            split_series("Gay New York (Revised)"),
            ("Gay New York (Revised)".into(), None)
        );
        assert_eq!(split_series("(Untitled)"), ("(Untitled)".into(), None));
    }

    #[test]
    fn people_and_roles() {
        assert_eq!(
            people("Joseph Grenny, Marina Bornas Montaña (Translator)"),
            vec![
                Person {
                    name: "Joseph Grenny".into(),
                    role: None
                },
                Person {
                    name: "Marina Bornas Montaña".into(),
                    role: Some("Translator".into())
                }
            ]
        );
        assert_eq!(first_last("Cortazar, Julio"), "Julio Cortazar");
        assert_eq!(first_last("Homer"), "Homer");
    }

    #[test]
    fn reviews() {
        let (t, s) = review("Great<br/><br />book &amp; more&#39;s [b:Dune|234225|Dune (Dune, #1)|3634639] <spoiler>he dies</spoiler> &bogus;");
        assert_eq!(t, "Great\n\nbook & more's Dune he dies &bogus;");
        assert!(s);
        assert_eq!(review("a < b").0, "a < b");
        assert_eq!(review("x &amp;").0, "x &", "an entity at the very end");
    }
}

#[cfg(test)]
#[path = "normalise_linear_tests.rs"]
mod linear_tests;
