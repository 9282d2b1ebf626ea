//! Finding the text on a shelf photo before reading it: ink blobs of a
//! letter's size (`ink.rs`) chained into lines, a line being characters
//! of one size, one polarity and one background, running across the
//! picture (a book lying flat) or up and down it (a spine). Lines on one
//! background side by side are one book (`books.rs`). Reading them is
//! `ocr.rs`: one Tesseract line pass per crop instead of whole-picture
//! passes that lose most of the text (measured in BENCHMARKS.md).

use super::ink::{blobs, ink, Blob, Integral};
use image::RgbImage;

/// The long side pictures are located at: larger ones are scaled down
/// (text is then still tens of pixels high), smaller ones kept.
const LOCATE_SIDE: u32 = 1600;

/// A line of text found on the photo, in the photo's own pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct TextLine {
    /// Where the line starts, and unit vectors along it and across it.
    pub origin: (f32, f32),
    pub along: (f32, f32),
    pub across: (f32, f32),
    /// Extent along the line from `origin`, and across it.
    pub length: f32,
    pub thickness: f32,
    /// A character's height: the median of the line's blobs across it.
    pub size: f32,
    /// Light text on a darker background.
    pub light: bool,
    /// Runs up and down the picture: which way it reads is not known.
    pub vertical: bool,
    /// The background colour around the text.
    pub background: [u8; 3],
}

/// Whether `a` and `b` are neighbours on one line: across the picture
/// (`vertical` false) or up and down it.
fn linked(a: &Blob, b: &Blob, vertical: bool) -> bool {
    if a.light != b.light || a.mean.abs_diff(b.mean) > 70 {
        return false;
    }
    // Size across the line, and position along and across it.
    let (sa, sb, lo_a, hi_a, lo_b, hi_b, ca, cb) = if vertical {
        (a.w(), b.w(), a.y0, a.y1, b.y0, b.y1, a.cx(), b.cx())
    } else {
        (a.h(), b.h(), a.x0, a.x1, b.x0, b.x1, a.cy(), b.cy())
    };
    let (small, big) = (sa.min(sb), sa.max(sb));
    if small / big < 0.45 || (ca - cb).abs() > 0.35 * big {
        return false;
    }
    let gap = (lo_b as f32 - hi_a as f32).max(lo_a as f32 - hi_b as f32);
    gap <= 1.2 * big
}

struct Sets(Vec<usize>);

impl Sets {
    fn new(n: usize) -> Sets {
        Sets((0..n).collect())
    }
    fn find(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }
    fn join(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        self.0[a] = b;
    }
}

/// Pairs of blobs close enough to be neighbours, found through a grid.
fn candidate_pairs(blobs: &[Blob], cell: f32) -> Vec<(usize, usize)> {
    let mut grid: std::collections::HashMap<(i32, i32), Vec<usize>> = Default::default();
    let key = |x: f32, y: f32| ((x / cell) as i32, (y / cell) as i32);
    for (i, b) in blobs.iter().enumerate() {
        grid.entry(key(b.cx(), b.cy())).or_default().push(i);
    }
    let mut pairs = Vec::new();
    for (i, b) in blobs.iter().enumerate() {
        let reach = 1 + (2.4 * b.w().max(b.h()) / cell) as i32;
        let (kx, ky) = key(b.cx(), b.cy());
        for gx in kx - reach..=kx + reach {
            for gy in ky - reach..=ky + reach {
                for &j in grid.get(&(gx, gy)).into_iter().flatten() {
                    if j > i {
                        pairs.push((i, j));
                    }
                }
            }
        }
    }
    pairs
}

/// Chains blobs into lines. Blobs linked either way form clusters (a
/// book's lines side by side), and each cluster runs the way most of its
/// links do: a short title beside its author has as many links across as
/// along, its cluster does not.
fn chains(blobs: &[Blob]) -> Vec<(bool, Vec<usize>)> {
    let pairs = candidate_pairs(blobs, 32.0);
    let links: [Vec<(usize, usize)>; 2] = [false, true].map(|v| {
        pairs
            .iter()
            .copied()
            .filter(|&(i, j)| linked(&blobs[i], &blobs[j], v))
            .collect()
    });
    let mut clusters = Sets::new(blobs.len());
    links
        .iter()
        .flatten()
        .for_each(|&(i, j)| clusters.join(i, j));
    let mut votes = vec![[0usize; 2]; blobs.len()];
    for (v, l) in links.iter().enumerate() {
        for &(i, _) in l {
            votes[clusters.find(i)][v] += 1;
        }
    }
    let vertical: Vec<bool> = (0..blobs.len())
        .map(|i| {
            let [h, v] = votes[clusters.find(i)];
            v > h
        })
        .collect();
    let mut out = Vec::new();
    for v in [false, true] {
        let mut s = Sets::new(blobs.len());
        for &(i, j) in &links[v as usize] {
            if vertical[i] == v && vertical[j] == v {
                s.join(i, j);
            }
        }
        let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for i in (0..blobs.len()).filter(|&i| vertical[i] == v) {
            groups.entry(s.find(i)).or_default().push(i);
        }
        out.extend(
            groups
                .into_values()
                .filter(|g| g.len() >= 2)
                .map(|g| (v, g)),
        );
    }
    out
}

