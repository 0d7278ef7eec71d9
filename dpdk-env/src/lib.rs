//! Safe layer over the system DPDK 22.11 for pollmsgr.
//!
//! - [`Eal`]: EAL init once per process from a typed [`EalConfig`] (cores, memory,
//!   `--no-huge` fallback, unique `--file-prefix`, virtual devices); non-EAL thread
//!   registration.
//! - [`Mempool`], [`Mbuf`]: packet pools and refcounted mbufs that move upward without
//!   copying.
//! - [`Port`]: N rx/tx queues, RSS, offloads, MAC/MTU, link, stats; exclusive
//!   [`RxQueue`]/[`TxQueue`] handles with burst I/O; [`ring_pair`] for two ports joined
//!   back to back.
//! - [`DpdkDevice`]: a smoltcp `phy::Device` per (port, queue).
//! - [`testkit`]: namespaces, patterns and peers shared by the tests and benchmarks.
//! - [`heap`]: giving the allocator's free pages back to the system (`malloc_trim`),
//!   here because this crate is where pollmsgr's `unsafe` lives.
//!
//! Every `unsafe` block carries a `// SAFETY:` comment.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod device;
pub mod eal;
pub mod error;
pub mod heap;
pub mod mbuf;
pub mod port;
pub mod testkit;

pub use device::{DeviceStats, DpdkDevice};
pub use eal::{lcore_id, Cores, Eal, EalConfig, HugePages, HugepageInfo, ThreadRegistration};
pub use error::{Error, Result};
pub use mbuf::{Mbuf, Mempool};
pub use port::{
    port_by_name, port_count, port_info, ring_pair, Link, Port, PortConfig, PortInfo, PortStats,
    RssConfig, RssHash, RxOffloads, RxQueue, TxOffloads, TxQueue,
};
