//! The fields of one record, read stage by stage into what a `Book` holds:
//! title, authors, identifiers, status and tags, dates, review, and the
//! rest. Each stage reads only its own columns.

use super::format::{decode, Field, Format, Layout};
use super::isbn::{self, Identifier};
use super::normalise::{self, Person, ReadStatus};
use std::borrow::Cow;
use std::collections::HashSet;

pub(super) struct Row<'a> {
    pub layout: &'a Layout,
    pub rec: &'a csv::ByteRecord,
}

/// The identifiers of one row: the first of each kind wins.
#[derive(Default)]
pub(super) struct Identifiers {
    pub isbn13: Option<String>,
    pub isbn10: Option<String>,
    pub asin: Option<String>,
}

impl<'a> Row<'a> {
    /// A trimmed, non-empty field, borrowed unless it had to be decoded.
    #[inline]
    fn text_at(&self, i: usize) -> Option<Cow<'a, str>> {
        let keep = |t: &str| !t.is_empty() && t != "\"\"";
        match decode(self.rec.get(i)?) {
            Cow::Borrowed(s) => Some(Cow::Borrowed(s.trim())).filter(|t| keep(t)),
            Cow::Owned(s) => Some(Cow::Owned(s.trim().to_string())).filter(|t| keep(t)),
        }
    }

    #[inline]
    pub fn get(&self, f: Field) -> Option<Cow<'a, str>> {
        self.text_at(self.layout.column(f)?)
    }

    #[inline]
    pub fn string(&self, f: Field) -> Option<String> {
        self.get(f).map(Cow::into_owned)
    }

    #[inline]
    fn format(&self) -> Format {
        self.layout.format
    }

    /// The title and the series it names; `Err` if the row has neither a
    /// title nor (Open Library) a work id.
    #[inline]
    pub fn title(&self, has_work_id: bool) -> Result<(String, Option<(String, String)>), String> {
        match (self.get(Field::Title), self.format()) {
            (Some(t), _) => Ok(normalise::split_series(&t)),
            (None, Format::OpenLibrary) if has_work_id => Ok((String::new(), None)),
            (None, Format::OpenLibrary) => Err("the Work Id is empty".into()),
            (None, _) => Err("the title is empty".into()),
        }
    }

    /// The primary author first, then the others, each once. The names
    /// seen are a set: looking each up in the list made 120,000 authors in
    /// one row take over 30 s (issue 17).
    #[inline]
    pub fn authors(&self) -> Vec<Person> {
        let mut authors: Vec<Person> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut push = |p: Person| {
            if !p.name.is_empty() && seen.insert(p.name.clone()) {
                authors.push(p);
            }
        };
        match self.format() {
            Format::LibraryThing => self.library_thing_people(&mut push),
            _ => {
                for f in [Field::Author, Field::Additional, Field::Contributors] {
                    if let Some(v) = self.get(f) {
                        normalise::people(&v).into_iter().for_each(&mut push);
                    }
                }
            }
        }
        authors
    }

    /// LibraryThing's `Last, First` author and its `|`-separated others,
    /// with their roles from a parallel column.
    #[inline]
    fn library_thing_people(&self, push: &mut impl FnMut(Person)) {
        if let Some(a) = self.get(Field::Author) {
            let role = self.string(Field::AuthorRole);
            push(Person {
                name: normalise::first_last(&a),
                role,
            });
        }
        let roles: Vec<String> = self
            .get(Field::AdditionalRoles)
            .map(|s| s.split(['|', ';']).map(|x| x.trim().to_string()).collect())
            .unwrap_or_default();
        if let Some(more) = self.get(Field::Additional) {
            for (i, a) in more.split(['|', ';']).enumerate() {
                let role = roles.get(i).filter(|r| !r.is_empty()).cloned();
                push(Person {
                    name: normalise::first_last(a),
                    role,
                });
            }
        }
    }

    /// ISBNs and ASIN from every identifier column; `Err` for an ISBN a
    /// spreadsheet rounded.
    #[inline]
    pub fn identifiers(&self) -> Result<Identifiers, String> {
        let mut ids = Identifiers::default();
        for &col in self.layout.columns(Field::Isbn) {
            let Some(v) = self.text_at(col) else { continue };
            for part in v.split(',') {
                let part = part.trim().trim_start_matches('[').trim_end_matches(']');
                ids.add(isbn::classify(part, self.format() == Format::StoryGraph))?;
            }
        }
        if ids.isbn10.is_none() {
            ids.isbn10 = ids.isbn13.as_deref().and_then(isbn::isbn13_to_10);
        }
        Ok(ids)
    }

    /// The reading status and the tags: a shelf, tag or collection that
    /// names a status sets it (the first wins); the others are tags.
    #[inline]
    pub fn status_and_tags(&self) -> (Option<ReadStatus>, Vec<String>) {
        let mut tags: Vec<String> = Vec::new();
        // As for authors: a set, not a search of the list per tag.
        let mut seen: HashSet<String> = HashSet::new();
        let mut status = None;
        if let Some(s) = self.get(Field::Status) {
            status = normalise::status(&s);
            if status.is_none() {
                seen.insert(s.to_string());
                tags.push(s.into_owned());
            }
        }
        for f in [Field::Tags, Field::Collections] {
            for t in self
                .get(f)
                .iter()
                .flat_map(|v| split_list(v).collect::<Vec<_>>())
            {
                match normalise::status(&t) {
                    Some(st) => {
                        status.get_or_insert(st);
                    }
                    None if t != "Your library" && seen.insert(t.clone()) => tags.push(t),
                    None => {}
                }
            }
        }
        (status, tags)
    }

    /// When reading started and ended, from their own columns or a range.
    #[inline]
    pub fn dates(&self) -> (Option<String>, Option<String>) {
        let (mut started, mut read) = (
            self.get(Field::DateStarted)
                .and_then(|d| normalise::date(&d)),
            self.get(Field::DateRead).and_then(|d| normalise::date(&d)),
        );
        if let Some(range) = self.get(Field::DatesRead) {
            let (s, e) = normalise::date_range(&range);
            started = started.or(s);
            read = read.or(e);
        }
        (started, read)
    }

    /// The status the dates imply when no column names one.
    #[inline]
    pub fn status_from_dates(&self, read: bool) -> Option<ReadStatus> {
        match self.format() {
            // A custom exclusive shelf says nothing of progress; the dates do.
            Format::LibraryThing | Format::OpenLibrary => read.then_some(ReadStatus::Read),
            _ if read => Some(ReadStatus::Read),
            _ => Some(ReadStatus::ToRead),
        }
    }

    /// The review's text and whether it is a spoiler (tagged in the text
    /// or flagged in its own column).
    #[inline]
    pub fn review(&self) -> (Option<String>, bool) {
        let (review, tagged_spoiler) = match self.get(Field::Review) {
            Some(v) => {
                let (t, s) = normalise::review(&v);
                ((!t.is_empty()).then_some(t), s)
            }
            None => (None, false),
        };
        let spoiler = tagged_spoiler
            || self
                .get(Field::Spoiler)
                .is_some_and(|s| s.eq_ignore_ascii_case("true"));
        (review, spoiler)
    }

    #[inline]
    pub fn publisher(&self) -> Option<String> {
        self.get(Field::Publisher).map(|p| match self.format() {
            // LibraryThing: `Gallimard (1979), Poche`.
            Format::LibraryThing => p.split(" (").next().unwrap_or(&p).trim().to_string(),
            _ => p.into_owned(),
        })
    }

    #[inline]
    pub fn year_published(&self) -> Option<i32> {
        self.get(Field::Year).and_then(|y| {
            normalise::year(y.get(..4.min(y.len())).unwrap_or(&y)).or_else(|| normalise::year(&y))
        })
    }

    #[inline]
    pub fn owned(&self) -> Option<bool> {
        self.get(Field::Owned)
            .map(|o| match o.to_lowercase().as_str() {
                "yes" | "true" => true,
                other => other.parse::<u32>().is_ok_and(|n| n > 0),
            })
    }

    #[inline]
    pub fn pages(&self) -> Option<u32> {
        self.get(Field::Pages)
            .and_then(|p| {
                p.trim_end_matches(|c: char| !c.is_ascii_digit())
                    .parse()
                    .ok()
            })
            .filter(|p| *p > 0)
    }
}

impl Identifiers {
    #[inline]
    fn add(&mut self, id: Identifier) -> Result<(), String> {
        match id {
            Identifier::Mangled(m) => {
                return Err(format!(
                    "the ISBN {m:?} was turned into a rounded number by a spreadsheet; \
                     its digits are lost (re-export the file without opening it in a spreadsheet)"
                ))
            }
            Identifier::Isbn13(i) => {
                self.isbn13.get_or_insert(i);
            }
            Identifier::Isbn10 {
                isbn10: ten,
                isbn13: thirteen,
            } => {
                self.isbn10.get_or_insert(ten);
                self.isbn13.get_or_insert(thirteen);
            }
            Identifier::Asin(a) => {
                self.asin.get_or_insert(a);
            }
            Identifier::None => {}
        }
        Ok(())
    }
}

fn split_list(raw: &str) -> impl Iterator<Item = String> + '_ {
    raw.split([',', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}
