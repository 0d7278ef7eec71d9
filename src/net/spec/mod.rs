//! The transport seam: one [`TransportSpec`] names a transport and its
//! options, and is the one place that turns that choice into transports.
//! Every CLI verb, test helper and benchmark chooses its transport here, so
//! adding a transport means adding a variant here (and to [`AnyTransport`]).
//!
//! Opening is two steps, because some set-up is per process and the rest per
//! reactor: [`TransportSpec::prepare`] does the process-wide part (a network
//! namespace, the DPDK EAL and mempool, the software-steering links of a
//! shared TAP) and returns [`Transports`]; [`Transports::factory`] then gives
//! each reactor a closure that opens its transport on the reactor's own
//! thread (device queues and TAP descriptors belong to the thread that polls
//! them), and [`Transports::open`] opens one on the calling thread.
//!
//! The transports:
//! - kernel: kernel TCP sockets.
//! - TAP: smoltcp over one TAP device shared by every reactor, with software
//!   flow steering (`net::steer`): reactor 0 owns the device and switches
//!   frames by flow; each reactor spreads its sockets over a
//!   [`crate::net::smol_set::SmolSet`]. The TAP's kernel side (`link.1`)
//!   goes into a network namespace, ours is `link.2`.
//! - DPDK memif: smoltcp over DPDK `net_memif`, one port per reactor; the
//!   server is the memif server on socket r. Reactor r's link is
//!   169.254.(120+r).0/24: .1 serves, .2 loads. Memif is the closest thing to
//!   a NIC on a machine without one (design: dpdk-env).
//! - DPDK net_tap: smoltcp over one DPDK `net_tap` port (one reactor), its
//!   kernel side moved into a network namespace like the TAP's.
//! - DPDK memif pair: both ends of one memif link in this process (for
//!   benchmarks): reactor 0 is the memif server and serves on
//!   169.254.120.1, reactor 1 the client and loads from .2.

pub mod any;
mod open;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub use self::any::{AnyTransport, TapSetTransport};
use self::open::Prepared;
pub use self::open::{TransportFactory, Transports};
use super::dpdk::{memif_vdev, tap_vdev, MemifRole, MEMIF_BUFFER_SIZE};
use super::smol::SmolError;
use super::steer::{all_links, SteerTable};
use super::tap::{unique_name, Namespace};
use super::transport::IdlePolicy;

/// TCP socket buffers on memif links: room for 32 x 64 KiB in flight (with
/// smoltcp's default 256 KiB, 64 KiB messages were window-bound at 0.65 GB/s;
/// with these, 3.5 GB/s).
pub const MEMIF_SOCKET_BUFFER: usize = 4 << 20;

/// The TAP link `serve` uses: 169.254.100.0/24 (kernel side .1, ours .2).
pub const SERVE_TAP_LINK: [u8; 3] = [169, 254, 100];

/// The link a client's TAP or net_tap uses unless told otherwise
/// (`mon-command --link`): 169.254.78.0/24.
pub const CLIENT_LINK: [u8; 3] = [169, 254, 78];

/// A smoltcp-over-TAP reactor waits at most this long when idle.
const TAP_MAX_WAIT: Duration = Duration::from_millis(1);

/// Where a TAP's kernel side goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Netns {
    /// A fresh namespace, removed when the [`Transports`] are dropped.
    Create,
    /// An existing namespace someone else created and removes.
    Existing(String),
}

impl Netns {
    /// `Existing(name)` if a name is given, else `Create`.
    pub fn from_option(name: Option<&str>) -> Self {
        name.map_or(Netns::Create, |n| Netns::Existing(n.to_owned()))
    }
}

/// smoltcp over a TAP device whose kernel side is in a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapSpec {
    /// Where the kernel side goes.
    pub netns: Netns,
    /// The link's /24 as A.B.C: the kernel side is .1, we are .2.
    pub link: [u8; 3],
    /// Route beyond the link through the kernel side (to reach a mon on
    /// another interface of the namespace).
    pub gateway: bool,
    /// smoltcp interfaces per reactor (`serve --smol-shards`).
    pub interfaces: usize,
}

