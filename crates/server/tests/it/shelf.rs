//! Shelf photos drawn for tests and benches: titles over authors on
//! coloured spines, four lying flat and four standing (vertical text).
#![allow(dead_code)]

use ab_glyph::{FontRef, PxScale};
use image::{DynamicImage, Rgb, RgbImage};

pub const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";

pub const SHELF: [(&str, &str); 8] = [
    ("Middlemarch", "George Eliot"),
    ("Moby Dick", "Herman Melville"),
    ("Frankenstein", "Mary Shelley"),
    ("Dracula", "Bram Stoker"),
    ("Walden", "Henry Thoreau"),
    ("Persuasion", "Jane Austen"),
    ("Treasure Island", "Robert Stevenson"),
    ("Heart of Darkness", "Joseph Conrad"),
];

fn font_bytes() -> Vec<u8> {
    std::fs::read(FONT).expect("fonts-dejavu-core is installed (scripts/test installs it)")
}

/// One spine: `title` over `author` on a coloured strip, `w` × `h`.
fn spine(
    font: &FontRef<'_>,
    title: &str,
    author: &str,
    w: u32,
    h: u32,
    bg: [u8; 3],
    fg: [u8; 3],
) -> RgbImage {
    let mut img = RgbImage::from_pixel(w, h, Rgb(bg));
    imageproc::drawing::draw_text_mut(&mut img, Rgb(fg), 20, 12, PxScale::from(44.0), font, title);
    imageproc::drawing::draw_text_mut(&mut img, Rgb(fg), 20, 66, PxScale::from(26.0), font, author);
    img
}

/// A shelf: four books lying flat, four standing with vertical spines.
pub fn shelf(books: &[(&str, &str)]) -> DynamicImage {
    let bytes = font_bytes();
    let font = FontRef::try_from_slice(&bytes).unwrap();
    let colours = [
        ([20, 40, 90], [250, 250, 240]),
        ([240, 230, 200], [30, 30, 30]),
        ([120, 20, 20], [255, 240, 200]),
        ([30, 90, 50], [250, 250, 250]),
    ];
    let mut canvas = RgbImage::from_pixel(1800, 1400, Rgb([200, 190, 170]));
    for (i, (title, author)) in books.iter().enumerate() {
        let (bg, fg) = colours[i % colours.len()];
        let strip = spine(&font, title, author, 560, 110, bg, fg);
        if i < 4 {
            // Lying flat: horizontal text, stacked on the left.
            image::imageops::overlay(&mut canvas, &strip, 40, 60 + 140 * i as i64);
        } else {
            // Standing: the spine reads bottom to top.
            let turned = image::imageops::rotate270(&strip);
            image::imageops::overlay(&mut canvas, &turned, 700 + 150 * (i as i64 - 4), 700);
        }
    }
    DynamicImage::ImageRgb8(canvas)
}
