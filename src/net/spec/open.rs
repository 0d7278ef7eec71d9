//! [`Transports`]: what [`TransportSpec::prepare`] set up for the whole
//! process, and the opening of each reactor's transport from it.

use std::io;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use smoltcp::phy::{Medium, TunTapInterface};

use super::any::{AnyTransport, TapSetTransport};
use super::{local_mac, on_link, DpdkTapSpec, SpecError, TapSpec, MEMIF_SOCKET_BUFFER};
use crate::net::dpdk::{
    dpdk_set_transport, dpdk_transport, open, start_port, DpdkOptions, DpdkTransport, MemifRole,
    MEMIF_MTU,
};
use crate::net::kernel::KernelTransport;
use crate::net::smol::SmolConfig;
use crate::net::smol_set::SmolSet;
use crate::net::steer::{Links, SteerTable, Steered, Switch};
use crate::net::tap::{unique_name, Namespace};

#[cfg(doc)]
use super::TransportSpec;

/// How long a reactor's steered port waits for reactor 0's switch.
const STEER_PORT_TIMEOUT: Duration = Duration::from_secs(15);

/// What [`TransportSpec::prepare`] set up, per transport.
pub(super) enum Prepared {
    Kernel,
    Tap {
        ns: Arc<Namespace>,
        spec: TapSpec,
        table: SteerTable,
        /// Each reactor's steering links, taken by its factory.
        links: Vec<Option<Links>>,
    },
    Memif {
        eal: dpdk_env::Eal,
        pool: dpdk_env::Mempool,
        /// Reactor r's port `net_memif<r>`: its role and our address on
        /// its link, taken by its factory.
        ends: Vec<Option<(MemifRole, Ipv4Addr)>>,
        sockets: Vec<String>,
        /// The sockets are ours to remove (we are the server and made them).
        created: bool,
        /// smoltcp interfaces per reactor.
        interfaces: usize,
    },
    DpdkTap {
        eal: dpdk_env::Eal,
        pool: dpdk_env::Mempool,
        ifname: String,
        ns: Arc<Namespace>,
        spec: DpdkTapSpec,
        opened: bool,
    },
}

/// Opens one reactor's transport on the thread that runs it.
pub type TransportFactory = Box<dyn FnOnce() -> io::Result<AnyTransport> + Send>;

/// The process-wide part of a transport, ready to open one per reactor.
/// Dropping it removes what it created (a namespace, memif sockets).
pub struct Transports {
    pub(super) name: &'static str,
    pub(super) prepared: Prepared,
}

