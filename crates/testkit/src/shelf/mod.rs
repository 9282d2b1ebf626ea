//! Shelf photos drawn for tests and benches, so that the offline scan is
//! measured on pictures it was not tuned on (`pipelines/ai_scan/` in the
//! server):
//! - [`classic`]: the first test picture, four books lying flat and four
//!   standing, bold sans on coloured spines;
//! - [`varied`]: a seeded generator of shelves that differ in everything a
//!   user's photo does: font family and weight, dark-on-light and
//!   light-on-dark, background colour and texture, flat books and spines
//!   read either way, tilts up to ±5°, blur, noise, JPEG quality, picture
//!   size 800–4000 px and 3–15 books;
//! - [`blank`]: a textured picture with no text at all.
//!
//! Fonts come from Debian's fonts-dejavu-core, fonts-dejavu-extra and
//! fonts-liberation2 (`scripts/test` installs them).

mod paint;

use ab_glyph::PxScale;
use image::{DynamicImage, Rgb, RgbImage};
use paint::{background, colour_pair, font, lay_out, place, strip, Face};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const FONTS: [&str; 10] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationMono-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSerif-Bold.ttf",
];

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

/// Titles and authors the varied shelves draw from.
pub const BOOKS: [(&str, &str); 48] = [
    ("Ember and Glass", "Ada Quill"),
    ("The Time Machine", "H. G. Wells"),
    ("Pride and Prejudice", "Jane Austen"),
    ("Great Expectations", "Charles Dickens"),
    ("Jane Eyre", "Charlotte Bronte"),
    ("Wuthering Heights", "Emily Bronte"),
    ("The Odyssey", "Homer"),
    ("Crime and Punishment", "Fyodor Dostoevsky"),
    ("War and Peace", "Leo Tolstoy"),
    ("Anna Karenina", "Leo Tolstoy"),
    ("Emma", "Jane Austen"),
    ("Ulysses", "James Joyce"),
    ("Dubliners", "James Joyce"),
    ("The Jungle Book", "Rudyard Kipling"),
    ("Little Women", "Louisa May Alcott"),
    ("The Secret Garden", "Frances Burnett"),
    ("Robinson Crusoe", "Daniel Defoe"),
    ("Gulliver's Travels", "Jonathan Swift"),
    ("The Iliad", "Homer"),
    ("Don Quixote", "Miguel de Cervantes"),
    ("Les Miserables", "Victor Hugo"),
    ("The Red Badge", "Stephen Crane"),
    ("Silas Marner", "George Eliot"),
    ("North and South", "Elizabeth Gaskell"),
    ("Kidnapped", "Robert Stevenson"),
    ("The Invisible Man", "H. G. Wells"),
    ("Northanger Abbey", "Jane Austen"),
    ("Bleak House", "Charles Dickens"),
    ("Hard Times", "Charles Dickens"),
    ("Oliver Twist", "Charles Dickens"),
    ("The Aeneid", "Virgil"),
    ("Beowulf", "Unknown"),
    ("Candide", "Voltaire"),
    ("Madame Bovary", "Gustave Flaubert"),
    ("The Trial", "Franz Kafka"),
    ("Siddhartha", "Hermann Hesse"),
    ("Ivanhoe", "Walter Scott"),
    ("The Prince", "Niccolo Machiavelli"),
    ("Utopia", "Thomas More"),
    ("Walden Pond", "Henry Thoreau"),
    ("Sense and Sensibility", "Jane Austen"),
    ("The Call of the Wild", "Jack London"),
    ("White Fang", "Jack London"),
    ("Black Beauty", "Anna Sewell"),
    ("Peter Pan", "James Barrie"),
    ("The Moonstone", "Wilkie Collins"),
    ("Vanity Fair", "William Thackeray"),
    ("Tess", "Thomas Hardy"),
];

/// The first test picture: four books lying flat, four standing with
/// vertical spines read bottom to top, 1800 × 1400: titles at 44 px over
/// authors at 26 px on 560 × 110 strips.
pub fn classic(books: &[(&str, &str)]) -> DynamicImage {
    let font = font(FONTS[0]);
    let colours = [
        ([20, 40, 90], [250, 250, 240]),
        ([240, 230, 200], [30, 30, 30]),
        ([120, 20, 20], [255, 240, 200]),
        ([30, 90, 50], [250, 250, 250]),
    ];
    let mut canvas = RgbImage::from_pixel(1800, 1400, Rgb([200, 190, 170]));
    for (i, (title, author)) in books.iter().enumerate() {
        let (bg, fg) = colours[i % colours.len()];
        let mut s = RgbImage::from_pixel(560, 110, Rgb(bg));
        let draw = imageproc::drawing::draw_text_mut::<RgbImage>;
        draw(&mut s, Rgb(fg), 20, 12, PxScale::from(44.0), &font, title);
        draw(&mut s, Rgb(fg), 20, 66, PxScale::from(26.0), &font, author);
        if i < 4 {
            image::imageops::overlay(&mut canvas, &s, 40, 60 + 140 * i as i64);
        } else {
            let turned = image::imageops::rotate270(&s);
            image::imageops::overlay(&mut canvas, &turned, 700 + 150 * (i as i64 - 4), 700);
        }
    }
    DynamicImage::ImageRgb8(canvas)
}

