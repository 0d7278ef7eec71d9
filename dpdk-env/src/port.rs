//! Ethernet ports: configuration (queues, RSS, offloads, MTU), link status, and
//! per-queue rx/tx burst handles.

use crate::eal::Eal;
use crate::error::{check_port, rte_errno, strerror, Error, Result};
use crate::mbuf::{Mbuf, Mempool};
use dpdk_sys as sys;
use std::ffi::{CStr, CString};
use std::fmt;
use std::ops::BitOr;
use std::os::raw::c_char;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

macro_rules! flags {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $f:ident = $v:expr,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
        pub struct $name(pub u64);
        impl $name {
            $($(#[$fm])* pub const $f: Self = Self($v);)*
            /// No flag.
            pub const NONE: Self = Self(0);
            /// Whether every flag of `other` is set.
            pub fn contains(self, other: Self) -> bool { self.0 & other.0 == other.0 }
            /// Flags set in both.
            pub fn intersection(self, other: Self) -> Self { Self(self.0 & other.0) }
            /// Flags set in self but not in other.
            pub fn difference(self, other: Self) -> Self { Self(self.0 & !other.0) }
            /// Whether no flag is set.
            pub fn is_empty(self) -> bool { self.0 == 0 }
        }
        impl BitOr for $name {
            type Output = Self;
            fn bitor(self, o: Self) -> Self { Self(self.0 | o.0) }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut names = Vec::new();
                $(if self.0 & $v != 0 { names.push(stringify!($f)); })*
                write!(f, "{}({:#x}: {})", stringify!($name), self.0, names.join("|"))
            }
        }
    };
}

flags! {
    /// Receive offloads (`RTE_ETH_RX_OFFLOAD_*`), the subset this crate understands.
    RxOffloads {
        /// Verify IPv4 header checksums.
        IPV4_CKSUM = sys::PM_RTE_ETH_RX_OFFLOAD_IPV4_CKSUM,
        /// Verify UDP checksums.
        UDP_CKSUM = sys::PM_RTE_ETH_RX_OFFLOAD_UDP_CKSUM,
        /// Verify TCP checksums.
        TCP_CKSUM = sys::PM_RTE_ETH_RX_OFFLOAD_TCP_CKSUM,
        /// Deliver the RSS hash in the mbuf.
        RSS_HASH = sys::PM_RTE_ETH_RX_OFFLOAD_RSS_HASH,
        /// Multi-segment receive (not used by this crate's device).
        SCATTER = sys::PM_RTE_ETH_RX_OFFLOAD_SCATTER,
        /// Large receive offload.
        TCP_LRO = sys::PM_RTE_ETH_RX_OFFLOAD_TCP_LRO,
    }
}

flags! {
    /// Transmit offloads (`RTE_ETH_TX_OFFLOAD_*`), the subset this crate understands.
    TxOffloads {
        /// Compute IPv4 header checksums.
        IPV4_CKSUM = sys::PM_RTE_ETH_TX_OFFLOAD_IPV4_CKSUM,
        /// Compute UDP checksums.
        UDP_CKSUM = sys::PM_RTE_ETH_TX_OFFLOAD_UDP_CKSUM,
        /// Compute TCP checksums.
        TCP_CKSUM = sys::PM_RTE_ETH_TX_OFFLOAD_TCP_CKSUM,
        /// TCP segmentation.
        TCP_TSO = sys::PM_RTE_ETH_TX_OFFLOAD_TCP_TSO,
        /// Multi-segment transmit.
        MULTI_SEGS = sys::PM_RTE_ETH_TX_OFFLOAD_MULTI_SEGS,
        /// All mbufs of a queue come from one pool and have refcount 1.
        MBUF_FAST_FREE = sys::PM_RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE,
    }
}

