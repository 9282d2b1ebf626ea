//! The binary's allocator.
//!
//! Every WebSocket handshake briefly holds kilobytes of HTTP buffers, while
//! what a socket keeps afterwards is a few hundred bytes. Under glibc's
//! malloc the two interleave and the freed buffers stay resident as holes
//! between long-lived sockets: an idle socket cost about twice its live
//! heap (`bookstrack bench idle`, BENCHMARKS.md). mimalloc keeps each size
//! class on pages of its own and hands pages that empty back to the kernel,
//! and spends less CPU per event in `bench live`.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long an emptied page stays resident before it is handed back.
/// mimalloc purges only when a thread next allocates or frees, so with its
/// default of a second, pages freed by a burst of handshakes stay resident
/// for as long as the sockets that followed it are idle.
#[cfg(feature = "mimalloc")]
pub const PURGE_DELAY_MS: std::ffi::c_long = 10;

/// `mi_option_purge_delay` in mimalloc 3's option list, which the sys
/// crate does not name.
#[cfg(feature = "mimalloc")]
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Sets the allocator's options; call before any other thread starts.
pub fn configure() {
    #[cfg(feature = "mimalloc")]
    // SAFETY: plain option store; no other thread exists yet to race it.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS)
    };
}

#[cfg(all(test, feature = "mimalloc"))]
mod tests {
    use super::*;

    /// The sys crate does not name the option, so its index is ours to get
    /// right: mimalloc 3 gives purge delay, and only it, a default of
    /// 1000 ms.
    #[test]
    fn the_option_set_is_the_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads an option; tests set none.
        let default = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(default, 1000);
    }
}
