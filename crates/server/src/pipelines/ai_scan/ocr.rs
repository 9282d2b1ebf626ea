//! The offline provider: Tesseract on the photo and its 90°/270° rotations
//! (so vertical spines read), its words grouped into lines.

use super::matcher::Line;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Ocr {
    /// The `tesseract` executable.
    pub binary: PathBuf,
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

impl Ocr {
    fn run(&self, image: &Path) -> Result<Vec<Line>, String> {
        let out = Command::new(&self.binary)
            .arg(image)
            .arg("stdout")
            // Sparse text (spines are scattered), and a tiled adaptive
            // threshold: one global threshold loses the spines whose colour
            // is on the wrong side of it (measured: 2 of 8 titles read).
            .args([
                "--psm",
                "11",
                "-l",
                "eng",
                "-c",
                "thresholding_method=1",
                "tsv",
            ])
            .output()
            .map_err(|e| {
                format!(
                    "cannot run {}: {e} (install tesseract-ocr)",
                    self.binary.display()
                )
            })?;
        if !out.status.success() {
            return Err(format!(
                "tesseract failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(lines_from_tsv(&String::from_utf8_lossy(&out.stdout)))
    }

    /// Every line read in the photo: in grey and inverted (Tesseract reads
    /// dark on light, spines are both), each upright and turned both ways
    /// (so vertical spines read). A line read twice is kept once.
    pub fn read(&self, photo: &Path, scratch: &Path) -> Result<Vec<Line>, String> {
        let img = image::open(photo).map_err(|e| format!("the photo cannot be decoded: {e}"))?;
        let gray = img.to_luma8();
        let mut inverted = gray.clone();
        image::imageops::invert(&mut inverted);
        let mut all: Vec<Line> = Vec::new();
        for (polarity, g) in [("grey", gray), ("inverted", inverted)] {
            let g = image::DynamicImage::ImageLuma8(g);
            for (turn, turned) in [
                ("0", g.clone()),
                ("90", g.rotate90()),
                ("270", g.rotate270()),
            ] {
                let path = scratch.join(format!("{polarity}-{turn}.png"));
                turned.save(&path).map_err(|e| e.to_string())?;
                let lines = self.run(&path);
                let _ = std::fs::remove_file(&path);
                for l in lines? {
                    let key = l.text.to_lowercase();
                    match all.iter_mut().find(|x| x.text.to_lowercase() == key) {
                        Some(x) => x.confidence = x.confidence.max(l.confidence),
                        None => all.push(l),
                    }
                }
            }
        }
        Ok(all)
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
}
