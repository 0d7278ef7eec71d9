//! Mempool exhaustion back-pressures the TCP stack instead of losing frames: one
//! side of a ring pair sends from a pool far smaller than its window (ring ports pass
//! mbufs by pointer, so every frame in flight holds one until the peer's stack has
//! read it). The transfer completes intact, the sender was told to wait for mbufs,
//! and no frame it built was thrown away.
#![deny(unsafe_code)]

use dpdk_env::testkit::{ring_pair_stacks, Pattern, TcpTransfer};
use dpdk_env::*;
use std::time::{Duration, Instant};

const BYTES: u64 = 4 << 20;

#[test]
fn empty_mempool_makes_smoltcp_wait_instead_of_dropping_frames() {
    let eal = Eal::init(&EalConfig::default()).expect("EAL init");
    // Receive queues fill from a large pool; the sender's frames come from a
    // pool of 48 (its 1 MiB window would want ~700 in flight).
    let rx_pool = Mempool::new(&eal, "exh_rx", 8191, 256).unwrap();
    let tiny = Mempool::new(&eal, "exh_tx", 48, 0).unwrap();
    // Addresses exist only inside these two smoltcp stacks.
    let [(mut sa, ha), (mut sb, hb)] =
        ring_pair_stacks(&eal, "exh", rx_pool, [tiny, rx_pool], 1 << 20).unwrap();

    // a sends, b only receives (and acknowledges from its own large pool).
    let mut ta = TcpTransfer::new(BYTES, 1, 2);
    let mut tb = TcpTransfer::new(0, 2, 1);
    let t0 = Instant::now();
    loop {
        // Each pass a's window allows far more frames than its pool holds:
        // they wait in the ring until b's poll has read them.
        sa.poll();
        sb.poll();
        ta.pump(sa.tcp(ha));
        tb.pump(sb.tcp(hb));
        if tb.sink.received() == BYTES {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "stalled: b got {} of {BYTES}; a {:?} b {:?}",
            tb.sink.received(),
            sa.dev.stats(),
            sb.dev.stats()
        );
    }
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(tb.sink.mismatch(), None);
    assert_eq!(tb.sink.digest(), Pattern::new(1).digest(BYTES));
    let st = sa.dev.stats();
    eprintln!(
        "pool of 48: {} MiB in {secs:.2}s ({:.0} Mbit/s); sender {st:?}",
        BYTES >> 20,
        BYTES as f64 * 8.0 / secs / 1e6
    );
    assert!(
        st.tx_pool_empty > 0,
        "the pool never ran dry, so nothing was tested: {st:?}"
    );
    assert_eq!(
        st.tx_no_mbuf, 0,
        "frames were built and dropped for want of an mbuf: {st:?}"
    );
}
