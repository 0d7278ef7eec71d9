//! Builds the transport each reactor runs, for `serve --osds` and `bench`.
//!
//! - kernel: kernel TCP sockets.
//! - tap: smoltcp over one TAP device shared by every reactor, with software
//!   flow steering (`pollmsgr::net::steer`): reactor 0 owns the device and
//!   switches frames by flow. The TAP's kernel side lives in a network
//!   namespace this process creates (and removes on exit); clients run inside
//!   it (`ip netns exec NS ...`). Our address is 169.254.100.2, link-local,
//!   only inside that namespace.
//! - dpdk: smoltcp over DPDK `net_memif`, one port per reactor: `serve` is the
//!   memif server on socket r, `bench --memif SOCKETS` the client. Reactor r's
//!   link is 169.254.(120+r).0/24: .1 serves, .2 loads. Memif is the closest
//!   thing to a NIC on a machine without one (design: dpdk-env).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use pollmsgr::net::dpdk::{memif_vdev, open, DpdkOptions, DpdkTransport, MemifRole};
use pollmsgr::net::kernel::KernelTransport;
use pollmsgr::net::smol_set::SmolSet;
use pollmsgr::net::steer::{Links, SteerTable, Steered, Switch};
use pollmsgr::net::tap::{unique_name, Namespace};
use smoltcp::phy::{Medium, TunTapInterface};

/// TCP socket buffers on memif links: room for 32 x 64 KiB in flight (with
/// smoltcp's default 256 KiB, 64 KiB messages were window-bound at 0.65 GB/s;
/// with these, 3.5 GB/s).
const SOCKET_BUFFER: usize = 4 << 20;

/// Where reactor r's smoltcp stack sits on a TAP link.
pub fn tap_addrs(r: usize) -> (Ipv4Addr, Ipv4Addr) {
    let n = 100 + r as u8;
    (Ipv4Addr::new(169, 254, n, 1), Ipv4Addr::new(169, 254, n, 2))
}

/// Reactor r's memif link: (serving address, loading address).
pub fn memif_addrs(r: usize) -> (Ipv4Addr, Ipv4Addr) {
    let n = 120 + r as u8;
    (Ipv4Addr::new(169, 254, n, 1), Ipv4Addr::new(169, 254, n, 2))
}

/// The namespace holding the kernel side of the shared TAP.
pub struct TapNet {
    ns: Arc<Namespace>,
}

impl TapNet {
    /// Creates the namespace, or uses `existing` (which the caller removes):
    /// the TAP's kernel side goes there.
    pub fn new(existing: Option<&str>) -> Result<Self, String> {
        let ns = match existing {
            Some(name) => Namespace::existing(name),
            None => Namespace::new("pmns").map_err(|e| format!("tap namespace: {e}"))?,
        };
        Ok(TapNet { ns: Arc::new(ns) })
    }

    /// The namespace's name (clients run inside it).
    pub fn name(&self) -> String {
        self.ns.name().to_owned()
    }

    /// A transport factory for reactor r when all reactors share one TAP
    /// (a one-queue device) with software flow steering: reactor 0 opens the
    /// TAP and switches frames, the others get theirs through it. All use
    /// reactor 0's address and MAC, and dial from ports steered back to them.
    /// Each reactor splits its sockets over `shards` smoltcp interfaces
    /// (`pollmsgr::net::smol_set`), so per-packet work follows one shard.
    pub fn steered_transport(
        &self,
        r: usize,
        links: Links,
        table: SteerTable,
        shards: usize,
    ) -> impl FnOnce() -> io::Result<SmolSet<Steered<TunTapInterface>>> + Send {
        let ns = Arc::clone(&self.ns);
        move || {
            let (kernel, ours) = tap_addrs(0);
            let dev = match links {
                Links::Switch(sl) => {
                    let ifname = unique_name("pmtap");
                    let tap = TunTapInterface::new(&ifname, Medium::Ethernet)?;
                    ns.adopt(&ifname, kernel, 24).map_err(io::Error::other)?;
                    Steered::Switch(Switch::new(tap, sl))
                }
                Links::Port(pl) => Steered::Port(pl.into_port(std::time::Duration::from_secs(15))?),
            };
            let pid = std::process::id().to_be_bytes();
            let mut cfg = pollmsgr::net::smol::SmolConfig::new(
                [0x02, pid[1], pid[2], pid[3], 0, 0x02],
                ours,
                24,
            );
            // The listen backlog is per shard.
            cfg.listen_backlog = (cfg.listen_backlog / shards).max(2);
            // Our ports: reactor p % R (steering), shard (p / R) % K.
            SmolSet::new(dev, cfg, shards, Some((table.reactors(), r))).map_err(io::Error::other)
        }
    }
}

