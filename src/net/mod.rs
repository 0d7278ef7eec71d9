//! Transports that carry msgr2 byte streams, and the driver that runs
//! connections over any of them.
//!
//! [`transport::Transport`] is the one small trait; [`kernel`] implements it
//! with kernel TCP; [`driver::Driver`] runs sans-IO connections over a
//! transport.

pub mod dpdk;
pub mod driver;
pub mod guard;
pub mod heap;
pub mod kernel;
pub mod rss;
pub mod smol;
pub mod smol_set;
pub mod steer;
pub mod tap;
pub mod transport;