flags! {
    /// RSS hash functions (`RTE_ETH_RSS_*`).
    RssHash {
        /// IPv4 addresses.
        IPV4 = sys::PM_RTE_ETH_RSS_IPV4,
        /// IPv4 addresses and TCP ports.
        NONFRAG_IPV4_TCP = sys::PM_RTE_ETH_RSS_NONFRAG_IPV4_TCP,
        /// IPv4 addresses and UDP ports.
        NONFRAG_IPV4_UDP = sys::PM_RTE_ETH_RSS_NONFRAG_IPV4_UDP,
        /// IPv6 addresses.
        IPV6 = sys::PM_RTE_ETH_RSS_IPV6,
        /// IPv6 addresses and TCP ports.
        NONFRAG_IPV6_TCP = sys::PM_RTE_ETH_RSS_NONFRAG_IPV6_TCP,
        /// IPv6 addresses and UDP ports.
        NONFRAG_IPV6_UDP = sys::PM_RTE_ETH_RSS_NONFRAG_IPV6_UDP,
    }
}

impl RssHash {
    /// Every IP hash type (`RTE_ETH_RSS_IP`).
    pub const IP: Self = Self(sys::PM_RTE_ETH_RSS_IP);
    /// Every TCP hash type (`RTE_ETH_RSS_TCP`).
    pub const TCP: Self = Self(sys::PM_RTE_ETH_RSS_TCP);
    /// Every UDP hash type (`RTE_ETH_RSS_UDP`).
    pub const UDP: Self = Self(sys::PM_RTE_ETH_RSS_UDP);
}

/// RSS configuration of a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RssConfig {
    /// Hash functions wanted; masked by what the port supports. Empty after masking is an
    /// error.
    pub hash: RssHash,
    /// Hash key (usually 40 bytes); `None` keeps the driver's key.
    pub key: Option<Vec<u8>>,
}

impl Default for RssConfig {
    fn default() -> Self {
        Self {
            hash: RssHash::IP | RssHash::TCP | RssHash::UDP,
            key: None,
        }
    }
}

/// How to configure a port.
#[derive(Debug, Clone)]
pub struct PortConfig {
    /// Receive queues.
    pub rx_queues: u16,
    /// Transmit queues.
    pub tx_queues: u16,
    /// Receive descriptors per queue (adjusted to the device's limits).
    pub rx_desc: u16,
    /// Transmit descriptors per queue (adjusted to the device's limits).
    pub tx_desc: u16,
    /// RSS across the receive queues; requires `rx_queues > 1`.
    pub rss: Option<RssConfig>,
    /// Receive offloads wanted; the port enables those it supports.
    pub rx_offloads: RxOffloads,
    /// Transmit offloads wanted; the port enables those it supports.
    pub tx_offloads: TxOffloads,
    /// IP MTU to set (`None`: the device default, normally 1500).
    pub mtu: Option<u16>,
    /// Enable promiscuous mode.
    pub promiscuous: bool,
}

impl Default for PortConfig {
    fn default() -> Self {
        Self {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            rss: None,
            rx_offloads: RxOffloads::NONE,
            tx_offloads: TxOffloads::NONE,
            mtu: None,
            promiscuous: false,
        }
    }
}

/// Static facts about a port (`rte_eth_dev_info`).
#[derive(Debug, Clone)]
pub struct PortInfo {
    /// Driver name, e.g. `net_tap`.
    pub driver: String,
    /// Maximum receive queues.
    pub max_rx_queues: u16,
    /// Maximum transmit queues.
    pub max_tx_queues: u16,
    /// Receive offloads supported.
    pub rx_offload_capa: RxOffloads,
    /// Transmit offloads supported.
    pub tx_offload_capa: TxOffloads,
    /// RSS hash functions supported.
    pub rss_capa: RssHash,
    /// Size of the RSS redirection table (0: none).
    pub reta_size: u16,
    /// RSS key size in bytes.
    pub hash_key_size: u8,
    /// MTU bounds.
    pub min_mtu: u16,
    /// MTU bounds.
    pub max_mtu: u16,
}

/// Link state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Carrier up.
    pub up: bool,
    /// Speed in Mbit/s (0 when unknown).
    pub speed_mbps: u32,
}

/// Port counters (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub ipackets: u64,
    /// Packets sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Packets dropped because no rx descriptor was free.
    pub imissed: u64,
    /// Receive errors.
    pub ierrors: u64,
    /// Transmit errors.
    pub oerrors: u64,
    /// Receive mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// Looks up a port id by device name (e.g. `net_ring0`, `net_tap0`).
