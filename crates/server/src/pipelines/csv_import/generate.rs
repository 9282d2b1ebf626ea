//! Goodreads-format exports of any size, for benchmarks and load tests:
//! the current 24-column header, `="…"` ISBN wrappers, quoted titles with
//! commas and series, `<br/>` reviews, custom shelves.

use std::io::{self, Write};

const HEADER: &str = "Book Id,Title,Author,Author l-f,Additional Authors,ISBN,ISBN13,My Rating,Average Rating,Publisher,Binding,Number of Pages,Year Published,Original Publication Year,Date Read,Date Added,Bookshelves,Bookshelves with positions,Exclusive Shelf,My Review,Spoiler,Private Notes,Read Count,Owned Copies";

/// Writes a header and `rows` rows; every row is importable and distinct.
pub fn write_goodreads<W: Write>(mut w: W, rows: u64) -> io::Result<()> {
    writeln!(w, "{HEADER}")?;
    for i in 0..rows {
        let isbn13 =
            super::isbn::with_check_digit(&format!("978{:09}", (i * 7919 + 13) % 1_000_000_000));
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
