//! Giving the allocator's free memory back to the system after a burst.
//!
//! glibc keeps freed chunks below its mmap threshold in each thread's arena;
//! after an attack of many half-sent frames (each connection's receive
//! buffer is a few hundred KiB) the reactor's arena stays large and
//! fragmented, and RSS does not come down when the connections are gone.
//! `malloc_trim(0)` returns every whole free page of every arena
//! (`MADV_DONTNEED`). Measured on the attack suite (tests/attacks.rs,
//! 128 pre-auth connections a second, 64 of them holding 100 KiB each):
//! RSS 11.8 MB idle → 18.2 MB after the attack without it, 12.4 MB with it.
//!
//! The one FFI call of the crate outside `dpdk-env`; it takes and returns
//! plain integers and touches no Rust-owned memory.

/// Returns free heap pages to the system (glibc `malloc_trim(0)`); a no-op
/// elsewhere. Costs a walk of the arenas: call it from an idle reactor, and
/// rarely ([`super::guard::Guard::trim_due`]).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_free_memory() {
    // SAFETY: malloc_trim takes a size and only works on the allocator's own
    // bookkeeping under its arena locks; it is safe to call from any thread
    // at any time and invalidates no live allocation.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Returns free heap pages to the system (glibc only); a no-op here.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() {}