/// A chain's geometry: a straight line fitted through its blobs' centres
/// (so a tilted book still gives an upright crop), in `scale`d pixels.
fn line_of(blobs: &[Blob], chain: &[usize], vertical: bool, rgb: &RgbImage) -> Option<TextLine> {
    // Along-axis coordinate u, across-axis v.
    let uv = |b: &Blob| {
        if vertical {
            (b.cy(), b.cx())
        } else {
            (b.cx(), b.cy())
        }
    };
    let n = chain.len() as f32;
    let (mu, mv) = chain.iter().fold((0.0, 0.0), |(su, sv), &i| {
        let (u, v) = uv(&blobs[i]);
        (su + u / n, sv + v / n)
    });
    let (suv, suu) = chain.iter().fold((0.0, 0.0), |(a, b), &i| {
        let (u, v) = uv(&blobs[i]);
        (a + (u - mu) * (v - mv), b + (u - mu) * (u - mu))
    });
    let slope = if suu > 0.0 {
        (suv / suu).clamp(-0.15, 0.15)
    } else {
        0.0
    };
    let norm = (1.0 + slope * slope).sqrt();
    let (du, dv) = (1.0 / norm, slope / norm);
    let along = if vertical { (dv, du) } else { (du, dv) };
    // Turned a quarter from `along` (a turn, not a mirror, so that crops
    // read as the text was printed).
    let across = (-along.1, along.0);
    let (cx, cy) = if vertical { (mv, mu) } else { (mu, mv) };
    let (mut a0, mut a1, mut c0, mut c1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    let mut sizes = Vec::with_capacity(chain.len());
    for &i in chain {
        let b = &blobs[i];
        sizes.push(if vertical { b.w() } else { b.h() });
        for (x, y) in [
            (b.x0, b.y0),
            (b.x1 + 1, b.y0),
            (b.x0, b.y1 + 1),
            (b.x1 + 1, b.y1 + 1),
        ] {
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            let (a, c) = (dx * along.0 + dy * along.1, dx * across.0 + dy * across.1);
            (a0, a1, c0, c1) = (a0.min(a), a1.max(a), c0.min(c), c1.max(c));
        }
    }
    sizes.sort_by(f32::total_cmp);
    let size = sizes[sizes.len() / 2];
    if a1 - a0 < 1.2 * size {
        return None;
    }
    let origin = (
        cx + a0 * along.0 + c0 * across.0,
        cy + a0 * along.1 + c0 * across.1,
    );
    let line = TextLine {
        origin,
        along,
        across,
        length: a1 - a0,
        thickness: c1 - c0,
        size,
        light: blobs[chain[0]].light,
        vertical,
        background: [0; 3],
    };
    Some(TextLine {
        background: background(rgb, &line),
        ..line
    })
}

/// The median colour of a line's box: mostly background, as ink is thin.
fn background(rgb: &RgbImage, l: &TextLine) -> [u8; 3] {
    let mut ch: [Vec<u8>; 3] = Default::default();
    let steps = 12;
    for i in 0..=steps {
        for j in 0..=steps {
            let a = l.length * i as f32 / steps as f32;
            let c = l.thickness * j as f32 / steps as f32;
            let x = l.origin.0 + a * l.along.0 + c * l.across.0;
            let y = l.origin.1 + a * l.along.1 + c * l.across.1;
            if x >= 0.0 && y >= 0.0 && (x as u32) < rgb.width() && (y as u32) < rgb.height() {
                let p = rgb.get_pixel(x as u32, y as u32);
                (0..3).for_each(|k| ch[k].push(p[k]));
            }
        }
    }
    ch.map(|mut v| {
        if v.is_empty() {
            return 0;
        }
        let mid = v.len() / 2;
        *v.select_nth_unstable(mid).1
    })
}

/// Every line of text on `photo`, in its own pixels.
pub fn lines(photo: &RgbImage) -> Vec<TextLine> {
    let long = photo.width().max(photo.height());
    let scale = (LOCATE_SIDE as f32 / long as f32).min(1.0);
    let small = if scale < 1.0 {
        let (w, h) = (photo.width() as f32 * scale, photo.height() as f32 * scale);
        image::imageops::resize(photo, w as u32, h as u32, image::imageops::Triangle)
    } else {
        photo.clone()
    };
    let grey = image::DynamicImage::ImageRgb8(small.clone()).into_luma8();
    let (w, h) = (grey.width() as usize, grey.height() as usize);
    let r = (w.max(h) / 50).max(8);
    let integral = Integral::new(&grey);
    let mut mask = ink(&grey, &integral, r);
    let blobs = blobs(&mut mask, w, h, &integral, r);
    chains(&blobs)
        .iter()
        .filter_map(|(v, c)| line_of(&blobs, c, *v, &small))
        .map(|l| TextLine {
            origin: (l.origin.0 / scale, l.origin.1 / scale),
            length: l.length / scale,
            thickness: l.thickness / scale,
            size: l.size / scale,
            ..l
        })
        .collect()
}