/// smoltcp over DPDK `net_memif`, one port per reactor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemifSpec {
    /// Our side of every link.
    pub role: MemifRole,
    /// The socket of each reactor's link: the server's, for a client; `None`
    /// for a server picks fresh paths (removed with the [`Transports`]).
    pub sockets: Option<Vec<String>>,
    /// smoltcp interfaces per reactor (`--smol-shards`): above one, each
    /// reactor's port feeds a [`crate::net::smol_set::SmolSet`], so
    /// per-packet work follows one interface's sockets, not all of them.
    pub interfaces: usize,
}

/// smoltcp over one DPDK `net_tap` port whose kernel side is in a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkTapSpec {
    /// Where the kernel side goes.
    pub netns: Netns,
    /// The link's /24 as A.B.C: the kernel side is .1, we are .2.
    pub link: [u8; 3],
    /// Route beyond the link through the kernel side.
    pub gateway: bool,
    /// Ask the port for checksum offloads.
    pub checksum_offload: bool,
}

/// A transport and its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportSpec {
    /// Kernel TCP.
    Kernel,
    /// smoltcp over a TAP device.
    Tap(TapSpec),
    /// smoltcp over DPDK net_memif.
    DpdkMemif(MemifSpec),
    /// smoltcp over DPDK net_tap.
    DpdkTap(DpdkTapSpec),
    /// smoltcp over both ends of one DPDK net_memif link in this process
    /// (one EAL holds both ports): reactor 0 is the memif server on
    /// [`memif_addrs`]`(0).0`, reactor 1 the client on `.1`.
    DpdkMemifPair,
}

/// The transport a user picks (`--transport kernel|tap|dpdk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// Kernel TCP.
    Kernel,
    /// smoltcp over a TAP device.
    Tap,
    /// smoltcp over a DPDK port.
    Dpdk,
}

/// Which DPDK port a [`TransportKind::Dpdk`] choice means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DpdkPort {
    /// `net_memif`, one port per reactor; [`TransportSpec::choose`] sets
    /// its `interfaces` from [`TransportOptions::interfaces`].
    Memif(MemifSpec),
    /// One `net_tap` port whose kernel side is in the namespace.
    NetTap,
}

/// The options of a userspace transport, as a CLI verb or test gathers
/// them; [`TransportSpec::choose`] keeps those the chosen kind uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportOptions {
    /// Where a TAP's (or net_tap's) kernel side goes.
    pub netns: Netns,
    /// The link's /24 as A.B.C: the kernel side is .1, we are .2.
    pub link: [u8; 3],
    /// Route beyond the link through the kernel side.
    pub gateway: bool,
    /// smoltcp interfaces per reactor over TAP and DPDK memif.
    pub interfaces: usize,
    /// The DPDK port.
    pub dpdk: DpdkPort,
}

impl TransportSpec {
    /// The one place a transport choice becomes a spec.
    pub fn choose(kind: TransportKind, opts: TransportOptions) -> TransportSpec {
        match kind {
            TransportKind::Kernel => TransportSpec::Kernel,
            TransportKind::Tap => TransportSpec::Tap(TapSpec {
                netns: opts.netns,
                link: opts.link,
                gateway: opts.gateway,
                interfaces: opts.interfaces.max(1),
            }),
            TransportKind::Dpdk => match opts.dpdk {
                DpdkPort::Memif(m) => TransportSpec::DpdkMemif(MemifSpec {
                    interfaces: opts.interfaces.max(1),
                    ..m
                }),
                DpdkPort::NetTap => TransportSpec::DpdkTap(DpdkTapSpec {
                    netns: opts.netns,
                    link: opts.link,
                    gateway: opts.gateway,
                    checksum_offload: true,
                }),
            },
        }
    }
}

/// Why transports could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Creating or populating a namespace, a TAP or a smoltcp stack failed.
    #[error("{what}: {source}")]
    Setup {
        /// What was being set up.
        what: String,
        /// Why it failed.
        source: SmolError,
    },
    /// The DPDK environment could not be set up.
    #[error("DPDK {what}: {source}")]
    Dpdk {
        /// "EAL" or "mempool".
        what: &'static str,
        /// Why it failed.
        source: dpdk_env::Error,
    },
    /// Endpoint `index` would listen past port 65535.
    #[error("listen port {base} + endpoint {index} exceeds 65535")]
    PortOverflow {
        /// The base listen port.
        base: u16,
        /// The endpoint's index.
        index: usize,
    },
    /// Opening a transport failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being opened.
        what: &'static str,
        /// Why it failed.
        source: io::Error,
    },
    /// A memif client needs the server's sockets.
    #[error("a DPDK memif client needs the server's memif sockets")]
    NoMemifSockets,
    /// A factory for reactor `reactor` was asked twice, or beyond the count prepared.
    #[error("no transport left for reactor {reactor}")]
    NoSuchReactor {
        /// The reactor.
        reactor: usize,
    },
}

