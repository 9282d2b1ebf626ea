//! `bookstrack-bench live` end to end, small: the server, the load-generator
//! processes and the report, and nchan beside it when it is installed; and
//! the other load scenarios (`published`, `encodings`) as small.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The `bookstrack` binary the bench runs as its server. Cargo builds only
/// this package's binary for its tests, so this builds the server's, in the
/// same profile and target directory as the bench beside it, unless
/// `BOOKSTRACK_SERVER_BIN` names one: `scripts/test` passes the one that
/// `cargo test --workspace` has just built for the cli's own tests (a
/// nested `cargo build -p bookstrack` resolves other features than the
/// workspace's test build and recompiles most dependencies: 2 minutes in CI).
fn server_bin() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("BOOKSTRACK_SERVER_BIN") {
            let bin = PathBuf::from(bin);
            assert!(
                bin.is_file(),
                "BOOKSTRACK_SERVER_BIN {} is no file",
                bin.display()
            );
            return bin;
        }
        let bench = PathBuf::from(env!("CARGO_BIN_EXE_bookstrack-bench"));
        let profile_dir = bench.parent().unwrap();
        let mut build = Command::new(env!("CARGO"));
        build.args([
            "build",
            "--quiet",
            "-p",
            "bookstrack",
            "--bin",
            "bookstrack",
        ]);
        build.env("CARGO_TARGET_DIR", profile_dir.parent().unwrap());
        if profile_dir.file_name().unwrap() == "release" {
            build.arg("--release");
        }
        assert!(build.status().unwrap().success(), "bookstrack builds");
        profile_dir.join(format!("bookstrack{}", std::env::consts::EXE_SUFFIX))
    })
}

/// The rows of one target in the report: (jobs, delivered/s, lost).
fn rows(out: &str, target: &str) -> Vec<(u64, f64, u64)> {
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 10 && f[1] == target).then(|| {
                (
                    f[2].parse().unwrap(),
                    f[3].parse().unwrap(),
                    f[7].parse().unwrap(),
                )
            })
        })
        .collect()
}

fn live(extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_bookstrack-bench"))
        .args(["live", "--jobs", "20", "--nchan-jobs", "10"])
        .args(["--runs", "1", "--workers", "1", "--seconds", "2"])
        .args(extra)
        .arg("--server-bin")
        .arg(server_bin())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Delivered at about the offered 20 events/s per job, nothing lost.
fn assert_delivered(row: (u64, f64, u64)) {
    let (jobs, delivered, lost) = row;
    let offered = jobs as f64 * 20.0;
    assert!(
        delivered > offered * 0.5 && delivered < offered * 1.5,
        "{delivered}/s for {jobs} jobs"
    );
    assert_eq!(lost, 0);
}

#[test]
fn live_reports_what_the_viewers_received_from_ours_and_the_floor() {
    let out = live(&["--no-nchan", "--floor"]);
    for target in ["bookstrack", "floor"] {
        let r = rows(&out, target);
        assert_eq!(r.len(), 1, "{out}");
        assert_eq!(r[0].0, 20);
        assert_delivered(r[0]);
    }
    assert!(out.contains("median at 20 jobs: "), "{out}");
    assert!(
        out.contains("median at 20 jobs, floor (a sender that only writes)"),
        "{out}"
    );
}

#[test]
fn live_together_measures_both_targets_over_one_window() {
    if Command::new("nginx").arg("-v").output().is_err() {
        eprintln!("nginx not installed: nothing to run beside");
        return;
    }
    let out = live(&["--together"]);
    if out.contains("nchan not installed") {
        return;
    }
    let (ours, theirs) = (rows(&out, "bookstrack"), rows(&out, "nchan"));
    assert_eq!(ours.len(), 2, "{out}");
    assert_eq!(theirs.len(), 1, "{out}");
    assert_eq!((ours[1].0, theirs[0].0), (10, 10));
    for r in [ours[0], ours[1], theirs[0]] {
        assert_delivered(r);
    }
    assert!(out.contains("both targets run at once"), "{out}");
    assert!(out.contains("median of the runs' ratios"), "{out}");
}

/// `published`: external jobs over the publisher API beside internal ones.
#[test]
fn published_reports_external_jobs_beside_internal_ones() {
    let out = Command::new(env!("CARGO_BIN_EXE_bookstrack-bench"))
        .args(["published", "--jobs", "20", "--rate", "20", "--no-nchan"])
        .args(["--runs", "1", "--workers", "1", "--seconds", "2"])
        .arg("--server-bin")
        .arg(server_bin())
        .output()
        .unwrap();
    let out =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    for target in ["internal", "external"] {
        let r = rows(&out, target);
        assert_eq!(r.len(), 1, "{out}");
        assert_eq!(r[0].0, 20);
        assert_delivered(r[0]);
    }
    assert!(
        out.contains("external / internal, median of the runs' ratios"),
        "{out}"
    );
}

/// `encodings`: every encoding measured under every load, each checked
/// against plain JSON's events, and smaller on the wire than it.
#[test]
fn encodings_reports_bytes_and_cpu_of_every_encoding() {
    let out = Command::new(env!("CARGO_BIN_EXE_bookstrack-bench"))
        .args(["encodings", "--rows", "200", "--viewers", "1,3"])
        .args(["--synthetic", "2x3", "--steps", "20", "--interval-ms", "10"])
        .args(["--rounds", "1"])
        .arg("--server-bin")
        .arg(server_bin())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // round, load, jobs, viewers, encoding, events, delivered, bytes, …
    let runs: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() == 12 && f[0] == "1")
        .collect();
    assert_eq!(runs.len(), 12, "{stdout}");
    for (load, jobs, viewers, events) in [
        ("import", 1, 1, 102),
        ("import", 1, 3, 102),
        ("synthetic", 2, 3, 44),
    ] {
        let of = |enc: &str| {
            runs.iter()
                .find(|f| f[1] == load && f[3] == viewers.to_string() && f[4] == enc)
                .unwrap_or_else(|| panic!("no {load} {viewers} {enc} row: {stdout}"))
        };
        let json_bytes: u64 = of("json")[7].parse().unwrap();
        for enc in ["json", "deflate", "msgpack", "msgpack+deflate"] {
            let f = of(enc);
            assert_eq!(f[2], jobs.to_string());
            assert_eq!(f[5], events.to_string(), "{enc}: {stdout}");
            let delivered: u64 = f[6].parse().unwrap();
            assert_eq!(delivered, events * viewers);
            let bytes: u64 = f[7].parse().unwrap();
            if enc != "json" {
                assert!(bytes < json_bytes, "{enc}: {bytes} of {json_bytes} bytes");
            }
        }
    }
    assert!(stdout.contains("medians of 1 rounds"), "{stdout}");
    assert!(stdout.contains("extra over json: deflate"), "{stdout}");
}
