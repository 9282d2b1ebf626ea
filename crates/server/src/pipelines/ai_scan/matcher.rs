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

/// Books found in one photo's lines, and suggestions from what is left.
pub fn match_lines(
    lines: &[Line],
    known: &[Known],
    photo: usize,
) -> (Vec<Detected>, Vec<Detected>) {
    let mut used = vec![false; lines.len()];
    let mut found = Vec::new();
    for k in known {
        let best = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| !used[*i])
            .map(|(i, l)| (i, similarity(&l.text, &k.title)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((i, score)) = best.filter(|(_, s)| *s >= MATCH_THRESHOLD) {
            used[i] = true;
            found.push(Detected {
                title: k.title.clone(),
                author: k.author.clone(),
                confidence: (score * (0.5 + 0.5 * lines[i].confidence)).clamp(0.0, 1.0),
                isbn: k.isbn13.clone(),
                // An imported book keeps its id; any other gets the one an
                // import of the same book would get.
                work_id: Some(k.work_id.clone().unwrap_or_else(|| {
                    let key = match &k.isbn13 {
                        Some(i) => format!("isbn:{i}"),
                        None => format!("t:{}", title_author_key(&k.title, k.author.as_deref())),
                    };
                    work_id_for(&key)
                })),
                photo,
                read_as: lines[i].text.clone(),
            });
        }
    }
    let suggestions = lines
        .iter()
        .zip(&used)
        .filter(|(l, u)| {
            !**u && l.text.chars().filter(|c| c.is_alphabetic()).count() >= MIN_SUGGESTION_LETTERS
        })
        .map(|(l, _)| Detected {
            title: l.text.clone(),
            author: None,
            confidence: (l.confidence * 0.5).clamp(0.0, 1.0),
            isbn: None,
            work_id: None,
            photo,
            read_as: l.text.clone(),
        })
        .collect();
    (found, suggestions)
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
    fn known_books_are_matched_and_the_rest_suggested() {
        let lines = vec![
            Line {
                text: "THE TIME MACHlNE".into(),
                confidence: 0.9,
            },
            Line {
                text: "Unknown Spine Text".into(),
                confidence: 0.8,
            },
            Line {
                text: "~".into(),
                confidence: 0.3,
            },
        ];
        let known = vec![Known {
            title: "The Time Machine".into(),
            author: Some("H.G. Wells".into()),
            isbn13: Some("9780000000002".into()),
            work_id: None,
        }];
        let (found, sugg) = match_lines(&lines, &known, 2);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].title, "The Time Machine");
        assert_eq!(found[0].photo, 2);
        assert!(found[0].confidence > 0.8);
        assert_eq!(
            found[0].work_id.as_deref(),
            Some(work_id_for("isbn:9780000000002").as_str()),
            "the id an import of the same book gets"
        );
        assert_eq!(sugg.len(), 1);
        assert_eq!(sugg[0].title, "Unknown Spine Text");
        assert!(sugg[0].confidence < 0.5);
    }
}
