//! The spec's addressing rules and the kernel path end to end.

use super::*;
use crate::net::transport::Transport;

fn tap() -> TransportSpec {
    TransportSpec::Tap(TapSpec {
        netns: Netns::Create,
        link: SERVE_TAP_LINK,
        gateway: false,
        interfaces: 2,
    })
}

fn memif(role: MemifRole) -> TransportSpec {
    TransportSpec::DpdkMemif(MemifSpec {
        role,
        sockets: Some(vec!["/run/a.sock".into(), "/run/b.sock".into()]),
        interfaces: 1,
    })
}

#[test]
fn listen_addresses_follow_the_transport() {
    let base: SocketAddr = "127.1.2.3:7000".parse().expect("addr");
    let any: SocketAddr = "127.1.2.3:0".parse().expect("addr");
    let k = TransportSpec::Kernel;
    assert_eq!(
        k.listen_addr(1, 3, base).expect("kernel"),
        "127.1.2.3:7003".parse().expect("addr")
    );
    assert_eq!(k.listen_addr(1, 3, any).expect("kernel any"), any);
    let high: SocketAddr = "127.1.2.3:65535".parse().expect("addr");
    assert!(matches!(
        k.listen_addr(0, 1, high),
        Err(SpecError::PortOverflow {
            base: 65535,
            index: 1
        })
    ));
    // Every TAP endpoint is on the shared link's .2, whatever the reactor.
    assert_eq!(
        tap().listen_addr(1, 2, any).expect("tap"),
        "169.254.100.2:6802".parse().expect("addr")
    );
    // memif: the serving side of reactor r's own link.
    assert_eq!(
        memif(MemifRole::Server)
            .listen_addr(1, 0, base)
            .expect("memif"),
        "169.254.121.1:7000".parse().expect("addr")
    );
}

#[test]
fn memif_reactors_reach_only_their_own_link() {
    let m = memif(MemifRole::Client);
    let on0: SocketAddr = "169.254.120.1:6800".parse().expect("addr");
    let on1: SocketAddr = "169.254.121.1:6800".parse().expect("addr");
    assert!(m.reaches(0, on0) && !m.reaches(0, on1) && m.reaches(1, on1));
    assert!(TransportSpec::Kernel.reaches(0, on1));
    assert_eq!(m.max_reactors(), Some(2));
    assert_eq!(m.our_addr(1), Some(Ipv4Addr::new(169, 254, 121, 2)));
    assert_eq!(TransportSpec::Kernel.max_reactors(), None);
}

#[test]
fn idle_policy_and_names() {
    let five = Duration::from_millis(5);
    assert_eq!(TransportSpec::Kernel.idle(five), IdlePolicy::Sleep(five));
    assert_eq!(
        tap().idle(five),
        IdlePolicy::Sleep(Duration::from_millis(1))
    );
    assert_eq!(memif(MemifRole::Server).idle(five), IdlePolicy::BusyPoll);
    assert_eq!(
        [
            TransportSpec::Kernel.name(),
            tap().name(),
            memif(MemifRole::Client).name()
        ],
        ["kernel", "tap", "dpdk"]
    );
}

#[test]
fn a_memif_client_without_sockets_is_refused() {
    let spec = TransportSpec::DpdkMemif(MemifSpec {
        role: MemifRole::Client,
        sockets: None,
        interfaces: 1,
    });
    assert!(matches!(
        spec.prepare(1, []),
        Err(SpecError::NoMemifSockets)
    ));
}

#[test]
fn kernel_transports_open_once_per_reactor() {
    let mut ts = TransportSpec::Kernel.prepare(2, []).expect("prepare");
    assert_eq!(ts.describe(), serde_json::json!({ "transport": "kernel" }));
    assert!(ts.netns().is_none() && ts.memif_sockets().is_empty());
    let mut t = ts.factory(1).expect("factory")().expect("open");
    assert_eq!(t.name(), "kernel");
    t.listen("127.0.0.1:0".parse().expect("addr"))
        .expect("listen");
    assert_eq!(ts.open(0).expect("open").name(), "kernel");
}

/// Both ends of one memif link: reactor 0 serves on the link's .1, reactor 1
/// loads from .2, and both reach only the serving side.
/// `--smol-shards` reaches a memif spec through `choose`, as it does TAP's.
#[test]
fn chosen_memif_and_tap_specs_carry_their_interfaces() {
    let opts = |interfaces| TransportOptions {
        netns: Netns::Create,
        link: [169, 254, 1],
        gateway: false,
        interfaces,
        dpdk: DpdkPort::Memif(MemifSpec {
            role: MemifRole::Server,
            sockets: None,
            interfaces: 1,
        }),
    };
    let memif = TransportSpec::choose(TransportKind::Dpdk, opts(8));
    assert_eq!(memif.interfaces(), 8);
    assert_eq!(
        TransportSpec::choose(TransportKind::Dpdk, opts(0)).interfaces(),
        1
    );
    assert_eq!(
        TransportSpec::choose(TransportKind::Tap, opts(64)).interfaces(),
        64
    );
    assert_eq!(
        TransportSpec::choose(TransportKind::Kernel, opts(64)).interfaces(),
        0
    );
}

#[test]
fn a_memif_pair_puts_both_ends_on_one_link() {
    let pair = TransportSpec::DpdkMemifPair;
    let (serve, load) = memif_addrs(0);
    assert_eq!(
        (pair.our_addr(0), pair.our_addr(1)),
        (Some(serve), Some(load))
    );
    assert_ne!(serve, load);
    let any: SocketAddr = "0.0.0.0:0".parse().expect("addr");
    assert_eq!(
        pair.listen_addr(0, 0, any).expect("pair"),
        SocketAddr::new(serve.into(), 6800)
    );
    let on0 = SocketAddr::new(serve.into(), 6800);
    let on1 = SocketAddr::new(memif_addrs(1).0.into(), 6800);
    assert!(pair.reaches(1, on0) && pair.reaches(0, on0) && !pair.reaches(1, on1));
    assert_eq!(pair.max_reactors(), Some(2));
    assert_eq!(pair.idle(Duration::from_millis(5)), IdlePolicy::BusyPoll);
    assert_eq!(pair.name(), "dpdk");
}

#[test]
fn memif_pools_hold_bursts_and_caches_not_rings() {
    assert_eq!(memif_pool_mbufs(1), 2047);
    // EAL memory follows the pool: 128 MB for the usual memif pool of jumbo
    // mbufs or a net_tap pool of 8,191 default ones; the largest pool
    // (65,535 jumbo mbufs, 616 MB of them) still fits.
    assert_eq!(eal_memory_mb(2047, MEMIF_MBUF_ROOM), 128);
    assert_eq!(
        eal_memory_mb(8191, dpdk_env::Mempool::DEFAULT_DATA_ROOM),
        128
    );
    assert_eq!(eal_memory_mb(65_535, MEMIF_MBUF_ROOM), 704);
    assert_eq!(memif_pool_mbufs(2), 2047);
    assert_eq!(memif_pool_mbufs(8), 8191);
    // Never past a 16-bit count, however many ports.
    assert_eq!(memif_pool_mbufs(1000), (1 << 16) - 1);
    assert!((1..64).all(|p| (memif_pool_mbufs(p) + 1).is_power_of_two()));
    // A jumbo frame fits one mbuf after its headroom.
    assert!(
        usize::from(MEMIF_MBUF_ROOM - dpdk_env::Mempool::HEADROOM)
            >= crate::net::dpdk::MEMIF_MTU + 14
    );
}
