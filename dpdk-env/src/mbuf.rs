//! Mempools and refcounted mbufs.

use crate::eal::Eal;
use crate::error::{rte_errno, strerror, Error, Result};
use dpdk_sys as sys;
use std::ffi::CString;
use std::ptr::NonNull;

/// A packet mbuf pool (`rte_pktmbuf_pool_create`).
///
/// Pools live until the process exits: DPDK ports and in-flight mbufs keep raw pointers
/// into them, so freeing one safely would need every mbuf back first. A `Mempool` is
/// therefore a cheap `Copy` handle.
#[derive(Debug, Clone, Copy)]
pub struct Mempool {
    raw: NonNull<sys::rte_mempool>,
    data_room: u16,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer safe (default ring ops);
// threads without an lcore id bypass the per-lcore cache.
unsafe impl Send for Mempool {}
// SAFETY: as above; every method takes &self and is thread safe in DPDK.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Default data room per mbuf: 2048 bytes plus the 128-byte headroom.
    pub const DEFAULT_DATA_ROOM: u16 = sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16;

    /// Bytes kept free before the data of every mbuf (`RTE_PKTMBUF_HEADROOM`),
    /// part of its data room.
    pub const HEADROOM: u16 = sys::RTE_PKTMBUF_HEADROOM as u16;

    /// Creates a pool of `n` mbufs with a per-lcore cache of `cache` and
    /// [`Self::DEFAULT_DATA_ROOM`], on any NUMA socket.
    pub fn new(eal: &Eal, name: &str, n: u32, cache: u32) -> Result<Mempool> {
        Self::with_data_room(eal, name, n, cache, Self::DEFAULT_DATA_ROOM)
    }

    /// As [`Mempool::new`] with an explicit data room (headroom included).
    pub fn with_data_room(
        _eal: &Eal,
        name: &str,
        n: u32,
        cache: u32,
        data_room: u16,
    ) -> Result<Mempool> {
        let cname = CString::new(name).map_err(|_| Error::Alloc {
            what: "mempool",
            name: name.into(),
            errno: 22,
            reason: "name contains NUL".into(),
        })?;
        // SAFETY: EAL initialized (token); cname is a valid C string for the call.
        let p = unsafe {
            sys::rte_pktmbuf_pool_create(cname.as_ptr(), n, cache, 0, data_room, sys::SOCKET_ID_ANY)
        };
        match NonNull::new(p) {
            Some(raw) => Ok(Mempool { raw, data_room }),
            None => {
                let errno = rte_errno();
                Err(Error::Alloc {
                    what: "mempool",
                    name: name.into(),
                    errno,
                    reason: strerror(errno),
                })
            }
        }
    }

    /// Allocates one mbuf (empty, default headroom); `None` when the pool is empty.
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: self.raw is a live packet mempool (pools are never freed).
        NonNull::new(unsafe { sys::pm_rte_pktmbuf_alloc(self.raw.as_ptr()) }).map(Mbuf)
    }

    /// Allocates `n` mbufs appended to `out`, all or nothing.
    pub fn alloc_bulk(&self, out: &mut Vec<Mbuf>, n: usize) -> bool {
        out.reserve(n);
        let len = out.len();
        // SAFETY: `out` has room for n more elements; Mbuf is repr(transparent) over a
        // non-null `*mut rte_mbuf`, and on success DPDK writes n valid mbuf pointers.
        unsafe {
            let dst = out.as_mut_ptr().add(len) as *mut *mut sys::rte_mbuf;
            if sys::pm_rte_pktmbuf_alloc_bulk(self.raw.as_ptr(), dst, n as u32) == 0 {
                out.set_len(len + n);
                true
            } else {
                false
            }
        }
    }

    /// Mbufs currently free in the pool (approximate while other threads run).
    pub fn available(&self) -> u32 {
        // SAFETY: live mempool; read-only count.
        unsafe { sys::pm_rte_mempool_avail_count(self.raw.as_ptr()) }
    }

    /// Data room of each mbuf, headroom included.
    pub fn data_room(&self) -> u16 {
        self.data_room
    }

    /// The longest frame one mbuf holds: its data room after the headroom.
    pub fn frame_room(&self) -> usize {
        usize::from(self.data_room).saturating_sub(usize::from(Self::HEADROOM))
    }

    /// The raw pool, for DPDK calls not wrapped here.
    pub fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.raw.as_ptr()
    }
}

