//! Secure-mode nonces near the wrap point (msgr2 reference 4.2,
//! CVE-2020-1759): a connection whose TX nonce counter is about to come back
//! to a value already used refuses to encrypt (NonceExhausted) and faults;
//! the lossless session reconnects with fresh keys (a new cephx connection
//! secret), and no message is lost, duplicated or reordered.
//!
//! msgr2.1 counts a le64 (bytes 4..12): the guard fires at 2^64. msgr2.0
//! counts a le32 (bytes 0..4) that wraps after 2^32 frames: the guard fires
//! when the counter would return to its initial value. The test hooks set
//! the counter a few frames before either point.

mod cephx_pair;

use cephx_pair::Pair;
use pollmsgr::crypto::CryptoError;
use pollmsgr::proto::frame::FrameError;
use pollmsgr::proto::{ConnError, PeerMisbehaved};
use pollmsgr::wire::banner::BannerError;
use pollmsgr::wire::ConMode;

/// A close that says the bytes were not what was sent: a GCM tag, crc or
/// signature mismatch (or any auth failure, which should not happen here).
fn integrity_failure(e: &ConnError) -> bool {
    matches!(
        e,
        ConnError::Crypto(CryptoError::BadTag)
            | ConnError::Frame(
                FrameError::Crypto(CryptoError::BadTag)
                    | FrameError::PreambleCrc { .. }
                    | FrameError::SegmentCrc { .. }
            )
            | ConnError::PeerMisbehaved(PeerMisbehaved::BadSignature)
            | ConnError::Banner(BannerError::MissingFeatures { .. })
            | ConnError::Auth(_)
    )
}

/// How many nonces the connection may still use before the guard fires.
const HEADROOM: u64 = 3;

/// The counter to set so that only `HEADROOM` nonces remain, given this
/// transport's connection secret and which side transmits.
fn near_wrap(rev1: bool, secret: &[u8], connector_tx: bool) -> u64 {
    if rev1 {
        // Uses MAX-2, MAX-1, MAX; the increment past MAX would wrap.
        u64::MAX - (HEADROOM - 1)
    } else {
        // Connector TX nonce = secret[28..40), acceptor TX = secret[16..28);
        // rev0 counts the le32 at the nonce's bytes 0..4 (reference 4.1/4.2).
        let at = if connector_tx { 28 } else { 16 };
        let initial =
            u32::from_le_bytes([secret[at], secret[at + 1], secret[at + 2], secret[at + 3]]);
        u64::from(initial.wrapping_sub(HEADROOM as u32))
    }
}

fn run(rev1: bool, connector_side: bool) {
    let what = format!("rev1={rev1} connector_side={connector_side}");
    let mut p = Pair::new(rev1, vec![ConMode::Secure], vec![ConMode::Secure]);
    assert!(
        p.pump_until(2000, |p| p.both_ready()),
        "{what}: never ready"
    );
    for _ in 0..10 {
        p.send_both();
    }
    assert!(
        p.pump_until(5000, |p| p.all_delivered() && p.quiet()),
        "{what}: first batch"
    );

    // Bring one side's TX counter to a few nonces before the wrap.
    let secret = p
        .client_secrets
        .lock()
        .expect("secrets")
        .last()
        .cloned()
        .expect("a connection secret");
    assert_eq!(secret.len(), 64, "{what}: cephx secure secret");
    let v = near_wrap(rev1, &secret, connector_side);
    // Move the sender's TX counter and the peer's RX counter together, as
    // if that many frames had really been sent.
    let server = p.server.as_mut().expect("acceptor");
    let set = if connector_side {
        p.client.set_tx_nonce_counter_for_test(v) && server.set_rx_nonce_counter_for_test(v)
    } else {
        server.set_tx_nonce_counter_for_test(v) && p.client.set_rx_nonce_counter_for_test(v)
    };
    assert!(set, "{what}: the connection is not in secure mode");

    // Keep sending: within a few frames the guard must fire.
    for _ in 0..40 {
        p.send_both();
        p.pump(20);
    }
    assert!(
        p.pump_until(20_000, |p| p.all_delivered() && p.both_ready()),
        "{what}: not everything was delivered after the reconnect; closes: {:?}",
        p.closes
    );
    p.assert_lossless();

    let exhausted = p
        .closes
        .iter()
        .filter(|(by_connector, e)| {
            *by_connector == connector_side
                && matches!(
                    e,
                    ConnError::Crypto(CryptoError::NonceExhausted)
                        | ConnError::Frame(FrameError::Crypto(CryptoError::NonceExhausted))
                )
        })
        .count();
    assert_eq!(
        exhausted, 1,
        "{what}: expected exactly one NonceExhausted fault; closes: {:?}",
        p.closes
    );
    // The guard fired before any frame went out under a repeated nonce: the
    // peer never saw a bad tag or a garbled preamble.
    assert!(
        !p.closes.iter().any(|(_, e)| integrity_failure(e)),
        "{what}: {:?}",
        p.closes
    );
    // The connector re-established the same session with new keys.
    let ups: Vec<_> = p.established.iter().filter(|(c, _)| *c).collect();
    assert_eq!(ups.len(), 2, "{what}: {:?}", p.established);
    assert!(!ups[0].1.reconnected && ups[1].1.reconnected, "{what}");
    assert!(ups.iter().all(|(_, e)| e.mode == ConMode::Secure));
    let secrets = p.client_secrets.lock().expect("secrets").clone();
    assert_eq!(secrets.len(), 2, "{what}: one authentication per transport");
    assert_ne!(
        secrets[0], secrets[1],
        "{what}: the reconnect must use fresh keys"
    );
}

#[test]
fn nonce_wrap_rev1_connector_reconnects_with_fresh_keys() {
    run(true, true);
}

#[test]
fn nonce_wrap_rev1_acceptor_side() {
    run(true, false);
}

#[test]
fn nonce_wrap_rev0_connector_reconnects_with_fresh_keys() {
    run(false, true);
}

#[test]
fn nonce_wrap_rev0_acceptor_side() {
    run(false, false);
}
