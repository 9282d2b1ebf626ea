//! Ink on a shelf photo: what stands out from its neighbourhood, darker
//! or lighter than the local mean (so both dark-on-light and light-on-dark
//! spines are found), gathered into blobs of a letter's size. `locate.rs`
//! chains the blobs into lines.

use image::GrayImage;

/// One blob of ink: its box and which way it stands out.
#[derive(Debug, Clone, Copy)]
pub(super) struct Blob {
    pub(super) x0: u32,
    pub(super) y0: u32,
    pub(super) x1: u32,
    pub(super) y1: u32,
    pub(super) light: bool,
    /// The local mean at the blob's centre: its background, roughly.
    pub(super) mean: u8,
}

impl Blob {
    pub(super) fn w(&self) -> f32 {
        (self.x1 - self.x0 + 1) as f32
    }
    pub(super) fn h(&self) -> f32 {
        (self.y1 - self.y0 + 1) as f32
    }
    pub(super) fn cx(&self) -> f32 {
        (self.x0 + self.x1) as f32 / 2.0
    }
    pub(super) fn cy(&self) -> f32 {
        (self.y0 + self.y1) as f32 / 2.0
    }
}

/// Sums over rectangles in O(1): the local means.
pub(super) struct Integral {
    w: usize,
    sums: Vec<u32>,
}

impl Integral {
    pub(super) fn new(g: &GrayImage) -> Integral {
        let (w, h) = (g.width() as usize, g.height() as usize);
        let mut sums = vec![0u32; (w + 1) * (h + 1)];
        for y in 0..h {
            let mut row = 0u32;
            for x in 0..w {
                row += g.as_raw()[y * w + x] as u32;
                sums[(y + 1) * (w + 1) + x + 1] = sums[y * (w + 1) + x + 1] + row;
            }
        }
        Integral { w, sums }
    }

    /// Mean over the box centred on (x, y) with radius `r`, clipped.
    pub(super) fn mean(&self, x: usize, y: usize, r: usize, h: usize) -> u8 {
        let (x0, y0) = (x.saturating_sub(r), y.saturating_sub(r));
        let (x1, y1) = ((x + r + 1).min(self.w), (y + r + 1).min(h));
        let s = |x: usize, y: usize| self.sums[y * (self.w + 1) + x] as i64;
        let sum = s(x1, y1) - s(x0, y1) - s(x1, y0) + s(x0, y0);
        (sum / ((x1 - x0) * (y1 - y0)) as i64) as u8
    }
}

/// How far a pixel must stand out to be ink: above the picture's noise.
pub(super) fn ink_threshold(g: &GrayImage) -> i32 {
    let raw = g.as_raw();
    let mut diffs: Vec<u8> = raw
        .windows(2)
        .step_by(7)
        .map(|p| p[0].abs_diff(p[1]))
        .collect();
    let mid = diffs.len() / 2;
    let median = *diffs.select_nth_unstable(mid).1 as i32;
    (20 + 3 * median).min(60)
}

/// Marks ink: 1 darker than its neighbourhood, 2 lighter, 0 neither.
pub(super) fn ink(g: &GrayImage, integral: &Integral, r: usize) -> Vec<u8> {
    let (w, h) = (g.width() as usize, g.height() as usize);
    let t = ink_threshold(g);
    let mut mask = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            let d = g.as_raw()[y * w + x] as i32 - integral.mean(x, y, r, h) as i32;
            mask[y * w + x] = if d < -t {
                1
            } else if d > t {
                2
            } else {
                0
            };
        }
    }
    mask
}

/// The 8-connected blobs of ink, with those that cannot be characters
/// (specks, long edges, huge areas) left out.
pub(super) fn blobs(
    mask: &mut [u8],
    w: usize,
    h: usize,
    integral: &Integral,
    r: usize,
) -> Vec<Blob> {
    let max_size = (w.max(h) / 10) as u32;
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        let kind = mask[start];
        if kind == 0 {
            continue;
        }
        mask[start] = 0;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1, mut n) = (w, h, 0, 0, 0u32);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            (x0, y0, x1, y1, n) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y), n + 1);
            for (dx, dy) in [
                (-1, -1),
                (0, -1),
                (1, -1),
                (-1, 0),
                (1, 0),
                (-1, 1),
                (0, 1),
                (1, 1),
            ] {
                let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                    continue;
                }
                let j = ny as usize * w + nx as usize;
                if mask[j] == kind {
                    mask[j] = 0;
                    stack.push(j);
                }
            }
        }
        let b = Blob {
            x0: x0 as u32,
            y0: y0 as u32,
            x1: x1 as u32,
            y1: y1 as u32,
            light: kind == 2,
            mean: integral.mean((x0 + x1) / 2, (y0 + y1) / 2, r, h),
        };
        let (big, small) = (b.w().max(b.h()), b.w().min(b.h()));
        let fill = n as f32 / (b.w() * b.h());
        if big >= 6.0 && big <= max_size as f32 && small >= 2.0 && n >= 12 && fill > 0.08 {
            out.push(b);
        }
    }
    out
}