impl Transports {
    /// The transport's short name ("kernel", "tap", "dpdk").
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The namespace holding a TAP's (or net_tap's) kernel side.
    pub fn netns(&self) -> Option<&Namespace> {
        match &self.prepared {
            Prepared::Tap { ns, .. } => Some(ns),
            Prepared::DpdkTap { ns, .. } => Some(ns),
            _ => None,
        }
    }

    /// The memif socket of each reactor (empty for other transports).
    pub fn memif_sockets(&self) -> &[String] {
        match &self.prepared {
            Prepared::Memif { sockets, .. } => sockets,
            _ => &[],
        }
    }

    /// What `serve`'s ready line says about the transport.
    pub fn describe(&self) -> serde_json::Value {
        match &self.prepared {
            Prepared::Kernel => serde_json::json!({ "transport": "kernel" }),
            Prepared::Tap { ns, spec, .. } => serde_json::json!({
                "transport": "tap", "steering": "software", "netns": ns.name(),
                "smol_interfaces": spec.interfaces.max(1),
            }),
            Prepared::Memif {
                sockets,
                interfaces,
                ..
            } => serde_json::json!({
                "transport": "dpdk", "memif": sockets, "smol_interfaces": interfaces,
            }),
            Prepared::DpdkTap { ns, .. } => {
                serde_json::json!({ "transport": "dpdk", "net_tap": ns.name() })
            }
        }
    }

    /// The factory that opens reactor r's transport on the reactor's thread.
    /// Each reactor's is taken once. A DPDK net_tap port opens on the thread
    /// that prepared the EAL: use [`Transports::open`] for it.
    pub fn factory(&mut self, r: usize) -> Result<TransportFactory, SpecError> {
        let gone = SpecError::NoSuchReactor { reactor: r };
        Ok(match &mut self.prepared {
            Prepared::Kernel => Box::new(|| Ok(AnyTransport::Kernel(KernelTransport::new()?))),
            Prepared::Tap {
                ns,
                spec,
                table,
                links,
            } => {
                let l = links.get_mut(r).and_then(Option::take).ok_or(gone)?;
                let (ns, spec, table) = (Arc::clone(ns), spec.clone(), table.clone());
                Box::new(move || open_tap(&ns, &spec, table, l, r).map(AnyTransport::Tap))
            }
            Prepared::Memif {
                eal,
                pool,
                ends,
                interfaces,
                ..
            } => {
                let (role, ours) = ends.get_mut(r).and_then(Option::take).ok_or(gone)?;
                let (eal, pool, members) = (*eal, *pool, *interfaces);
                Box::new(move || open_memif(eal, pool, r, role, ours, members))
            }
            Prepared::DpdkTap {
                eal,
                pool,
                ifname,
                ns,
                spec,
                opened,
            } => {
                if *opened || r != 0 {
                    return Err(gone);
                }
                *opened = true;
                let (eal, pool, ifname, ns, spec) =
                    (*eal, *pool, ifname.clone(), Arc::clone(ns), spec.clone());
                Box::new(move || {
                    // Registered for the thread's whole life, as for memif.
                    std::mem::forget(eal.register_thread().map_err(io::Error::other)?);
                    open_dpdk_tap(eal, pool, &ifname, &ns, &spec)
                        .map(AnyTransport::Dpdk)
                        .map_err(io::Error::other)
                })
            }
        })
    }

    /// Opens reactor r's transport on the calling thread (for a DPDK
    /// net_tap port: the thread that prepared the EAL).
    pub fn open(&mut self, r: usize) -> Result<AnyTransport, SpecError> {
        if let Prepared::DpdkTap {
            eal,
            pool,
            ifname,
            ns,
            spec,
            opened,
        } = &mut self.prepared
        {
            if *opened || r != 0 {
                return Err(SpecError::NoSuchReactor { reactor: r });
            }
            *opened = true;
            return open_dpdk_tap(*eal, *pool, ifname, ns, spec).map(AnyTransport::Dpdk);
        }
        let f = self.factory(r)?;
        f().map_err(|source| SpecError::Io {
            what: "opening the transport",
            source,
        })
    }
}

impl Drop for Transports {
    fn drop(&mut self) {
        if let Prepared::Memif {
            sockets,
            created: true,
            ..
        } = &self.prepared
        {
            for s in sockets {
                let _ = std::fs::remove_file(s);
            }
        }
    }
}

/// Reactor r's TAP transport: reactor 0 opens the TAP (its kernel side into
/// `ns`) and switches frames by flow, the others get theirs through it. All
/// use the link's address and reactor 0's MAC, and dial from ports steered
/// back to them; each spreads its sockets over `spec.interfaces` smoltcp
/// interfaces, so per-packet work follows one.
fn open_tap(
    ns: &Namespace,
    spec: &TapSpec,
    table: SteerTable,
    links: Links,
    r: usize,
) -> io::Result<TapSetTransport> {
    let (kernel_side, ours) = (on_link(spec.link, 1), on_link(spec.link, 2));
    let dev = match links {
        Links::Switch(sl) => {
            let ifname = unique_name("pmtap");
            let tap = TunTapInterface::new(&ifname, Medium::Ethernet)?;
            ns.adopt(&ifname, kernel_side, 24)
                .map_err(io::Error::other)?;
            Steered::Switch(Switch::new(tap, sl))
        }
        Links::Port(pl) => Steered::Port(pl.into_port(STEER_PORT_TIMEOUT)?),
    };
    let interfaces = spec.interfaces.max(1);
    let mut cfg = SmolConfig::new(local_mac(), ours, 24);
    cfg.gateway = spec.gateway.then_some(kernel_side);
    cfg.listen_backlog = member_backlog(cfg.listen_backlog, interfaces);
    // Our ports: reactor p % R (steering), interface (p / R) % K.
    SmolSet::new(dev, cfg, interfaces, Some((table.reactors(), r))).map_err(io::Error::other)
}

