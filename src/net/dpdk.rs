//! smoltcp over a DPDK queue: [`SmolTransport`] on `dpdk_env::DpdkDevice`.
//!
//! The device is busy-polled: [`Transport::wait`](super::transport::Transport::wait)
//! returns at once, and the transport calls `DpdkDevice::flush` after every
//! interface poll so batched frames leave in bursts. Constructors here start
//! a port of a virtual device (the EAL must already be initialized, once per
//! process, with the matching `--vdev`, see [`tap_vdev`] and [`memif_vdev`]):
//!
//! - `net_tap`: a kernel TAP interface driven by DPDK; tests move it into a
//!   namespace ([`TapSetup::adopt`](super::tap::TapSetup::adopt)) and talk to
//!   kernel TCP there.
//! - `net_memif`: shared-memory packet rings between two ports (server and
//!   client role), the closest thing to a NIC on a machine without one; the
//!   benchmarks run two smoltcp stacks back to back over it.
#![deny(unsafe_code)]

use std::net::Ipv4Addr;
use std::time::Duration;

use dpdk_env::{port_by_name, DpdkDevice, Eal, Mempool, Port, PortConfig, RxOffloads, TxOffloads};

use super::smol::{SmolConfig, SmolDevice, SmolError, SmolTransport};
use super::smol_set::SmolSet;
use super::transport::TxShortfalls;

/// The transport over one DPDK queue.
pub type DpdkTransport = SmolTransport<DpdkDevice>;
/// smoltcp over a DPDK queue, spread over several interfaces.
pub type DpdkSetTransport = SmolSet<DpdkDevice>;

impl SmolDevice for DpdkDevice {
    const NAME: &'static str = "dpdk";
    const BUSY_POLL: bool = true;

    fn after_poll(&mut self) {
        self.flush();
    }

    fn wait(&mut self, _timeout: Duration) -> std::io::Result<()> {
        Ok(())
    }

    fn tx_buffer_shortfalls(&self) -> TxShortfalls {
        let s = self.stats();
        TxShortfalls {
            waits: s.tx_pool_empty,
            lost: s.tx_no_mbuf,
        }
    }
}

/// A `net_memif` port's role on its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemifRole {
    /// Creates the socket and the shared memory.
    Server,
    /// Connects to the server's socket.
    Client,
}

/// The `--vdev` argument for DPDK `net_tap` number `index` whose kernel
/// interface is called `ifname`; its port is named `net_tap<index>`.
pub fn tap_vdev(index: u16, ifname: &str) -> String {
    format!("net_tap{index},iface={ifname}")
}

/// IP MTU on memif links. Both ends are pollmsgr processes that set it, so
/// frames carry 8,960 bytes of TCP payload instead of 1,460: a 4 KiB message
/// is one frame instead of three and a 64 KiB one 8 instead of 45, and
/// per-frame work (smoltcp, the memif rings, the mbufs) shrinks with the
/// count. A peer with a smaller MTU still works: TCP's MSS option keeps each
/// side's segments within what the other receives.
pub const MEMIF_MTU: usize = 9000;

/// memif ring buffer and mbuf data size (headroom not included) for
/// [`MEMIF_MTU`] frames: each frame fits one ring slot and one mbuf (a chained
/// one is not taken by `DpdkDevice`).
pub const MEMIF_BUFFER_SIZE: u16 = 9216;

/// The `--vdev` argument for `net_memif` number `index` in `role` on unix
/// socket `socket` (use a unique path per run, as the server creates it);
/// its port is named `net_memif<index>`. Ring slots hold
/// [`MEMIF_BUFFER_SIZE`] bytes (the server's choice counts for both ends).
pub fn memif_vdev(index: u16, role: MemifRole, socket: &str) -> String {
    let role = match role {
        MemifRole::Server => "server",
        MemifRole::Client => "client",
    };
    format!("net_memif{index},role={role},id=0,socket={socket},bsize={MEMIF_BUFFER_SIZE}")
}

/// How to start a port for a transport.
#[derive(Debug, Clone)]
pub struct DpdkOptions {
    /// Queue to drive (rx and tx queue of this number).
    pub queue: u16,
    /// Frames per burst.
    pub burst: usize,
    /// Ask for IPv4/TCP/UDP checksum offloads (the port enables those it has).
    pub checksum_offload: bool,
    /// The link is memory between two pollmsgr processes (memif): no
    /// checksums are computed or verified (see `DpdkDevice::skip_checksums`).
    pub trusted_link: bool,
    /// IP MTU to build frames for, when the link takes more than the port
    /// reports (see [`MEMIF_MTU`]); capped by the pool's mbuf size.
    pub mtu: Option<usize>,
}

