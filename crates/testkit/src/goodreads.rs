//! Goodreads library exports written by code, in the current 24-column
//! format: `="…"` ISBN wrappers, quoted titles with commas, `<br/>` in
//! reviews. The committed real-format samples of the other sites are in
//! `crates/server/tests/fixtures/`.

use bookstrack_server::pipelines::csv_import::isbn::with_check_digit;
use std::io::{self, Write};

/// The header of a Goodreads export as the site writes it today.
pub const HEADER: &str = "Book Id,Title,Author,Author l-f,Additional Authors,ISBN,ISBN13,My Rating,Average Rating,Publisher,Binding,Number of Pages,Year Published,Original Publication Year,Date Read,Date Added,Bookshelves,Bookshelves with positions,Exclusive Shelf,My Review,Spoiler,Private Notes,Read Count,Owned Copies";

/// A valid ISBN-13 numbered `n`.
pub fn isbn13(n: u64) -> String {
    with_check_digit(&format!("978{:09}", n % 1_000_000_000))
}

/// An export of `rows` books for tests; the rows for which `bad` holds have
/// an empty title and so cannot be imported.
pub fn export(rows: usize, bad: impl Fn(usize) -> bool) -> String {
    let mut s = String::from(HEADER);
    s.push('\n');
    for i in 0..rows {
        let title = if bad(i) {
            String::new()
        } else {
            format!("\"Book {i}: A Novel, Part {}\"", i % 7)
        };
        s.push_str(&format!(
            "{id},{title},Author {a},\"{a}, Author\",,\"=\"\"\"\"\",\"=\"\"{isbn}\"\"\",{r},3.9,Press,Paperback,{p},2020,2019,2024/01/02,2023/05/06,,,read,\"Good<br/>read\",,,1,0\n",
            id = 1000 + i,
            a = i % 13,
            isbn = isbn13(i as u64 + 12345),
            r = i % 6,
            p = 100 + i % 300,
        ));
    }
    s
}

/// [`export`] with the rows listed in `bad` unimportable.
pub fn goodreads_csv(rows: usize, bad: &[usize]) -> String {
    export(rows, |i| bad.contains(&i))
}

/// Writes an export of `rows` books for benchmarks, every one importable
/// and distinct, with the variety a real library has: series, co-authors,
/// custom shelves, reviews on every fifth book. `bookstrack-bench import`
/// and the server's `csv_import` criterion bench measure this file, so its
/// bytes stay as they are for their figures to stay comparable.
pub fn write_goodreads<W: Write>(mut w: W, rows: u64) -> io::Result<()> {
    writeln!(w, "{HEADER}")?;
    for i in 0..rows {
        let isbn13 = with_check_digit(&format!("978{:09}", (i * 7919 + 13) % 1_000_000_000));
        let shelf = ["read", "to-read", "currently-reading", "owned"][(i % 4) as usize];
        let review = if i % 5 == 0 {
            "Loved it.<br/><br/>Would read again &amp; again."
        } else {
            ""
        };
        writeln!(
            w,
            "{id},\"Title {i}, Part {p} (Series {s}, #{n})\",Author {a},\"{a}, Author\",Editor {e},\"=\"\"\"\"\",\"=\"\"{isbn13}\"\"\",{r},3.91,Press {pr},Paperback,{pages},2019,{y},2023/0{m}/1{d},2022/1{q}/0{d},\"{shelf}, fiction\",,{shelf},\"{review}\",,,1,0",
            id = 10_000_000 + i,
            p = i % 7,
            s = i % 97,
            n = i % 12 + 1,
            a = i % 4999,
            e = i % 31,
            r = i % 6,
            pr = i % 50,
            pages = 120 + i % 700,
            y = 1900 + (i % 120) as i64,
            m = 1 + i % 9,
            d = i % 9,
            q = i % 3,
        )?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_and_rows(csv: &str) -> (usize, Vec<usize>) {
        let mut r = csv::ReaderBuilder::new().from_reader(csv.as_bytes());
        let width = r.headers().unwrap().len();
        let rows = r.records().map(|rec| rec.unwrap().len()).collect();
        (width, rows)
    }

    #[test]
    fn every_row_has_the_24_columns_of_the_header() {
        let mut bench = Vec::new();
        write_goodreads(&mut bench, 50).unwrap();
        for csv in [
            export(50, |i| i % 7 == 3),
            String::from_utf8(bench).unwrap(),
        ] {
            let (width, rows) = header_and_rows(&csv);
            assert_eq!(width, 24);
            assert_eq!(rows, vec![24; 50]);
        }
    }
}
