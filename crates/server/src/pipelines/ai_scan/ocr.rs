//! The offline provider: find the books first (`locate.rs`, `books.rs`),
//! then read each of their lines with one Tesseract pass as a single text
//! line (`--psm 7`) on a crop cut straight along the line, scaled so that
//! a character is about 36 px high and turned dark on light from the
//! line's own polarity. A line running up and down the picture is read
//! both ways and the reading Tesseract is surer of kept. Whole-picture
//! passes (grey and inverted, three turns, `--psm 11`) read 24 % of the
//! titles on varied photos at 9.8 s each; this reads most of them in a
//! fraction of that (BENCHMARKS.md, "Shelf scan").

use super::books::books;
use super::locate::{self, TextLine};
use super::matcher::Line;
use super::tesseract::{self, Sink};
use image::{GrayImage, Luma, RgbImage};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct Ocr {
    /// The `tesseract` executable.
    pub binary: PathBuf,
    /// Decodes and Tesseract processes at once (`gate.rs`).
    pub gates: super::gate::Gates,
    /// One Tesseract run (`--ocr-timeout-secs`).
    pub timeout: std::time::Duration,
    /// `--max-photo-pixels`, checked again before a decode.
    pub max_pixels: u64,
}

impl Ocr {
    /// Tesseract at `binary`, with the default limits and gates of its own.
    pub fn new(binary: impl Into<PathBuf>) -> Ocr {
        let c = crate::config::ScanConfig::default();
        Ocr {
            binary: binary.into(),
            gates: super::gate::Gates::new(&c),
            timeout: c.ocr_timeout,
            max_pixels: c.max_photo_pixels,
        }
    }
}

/// A character's height in a crop: where Tesseract's line model reads best.
const CHAR_PX: f32 = 36.0;
/// A line read with a lower mean word confidence is noise.
const MIN_CONFIDENCE: f64 = 0.5;

/// One book as found: for each of its lines, the crops to read (two for a
/// line up and down the picture, one each way).
#[derive(Debug, Clone)]
pub struct BookCrops {
    pub lines: Vec<Vec<GrayImage>>,
}

/// Page, block, paragraph and line numbers: where a word belongs.
type LineKey = (u32, u32, u32, u32);

/// Words of Tesseract's TSV output grouped by block, paragraph and line;
/// each line's confidence is its words' mean (0–1).
pub fn lines_from_tsv(tsv: &str) -> Vec<Line> {
    let mut lines: BTreeMap<LineKey, (Vec<String>, Vec<f64>)> = BTreeMap::new();
    for row in tsv.lines().skip(1) {
        let f: Vec<&str> = row.split('\t').collect();
        if f.len() < 12 || f[0] != "5" {
            continue;
        }
        let (Ok(page), Ok(block), Ok(par), Ok(line), Ok(conf)) = (
            f[1].parse::<u32>(),
            f[2].parse::<u32>(),
            f[3].parse::<u32>(),
            f[4].parse::<u32>(),
            f[10].parse::<f64>(),
        ) else {
            continue;
        };
        let word = f[11].trim();
        if word.is_empty() || conf < 0.0 {
            continue;
        }
        let e = lines.entry((page, block, par, line)).or_default();
        e.0.push(word.to_string());
        e.1.push(conf / 100.0);
    }
    lines
        .into_values()
        .map(|(words, confs)| Line {
            text: words.join(" "),
            confidence: confs.iter().sum::<f64>() / confs.len() as f64,
        })
        .collect()
}

