//! Giving the allocator's free memory back to the system after a burst:
//! idle reactors call [`release_free_memory`] when connections have let go
//! of megabytes ([`super::guard::Guard::trim_due`]). The `malloc_trim` call
//! itself lives in `dpdk-env` (where the project's `unsafe` is allowed); see
//! `dpdk_env::heap` for why and the measurement that chose it.
//! [`proc_kib`] reads the kernel's memory figures.

/// Returns the allocator's free pages to the system (glibc `malloc_trim(0)`).
pub fn release_free_memory() {
    dpdk_env::heap::release_free_memory();
}

/// The `field` of a `/proc` file in the kernel's "Name:   N kB" layout
/// (`/proc/self/status`'s `VmRSS`, `/proc/meminfo`'s `MemTotal`), in KiB.
pub fn proc_kib(path: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_kib_reads_the_kernels_figures() {
        let total = proc_kib("/proc/meminfo", "MemTotal").expect("MemTotal");
        let rss = proc_kib("/proc/self/status", "VmRSS").expect("VmRSS");
        assert!(rss > 0 && rss < total, "rss {rss} KiB, total {total} KiB");
        // A prefix of a field's name is not the field.
        assert_eq!(proc_kib("/proc/meminfo", "Mem"), None);
        assert_eq!(proc_kib("/nonexistent", "MemTotal"), None);
    }
}
