//! The drawing of shelf pictures (`mod.rs` composes them): fonts, one
//! book's face, backgrounds, books placed with a tilt, and the layout of
//! standing and flat books on shelves.

use ab_glyph::{FontVec, PxScale};
use image::{Rgb, RgbImage, Rgba, RgbaImage};
use imageproc::geometric_transformations::{rotate_about_center, Interpolation};
use rand::rngs::StdRng;
use rand::Rng;

pub(super) fn font(path: &str) -> FontVec {
    let bytes = std::fs::read(path)
        .unwrap_or_else(|e| panic!("{path}: {e} (scripts/test installs the fonts)"));
    FontVec::try_from_vec(bytes).expect("a TrueType font")
}

/// One book's face: `title` over `author`, left-aligned, on a `bg` strip.
pub(super) fn strip(
    face: &Face,
    title: &str,
    author: &str,
    ts: f32,
    bg: [u8; 3],
    fg: [u8; 3],
) -> RgbImage {
    let asz = ts * face.author_ratio;
    let (tw, _) = imageproc::drawing::text_size(PxScale::from(ts), &face.font, title);
    let (aw, _) = imageproc::drawing::text_size(PxScale::from(asz), &face.font, author);
    let pad = (ts * 0.45) as u32;
    let w = tw.max(aw) + 2 * pad;
    let h = (ts * 1.25 + asz * 1.3) as u32 + pad;
    let mut img = RgbImage::from_pixel(w, h, Rgb(bg));
    let y0 = (pad / 2) as i32;
    let t = PxScale::from(ts);
    imageproc::drawing::draw_text_mut(&mut img, Rgb(fg), pad as i32, y0, t, &face.font, title);
    let ay = y0 + (ts * 1.2) as i32;
    let a = PxScale::from(asz);
    imageproc::drawing::draw_text_mut(&mut img, Rgb(fg), pad as i32, ay, a, &face.font, author);
    img
}

pub(super) struct Face {
    pub(super) font: FontVec,
    pub(super) author_ratio: f32,
}

pub(super) fn colour_pair(rng: &mut StdRng) -> ([u8; 3], [u8; 3]) {
    let light = |r: &mut StdRng| {
        [
            r.random_range(185..=250),
            r.random_range(175..=245),
            r.random_range(160..=240),
        ]
    };
    let dark = |r: &mut StdRng| {
        [
            r.random_range(10..=90),
            r.random_range(10..=80),
            r.random_range(10..=95),
        ]
    };
    if rng.random_bool(0.5) {
        (light(rng), dark(rng))
    } else {
        (dark(rng), light(rng))
    }
}

/// Background: brown wood grain, a light wall, or plain grey, with texture.
pub(super) fn background(rng: &mut StdRng, w: u32, h: u32) -> RgbImage {
    let kind = rng.random_range(0..3);
    let base: [f32; 3] = match kind {
        0 => [120.0, 80.0, 45.0],
        1 => [225.0, 222.0, 212.0],
        _ => [128.0, 128.0, 130.0],
    };
    let (freq, amp) = (
        rng.random_range(0.01..0.05f32),
        rng.random_range(4.0..14.0f32),
    );
    let mut img = RgbImage::new(w, h);
    for (x, y, p) in img.enumerate_pixels_mut() {
        let grain = if kind == 0 {
            (y as f32 * freq + (x as f32 * 0.003).sin() * 3.0).sin() * amp
        } else {
            ((x / 7 + y / 5) % 3) as f32 * amp * 0.25
        };
        let jitter = rng.random_range(-3.0..3.0f32);
        *p = Rgb(base.map(|c| (c + grain + jitter).clamp(0.0, 255.0) as u8));
    }
    img
}

/// Overlays `book` onto `canvas` at (x, y), turned by `tilt` degrees.
pub(super) fn place(canvas: &mut RgbImage, book: &RgbImage, x: i64, y: i64, tilt: f32) {
    let pad = (book.width().max(book.height()) as f32 * 0.05) as u32 + 2;
    let mut rgba = RgbaImage::from_pixel(
        book.width() + 2 * pad,
        book.height() + 2 * pad,
        Rgba([0; 4]),
    );
    for (bx, by, p) in book.enumerate_pixels() {
        rgba.put_pixel(bx + pad, by + pad, Rgba([p[0], p[1], p[2], 255]));
    }
    let turned = rotate_about_center(
        &rgba,
        tilt.to_radians(),
        Interpolation::Bilinear,
        Rgba([0; 4]),
    );
    let (ox, oy) = (x - pad as i64, y - pad as i64);
    for (tx, ty, p) in turned.enumerate_pixels() {
        let (cx, cy) = (ox + tx as i64, oy + ty as i64);
        if p[3] == 0
            || cx < 0
            || cy < 0
            || cx >= canvas.width() as i64
            || cy >= canvas.height() as i64
        {
            continue;
        }
        let a = p[3] as f32 / 255.0;
        let c = canvas.get_pixel_mut(cx as u32, cy as u32);
        for k in 0..3 {
            c[k] = (p[k] as f32 * a + c[k] as f32 * (1.0 - a)) as u8;
        }
    }
}

/// One shelf's columns: each column's left edge and its books.
pub(super) type Row = Vec<(i64, Vec<usize>)>;

/// Lays out the books on shelves (rows): spines standing side by side,
/// books lying flat in stacks of up to three. Returns each book's index,
/// top-left corner and whether it stands; None when they do not fit in
/// `w` × `h`.
pub(super) fn lay_out(
    faces: &[(RgbImage, bool)],
    w: u32,
    h: u32,
) -> Option<Vec<(usize, i64, i64, bool)>> {
    let (w, h) = (w as i64, h as i64);
    let margin = w / 40;
    let size = |(f, standing): &(RgbImage, bool)| {
        let (a, b) = (f.width() as i64, f.height() as i64);
        if *standing {
            (b, a)
        } else {
            (a, b)
        }
    };
    // Columns: one standing book, or a stack of consecutive flat ones.
    let mut columns: Vec<Vec<usize>> = Vec::new();
    for (i, f) in faces.iter().enumerate() {
        match columns.last_mut() {
            Some(c) if !f.1 && !faces[c[0]].1 && c.len() < 3 => c.push(i),
            _ => columns.push(vec![i]),
        }
    }
    let mut out = Vec::new();
    let (mut x, mut top, mut row) = (margin, margin, Vec::new());
    let mut rows: Vec<(i64, Row)> = Vec::new();
    for c in columns {
        let cw = c.iter().map(|&i| size(&faces[i]).0).max().unwrap_or(0);
        if x + cw + margin > w && !row.is_empty() {
            rows.push((top, std::mem::take(&mut row)));
            x = margin;
        }
        if x + cw + margin > w {
            return None;
        }
        row.push((x, c));
        x += cw + margin / 3;
    }
    rows.push((top, row));
    for (_, row) in &rows {
        let rh = row
            .iter()
            .map(|(_, c)| {
                c.iter()
                    .map(|&i| size(&faces[i]).1 + margin / 4)
                    .sum::<i64>()
            })
            .max()
            .unwrap_or(0);
        let bottom = top + rh;
        if bottom + margin > h {
            return None;
        }
        for (x, c) in row {
            let mut y = bottom;
            for &i in c {
                y -= size(&faces[i]).1 + margin / 4;
                out.push((i, *x, y, faces[i].1));
            }
        }
        top = bottom + margin;
    }
    Some(out)
}
