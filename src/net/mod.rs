//! Transports that carry msgr2 byte streams.
//!
//! [`transport::Transport`] is the one small trait; [`kernel`] implements it
//! with kernel TCP, [`smol`] with smoltcp over a TAP device ([`tap`]) or a
//! DPDK port ([`dpdk`]), and [`smol_set`] spreads one reactor's sockets over
//! several smoltcp interfaces. The driver that runs connections over a
//! transport sits above, in `crate::reactor`.

pub mod dpdk;
pub mod guard;
pub mod heap;
pub mod kernel;
pub mod rss;
pub mod smol;
pub mod smol_rings;
pub mod smol_set;
pub mod spec;
pub mod steer;
pub mod tap;
pub mod transport;