/// The listen backlog of each of `members` interfaces sharing one: the
/// backlog is per interface.
fn member_backlog(backlog: usize, members: usize) -> usize {
    (backlog / members.max(1)).max(2)
}

/// Reactor r's memif transport, on the reactor's thread: starts port
/// `net_memif<r>` (our side `role`, address `ours`) and registers the thread
/// with the EAL.
fn open_memif(
    eal: dpdk_env::Eal,
    pool: dpdk_env::Mempool,
    r: usize,
    role: MemifRole,
    ours: Ipv4Addr,
    members: usize,
) -> io::Result<AnyTransport> {
    // Registered for the thread's whole life: the reactor polls until it ends.
    std::mem::forget(eal.register_thread().map_err(io::Error::other)?);
    // memif is shared memory between our own processes: nothing on it can
    // corrupt a frame (and msgr2 carries its own crc32c or GCM tag), so the
    // TCP and IP checksums are neither computed nor verified at either end.
    let opts = DpdkOptions {
        checksum_offload: false,
        trusted_link: true,
        mtu: Some(MEMIF_MTU),
        ..DpdkOptions::default()
    };
    let port =
        start_port(&eal, &format!("net_memif{r}"), &pool, &opts).map_err(io::Error::other)?;
    let tune = |c: &mut SmolConfig| {
        c.rx_buffer = MEMIF_SOCKET_BUFFER;
        c.tx_buffer = MEMIF_SOCKET_BUFFER;
    };
    let t = if members > 1 {
        dpdk_set_transport(&port, pool, ours, 24, &opts, members, |c| {
            tune(c);
            c.listen_backlog = member_backlog(c.listen_backlog, members);
        })
        .map(AnyTransport::DpdkSet)
    } else {
        dpdk_transport(&port, pool, ours, 24, &opts, tune).map(AnyTransport::Dpdk)
    }
    .map_err(io::Error::other)?;
    if role == MemifRole::Client {
        port.wait_link_up(Duration::from_secs(10))
            .map_err(io::Error::other)?;
    }
    // The port lives as long as the process: the transport polls its queue.
    std::mem::forget(port);
    Ok(t)
}

/// Starts DPDK port `net_tap0` with our side on `spec.link`.2 and moves its
/// kernel side (`ifname`) into `ns` as `spec.link`.1.
fn open_dpdk_tap(
    eal: dpdk_env::Eal,
    pool: dpdk_env::Mempool,
    ifname: &str,
    ns: &Namespace,
    spec: &DpdkTapSpec,
) -> Result<DpdkTransport, SpecError> {
    let kernel_side = on_link(spec.link, 1);
    let opts = DpdkOptions {
        checksum_offload: spec.checksum_offload,
        ..DpdkOptions::default()
    };
    let gateway = spec.gateway.then_some(kernel_side);
    let ours = on_link(spec.link, 2);
    let (port, t) = open(&eal, "net_tap0", pool, ours, 24, &opts, |c| {
        c.gateway = gateway
    })
    .map_err(|source| SpecError::Setup {
        what: "DPDK net_tap".into(),
        source,
    })?;
    // The port lives as long as the process: the transport polls its queue.
    std::mem::forget(port);
    ns.adopt(ifname, kernel_side, 24)
        .map_err(|source| SpecError::Setup {
            what: format!("moving {ifname} into {}", ns.name()),
            source,
        })?;
    Ok(t)
}
