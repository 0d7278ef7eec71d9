//! Giving the allocator's free memory back to the system after a burst:
//! idle reactors call [`release_free_memory`] when connections have let go
//! of megabytes ([`super::guard::Guard::trim_due`]). The `malloc_trim` call
//! itself lives in `dpdk-env` (where the project's `unsafe` is allowed); see
//! `dpdk_env::heap` for why and the measurement that chose it.

/// Returns the allocator's free pages to the system (glibc `malloc_trim(0)`).
pub fn release_free_memory() {
    dpdk_env::heap::release_free_memory();
}
