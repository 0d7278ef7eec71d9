//! Socket buffers for smoltcp that cost no memory while their socket idles.
//!
//! An established smoltcp socket owns a receive and a transmit ring of fixed
//! capacity (256 KiB each by default, 4 MiB on memif links). Allocated one by
//! one (`vec![0; n]`), each ring is a glibc mmap chunk whose allocator header
//! sits on its first page, and the few bytes an idle session exchanges
//! (banner, handshake, keepalives) land on that same page, because smoltcp
//! restarts an empty ring at offset 0: two resident pages per session that
//! nothing could give back (80 MB of a server's 188 MB with 10,000 idle memif
//! sessions, measured from `/proc/PID/smaps`).
//!
//! Here rings are cut from large slabs at page boundaries, so no ring shares
//! a page with anything else; the transport gives a ring's pages back
//! ([`discard`]) when its socket has been idle a while
//! (`SmolConfig::discard_idle_after`, through smoltcp's
//! `idle_buffers_mut`, our vendored patch) and when a socket is retired.
//! Retired rings return to a process-wide pool ([`give_back`]) and serve the
//! next socket of any transport, so memory follows the peak number of
//! sockets, and a discarded ring costs address space only.
//!
//! Slabs are leaked on purpose (a `&'static mut` borrow is what smoltcp's
//! `SocketSet<'static>` takes without `unsafe`); the pool keeps every ring
//! reachable, so nothing is lost, and their resident pages are given back.

use std::sync::Mutex;

use smoltcp::socket::tcp::{self, SocketBuffer};

/// Slabs at least this large: above glibc's largest dynamic mmap threshold
/// (32 MiB), so a slab is always a fresh, untouched mapping (calloc does not
/// write it) and never comes from a reused heap chunk.
const SLAB_MIN: usize = 64 << 20;

/// Free rings by capacity (few distinct sizes: one per configuration).
static POOL: Mutex<Vec<(usize, Vec<SocketBuffer<'static>>)>> = Mutex::new(Vec::new());

fn with_pool<R>(f: impl FnOnce(&mut Vec<(usize, Vec<SocketBuffer<'static>>)>) -> R) -> R {
    // A panic elsewhere while holding the lock leaves the pool consistent
    // (a Vec push or pop): go on with it.
    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut pool)
}

/// A ring of `len` bytes (non-zero) from the pool, or from a new slab.
pub fn take(len: usize) -> SocketBuffer<'static> {
    let reused = with_pool(|pool| {
        pool.iter_mut()
            .find(|(cap, _)| *cap == len)
            .and_then(|(_, free)| free.pop())
    });
    if let Some(ring) = reused {
        return ring;
    }
    let mut rings = slab(len);
    let first = rings
        .pop()
        .unwrap_or_else(|| SocketBuffer::new(vec![0; len]));
    with_pool(|pool| match pool.iter_mut().find(|(cap, _)| *cap == len) {
        Some((_, free)) => free.append(&mut rings),
        None => pool.push((len, rings)),
    });
    first
}

/// Returns a ring to the pool, its pages given back first.
pub fn give_back(mut ring: SocketBuffer<'static>) {
    ring.clear();
    let cap = ring.capacity();
    discard(ring.get_unallocated(0, cap));
    with_pool(|pool| match pool.iter_mut().find(|(c, _)| *c == cap) {
        Some((_, free)) => free.push(ring),
        None => pool.push((cap, vec![ring])),
    });
}

/// Gives the whole pages of `buf` back to the system; the bytes given back.
pub fn discard(buf: &mut [u8]) -> usize {
    dpdk_env::heap::discard_pages(buf)
}

/// Gives back the pages of both of `sock`'s buffers if it holds no data (or
/// is closed): the bytes given back, `None` if it holds data.
pub fn discard_idle(sock: &mut tcp::Socket<'static>) -> Option<usize> {
    sock.idle_buffers_mut()
        .map(|(rx, tx)| discard(rx) + discard(tx))
}

/// Rings of `len` bytes in the pool now.
pub fn pooled(len: usize) -> usize {
    with_pool(|pool| {
        pool.iter()
            .find(|(cap, _)| *cap == len)
            .map_or(0, |(_, free)| free.len())
    })
}

/// A new slab cut into page-aligned rings of `len` bytes, each starting on
/// its own page.
fn slab(len: usize) -> Vec<SocketBuffer<'static>> {
    let page = dpdk_env::heap::page_size();
    let stride = len.next_multiple_of(page);
    let count = (SLAB_MIN / stride).max(1);
    let mem: &'static mut [u8] = Box::leak(vec![0u8; count * stride + page].into_boxed_slice());
    let pad = mem.as_ptr().align_offset(page).min(page);
    let mut rest = &mut mem[pad..];
    let mut rings = Vec::with_capacity(count);
    for _ in 0..count {
        let (ring, tail) = rest.split_at_mut(stride);
        rings.push(SocketBuffer::new(&mut ring[..len]));
        rest = tail;
    }
    rings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resident_kib() -> u64 {
        crate::net::heap::proc_kib("/proc/self/status", "VmRSS").unwrap_or(0)
    }

    #[test]
    fn rings_start_on_their_own_page_and_come_back_from_the_pool() {
        // A size no other test uses, so the pool's counts are ours.
        let len = 3 * 4096 + 100;
        let mut a = take(len);
        let mut b = take(len);
        let cap = a.capacity();
        assert_eq!(cap, len);
        let page = dpdk_env::heap::page_size();
        let pa = a.get_unallocated(0, cap).as_ptr() as usize;
        let pb = b.get_unallocated(0, cap).as_ptr() as usize;
        assert_eq!(pa % page, 0, "ring not page aligned");
        assert_eq!(pb % page, 0, "ring not page aligned");
        assert!(
            pa.abs_diff(pb) >= len.next_multiple_of(page),
            "rings overlap"
        );
        assert_eq!(a.enqueue_slice(b"hello"), 5);
        give_back(a);
        // The ring comes back empty, and from the pool (same memory).
        let mut c = take(len);
        assert!(c.is_empty());
        assert_eq!(c.get_unallocated(0, cap).as_ptr() as usize, pa);
        give_back(b);
        give_back(c);
    }

    #[test]
    fn discarded_pages_leave_the_resident_set() {
        let len = 8 << 20;
        let mut ring = take(len);
        let cap = ring.capacity();
        let before = resident_kib();
        ring.get_unallocated(0, cap).fill(0x5a);
        let touched = resident_kib();
        assert!(
            touched >= before + 7 * 1024,
            "filling 8 MiB added only {} KiB",
            touched - before
        );
        assert_eq!(discard(ring.get_unallocated(0, cap)), len);
        let after = resident_kib();
        assert!(
            after + 7 * 1024 <= touched,
            "discarding 8 MiB gave back only {} KiB",
            touched.saturating_sub(after)
        );
        // Discarded heap pages read back as zero.
        assert!(ring.get_unallocated(0, cap).iter().all(|&b| b == 0));
        give_back(ring);
    }
}
