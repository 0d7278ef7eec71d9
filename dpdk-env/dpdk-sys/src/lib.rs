//! Raw bindings to the system DPDK 22.11 (Debian `libdpdk-dev`), generated at build time
//! by bindgen with a narrow allowlist (see `build.rs`).
//!
//! DPDK's static inline functions and macros (rx/tx burst, mbuf alloc/free/append,
//! `rte_pktmbuf_mtod`, `rte_errno`, `rte_lcore_id`, ...) have no symbol in the shared
//! libraries; `csrc/shim.c` forwards each of them as `pm_<dpdk name>`.
//!
//! Everything here is `unsafe` and unchecked; use the `dpdk-env` crate instead.
#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code
)]
#![allow(clippy::all, unsafe_op_in_unsafe_fn, unnecessary_transmutes)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_calls_shim_without_eal() {
        // SAFETY: rte_lcore_id and rte_strerror only read thread-local / static data and
        // are valid before rte_eal_init.
        unsafe {
            assert_eq!(pm_rte_lcore_id(), LCORE_ID_ANY);
            let s = std::ffi::CStr::from_ptr(rte_strerror(22));
            assert!(!s.to_bytes().is_empty());
        }
        assert_eq!(PM_RTE_ETH_RX_OFFLOAD_TCP_CKSUM, 1 << 3);
    }
}
