//! The binary's allocator.
//!
//! Every WebSocket handshake briefly holds kilobytes of HTTP buffers, while
//! what a socket keeps afterwards is a few hundred bytes. Under glibc's
//! malloc the two interleave and the freed buffers stay resident as holes
//! between long-lived sockets: an idle socket cost about twice its live
//! heap (`bookstrack-bench idle`, BENCHMARKS.md). mimalloc keeps each size
//! class on pages of its own and hands pages that empty back to the kernel,
//! and spends less CPU per event in `bench live`.
//!
//! The workspace denies `unsafe_code`; this file is the one exception: the
//! options are set through mimalloc's C setters before `main`.
#![allow(unsafe_code)]

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long an emptied page stays resident before it is handed back.
/// mimalloc purges only when a thread next allocates or frees, so with its
/// default of a second, pages freed by a burst of handshakes stay resident
/// for as long as the sockets that followed it are idle.
#[cfg(all(feature = "mimalloc", target_os = "linux"))]
const PURGE_DELAY_MS: std::ffi::c_long = 10;

/// `mi_option_purge_delay` in mimalloc 3's option list, which the sys
/// crate does not name.
#[cfg(all(feature = "mimalloc", target_os = "linux"))]
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// `mi_option_arena_eager_commit`, likewise. Off, arena memory is committed
/// as it is used and decommitted when purged: a 100,000-row import peaks at
/// 34–36 MiB instead of 64–68 (the pipeline thread allocates each book's
/// JSON and the SQLite writer frees it), at a cost in its time within this
/// machine's noise (BENCHMARKS.md).
#[cfg(all(feature = "mimalloc", target_os = "linux"))]
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Sets the options while the process loads, before anything allocates or
/// any thread exists: mimalloc reserves its first arena at the first
/// allocation, which comes before `main`, and decides eager commit for an
/// arena when it makes it. Elsewhere than Linux mimalloc keeps its defaults.
#[cfg(all(feature = "mimalloc", target_os = "linux"))]
#[used]
#[link_section = ".init_array"]
static CONFIGURE_AT_LOAD: extern "C" fn() = {
    extern "C" fn at_load() {
        // SAFETY: plain option stores, made before any other thread exists.
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
            libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        }
    }
    at_load
};
