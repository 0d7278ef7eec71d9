//! Raw DPDK bindings (to be written).