/// `A.B.C.host`.
fn on_link(link: [u8; 3], host: u8) -> Ipv4Addr {
    Ipv4Addr::new(link[0], link[1], link[2], host)
}

/// Reactor r's memif link: (serving address, loading address).
pub fn memif_addrs(r: usize) -> (Ipv4Addr, Ipv4Addr) {
    let n = 120u8.wrapping_add(r as u8);
    (Ipv4Addr::new(169, 254, n, 1), Ipv4Addr::new(169, 254, n, 2))
}

/// The socket address endpoint `i` listens on over a smoltcp transport:
/// address `addr` and base port + i (6800 if `base_port` is 0).
pub fn smol_listen(addr: Ipv4Addr, base_port: u16, i: usize) -> SocketAddr {
    let base = if base_port == 0 { 6800 } else { base_port };
    SocketAddr::new(addr.into(), base.wrapping_add(i as u16))
}

/// Reactor r's side of a [`TransportSpec::DpdkMemifPair`]: reactor 0
/// serves, any other loads (only reactors 0 and 1 open).
fn memif_pair_end(r: usize) -> (MemifRole, Ipv4Addr) {
    let (serve, load) = memif_addrs(0);
    if r == 0 {
        (MemifRole::Server, serve)
    } else {
        (MemifRole::Client, load)
    }
}

/// A locally administered MAC for our smoltcp side, from the pid.
fn local_mac() -> [u8; 6] {
    let pid = std::process::id().to_be_bytes();
    [0x02, pid[1], pid[2], pid[3], 0, 0x02]
}