/// One owned reference to a packet mbuf; freed (refcount dropped) on drop.
///
/// `Clone` takes another reference to the *same* mbuf (no copy): this is how a received
/// packet is handed upward while the stack keeps its own reference. While an mbuf is
/// shared (`refcnt() > 1`) it is read-only: methods that change its data or its header
/// (`data_mut`, `append`, `adj`, ...) return `None`.
///
/// Only the first segment is exposed; ports here are configured without scatter so every
/// received packet is a single segment.
#[repr(transparent)]
#[derive(Debug)]
pub struct Mbuf(NonNull<sys::rte_mbuf>);

// SAFETY: an mbuf may be freed from any thread (mempool put is thread safe) and the
// refcount is updated atomically (RTE_MBUF_REFCNT_ATOMIC).
unsafe impl Send for Mbuf {}
// SAFETY: through &Mbuf only reads and atomic refcount increments happen.
unsafe impl Sync for Mbuf {}

impl Mbuf {
    /// Takes ownership of one reference to a raw mbuf.
    ///
    /// # Safety
    /// `raw` must be a valid mbuf whose reference the caller owns and gives up.
    pub unsafe fn from_raw(raw: NonNull<sys::rte_mbuf>) -> Mbuf {
        Mbuf(raw)
    }

    /// Gives up ownership without freeing (e.g. to pass to a DPDK call that frees).
    pub fn into_raw(self) -> NonNull<sys::rte_mbuf> {
        let p = self.0;
        std::mem::forget(self);
        p
    }

    /// The raw pointer, still owned by `self`.
    pub fn as_ptr(&self) -> *mut sys::rte_mbuf {
        self.0.as_ptr()
    }

    /// Bytes of the first segment.
    pub fn data(&self) -> &[u8] {
        // SAFETY: the mbuf is valid while self lives; mtod points at data_len
        // initialized bytes of the first segment, not written while shared.
        unsafe {
            let len = sys::pm_rte_pktmbuf_data_len(self.0.as_ptr()) as usize;
            let p = sys::pm_rte_pktmbuf_mtod(self.0.as_ptr()) as *const u8;
            if len == 0 {
                return &[];
            }
            std::slice::from_raw_parts(p, len)
        }
    }

    /// Mutable bytes of the first segment; `None` while shared.
    pub fn data_mut(&mut self) -> Option<&mut [u8]> {
        if !self.is_exclusive() {
            return None;
        }
        // SAFETY: sole reference (refcnt 1, &mut self); data_len bytes are initialized.
        unsafe {
            let len = sys::pm_rte_pktmbuf_data_len(self.0.as_ptr()) as usize;
            let p = sys::pm_rte_pktmbuf_mtod(self.0.as_ptr()) as *mut u8;
            if len == 0 {
                return Some(&mut []);
            }
            Some(std::slice::from_raw_parts_mut(p, len))
        }
    }

    /// Length of the first segment.
    pub fn len(&self) -> usize {
        // SAFETY: valid mbuf; reads a header field.
        unsafe { sys::pm_rte_pktmbuf_data_len(self.0.as_ptr()) as usize }
    }

    /// Whether the first segment is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total packet length over all segments.
    pub fn pkt_len(&self) -> usize {
        // SAFETY: valid mbuf; reads a header field.
        unsafe { sys::pm_rte_pktmbuf_pkt_len(self.0.as_ptr()) as usize }
    }

    /// Number of segments.
    pub fn nb_segs(&self) -> u16 {
        // SAFETY: valid mbuf; reads a header field.
        unsafe { sys::pm_rte_mbuf_nb_segs(self.0.as_ptr()) }
    }

    /// Current reference count.
    pub fn refcnt(&self) -> u16 {
        // SAFETY: valid mbuf; atomic read.
        unsafe { sys::pm_rte_mbuf_refcnt_read(self.0.as_ptr()) }
    }

    /// Whether this is the only reference.
    pub fn is_exclusive(&self) -> bool {
        self.refcnt() == 1
    }

    /// Free bytes before the data.
    pub fn headroom(&self) -> usize {
        // SAFETY: valid mbuf; reads header fields.
        unsafe { sys::pm_rte_pktmbuf_headroom(self.0.as_ptr()) as usize }
    }