/// A varied shelf: the picture (already through its JPEG round trip when
/// it has one) and the titles on it.
pub struct Shelf {
    pub image: DynamicImage,
    /// JPEG bytes when the picture is a JPEG (quality 60–92), else PNG.
    pub encoded: Vec<u8>,
    pub titles: Vec<String>,
    pub books: Vec<(String, String)>,
}

/// A varied shelf from `seed`: the same seed draws the same picture.
pub fn varied(seed: u64) -> Shelf {
    draw(seed, None)
}

/// [`varied`] at a chosen size (`w` × `h`), everything else as `seed`
/// draws it: for timing photos of one size.
pub fn varied_sized(seed: u64, w: u32, h: u32) -> Shelf {
    draw(seed, Some((w, h)))
}

fn draw(seed: u64, size: Option<(u32, u32)>) -> Shelf {
    let mut rng = StdRng::seed_from_u64(seed);
    let w = rng.random_range(800..=4000u32);
    let h = (w as f32 * rng.random_range(0.55..0.8f32)) as u32;
    let (w, h) = size.unwrap_or((w, h));
    let n = rng.random_range(3..=15usize);
    let face = Face {
        font: font(FONTS[rng.random_range(0..FONTS.len())]),
        author_ratio: rng.random_range(0.5..0.7),
    };
    let mut picks: Vec<usize> = (0..BOOKS.len()).collect();
    for i in 0..n {
        let j = rng.random_range(i..picks.len());
        picks.swap(i, j);
    }
    let books: Vec<(String, String)> = picks[..n]
        .iter()
        .map(|&i| (BOOKS[i].0.to_string(), BOOKS[i].1.to_string()))
        .collect();
    let standing: Vec<bool> = (0..n).map(|_| rng.random_bool(0.6)).collect();
    let colours: Vec<_> = (0..n).map(|_| colour_pair(&mut rng)).collect();
    let tilts: Vec<f32> = (0..n).map(|_| rng.random_range(-5.0..5.0f32)).collect();
    let ups: Vec<bool> = (0..n).map(|_| rng.random_bool(0.5)).collect();
    // The largest title size, up to a tenth of the height, at which all fit.
    let mut ts = h as f32 / 10.0;
    let (faces, layout) = loop {
        let faces: Vec<(RgbImage, bool)> = books
            .iter()
            .zip(&colours)
            .zip(&standing)
            .map(|(((t, a), (bg, fg)), s)| (strip(&face, t, a, ts, *bg, *fg), *s))
            .collect();
        if let Some(l) = lay_out(&faces, w, h) {
            break (faces, l);
        }
        ts *= 0.9;
        assert!(ts > 8.0, "seed {seed}: {n} books do not fit in {w}x{h}");
    };
    let mut canvas = background(&mut rng, w, h);
    for (i, x, y, stand) in layout {
        let f = &faces[i].0;
        let f = match (stand, ups[i]) {
            (false, _) => f.clone(),
            (true, true) => image::imageops::rotate270(f),
            (true, false) => image::imageops::rotate90(f),
        };
        place(&mut canvas, &f, x, y, tilts[i]);
    }
    finish(&mut rng, canvas, books)
}

/// Blur, noise and the JPEG round trip (or PNG) of a drawn shelf.
fn finish(rng: &mut StdRng, mut canvas: RgbImage, books: Vec<(String, String)>) -> Shelf {
    let sigma = rng.random_range(0.0..1.4f32);
    if sigma > 0.3 {
        canvas = imageproc::filter::gaussian_blur_f32(&canvas, sigma);
    }
    let noise = rng.random_range(0.0..9.0f32);
    for p in canvas.pixels_mut() {
        let d =
            (rng.random::<f32>() + rng.random::<f32>() + rng.random::<f32>() - 1.5) * 2.0 * noise;
        *p = Rgb(p.0.map(|c| (c as f32 + d).clamp(0.0, 255.0) as u8));
    }
    let mut encoded = Vec::new();
    let image = if rng.random_bool(0.8) {
        let q = rng.random_range(60..=92u8);
        let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut encoded, q);
        canvas.write_with_encoder(enc).expect("encodes");
        image::load_from_memory(&encoded).expect("decodes")
    } else {
        let img = DynamicImage::ImageRgb8(canvas);
        img.write_to(
            &mut std::io::Cursor::new(&mut encoded),
            image::ImageFormat::Png,
        )
        .expect("encodes");
        img
    };
    Shelf {
        image,
        encoded,
        titles: books.iter().map(|b| b.0.clone()).collect(),
        books,
    }
}

/// A picture with no text: the varied backgrounds and plain spines.
pub fn blank(seed: u64) -> Shelf {
    let mut rng = StdRng::seed_from_u64(seed);
    let (w, h) = (1800, 1100);
    let mut canvas = background(&mut rng, w, h);
    for i in 0..8 {
        let (bg, _) = colour_pair(&mut rng);
        let book = RgbImage::from_pixel(
            rng.random_range(60..140),
            rng.random_range(500..900),
            Rgb(bg),
        );
        let tilt = rng.random_range(-5.0..5.0f32);
        place(&mut canvas, &book, 100 + 200 * i, 100, tilt);
    }
    finish(&mut rng, canvas, Vec::new())
}
