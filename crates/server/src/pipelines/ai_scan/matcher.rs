//! Turning text read off a shelf into books: each known book (imports,
//! local catalog) is looked for among the text lines; what matches nothing
//! known becomes a low-confidence suggestion.

use crate::pipelines::csv_import::{title_author_key, work_id_for};
use serde::Serialize;
use serde_json::Value;

/// A text line read from a photo, with the reader's confidence (0–1).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub text: String,
    pub confidence: f64,
}

/// A book the server knows, from any job's output or the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Known {
    pub title: String,
    pub author: Option<String>,
    pub isbn13: Option<String>,
    pub work_id: Option<String>,
}

impl Known {
    /// From an imported book's, a catalog entry's or an enrichment answer's JSON.
    pub fn from_json(s: &str) -> Option<Known> {
        let v: Value = serde_json::from_str(s).ok()?;
        let v = v
            .get("metadata")
            .filter(|m| m.is_object())
            .cloned()
            .unwrap_or(v);
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let title = text("title").filter(|t| !t.is_empty())?;
        Some(Known {
            title,
            author: text("author").or_else(|| {
                v.get("authors")?
                    .as_array()?
                    .first()?
                    .as_str()
                    .map(str::to_string)
            }),
            isbn13: text("isbn13"),
            work_id: text("workId"),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Detected {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// 0–1.
    pub confidence: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isbn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work_id: Option<String>,
    /// 1-based number of the photo it was seen on.
    pub photo: usize,
    /// What was read, as read.
    pub read_as: String,
}

/// Below this, a match is not claimed.
pub const MATCH_THRESHOLD: f64 = 0.75;
/// Unmatched lines with fewer letters than this are noise, not suggestions.
const MIN_SUGGESTION_LETTERS: usize = 4;

fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// How well `line` reads as `title`, 0–1, tolerant of OCR slips: the best
/// edit-distance ratio of the title against any same-length window of the
/// line (a spine line often carries the author too).
pub fn similarity(line: &str, title: &str) -> f64 {
    let (l, t): (Vec<char>, Vec<char>) = (
        squash(line).chars().collect(),
        squash(title).chars().collect(),
    );
    if l.is_empty() || t.is_empty() {
        return 0.0;
    }
    if l.len() <= t.len() {
        return 1.0 - levenshtein(&l, &t) as f64 / t.len() as f64;
    }
    (0..=l.len() - t.len())
        .map(|i| 1.0 - levenshtein(&l[i..i + t.len()], &t) as f64 / t.len() as f64)
        .fold(0.0, f64::max)
}

/// One book as read (its lines, the title first), matched to a known
/// book, or else a suggestion made of what it reads as; None when it
/// reads as too little to suggest. The flag says whether it matched.
pub fn match_book(lines: &[Line], known: &[Known], photo: usize) -> Option<(Detected, bool)> {
    let first = lines.first()?;
    let joined = lines
        .iter()
        .map(|l| l.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    // The title line first: the whole book's text only when it matches nothing.
    for text in [first.text.as_str(), joined.as_str()] {
        let best = known
            .iter()
            .map(|k| (k, similarity(text, &k.title)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((k, score)) = best.filter(|(_, s)| *s >= MATCH_THRESHOLD) {
            return Some((
                Detected {
                    title: k.title.clone(),
                    author: k.author.clone(),
                    confidence: (score * (0.5 + 0.5 * first.confidence)).clamp(0.0, 1.0),
                    isbn: k.isbn13.clone(),
                    work_id: Some(known_work_id(k)),
                    photo,
                    read_as: text.to_string(),
                },
                true,
            ));
        }
    }
    let letters = first.text.chars().filter(|c| c.is_alphabetic()).count();
    (letters >= MIN_SUGGESTION_LETTERS).then(|| {
        (
            Detected {
                title: first.text.clone(),
                author: lines.get(1).map(|l| l.text.clone()),
                confidence: (first.confidence * 0.5).clamp(0.0, 1.0),
                isbn: None,
                work_id: None,
                photo,
                read_as: joined.clone(),
            },
            false,
        )
    })
}

/// An imported book keeps its id; any other gets the one an import of
/// the same book would get.
fn known_work_id(k: &Known) -> String {
    k.work_id.clone().unwrap_or_else(|| {
        let key = match &k.isbn13 {
            Some(i) => format!("isbn:{i}"),
            None => format!("t:{}", title_author_key(&k.title, k.author.as_deref())),
        };
        work_id_for(&key)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_tolerates_ocr_slips_and_extra_text() {
        assert_eq!(similarity("DUNE", "Dune"), 1.0);
        assert!(similarity("MIDDLEMARCH GEORGE ELIOT", "Middlemarch") > 0.99);
        assert!(similarity("M1DDLEMARCH", "Middlemarch") > 0.9);
        assert!(similarity("Walden", "Middlemarch") < 0.5);
    }

    #[test]
    fn known_books_come_from_imports_catalog_and_enrichment_answers() {
        let import = r#"{"row":2,"workId":"w1","title":"Dune","author":"Frank Herbert","authors":[{"name":"Frank Herbert"}],"isbn13":"9780441172719"}"#;
        let k = Known::from_json(import).unwrap();
        assert_eq!(
            (k.title.as_str(), k.author.as_deref(), k.work_id.as_deref()),
            ("Dune", Some("Frank Herbert"), Some("w1"))
        );
        let cached = r#"{"provider":"open_library","metadata":{"title":"Emma","authors":["Jane Austen"],"isbn13":"9780141439587"}}"#;
        let k = Known::from_json(cached).unwrap();
        assert_eq!(
            (k.title.as_str(), k.author.as_deref(), k.isbn13.as_deref()),
            ("Emma", Some("Jane Austen"), Some("9780141439587"))
        );
        assert!(Known::from_json(r#"{"provider":null,"metadata":null}"#).is_none());
    }

    #[test]
    fn a_book_is_matched_or_else_suggested_or_dropped() {
        let line = |t: &str, c| Line {
            text: t.into(),
            confidence: c,
        };
        let known = vec![Known {
            title: "The Time Machine".into(),
            author: Some("H.G. Wells".into()),
            isbn13: Some("9780000000002".into()),
            work_id: None,
        }];
        let (found, matched) = match_book(
            &[line("THE TIME MACHlNE", 0.9), line("WELLS", 0.8)],
            &known,
            2,
        )
        .unwrap();
        assert!(matched);
        assert_eq!((found.title.as_str(), found.photo), ("The Time Machine", 2));
        assert!(found.confidence > 0.8);
        assert_eq!(
            found.work_id.as_deref(),
            Some(work_id_for("isbn:9780000000002").as_str()),
            "the id an import of the same book gets"
        );
        let (sugg, matched) = match_book(
            &[line("Unknown Spine Text", 0.8), line("Some Author", 0.7)],
            &known,
            1,
        )
        .unwrap();
        assert!(!matched);
        assert_eq!(sugg.title, "Unknown Spine Text");
        assert_eq!(sugg.author.as_deref(), Some("Some Author"));
        assert!(sugg.confidence < 0.5);
        assert!(
            match_book(&[line("~", 0.3)], &known, 1).is_none(),
            "too little to suggest"
        );
        assert!(match_book(&[], &known, 1).is_none());
    }
}
