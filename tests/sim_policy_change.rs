//! A runtime mode-policy change (issue 3, item 5): two OSDs hold a lossless
//! cephx session in crc mode; the policy is tightened to secure-only; the
//! non-compliant transport is closed (`ConnError::PolicyChanged`), the
//! session re-establishes in secure mode (SESSION_RECONNECT), and no message
//! is lost, duplicated or reordered.

mod cephx_pair;

use cephx_pair::Pair;
use pollmsgr::proto::ConnError;
use pollmsgr::wire::ConMode;

const PREFER_CRC: [ConMode; 2] = [ConMode::Crc, ConMode::Secure];

fn run(rev1: bool, tighten_connector: bool, tighten_acceptor: bool) {
    let what = format!("rev1={rev1} connector={tighten_connector} acceptor={tighten_acceptor}");
    let mut p = Pair::new(rev1, PREFER_CRC.to_vec(), PREFER_CRC.to_vec());
    assert!(
        p.pump_until(2000, |p| p.both_ready()),
        "{what}: never ready"
    );
    assert_eq!(p.client.current_mode(), Some(ConMode::Crc), "{what}");
    for _ in 0..20 {
        p.send_both();
        p.pump(3);
    }
    // Some messages are in flight or unacknowledged when the policy changes.
    for _ in 0..5 {
        p.send_both();
    }
    let now = p.now;
    let secure = [ConMode::Secure];
    let mut closed = false;
    if tighten_acceptor {
        // The messenger's policy for new acceptors, and the live connection.
        p.server_modes = secure.to_vec();
        closed |= p
            .server
            .as_mut()
            .expect("acceptor")
            .set_mode_policy(&secure, now);
    }
    if tighten_connector {
        closed |= p.client.set_mode_policy(&secure, now);
    }
    assert!(
        closed,
        "{what}: a crc connection must not survive a secure-only policy"
    );
    for _ in 0..20 {
        p.send_both();
        p.pump(3);
    }
    assert!(
        p.pump_until(50_000, |p| p.all_delivered() && p.both_ready()),
        "{what}: not re-established / not delivered; closes {:?}",
        p.closes
    );
    p.assert_lossless();
    assert!(
        p.closes
            .iter()
            .any(|(_, e)| matches!(e, ConnError::PolicyChanged { .. })),
        "{what}: {:?}",
        p.closes
    );
    let ups: Vec<_> = p.established.iter().filter(|(c, _)| *c).collect();
    assert_eq!(ups.len(), 2, "{what}: {:?}", p.established);
    assert_eq!(ups[0].1.mode, ConMode::Crc, "{what}");
    assert_eq!(ups[1].1.mode, ConMode::Secure, "{what}");
    assert!(ups[1].1.reconnected, "{what}: the same session resumed");
    assert_eq!(p.client.current_mode(), Some(ConMode::Secure));
    // Loosening again does not disturb a compliant session.
    let now = p.now;
    assert!(!p.client.set_mode_policy(&PREFER_CRC, now));
    assert!(p.client.is_ready());
}

#[test]
fn sim_policy_tighten_both_sides_to_secure() {
    for rev1 in [true, false] {
        run(rev1, true, true);
    }
}

#[test]
fn sim_policy_tighten_connector_only() {
    for rev1 in [true, false] {
        run(rev1, true, false);
    }
}

#[test]
fn sim_policy_tighten_acceptor_only() {
    for rev1 in [true, false] {
        run(rev1, false, true);
    }
}

#[test]
fn sim_policy_secure_only_with_auth_none_marks_down() {
    use pollmsgr::auth::none::NoneClient;
    use pollmsgr::proto::{Connection, ConnectionConfig, Event, Policy};
    use pollmsgr::wire::entity::EntityType;
    use rand::SeedableRng;
    let mut c = Connection::connect(
        ConnectionConfig::new(EntityType::Client),
        cephx_pair::acceptor_addr(),
        EntityType::Osd,
        Policy::lossless_peer(),
        Box::new(NoneClient::new(8, "admin", 0, false)),
        Box::new(rand::rngs::StdRng::seed_from_u64(1)),
        std::time::Instant::now(),
    );
    assert!(c.set_mode_policy(&[ConMode::Secure], std::time::Instant::now()));
    let closed = std::iter::from_fn(|| c.poll_event()).find_map(|e| match e {
        Event::Closed { error, reconnect } => Some((error.is_fatal(), reconnect)),
        _ => None,
    });
    assert_eq!(
        closed,
        Some((true, false)),
        "auth none cannot do secure: mark down"
    );
}