pub fn port_by_name(_eal: &Eal, name: &str) -> Result<u16> {
    let c = CString::new(name).map_err(|_| Error::NoSuchPort(name.into()))?;
    let mut id = 0u16;
    // SAFETY: EAL initialized; c is a valid C string; id is a valid out pointer.
    let rc = unsafe { sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
    if rc < 0 {
        return Err(Error::NoSuchPort(name.into()));
    }
    Ok(id)
}

/// Number of usable ports.
pub fn port_count(_eal: &Eal) -> u16 {
    // SAFETY: EAL initialized.
    unsafe { sys::rte_eth_dev_count_avail() }
}

/// Reads a port's capabilities (before or after configuration).
pub fn port_info(_eal: &Eal, port: u16) -> Result<PortInfo> {
    let mut di = sys::rte_eth_dev_info::default();
    // SAFETY: EAL initialized; di is a valid out struct; invalid ids return an error.
    check_port(port, "rte_eth_dev_info_get", unsafe {
        sys::rte_eth_dev_info_get(port, &mut di)
    })?;
    let driver = if di.driver_name.is_null() {
        String::new()
    } else {
        // SAFETY: driver_name points at the driver's static name.
        unsafe { CStr::from_ptr(di.driver_name) }
            .to_string_lossy()
            .into_owned()
    };
    Ok(PortInfo {
        driver,
        max_rx_queues: di.max_rx_queues,
        max_tx_queues: di.max_tx_queues,
        rx_offload_capa: RxOffloads(di.rx_offload_capa),
        tx_offload_capa: TxOffloads(di.tx_offload_capa),
        rss_capa: RssHash(di.flow_type_rss_offloads),
        reta_size: di.reta_size,
        hash_key_size: di.hash_key_size,
        min_mtu: di.min_mtu,
        max_mtu: di.max_mtu,
    })
}

struct PortInner {
    id: u16,
    name: String,
    info: PortInfo,
    rx_offloads: RxOffloads,
    tx_offloads: TxOffloads,
    rss: Option<RssHash>,
    rx_taken: Vec<AtomicBool>,
    tx_taken: Vec<AtomicBool>,
    pool: Mempool,
}

impl Drop for PortInner {
    fn drop(&mut self) {
        // SAFETY: no queue handle is left (they hold this Arc); stopping and closing a
        // started port is always allowed. Errors (e.g. a tap moved to another network
        // namespace) are ignored: the process is tearing the port down anyway.
        unsafe {
            sys::rte_eth_dev_stop(self.id);
            sys::rte_eth_dev_close(self.id);
        }
    }
}

/// A configured and started port. Cloning shares it; it is stopped and closed when the
/// last clone and the last queue handle are gone.
#[derive(Clone)]
pub struct Port {
    inner: Arc<PortInner>,
}

impl fmt::Debug for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Port")
            .field("id", &self.inner.id)
            .field("name", &self.inner.name)
            .field("driver", &self.inner.info.driver)
            .finish()
    }
}

