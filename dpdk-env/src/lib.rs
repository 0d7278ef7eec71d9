//! Safe layer over DPDK (to be written).
