//! Lines found on a photo (`locate.rs`) grouped into books: lines that run
//! the same way, lie next to each other and share a background are one
//! book's title and author. Counting books, not lines, is what a scan's
//! `totalBooks` means to every client.

use super::locate::TextLine;

/// Colour distance under which two backgrounds are one spine's.
const SAME_BACKGROUND: u32 = 60;

fn distance(a: [u8; 3], b: [u8; 3]) -> u32 {
    (0..3).map(|k| a[k].abs_diff(b[k]) as u32).sum()
}

/// Position of `l`'s middle along `axis`.
fn middle_on(l: &TextLine, axis: (f32, f32)) -> f32 {
    let (mx, my) = (
        l.origin.0 + l.along.0 * l.length / 2.0 + l.across.0 * l.thickness / 2.0,
        l.origin.1 + l.along.1 * l.length / 2.0 + l.across.1 * l.thickness / 2.0,
    );
    mx * axis.0 + my * axis.1
}

/// Interval `l` covers along `axis` (the other line's direction).
fn span_on(l: &TextLine, axis: (f32, f32)) -> (f32, f32) {
    let start = l.origin.0 * axis.0 + l.origin.1 * axis.1;
    let end = start + l.length * (l.along.0 * axis.0 + l.along.1 * axis.1);
    (start.min(end), start.max(end))
}

/// Whether `a` and `b` are lines of one book.
fn same_book(a: &TextLine, b: &TextLine) -> bool {
    if a.vertical != b.vertical || a.light != b.light {
        return false;
    }
    if distance(a.background, b.background) > SAME_BACKGROUND {
        return false;
    }
    let apart = (middle_on(a, a.across) - middle_on(b, a.across)).abs();
    if apart > a.thickness + b.thickness + 0.3 * a.size.min(b.size) {
        return false;
    }
    let ((a0, a1), (b0, b1)) = (span_on(a, a.along), span_on(b, a.along));
    a1.min(b1) - a0.max(b0) > -0.5 * a.size.min(b.size)
}

/// Whether (x, y) lies in `l`'s rectangle.
fn inside(l: &TextLine, x: f32, y: f32) -> bool {
    let (dx, dy) = (x - l.origin.0, y - l.origin.1);
    let a = dx * l.along.0 + dy * l.along.1;
    let c = dx * l.across.0 + dy * l.across.1;
    (0.0..=l.length).contains(&a) && (0.0..=l.thickness).contains(&c)
}

/// How much of `small`'s rectangle lies in `big`'s, 0–1, on a grid.
fn covered(small: &TextLine, big: &TextLine) -> f32 {
    let steps = 8;
    let mut n = 0;
    for i in 0..=steps {
        for j in 0..=steps {
            let (a, c) = (
                small.length * i as f32 / steps as f32,
                small.thickness * j as f32 / steps as f32,
            );
            let x = small.origin.0 + a * small.along.0 + c * small.across.0;
            let y = small.origin.1 + a * small.along.1 + c * small.across.1;
            n += usize::from(inside(big, x, y));
        }
    }
    n as f32 / ((steps + 1) * (steps + 1)) as f32
}

/// The same text found twice (part of a word chained the other way, or
/// a line broken in two) is kept once: the longest finding of it.
fn distinct(mut lines: Vec<TextLine>) -> Vec<TextLine> {
    lines.sort_by(|a, b| b.length.total_cmp(&a.length));
    let mut kept: Vec<TextLine> = Vec::with_capacity(lines.len());
    for l in lines {
        // Text of its own size only: a blob chain the size of a book
        // (the halo round a spine) must not hide the lines on it.
        if !kept
            .iter()
            .any(|k| covered(&l, k) > 0.5 && k.size < 2.0 * l.size)
        {
            kept.push(l);
        }
    }
    kept
}

/// Whether `b` continues `a`'s line: same way, same size, in line with
/// it and a word space or two away (wide spaces, as in a monospaced
/// font, break a chain of letters).
fn continues(a: &TextLine, b: &TextLine) -> bool {
    if a.vertical != b.vertical || a.light != b.light {
        return false;
    }
    let (small, big) = (a.size.min(b.size), a.size.max(b.size));
    if small / big < 0.7 || distance(a.background, b.background) > SAME_BACKGROUND {
        return false;
    }
    let off = (middle_on(a, a.across) - middle_on(b, a.across)).abs();
    let ((a0, a1), (b0, b1)) = (span_on(a, a.along), span_on(b, a.along));
    let gap = (b0 - a1).max(a0 - b1);
    off < 0.35 * big && gap < 2.2 * big
}