impl TransportSpec {
    /// The short name reports use: "kernel", "tap" or "dpdk".
    pub fn name(&self) -> &'static str {
        match self {
            TransportSpec::Kernel => "kernel",
            TransportSpec::Tap(_) => "tap",
            TransportSpec::DpdkMemif(_)
            | TransportSpec::DpdkTap(_)
            | TransportSpec::DpdkMemifPair => "dpdk",
        }
    }

    /// smoltcp interfaces per reactor: above one over TAP or DPDK memif
    /// when sharded; 1 for a single stack; 0 for kernel TCP.
    pub fn interfaces(&self) -> usize {
        match self {
            TransportSpec::Kernel => 0,
            TransportSpec::Tap(t) => t.interfaces.max(1),
            TransportSpec::DpdkMemif(m) => m.interfaces.max(1),
            TransportSpec::DpdkTap(_) | TransportSpec::DpdkMemifPair => 1,
        }
    }

    /// How many reactors this transport can feed, if it limits them: one
    /// per memif socket for a memif client, one for net_tap, two (the two
    /// ends) for a memif pair.
    pub fn max_reactors(&self) -> Option<usize> {
        match self {
            TransportSpec::DpdkMemif(MemifSpec {
                sockets: Some(s), ..
            }) => Some(s.len()),
            TransportSpec::DpdkTap(_) => Some(1),
            TransportSpec::DpdkMemifPair => Some(2),
            _ => None,
        }
    }

    /// How a reactor over this transport idles: DPDK busy-polls; kernel
    /// sleeps up to `sleep`; TAP at most 1 ms (smoltcp's timers run only
    /// when polled).
    pub fn idle(&self, sleep: Duration) -> IdlePolicy {
        match self {
            TransportSpec::Kernel => IdlePolicy::Sleep(sleep),
            TransportSpec::Tap(_) => IdlePolicy::Sleep(sleep.min(TAP_MAX_WAIT)),
            TransportSpec::DpdkMemif(_)
            | TransportSpec::DpdkTap(_)
            | TransportSpec::DpdkMemifPair => IdlePolicy::BusyPoll,
        }
    }

    /// Reactor r's own address on a userspace link (`None` over kernel TCP).
    pub fn our_addr(&self, r: usize) -> Option<Ipv4Addr> {
        match self {
            TransportSpec::Kernel => None,
            // One shared TAP: every reactor answers on its address.
            TransportSpec::Tap(t) => Some(on_link(t.link, 2)),
            TransportSpec::DpdkMemif(m) => {
                let (serve, load) = memif_addrs(r);
                Some(match m.role {
                    MemifRole::Server => serve,
                    MemifRole::Client => load,
                })
            }
            TransportSpec::DpdkTap(t) => Some(on_link(t.link, 2)),
            TransportSpec::DpdkMemifPair => Some(memif_pair_end(r).1),
        }
    }

    /// Where endpoint `i` on reactor `r` listens: over kernel TCP `base`
    /// with its port + i (0 stays 0: any port); over smoltcp reactor r's
    /// address and `base`'s port + i (6800 + i if 0).
    pub fn listen_addr(
        &self,
        r: usize,
        i: usize,
        base: SocketAddr,
    ) -> Result<SocketAddr, SpecError> {
        match self.our_addr(r) {
            None => {
                let mut sock = base;
                if sock.port() != 0 {
                    let port = u16::try_from(usize::from(sock.port()) + i).map_err(|_| {
                        SpecError::PortOverflow {
                            base: base.port(),
                            index: i,
                        }
                    })?;
                    sock.set_port(port);
                }
                Ok(sock)
            }
            Some(ours) => Ok(smol_listen(ours, base.port(), i)),
        }
    }

    /// True if reactor r can reach `target`: over memif only the serving
    /// side of its own link (of the one link, for a pair); elsewhere
    /// anything.
    pub fn reaches(&self, r: usize, target: SocketAddr) -> bool {
        match self {
            TransportSpec::DpdkMemif(_) => target.ip() == IpAddr::V4(memif_addrs(r).0),
            TransportSpec::DpdkMemifPair => target.ip() == IpAddr::V4(memif_addrs(0).0),
            _ => true,
        }
    }

    /// Does the process-wide set-up for `reactors` reactors whose listening
    /// ports are `listeners` (port, reactor): the namespace, the EAL, the
    /// steering links. Call once per process for a DPDK transport (the EAL
    /// initializes once).
    pub fn prepare(
        &self,
        reactors: usize,
        listeners: impl IntoIterator<Item = (u16, usize)>,
    ) -> Result<Transports, SpecError> {
        let reactors = reactors.max(1);
        let prepared = match self {
            TransportSpec::Kernel => Prepared::Kernel,
            TransportSpec::Tap(spec) => {
                let table = SteerTable::new(reactors, listeners);
                let links = all_links(table.clone()).into_iter().map(Some).collect();
                Prepared::Tap {
                    ns: Arc::new(namespace(&spec.netns, "tap namespace")?),
                    spec: spec.clone(),
                    table,
                    links,
                }
            }
            TransportSpec::DpdkMemif(spec) => {
                let (sockets, created) = match (&spec.sockets, spec.role) {
                    (Some(s), _) => (s.clone(), false),
                    (None, MemifRole::Server) => (
                        (0..reactors)
                            .map(|_| format!("/run/{}.sock", unique_name("pmmemif")))
                            .collect(),
                        true,
                    ),
                    (None, MemifRole::Client) => return Err(SpecError::NoMemifSockets),
                };
                let vdevs = sockets
                    .iter()
                    .enumerate()
                    .map(|(i, s)| memif_vdev(i as u16, spec.role, s))
                    .collect();
                let mbufs = memif_pool_mbufs(sockets.len());
                let (eal, pool) = dpdk_env_up(vdevs, "pollmsgr_pool", mbufs, MEMIF_MBUF_ROOM)?;
                let ends = (0..reactors)
                    .map(|r| {
                        let (serve, load) = memif_addrs(r);
                        Some(match spec.role {
                            MemifRole::Server => (MemifRole::Server, serve),
                            MemifRole::Client => (MemifRole::Client, load),
                        })
                    })
                    .collect();
                Prepared::Memif {
                    eal,
                    pool,
                    ends,
                    sockets,
                    created,
                    interfaces: spec.interfaces.max(1),
                }
            }
            TransportSpec::DpdkMemifPair => {
                let socket = format!("/run/{}.sock", unique_name("pmmemif"));
                let vdevs = (0..2)
                    .map(|r| memif_vdev(r as u16, memif_pair_end(r).0, &socket))
                    .collect();
                let (eal, pool) =
                    dpdk_env_up(vdevs, "pollmsgr_pool", memif_pool_mbufs(2), MEMIF_MBUF_ROOM)?;
                Prepared::Memif {
                    eal,
                    pool,
                    ends: (0..2).map(|r| Some(memif_pair_end(r))).collect(),
                    sockets: vec![socket],
                    created: true,
                    interfaces: 1,
                }
            }
            TransportSpec::DpdkTap(spec) => {
                let ifname = unique_name("pmdtap");
                let (eal, pool) = dpdk_env_up(
                    vec![tap_vdev(0, &ifname)],
                    "pollmsgr_tap_pool",
                    8191,
                    dpdk_env::Mempool::DEFAULT_DATA_ROOM,
                )?;
                Prepared::DpdkTap {
                    eal,
                    pool,
                    ifname,
                    ns: Arc::new(namespace(&spec.netns, "net_tap namespace")?),
                    spec: spec.clone(),
                    opened: false,
                }
            }
        };
        Ok(Transports {
            name: self.name(),
            prepared,
        })
    }
}