    /// Free bytes after the data of the last segment.
    pub fn tailroom(&self) -> usize {
        // SAFETY: valid mbuf; reads header fields.
        unsafe { sys::pm_rte_pktmbuf_tailroom(self.0.as_ptr()) as usize }
    }

    /// Grows the data by `n` bytes at the end and returns them (uninitialized contents
    /// are whatever the buffer held before: zero them if that matters). `None` when
    /// shared or without tailroom.
    pub fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        if !self.is_exclusive() || n > u16::MAX as usize {
            return None;
        }
        // SAFETY: sole reference; rte_pktmbuf_append checks tailroom and returns NULL
        // or a pointer to n bytes inside the mbuf's buffer.
        unsafe {
            let p = sys::pm_rte_pktmbuf_append(self.0.as_ptr(), n as u16) as *mut u8;
            if p.is_null() {
                return None;
            }
            Some(std::slice::from_raw_parts_mut(p, n))
        }
    }

    /// Grows the data by `n` bytes at the front and returns them. `None` when shared or
    /// without headroom.
    pub fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        if !self.is_exclusive() || n > u16::MAX as usize {
            return None;
        }
        // SAFETY: sole reference; rte_pktmbuf_prepend checks headroom.
        unsafe {
            let p = sys::pm_rte_pktmbuf_prepend(self.0.as_ptr(), n as u16) as *mut u8;
            if p.is_null() {
                return None;
            }
            Some(std::slice::from_raw_parts_mut(p, n))
        }
    }

    /// Removes `n` bytes from the front (e.g. a header). `false` when shared or too short.
    pub fn adj(&mut self, n: usize) -> bool {
        if !self.is_exclusive() || n > self.len() {
            return false;
        }
        // SAFETY: sole reference; length checked.
        unsafe { !sys::pm_rte_pktmbuf_adj(self.0.as_ptr(), n as u16).is_null() }
    }

    /// Removes `n` bytes from the end. `false` when shared or too short.
    pub fn trim(&mut self, n: usize) -> bool {
        if !self.is_exclusive() || n > self.len() {
            return false;
        }
        // SAFETY: sole reference; length checked.
        unsafe { sys::pm_rte_pktmbuf_trim(self.0.as_ptr(), n as u16) == 0 }
    }

    /// Offload flags (`RTE_MBUF_F_*`).
    pub fn ol_flags(&self) -> u64 {
        // SAFETY: valid mbuf; reads a header field.
        unsafe { sys::pm_rte_mbuf_ol_flags(self.0.as_ptr()) }
    }

    /// RSS hash computed by the port, if it set one.
    pub fn rss_hash(&self) -> Option<u32> {
        if self.ol_flags() & sys::RTE_MBUF_F_RX_RSS_HASH as u64 == 0 {
            return None;
        }
        // SAFETY: valid mbuf; the flag says hash.rss is set.
        Some(unsafe { sys::pm_rte_mbuf_rss_hash(self.0.as_ptr()) })
    }

    /// Input port of a received mbuf.
    pub fn port(&self) -> u16 {
        // SAFETY: valid mbuf; reads a header field.
        unsafe { sys::pm_rte_mbuf_port(self.0.as_ptr()) }
    }

    /// Requests transmit offloads: adds `ol_flags` and sets `l2_len`/`l3_len`.
    /// `false` when shared.
    pub fn set_tx_offload(&mut self, ol_flags: u64, l2_len: u16, l3_len: u16) -> bool {
        if !self.is_exclusive() {
            return false;
        }
        // SAFETY: sole reference; writes header fields only.
        unsafe { sys::pm_rte_mbuf_set_tx_offload(self.0.as_ptr(), ol_flags, l2_len, l3_len) };
        true
    }
}

impl Clone for Mbuf {
    fn clone(&self) -> Self {
        // SAFETY: we hold a reference, so the mbuf is live; the atomic increment gives the
        // clone its own reference.
        unsafe { sys::pm_rte_mbuf_refcnt_update(self.0.as_ptr(), 1) };
        Mbuf(self.0)
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own one reference; rte_pktmbuf_free drops it and returns the mbuf
        // (all segments) to its pool when it was the last.
        unsafe { sys::pm_rte_pktmbuf_free(self.0.as_ptr()) }
    }
}

impl AsRef<[u8]> for Mbuf {
    fn as_ref(&self) -> &[u8] {
        self.data()
    }
}
