//! Giving the allocator's free memory back to the system after a burst.
//!
//! glibc keeps freed chunks below its mmap threshold in each thread's arena;
//! after an attack of many half-sent frames (each connection's receive
//! buffer a few hundred KiB) a reactor's arena stays large and fragmented,
//! and RSS does not come down when the connections are gone.
//! `malloc_trim(0)` returns every whole free page of every arena
//! (`MADV_DONTNEED`). pollmsgr's idle reactors call it rarely
//! (`pollmsgr::net::guard::Guard::trim_due`). Measured with pollmsgr's attack
//! suite (128 pre-auth connections a second, 64 of them holding 100 KiB):
//! RSS 11.8 MB idle, 18.2 MB after the attack without it, 12.2-12.4 MB with it.

/// Returns free heap pages to the system (glibc `malloc_trim(0)`); a no-op
/// with other C libraries. Walks every arena under its lock: call it from an
/// idle thread, and rarely.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_free_memory() {
    // SAFETY: malloc_trim takes a size and works only on the allocator's own
    // bookkeeping under its arena locks; any thread may call it at any time,
    // and no live allocation is moved or freed.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Returns free heap pages to the system (glibc only); a no-op here.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() {}

/// Gives the whole pages inside `buf` back to the system
/// (`madvise(MADV_DONTNEED)`) and returns how many bytes that was. Their
/// contents afterwards are unspecified (zero for heap memory): call it only
/// on a buffer whose bytes are dead, such as the empty ring of an idle socket
/// (see `pollmsgr::net::smol_rings`). A page touched again costs a page
/// fault and is zero-filled by the kernel. Bytes of `buf` that share a page
/// with memory outside it are left alone.
#[cfg(target_os = "linux")]
pub fn discard_pages(buf: &mut [u8]) -> usize {
    let page = page_size();
    let start = buf.as_mut_ptr() as usize;
    let first = start.next_multiple_of(page);
    let end = (start + buf.len()) / page * page;
    if end <= first {
        return 0;
    }
    let len = end - first;
    // SAFETY: [first, end) lies inside `buf`, which we borrow exclusively, so
    // no other reference observes the change; for private anonymous memory
    // (the heap) DONTNEED replaces the pages with zero pages on next touch,
    // for file or shared mappings with the backing contents: either way it
    // acts as a write of some byte values into memory we may write, and any
    // byte value is a valid u8. The call unmaps nothing.
    let rc = unsafe { libc::madvise(first as *mut libc::c_void, len, libc::MADV_DONTNEED) };
    if rc == 0 {
        len
    } else {
        0
    }
}

/// Gives pages back to the system (Linux only); a no-op here.
#[cfg(not(target_os = "linux"))]
pub fn discard_pages(_buf: &mut [u8]) -> usize {
    0
}

/// The system's page size (4 KiB when it cannot be read).
pub fn page_size() -> usize {
    use std::sync::OnceLock;
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf reads a constant of the system; no memory is passed.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(n)
            .ok()
            .filter(|&n| n.is_power_of_two())
            .unwrap_or(4096)
    })
}
