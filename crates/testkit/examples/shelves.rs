//! Writes varied shelf pictures and their titles, to look at or to read
//! with other tools: `cargo run -p bookstrack-testkit --example shelves -- DIR FIRST_SEED COUNT`

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).map_or("shelves", String::as_str));
    let first: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let count: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
    std::fs::create_dir_all(&dir).expect("creates the folder");
    for seed in first..first + count {
        let s = bookstrack_testkit::shelf::varied(seed);
        let ext = if s.encoded.starts_with(&[0xff, 0xd8]) {
            "jpg"
        } else {
            "png"
        };
        std::fs::write(dir.join(format!("{seed}.{ext}")), &s.encoded).expect("writes");
        std::fs::write(dir.join(format!("{seed}.txt")), s.titles.join("\n")).expect("writes");
        if std::env::var_os("PREVIEW").is_some() {
            let w = s.image.width().min(1200);
            let h = s.image.height() * w / s.image.width();
            s.image
                .thumbnail(w, h)
                .save(dir.join(format!("{seed}-preview.png")))
                .expect("writes");
        }
        println!(
            "{seed}.{ext} {}x{} {} books",
            s.image.width(),
            s.image.height(),
            s.titles.len()
        );
    }
}
