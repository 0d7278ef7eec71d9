//! Two DPDK ports joined back to back through rings, each under its own smoltcp stack:
//! a TCP connection carries 8 MiB in each direction, checked byte for byte and by
//! SHA-256. Both stacks only exist in this process; nothing touches the kernel network.
#![deny(unsafe_code)]

use dpdk_env::testkit::{ring_pair_stacks, Pattern, TcpTransfer};
use dpdk_env::*;
use std::time::{Duration, Instant};

const BYTES: u64 = 8 << 20;

#[test]
fn smoltcp_tcp_over_ring_pair() {
    let eal = Eal::init(&EalConfig::default()).expect("EAL init");
    let pool = Mempool::new(&eal, "pair_pool", 8191, 256).unwrap();
    // Addresses exist only inside these two smoltcp stacks.
    let [(mut sa, ha), (mut sb, hb)] =
        ring_pair_stacks(&eal, "rp", pool, [pool, pool], 1 << 20).unwrap();

    let mut ta = TcpTransfer::new(BYTES, 1, 2);
    let mut tb = TcpTransfer::new(BYTES, 2, 1);
    let t0 = Instant::now();
    loop {
        sa.poll();
        sb.poll();
        ta.pump(sa.tcp(ha));
        tb.pump(sb.tcp(hb));
        if ta.done(sa.tcp(ha)) && tb.done(sb.tcp(hb)) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(25),
            "stalled: a sent {} got {}, b sent {} got {}; a {:?} b {:?}",
            BYTES - ta.src.remaining(),
            ta.sink.received(),
            BYTES - tb.src.remaining(),
            tb.sink.received(),
            sa.dev.stats(),
            sb.dev.stats()
        );
    }
    let secs = t0.elapsed().as_secs_f64();
    for (t, seed) in [(&ta, 2u64), (&tb, 1u64)] {
        assert_eq!(t.sink.received(), BYTES);
        assert_eq!(t.sink.mismatch(), None);
        assert_eq!(t.sink.digest(), Pattern::new(seed).digest(BYTES));
    }
    assert_eq!(ta.sink.digest(), tb.src.digest());
    assert_eq!(tb.sink.digest(), ta.src.digest());
    eprintln!(
        "ring pair: 2 x {} MiB in {secs:.2}s ({:.0} Mbit/s each way); a {:?}",
        BYTES >> 20,
        BYTES as f64 * 8.0 / secs / 1e6,
        sa.dev.stats()
    );
}
