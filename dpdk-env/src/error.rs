//! Typed errors of the safe DPDK layer. Messages say what failed and what to do.

use std::ffi::CStr;

/// Everything that can go wrong setting up or using DPDK.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // field names say it all; the variants are documented
pub enum Error {
    /// `Eal::init` was called a second time in this process.
    #[error(
        "EAL already initialized in this process ({prefix}); the EAL initializes once per \
         process: run each DPDK scenario in its own process (cargo nextest, or one test \
         binary per scenario)"
    )]
    EalAlreadyInitialized { prefix: String },
    /// A previous `Eal::init` in this process failed; DPDK cannot retry.
    #[error("a previous EAL init in this process failed; DPDK cannot be initialized again")]
    EalPoisoned,
    /// Hugepages were required but none (or too few) are free.
    #[error(
        "EAL init failed: {free_mb} MiB of hugepages free, {wanted_mb} MiB wanted, and \
         --no-huge disabled (HugePages::Require); run ./hugepages.sh reserve"
    )]
    NoHugepages { free_mb: u64, wanted_mb: u64 },
    /// The configuration cannot be turned into EAL arguments.
    #[error("invalid EAL config: {0}")]
    Config(String),
    /// `rte_eal_init` returned an error.
    #[error("EAL init failed: {reason} (rte_errno {errno}); arguments were: {args}")]
    EalInit {
        args: String,
        errno: i32,
        reason: String,
    },
    /// No ethdev port has this name.
    #[error(
        "no DPDK port named {0:?}: check the --vdev argument, and that its PMD is in \
         /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0 (Debian package `dpdk`)"
    )]
    NoSuchPort(String),
    /// An ethdev call failed.
    #[error("port {port}: {op} failed: {reason} ({code})")]
    Port {
        port: u16,
        op: &'static str,
        code: i32,
        reason: String,
    },
    /// The port cannot do what the config asked.
    #[error("port {port}: {what}")]
    Unsupported { port: u16, what: String },
    /// A queue handle was requested twice.
    #[error("port {port}: {dir} queue {queue} is already owned by another handle")]
    QueueTaken {
        port: u16,
        queue: u16,
        dir: &'static str,
    },
    /// Creating a mempool or ring failed.
    #[error("cannot create {what} {name:?}: {reason} (rte_errno {errno}); with --no-huge, raise EalConfig::memory_mb")]
    Alloc {
        what: &'static str,
        name: String,
        errno: i32,
        reason: String,
    },
    /// `rte_thread_register` failed.
    #[error("cannot register this thread with the EAL: {reason} (rte_errno {errno})")]
    ThreadRegister { errno: i32, reason: String },
    /// Timed out waiting for something (link up, peer).
    #[error("timed out after {ms} ms waiting for {what}")]
    Timeout { what: String, ms: u64 },
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// DPDK's text for an errno value (also knows DPDK's own codes).
pub(crate) fn strerror(errno: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated
    // string, valid at least until the next call on this thread; we copy it at once.
    unsafe {
        let p = dpdk_sys::rte_strerror(errno);
        if p.is_null() {
            return format!("errno {errno}");
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// The current thread's `rte_errno`.
pub(crate) fn rte_errno() -> i32 {
    // SAFETY: reads a thread-local int; no preconditions.
    unsafe { dpdk_sys::pm_rte_errno() }
}

/// Maps a negative ethdev return code to `Error::Port`.
pub(crate) fn check_port(port: u16, op: &'static str, rc: i32) -> Result<i32> {
    if rc < 0 {
        Err(Error::Port {
            port,
            op,
            code: rc,
            reason: strerror(-rc),
        })
    } else {
        Ok(rc)
    }
}