impl Port {
    /// Configures port `id` (queues, RSS, offloads, MTU), sets up its queues with
    /// receive buffers from `pool`, and starts it.
    pub fn start(eal: &Eal, id: u16, cfg: &PortConfig, pool: &Mempool) -> Result<Port> {
        let info = port_info(eal, id)?;
        let unsupported = |what: String| Error::Unsupported { port: id, what };
        if cfg.rx_queues == 0 || cfg.tx_queues == 0 {
            return Err(unsupported("need at least one rx and one tx queue".into()));
        }
        if cfg.rx_queues > info.max_rx_queues || cfg.tx_queues > info.max_tx_queues {
            return Err(unsupported(format!(
                "{} rx / {} tx queues asked, driver {} allows {} / {}",
                cfg.rx_queues, cfg.tx_queues, info.driver, info.max_rx_queues, info.max_tx_queues
            )));
        }
        let mut conf = sys::rte_eth_conf::default();
        let rx_offloads = cfg.rx_offloads.intersection(info.rx_offload_capa);
        let tx_offloads = cfg.tx_offloads.intersection(info.tx_offload_capa);
        conf.rxmode.offloads = rx_offloads.0;
        conf.txmode.offloads = tx_offloads.0;
        let mut key = Vec::new();
        let mut rss = None;
        if let Some(r) = &cfg.rss {
            let hash = r.hash.intersection(info.rss_capa);
            if hash.is_empty() {
                return Err(unsupported(format!(
                    "RSS asked ({:?}) but driver {} supports none of it ({:?})",
                    r.hash, info.driver, info.rss_capa
                )));
            }
            conf.rxmode.mq_mode = sys::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = hash.0;
            if let Some(k) = &r.key {
                key = k.clone();
                conf.rx_adv_conf.rss_conf.rss_key = key.as_mut_ptr();
                conf.rx_adv_conf.rss_conf.rss_key_len = key.len() as u8;
            }
            rss = Some(hash);
        }
        // SAFETY: conf is fully initialized (zeroed + fields set) and, with `key`, lives
        // across the call; the port id was validated by port_info.
        check_port(id, "rte_eth_dev_configure", unsafe {
            sys::rte_eth_dev_configure(id, cfg.rx_queues, cfg.tx_queues, &conf)
        })?;
        drop(key);
        let (mut nrx, mut ntx) = (cfg.rx_desc, cfg.tx_desc);
        // SAFETY: valid port; in/out pointers to locals.
        check_port(id, "rte_eth_dev_adjust_nb_rx_tx_desc", unsafe {
            sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut nrx, &mut ntx)
        })?;
        // SAFETY: valid port; negative means unknown socket, mapped to ANY.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) };
        let socket = if socket < 0 { 0 } else { socket as u32 };
        for q in 0..cfg.rx_queues {
            // SAFETY: configured port, q < rx_queues; NULL rxconf = driver defaults; the
            // pool outlives the port (pools are never freed).
            check_port(id, "rte_eth_rx_queue_setup", unsafe {
                sys::rte_eth_rx_queue_setup(id, q, nrx, socket, std::ptr::null(), pool.as_ptr())
            })?;
        }
        for q in 0..cfg.tx_queues {
            // SAFETY: configured port, q < tx_queues; NULL txconf = driver defaults plus
            // the port-level offloads.
            check_port(id, "rte_eth_tx_queue_setup", unsafe {
                sys::rte_eth_tx_queue_setup(id, q, ntx, socket, std::ptr::null())
            })?;
        }
        if let Some(mtu) = cfg.mtu {
            // SAFETY: configured port.
            check_port(id, "rte_eth_dev_set_mtu", unsafe {
                sys::rte_eth_dev_set_mtu(id, mtu)
            })?;
        }
        // SAFETY: configured port with all queues set up.
        check_port(id, "rte_eth_dev_start", unsafe {
            sys::rte_eth_dev_start(id)
        })?;
        if cfg.promiscuous {
            // SAFETY: started port. Drivers without promiscuous mode return an error we
            // can ignore (virtual devices see every frame anyway).
            unsafe { sys::rte_eth_promiscuous_enable(id) };
        }
        let name = port_name(id);
        Ok(Port {
            inner: Arc::new(PortInner {
                id,
                name,
                info,
                rx_offloads,
                tx_offloads,
                rss,
                rx_taken: (0..cfg.rx_queues).map(|_| AtomicBool::new(false)).collect(),
                tx_taken: (0..cfg.tx_queues).map(|_| AtomicBool::new(false)).collect(),
                pool: *pool,
            }),
        })
    }

    /// Port id.
    pub fn id(&self) -> u16 {
        self.inner.id
    }

    /// Device name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Capabilities read at start.
    pub fn info(&self) -> &PortInfo {
        &self.inner.info
    }

    /// Receive offloads enabled (asked ∩ supported).
    pub fn rx_offloads(&self) -> RxOffloads {
        self.inner.rx_offloads
    }

    /// Transmit offloads enabled (asked ∩ supported).
    pub fn tx_offloads(&self) -> TxOffloads {
        self.inner.tx_offloads
    }

    /// RSS hash functions enabled, if RSS is on.
    pub fn rss(&self) -> Option<RssHash> {
        self.inner.rss
    }

    /// Pool that receive buffers come from.
    pub fn pool(&self) -> Mempool {
        self.inner.pool
    }

    /// Number of receive queues.
    pub fn rx_queue_count(&self) -> u16 {
        self.inner.rx_taken.len() as u16
    }

    /// Number of transmit queues.
    pub fn tx_queue_count(&self) -> u16 {
        self.inner.tx_taken.len() as u16
    }

    /// MAC address.
    pub fn mac(&self) -> Result<[u8; 6]> {
        let mut a = sys::rte_ether_addr::default();
        // SAFETY: valid port; out pointer to a local.
        check_port(self.id(), "rte_eth_macaddr_get", unsafe {
            sys::rte_eth_macaddr_get(self.id(), &mut a)
        })?;
        Ok(a.addr_bytes)
    }

    /// IP MTU.
    pub fn mtu(&self) -> Result<u16> {
        let mut m = 0u16;
        // SAFETY: valid port; out pointer to a local.
        check_port(self.id(), "rte_eth_dev_get_mtu", unsafe {
            sys::rte_eth_dev_get_mtu(self.id(), &mut m)
        })?;
        Ok(m)
    }

    /// Sets the IP MTU.
    pub fn set_mtu(&self, mtu: u16) -> Result<()> {
        // SAFETY: valid port.
        check_port(self.id(), "rte_eth_dev_set_mtu", unsafe {
            sys::rte_eth_dev_set_mtu(self.id(), mtu)
        })?;
        Ok(())
    }

    /// Link state, without waiting.
    pub fn link(&self) -> Result<Link> {
        let mut l = sys::rte_eth_link::default();
        // SAFETY: valid port; out pointer to a local.
        check_port(self.id(), "rte_eth_link_get_nowait", unsafe {
            sys::rte_eth_link_get_nowait(self.id(), &mut l)
        })?;
        Ok(Link {
            up: l.link_status() as u32 == sys::RTE_ETH_LINK_UP,
            speed_mbps: l.link_speed,
        })
    }

    /// Polls the link until it is up (memif: after both ends started).
    pub fn wait_link_up(&self, timeout: Duration) -> Result<Link> {
        let t0 = Instant::now();
        loop {
            let l = self.link()?;
            if l.up {
                return Ok(l);
            }
            if t0.elapsed() > timeout {
                return Err(Error::Timeout {
                    what: format!("link up on port {} ({})", self.id(), self.name()),
                    ms: timeout.as_millis() as u64,
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Counters.
    pub fn stats(&self) -> Result<PortStats> {
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: valid port; out pointer to a local.
        check_port(self.id(), "rte_eth_stats_get", unsafe {
            sys::rte_eth_stats_get(self.id(), &mut s)
        })?;
        Ok(PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// RSS hash functions the device reports as active (`rte_eth_dev_rss_hash_conf_get`).
    pub fn rss_hash_active(&self) -> Result<RssHash> {
        let mut c = sys::rte_eth_rss_conf::default();
        // SAFETY: valid port; rss_key NULL means "do not return the key".
        check_port(self.id(), "rte_eth_dev_rss_hash_conf_get", unsafe {
            sys::rte_eth_dev_rss_hash_conf_get(self.id(), &mut c)
        })?;
        Ok(RssHash(c.rss_hf))
    }

    /// Writes the RSS redirection table: entry `i` sends hash bucket `i` to
    /// `table[i % table.len()]`.
    pub fn set_reta(&self, table: &[u16]) -> Result<()> {
        let size = self.info().reta_size as usize;
        if size == 0 || table.is_empty() {
            return Err(Error::Unsupported {
                port: self.id(),
                what: format!("driver {} has no RSS redirection table", self.info().driver),
            });
        }
        let g = sys::RTE_ETH_RETA_GROUP_SIZE as usize;
        let mut conf = vec![sys::rte_eth_rss_reta_entry64::default(); size.div_ceil(g)];
        for i in 0..size {
            conf[i / g].mask |= 1 << (i % g);
            conf[i / g].reta[i % g] = table[i % table.len()];
        }
        // SAFETY: conf holds reta_size entries in ceil(size/64) groups, as DPDK expects.
        check_port(self.id(), "rte_eth_dev_rss_reta_update", unsafe {
            sys::rte_eth_dev_rss_reta_update(self.id(), conf.as_mut_ptr(), size as u16)
        })?;
        Ok(())
    }

    /// Reads the RSS redirection table.
    pub fn reta(&self) -> Result<Vec<u16>> {
        let size = self.info().reta_size as usize;
        let g = sys::RTE_ETH_RETA_GROUP_SIZE as usize;
        let mut conf = vec![sys::rte_eth_rss_reta_entry64::default(); size.div_ceil(g)];
        for i in 0..size {
            conf[i / g].mask |= 1 << (i % g);
        }
        // SAFETY: as in set_reta.
        check_port(self.id(), "rte_eth_dev_rss_reta_query", unsafe {
            sys::rte_eth_dev_rss_reta_query(self.id(), conf.as_mut_ptr(), size as u16)
        })?;
        Ok((0..size).map(|i| conf[i / g].reta[i % g]).collect())
    }

    /// Takes the receive queue `q`; one handle per queue at a time.
    pub fn rx_queue(&self, q: u16) -> Result<RxQueue> {
        self.claim(q, &self.inner.rx_taken, "rx")?;
        Ok(RxQueue {
            port: self.inner.clone(),
            q,
        })
    }

    /// Takes the transmit queue `q`; one handle per queue at a time.
    pub fn tx_queue(&self, q: u16) -> Result<TxQueue> {
        self.claim(q, &self.inner.tx_taken, "tx")?;
        Ok(TxQueue {
            port: self.inner.clone(),
            q,
        })
    }

    fn claim(&self, q: u16, taken: &[AtomicBool], dir: &'static str) -> Result<()> {
        let slot = taken.get(q as usize).ok_or_else(|| Error::Unsupported {
            port: self.id(),
            what: format!(
                "{dir} queue {q} does not exist ({} configured)",
                taken.len()
            ),
        })?;
        if slot.swap(true, Ordering::AcqRel) {
            return Err(Error::QueueTaken {
                port: self.id(),
                queue: q,
                dir,
            });
        }
        Ok(())
    }
}

fn port_name(id: u16) -> String {
    let mut buf = [0 as c_char; 64];
    // SAFETY: valid port; buf is RTE_ETH_NAME_MAX_LEN (64) bytes as the API requires.
    let rc = unsafe { sys::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) };
    if rc < 0 {
        return format!("port{id}");
    }
    // SAFETY: DPDK wrote a NUL-terminated name into buf.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Exclusive handle on one receive queue. `Send` (move it to its reactor thread), not
/// `Sync`: DPDK queues are single-consumer.
pub struct RxQueue {
    port: Arc<PortInner>,
    q: u16,
}

// SAFETY: the handle is unique per queue (claimed atomically); moving it to another
// thread moves the only consumer. Not Sync, so no concurrent bursts.
unsafe impl Send for RxQueue {}

impl RxQueue {
    /// Port id.
    pub fn port_id(&self) -> u16 {
        self.port.id
    }

    /// Queue id.
    pub fn queue_id(&self) -> u16 {
        self.q
    }

    /// Receives up to `max` packets, appended to `out`. Returns how many.
    pub fn rx_burst(&mut self, out: &mut Vec<Mbuf>, max: usize) -> usize {
        let max = max.min(u16::MAX as usize);
        out.reserve(max);
        let len = out.len();
        // SAFETY: `out` has room for `max` more elements; Mbuf is repr(transparent) over
        // a non-null mbuf pointer and rx_burst writes `n` valid mbufs whose ownership it
        // transfers to us. The queue is exclusively ours (&mut self, unique handle).
        unsafe {
            let dst = out.as_mut_ptr().add(len) as *mut *mut sys::rte_mbuf;
            let n = sys::pm_rte_eth_rx_burst(self.port.id, self.q, dst, max as u16) as usize;
            out.set_len(len + n);
            n
        }
    }
}

impl fmt::Debug for RxQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RxQueue({}:{})", self.port.id, self.q)
    }
}

impl Drop for RxQueue {
    fn drop(&mut self) {
        self.port.rx_taken[self.q as usize].store(false, Ordering::Release);
    }
}

/// Exclusive handle on one transmit queue.
pub struct TxQueue {
    port: Arc<PortInner>,
    q: u16,
}

// SAFETY: as for RxQueue: unique producer handle, Send but not Sync.
unsafe impl Send for TxQueue {}

impl TxQueue {
    /// Port id.
    pub fn port_id(&self) -> u16 {
        self.port.id
    }

    /// Queue id.
    pub fn queue_id(&self) -> u16 {
        self.q
    }

    /// Transmit offloads enabled on the port.
    pub fn offloads(&self) -> TxOffloads {
        self.port.tx_offloads
    }

    /// Sends from the front of `pkts`; the sent mbufs are removed (the driver owns them
    /// now), the unsent ones stay in order. Returns how many were sent.
    pub fn tx_burst(&mut self, pkts: &mut Vec<Mbuf>) -> usize {
        let mut sent = 0usize;
        while sent < pkts.len() {
            let chunk = (pkts.len() - sent).min(u16::MAX as usize);
            // SAFETY: the pointers from `sent` on are valid owned mbufs; tx_burst takes
            // ownership of the first `n` it returns; we then forget those (below).
            let n = unsafe {
                let p = pkts.as_mut_ptr().add(sent) as *mut *mut sys::rte_mbuf;
                sys::pm_rte_eth_tx_burst(self.port.id, self.q, p, chunk as u16) as usize
            };
            sent += n;
            if n < chunk {
                break;
            }
        }
        let rest = pkts.len() - sent;
        // SAFETY: elements [0, sent) were handed to the driver and must not be dropped:
        // shift the unsent tail to the front and shorten the vector without running
        // destructors on the moved-out slots.
        unsafe {
            let p = pkts.as_mut_ptr();
            std::ptr::copy(p.add(sent), p, rest);
            pkts.set_len(rest);
        }
        sent
    }
}

impl fmt::Debug for TxQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxQueue({}:{})", self.port.id, self.q)
    }
}

impl Drop for TxQueue {
    fn drop(&mut self) {
        self.port.tx_taken[self.q as usize].store(false, Ordering::Release);
    }
}

/// Two ports joined back to back through rings (`rte_eth_from_rings`): what one sends on
/// queue `i`, the other receives on queue `i`. Returns `(a, b)` port ids, to pass to
/// [`Port::start`]. `name` must be unique in the process.
pub fn ring_pair(_eal: &Eal, name: &str, queues: u16, ring_size: u32) -> Result<(u16, u16)> {
    let mk = |tag: String| -> Result<*mut sys::rte_ring> {
        let c = CString::new(tag.clone()).map_err(|_| Error::Config(tag.clone()))?;
        // Single producer (one tx queue) / single consumer (one rx queue).
        let flags = 0x0001 | 0x0002; // RING_F_SP_ENQ | RING_F_SC_DEQ
                                     // SAFETY: EAL initialized; c valid for the call; rings are never freed (the
                                     // ports created from them keep the pointers for the life of the process).
        let r = unsafe { sys::rte_ring_create(c.as_ptr(), ring_size, sys::SOCKET_ID_ANY, flags) };
        if r.is_null() {
            let errno = rte_errno();
            return Err(Error::Alloc {
                what: "ring",
                name: tag,
                errno,
                reason: strerror(errno),
            });
        }
        Ok(r)
    };
    let mut ab = Vec::new();
    let mut ba = Vec::new();
    for i in 0..queues {
        ab.push(mk(format!("{name}_ab{i}"))?);
        ba.push(mk(format!("{name}_ba{i}"))?);
    }
    let mkport = |pname: String, rx: &[*mut sys::rte_ring], tx: &[*mut sys::rte_ring]| {
        let c = CString::new(pname.clone()).map_err(|_| Error::Config(pname.clone()))?;
        // SAFETY: rx/tx hold `queues` live rings each; the driver copies the arrays.
        let rc = unsafe {
            sys::rte_eth_from_rings(
                c.as_ptr(),
                rx.as_ptr(),
                rx.len() as u32,
                tx.as_ptr(),
                tx.len() as u32,
                0,
            )
        };
        if rc < 0 {
            let errno = rte_errno();
            return Err(Error::Alloc {
                what: "ring port",
                name: pname,
                errno,
                reason: strerror(errno),
            });
        }
        Ok(rc as u16)
    };
    // The vdev bus matches drivers by name prefix: ring ports must be named net_ring*.
    let a = mkport(format!("net_ring_{name}_a"), &ba, &ab)?;
    let b = mkport(format!("net_ring_{name}_b"), &ab, &ba)?;
    Ok((a, b))
}
