//! The allocator options of `alloc.rs` are in force from the start: the sys
//! crate does not name them, so this checks their indexes by the names
//! mimalloc itself prints when asked to be verbose.

#[cfg(all(feature = "mimalloc", target_os = "linux"))]
#[test]
fn mimalloc_runs_with_the_options_alloc_rs_sets() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bookstrack"))
        .arg("--version")
        .env("MIMALLOC_VERBOSE", "1")
        .output()
        .expect("runs");
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stderr);
    // `PURGE_DELAY_MS` and eager commit off.
    for line in [
        "option 'purge_delay': 10 ",
        "option 'arena_eager_commit': 0 ",
    ] {
        assert!(
            printed.lines().any(|l| l.starts_with(line)),
            "{line:?} not among mimalloc's options:\n{printed}"
        );
    }
}