impl Default for DpdkOptions {
    fn default() -> Self {
        DpdkOptions {
            queue: 0,
            burst: DpdkDevice::DEFAULT_BURST,
            checksum_offload: true,
            trusted_link: false,
            mtu: None,
        }
    }
}

/// Starts the port named `port_name` (e.g. `net_tap0`, `net_memif1`) with one
/// queue and mbufs from `pool`.
pub fn start_port(
    eal: &Eal,
    port_name: &str,
    pool: &Mempool,
    opts: &DpdkOptions,
) -> Result<Port, SmolError> {
    let id = port_by_name(eal, port_name)?;
    let mut pcfg = PortConfig::default();
    if opts.checksum_offload {
        pcfg.rx_offloads = RxOffloads::IPV4_CKSUM | RxOffloads::TCP_CKSUM | RxOffloads::UDP_CKSUM;
        pcfg.tx_offloads = TxOffloads::IPV4_CKSUM | TxOffloads::TCP_CKSUM | TxOffloads::UDP_CKSUM;
    }
    Ok(Port::start(eal, id, &pcfg, pool)?)
}

/// A transport on queue `opts.queue` of a started `port`, with our address
/// `addr/prefix_len` and the port's own MAC; `tune` adjusts the rest of the
/// [`SmolConfig`].
pub fn dpdk_transport(
    port: &Port,
    pool: Mempool,
    addr: Ipv4Addr,
    prefix_len: u8,
    opts: &DpdkOptions,
    tune: impl FnOnce(&mut SmolConfig),
) -> Result<DpdkTransport, SmolError> {
    let (dev, cfg) = device_and_config(port, pool, addr, prefix_len, opts, tune)?;
    SmolTransport::new(dev, cfg)
}

/// The device on queue `opts.queue` of `port` and the smoltcp settings for
/// our address on it (the port's own MAC), adjusted by `tune`.
fn device_and_config(
    port: &Port,
    pool: Mempool,
    addr: Ipv4Addr,
    prefix_len: u8,
    opts: &DpdkOptions,
    tune: impl FnOnce(&mut SmolConfig),
) -> Result<(DpdkDevice, SmolConfig), SmolError> {
    let mut dev = DpdkDevice::new(port, opts.queue, pool, opts.burst)?;
    if opts.trusted_link {
        dev.skip_checksums();
    }
    if let Some(mtu) = opts.mtu {
        dev.set_mtu(mtu);
    }
    let mut cfg = SmolConfig::new(port.mac()?, addr, prefix_len);
    tune(&mut cfg);
    Ok((dev, cfg))
}

/// Like [`dpdk_transport`], with the port's traffic spread over `members`
/// smoltcp interfaces (a [`SmolSet`]): per-packet work then follows one
/// interface's sockets, for many sessions per reactor.
pub fn dpdk_set_transport(
    port: &Port,
    pool: Mempool,
    addr: Ipv4Addr,
    prefix_len: u8,
    opts: &DpdkOptions,
    members: usize,
    tune: impl FnOnce(&mut SmolConfig),
) -> Result<DpdkSetTransport, SmolError> {
    let (dev, cfg) = device_and_config(port, pool, addr, prefix_len, opts, tune)?;
    SmolSet::new(dev, cfg, members, None)
}

/// Starts `port_name` and builds the transport on it: [`start_port`] then
/// [`dpdk_transport`]. Returns the port too (link state, counters).
pub fn open(
    eal: &Eal,
    port_name: &str,
    pool: Mempool,
    addr: Ipv4Addr,
    prefix_len: u8,
    opts: &DpdkOptions,
    tune: impl FnOnce(&mut SmolConfig),
) -> Result<(Port, DpdkTransport), SmolError> {
    let port = start_port(eal, port_name, &pool, opts)?;
    let t = dpdk_transport(&port, pool, addr, prefix_len, opts, tune)?;
    Ok((port, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vdev_arguments() {
        assert_eq!(tap_vdev(0, "pmdtap1x2"), "net_tap0,iface=pmdtap1x2");
        assert_eq!(
            memif_vdev(1, MemifRole::Client, "/run/x.sock"),
            "net_memif1,role=client,id=0,socket=/run/x.sock,bsize=9216"
        );
    }
}
