//! The WebSocket upgrade checks (`bookstrack_server::fuzzing::handshake`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bookstrack_server::fuzzing::handshake(data);
});