/// `a` stretched along its own axis to take in `b`.
fn joined(a: &TextLine, b: &TextLine) -> TextLine {
    let ((a0, a1), (b0, b1)) = (span_on(a, a.along), span_on(b, a.along));
    let ((c0, c1), (d0, d1)) = (span_on_across(a), span_on_across(b));
    let (start, end) = (a0.min(b0), a1.max(b1));
    let (lo, hi) = (c0.min(d0), c1.max(d1));
    // Back from (along, across) coordinates to the picture's.
    let point = |u: f32, v: f32| {
        (
            u * a.along.0 + v * a.across.0,
            u * a.along.1 + v * a.across.1,
        )
    };
    TextLine {
        origin: point(start, lo),
        length: end - start,
        thickness: hi - lo,
        size: a.size.max(b.size),
        ..a.clone()
    }
}

/// Interval `l` covers across `a`... its own across axis, taken as `l`'s.
fn span_on_across(l: &TextLine) -> (f32, f32) {
    let start = l.origin.0 * l.across.0 + l.origin.1 * l.across.1;
    (start, start + l.thickness)
}

/// Lines broken at a wide word space, put back together.
fn mended(mut lines: Vec<TextLine>) -> Vec<TextLine> {
    let mut i = 0;
    while i < lines.len() {
        let next = (i + 1..lines.len()).find(|&j| continues(&lines[i], &lines[j]));
        match next {
            Some(j) => {
                let b = lines.swap_remove(j);
                lines[i] = joined(&lines[i], &b);
            }
            None => i += 1,
        }
    }
    lines
}

/// Books: each a list of lines, the largest text (its title) first.
pub fn books(lines: Vec<TextLine>) -> Vec<Vec<TextLine>> {
    let lines = distinct(mended(lines));
    let n = lines.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for i in 0..n {
        for j in i + 1..n {
            if same_book(&lines[i], &lines[j]) {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                parent[a] = b;
            }
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<TextLine>> = Default::default();
    for (i, l) in lines.into_iter().enumerate() {
        groups.entry(find(&mut parent, i)).or_default().push(l);
    }
    let mut out: Vec<Vec<TextLine>> = groups
        .into_values()
        .map(|mut g| {
            g.sort_by(|a, b| b.size.total_cmp(&a.size));
            g
        })
        .collect();
    // Reading order: by rows of the picture, then left to right.
    out.sort_by(|a, b| {
        let key = |g: &Vec<TextLine>| ((g[0].origin.1 / 200.0) as i64, g[0].origin.0 as i64);
        key(a).cmp(&key(b))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(x: f32, y: f32, len: f32, size: f32, bg: [u8; 3]) -> TextLine {
        TextLine {
            origin: (x, y),
            along: (1.0, 0.0),
            across: (0.0, 1.0),
            length: len,
            thickness: size * 1.2,
            size,
            light: false,
            vertical: false,
            background: bg,
        }
    }

    #[test]
    fn title_and_author_on_one_background_are_one_book() {
        let cream = [230, 220, 200];
        let lines = vec![
            line(20.0, 80.0, 150.0, 18.0, cream),
            line(20.0, 20.0, 300.0, 32.0, cream),
            // The next book down, another colour.
            line(20.0, 160.0, 280.0, 32.0, [200, 230, 240]),
            // Far to the right, the same colour: another book.
            line(900.0, 20.0, 300.0, 32.0, cream),
        ];
        let b = books(lines);
        assert_eq!(b.len(), 3, "{b:?}");
        let two: Vec<&Vec<TextLine>> = b.iter().filter(|g| g.len() == 2).collect();
        assert_eq!(two.len(), 1, "{b:?}");
        assert_eq!(two[0][0].size, 32.0, "the title first");
    }

    #[test]
    fn text_found_twice_is_kept_once() {
        let cream = [230, 220, 200];
        let whole = line(20.0, 20.0, 300.0, 32.0, cream);
        let part = line(180.0, 22.0, 120.0, 30.0, cream);
        let b = books(vec![part, whole.clone()]);
        assert_eq!(b, vec![vec![whole]]);
    }
}