/// The DPDK environment of this process: EAL with one memif port per reactor.
pub struct DpdkNet {
    eal: dpdk_env::Eal,
    pool: dpdk_env::Mempool,
    role: MemifRole,
    /// The memif socket of each reactor.
    pub sockets: Vec<String>,
}

impl DpdkNet {
    /// Initializes the EAL (once per process) with `n` memif ports in `role`.
    /// A server picks fresh socket paths; a client takes the server's.
    pub fn new(role: MemifRole, sockets: Option<Vec<String>>, n: usize) -> Result<Self, String> {
        let sockets = match sockets {
            Some(s) => s,
            None => (0..n)
                .map(|_| format!("/run/{}.sock", unique_name("pmmemif")))
                .collect(),
        };
        let vdevs = sockets
            .iter()
            .enumerate()
            .map(|(i, s)| memif_vdev(i as u16, role, s))
            .collect();
        let cfg = dpdk_env::EalConfig {
            memory_mb: 512,
            vdevs,
            log_level: Some("*:error".into()),
            ..dpdk_env::EalConfig::default()
        };
        let eal = dpdk_env::Eal::init(&cfg).map_err(|e| format!("DPDK EAL: {e}"))?;
        let pool = dpdk_env::Mempool::new(&eal, "pollmsgr_pool", 32767, 256)
            .map_err(|e| format!("DPDK mempool: {e}"))?;
        Ok(DpdkNet {
            eal,
            pool,
            role,
            sockets,
        })
    }

    /// A transport factory for reactor r, run on the reactor's thread: starts
    /// port `net_memif<r>` and registers the thread with the EAL.
    pub fn transport(&self, r: usize) -> impl FnOnce() -> io::Result<DpdkTransport> + Send {
        let (eal, pool, role) = (self.eal, self.pool, self.role);
        move || {
            // Registered for the thread's whole life: the reactor polls until it ends.
            std::mem::forget(eal.register_thread().map_err(io::Error::other)?);
            let (serve_addr, load_addr) = memif_addrs(r);
            let ours = match role {
                MemifRole::Server => serve_addr,
                MemifRole::Client => load_addr,
            };
            let opts = DpdkOptions {
                checksum_offload: false,
                ..DpdkOptions::default()
            };
            let (port, t) = open(&eal, &format!("net_memif{r}"), pool, ours, 24, &opts, |c| {
                c.rx_buffer = SOCKET_BUFFER;
                c.tx_buffer = SOCKET_BUFFER;
            })
            .map_err(io::Error::other)?;
            if role == MemifRole::Client {
                port.wait_link_up(std::time::Duration::from_secs(10))
                    .map_err(io::Error::other)?;
            }
            // The port lives as long as the process: the transport polls its queue.
            std::mem::forget(port);
            Ok(t)
        }
    }
}

/// The kernel transport factory.
pub fn kernel() -> io::Result<KernelTransport> {
    KernelTransport::new()
}

/// The socket address endpoint `i` listens on over a smoltcp transport:
/// the reactor's smoltcp address and base port + i (6800 if `base_port` is 0).
pub fn smol_listen(addr: Ipv4Addr, base_port: u16, i: usize) -> SocketAddr {
    let base = if base_port == 0 { 6800 } else { base_port };
    SocketAddr::new(addr.into(), base.wrapping_add(i as u16))
}
