//! The WebSocket frame decoder (`bookstrack_server::fuzzing::ws_frames`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bookstrack_server::fuzzing::ws_frames(data);
});