/// Samples `grey` bilinearly at (x, y); outside it, `outside`.
fn sample(grey: &GrayImage, x: f32, y: f32, outside: f32) -> f32 {
    let (w, h) = (grey.width() as i64, grey.height() as i64);
    let (x0, y0) = (x.floor() as i64, y.floor() as i64);
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let px = |x: i64, y: i64| {
        if x < 0 || y < 0 || x >= w || y >= h {
            outside
        } else {
            grey.get_pixel(x as u32, y as u32)[0] as f32
        }
    };
    let top = px(x0, y0) * (1.0 - fx) + px(x0 + 1, y0) * fx;
    let bottom = px(x0, y0 + 1) * (1.0 - fx) + px(x0 + 1, y0 + 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// `l` cut out of `grey` upright (turned half round when `flip`), dark
/// text on white, contrast stretched, with a white border.
pub fn crop(grey: &GrayImage, l: &TextLine, flip: bool) -> GrayImage {
    let k = (CHAR_PX / l.size).clamp(0.25, 4.0);
    let (ma, mc) = (0.6 * l.size, 0.3 * l.size);
    let (len, thick) = (l.length + 2.0 * ma, l.thickness + 2.0 * mc);
    let (w, h) = ((len * k).ceil() as u32, (thick * k).ceil() as u32);
    let border = 12;
    let mut out = GrayImage::from_pixel(w + 2 * border, h + 2 * border, Luma([255]));
    let mut values = Vec::with_capacity((w * h) as usize);
    for v in 0..h {
        for u in 0..w {
            let (mut a, mut c) = (u as f32 / k - ma, v as f32 / k - mc);
            if flip {
                (a, c) = (l.length - a, l.thickness - c);
            }
            let x = l.origin.0 + a * l.along.0 + c * l.across.0;
            let y = l.origin.1 + a * l.along.1 + c * l.across.1;
            values.push(sample(grey, x, y, f32::NAN));
        }
    }
    let mut known: Vec<f32> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    known.sort_by(f32::total_cmp);
    if known.is_empty() {
        return out;
    }
    // Polarity from the crop's own histogram: the background is most of
    // it, so a median below the middle of the range means light text.
    let at = |k: &[f32], q: f32| k[((k.len() - 1) as f32 * q) as usize];
    if at(&known, 0.5) < (at(&known, 0.02) + at(&known, 0.98)) / 2.0 {
        values.iter_mut().for_each(|v| *v = 255.0 - *v);
        known.iter_mut().for_each(|v| *v = 255.0 - *v);
        known.reverse();
    }
    let (lo, hi) = (at(&known, 0.02), at(&known, 0.9));
    let span = (hi - lo).max(1.0);
    for (i, v) in values.into_iter().enumerate() {
        let s = if v.is_nan() {
            255.0
        } else {
            (v - lo) / span * 255.0
        };
        let (u, v) = (i as u32 % w, i as u32 / w);
        out.put_pixel(u + border, v + border, Luma([s.clamp(0.0, 255.0) as u8]));
    }
    out
}

/// Whether a reading looks like words rather than noise.
fn legible(l: &Line) -> bool {
    let letters = l.text.chars().filter(|c| c.is_alphanumeric()).count();
    let others = l
        .text
        .chars()
        .filter(|c| !c.is_alphanumeric() && *c != ' ')
        .count();
    l.confidence >= MIN_CONFIDENCE && letters >= 2 && others * 4 <= letters
}

/// Tidies what Tesseract read: typographic quotes made plain, stray
/// marks at the ends dropped.
fn tidy(text: &str) -> String {
    let t: String = text
        .chars()
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' => '\'',
            '\u{201c}' | '\u{201d}' => '"',
            c => c,
        })
        .collect();
    t.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '.' && c != ')')
        .trim()
        .to_string()
}

impl Ocr {
    /// The books on `photo`, found but not read yet.
    pub fn find_books(&self, photo: &RgbImage) -> Vec<BookCrops> {
        let grey = image::DynamicImage::ImageRgb8(photo.clone()).into_luma8();
        books(locate::lines(photo))
            .into_iter()
            .map(|lines| BookCrops {
                lines: lines
                    .iter()
                    .map(|l| {
                        let mut c = vec![crop(&grey, l, false)];
                        if l.vertical {
                            c.push(crop(&grey, l, true));
                        }
                        c
                    })
                    .collect(),
            })
            .collect()
    }

    /// Reads `books` (each with its index), answering each into `sink`
    /// with its lines, the title first, as soon as it is read; a line that
    /// reads as nothing legible is left out.
    pub fn read_books(&self, books: &[(usize, &BookCrops)], scratch: &Path, sink: &mut Sink<'_>) {
        let keep = |l: &Line| {
            legible(&Line {
                text: tidy(&l.text),
                confidence: l.confidence,
            })
        };
        let mut tidied = |i: usize, r: Result<Vec<Line>, String>| {
            sink(
                i,
                r.map(|lines| {
                    lines
                        .into_iter()
                        .map(|l| Line {
                            text: tidy(&l.text),
                            confidence: l.confidence,
                        })
                        .collect()
                }),
            )
        };
        let run = tesseract::Tesseract {
            binary: &self.binary,
            gate: &self.gates.ocr,
            timeout: self.timeout,
        };
        tesseract::read_books(&run, books, scratch, &keep, &mut tidied);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_words_into_lines() {
        let tsv = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n\
                   5\t1\t1\t1\t1\t1\t0\t0\t10\t10\t90\tTHE\n\
                   5\t1\t1\t1\t1\t2\t0\t0\t10\t10\t70\tHOBBIT\n\
                   4\t1\t2\t1\t1\t0\t0\t0\t10\t10\t-1\t\n\
                   5\t1\t2\t1\t1\t1\t0\t0\t10\t10\t50\tTolkien\n";
        let l = lines_from_tsv(tsv);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].text, "THE HOBBIT");
        assert!((l[0].confidence - 0.8).abs() < 1e-9);
        assert_eq!(l[1].text, "Tolkien");
    }

    #[test]
    fn readings_are_tidied_and_noise_refused() {
        assert_eq!(tidy("| Gulliver\u{2019}s Travels —"), "Gulliver's Travels");
        let l = |t: &str, c| Line {
            text: t.into(),
            confidence: c,
        };
        assert!(legible(&l("Dune", 0.9)));
        assert!(!legible(&l("Dune", 0.3)), "unsure");
        assert!(!legible(&l("|/-~;", 0.9)), "marks, not words");
        assert!(!legible(&l("a", 0.9)));
    }
}