/// Creates or names the namespace `netns`.
fn namespace(netns: &Netns, what: &str) -> Result<Namespace, SpecError> {
    match netns {
        Netns::Existing(name) => Ok(Namespace::existing(name)),
        Netns::Create => Namespace::new("pmns").map_err(|source| SpecError::Setup {
            what: what.to_owned(),
            source,
        }),
    }
}

/// Data room (headroom included) of a memif pool's mbufs: one
/// [`MEMIF_MTU`](crate::net::dpdk::MEMIF_MTU) frame each.
const MEMIF_MBUF_ROOM: u16 = MEMIF_BUFFER_SIZE + dpdk_env::Mempool::HEADROOM;

/// Mbufs for `ports` memif ports. memif copies between its shared rings and
/// mbufs, so an mbuf lives only from a burst until smoltcp has copied it (rx)
/// or the port has (tx): the pool needs each port's bursts in flight plus each
/// lcore's cache (256, up to 1.5x that held), not a ring's worth per port.
/// Every mbuf of a pool is written at creation, so the pool is resident memory
/// from the start: 32,767 of them were 80 MB of an idle server's 165 MB. A
/// jumbo mbuf carries six 1,500-byte frames' payload, so half the count of
/// the 2 KiB ones this was sized for leaves three times the bytes (and an
/// empty pool makes smoltcp wait, it loses nothing).
fn memif_pool_mbufs(ports: usize) -> u32 {
    let want = 1024usize.saturating_add(512usize.saturating_mul(ports));
    // A power of two minus one is the mempool's best size.
    let size = want.next_power_of_two().min(1 << 16) - 1;
    u32::try_from(size).unwrap_or(u32::MAX)
}

/// EAL memory (`-m`, MB) for a pool of `mbufs` of `room` bytes each: the
/// pool (an mbuf's headers add under 512 bytes to its room) plus 64 MB for
/// DPDK's own allocations, in steps of 64 MB. Without hugepages every 4 KiB
/// page of it is a memseg whose 48-byte descriptor DPDK writes at start, so a
/// fixed 512 MB was 6.3 MB of resident descriptors; 128 MB is 1.6 MB.
fn eal_memory_mb(mbufs: u32, room: u16) -> u64 {
    let per_mbuf = u64::from(room) + 512;
    let pool_mb = (u64::from(mbufs) * per_mbuf).div_ceil(1 << 20);
    (64 + pool_mb).next_multiple_of(64)
}

/// Initializes the EAL (once per process) with `vdevs` and a mempool of
/// `mbufs` with `room` bytes of data room (headroom included), with EAL
/// memory sized for it ([`eal_memory_mb`]).
fn dpdk_env_up(
    vdevs: Vec<String>,
    pool_name: &str,
    mbufs: u32,
    room: u16,
) -> Result<(dpdk_env::Eal, dpdk_env::Mempool), SpecError> {
    let cfg = dpdk_env::EalConfig {
        memory_mb: eal_memory_mb(mbufs, room),
        vdevs,
        log_level: Some("*:error".into()),
        ..dpdk_env::EalConfig::default()
    };
    let eal = dpdk_env::Eal::init(&cfg).map_err(|source| SpecError::Dpdk {
        what: "EAL",
        source,
    })?;
    let pool =
        dpdk_env::Mempool::with_data_room(&eal, pool_name, mbufs, 256, room).map_err(|source| {
            SpecError::Dpdk {
                what: "mempool",
                source,
            }
        })?;
    Ok((eal, pool))
}

#[cfg(test)]
mod tests;
