//! Logging for the binaries, `bookstrack` and `bookstrack-bench` (which
//! includes this file by path, as it does `alloc.rs`).

/// `BOOKSTRACK_LOG` filters (default `warn`); tungstenite's client handshake
/// is always off, because it traces its request line, token included.
pub fn init_tracing() {
    // tungstenite's client handshake traces its request line, token included.
    let filter = tracing_subscriber::EnvFilter::try_from_env("BOOKSTRACK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"))
        .add_directive(
            "tungstenite::handshake::client=off"
                .parse()
                .expect("valid directive"),
        );
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
