//! In-memory exchanges between the cephx handlers: mon client ↔ test mon,
//! then authorizer client ↔ service server with the tickets and rotating keys
//! the test mon minted; plus the negative cases.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use super::mauth::{
    build_rotating_key_request, build_ticket_renewal_request, handle_rotating_key_reply,
    handle_ticket_renewal_reply, MAuth, MAuthReply,
};
use super::*;
use crate::auth::{AuthClient, AuthError, AuthOutcome, AuthServer, AuthServerStep, METHOD_CEPHX};
use crate::wire::entity::AuthEntityName;
use crate::wire::{ConMode, Reader};

const T0: u32 = 1_700_000_000;

fn rng(seed: u64) -> Box<dyn RngCore + Send> {
    Box::new(StdRng::seed_from_u64(seed))
}

/// A clock tests can move.
fn test_clock() -> (Clock, Arc<AtomicU32>) {
    let t = Arc::new(AtomicU32::new(T0));
    let t2 = t.clone();
    (
        Arc::new(move || UTime::from_secs(t2.load(Ordering::SeqCst))),
        t,
    )
}

struct World {
    admin: AuthEntityName,
    admin_key: CryptoKey,
    osd3: AuthEntityName,
    osd3_key: CryptoKey,
    authority: TestMonAuthority,
}

fn world() -> World {
    let mut r = StdRng::seed_from_u64(1);
    let now = UTime::from_secs(T0);
    let admin = AuthEntityName::new(EntityType::Client, "admin");
    let osd3 = AuthEntityName::new(EntityType::Osd, "3");
    let admin_key = CryptoKey::generate(&mut r, now);
    let osd3_key = CryptoKey::generate(&mut r, now);
    let mut ring = Keyring::new();
    ring.add_key(admin.clone(), admin_key.clone());
    ring.add_key(osd3.clone(), osd3_key.clone());
    let authority = TestMonAuthority::new(ring, &mut r, now);
    World {
        admin,
        admin_key,
        osd3,
        osd3_key,
        authority,
    }
}

/// Payloads each side sent, for replay tests.
#[derive(Default, Debug)]
struct Transcript {
    client: Vec<Vec<u8>>,
    server: Vec<Vec<u8>>,
}

/// Runs one exchange the way a connection would (reference 7.4 mode choice).
fn run(
    client: &mut dyn AuthClient,
    server: &mut dyn AuthServer,
    tr: &mut Transcript,
) -> Result<(AuthOutcome, AuthOutcome, ConMode), AuthError> {
    let (method, modes) = client.method_and_modes();
    assert_eq!(method, METHOD_CEPHX);
    let allowed = server.allowed_modes(EntityType::Client.service_id() as u8, method);
    let mode = *modes
        .iter()
        .find(|m| allowed.contains(m))
        .expect("a common mode");
    let req = client.request()?;
    tr.client.push(req.clone());
    let mut step =
        server.handle_request(EntityType::Client.service_id() as u8, method, mode, &req)?;
    for _ in 0..4 {
        match step {
            AuthServerStep::More(p) => {
                tr.server.push(p.clone());
                let more = client.handle_reply_more(&p)?;
                tr.client.push(more.clone());
                step = server.handle_request_more(&more)?;
            }
            AuthServerStep::Done { outcome, payload } => {
                tr.server.push(payload.clone());
                let c = client.handle_done(outcome.global_id, mode, &payload)?;
                return Ok((c, outcome, mode));
            }
        }
    }
    panic!("exchange did not finish");
}

fn mon_login(w: &World, mode: ConMode, store: &TicketStore, clock: &Clock) -> AuthOutcome {
    mon_login_seeded(w, mode, store, clock, 2)
}

fn mon_login_seeded(
    w: &World,
    mode: ConMode,
    store: &TicketStore,
    clock: &Clock,
    seed: u64,
) -> AuthOutcome {
    let mut c = CephxMonClient::new(w.admin_key.clone(), store.clone(), rng(seed), clock.clone())
        .with_modes(vec![mode]);
    let mut s = CephxTestMon::new(w.authority.clone(), rng(seed + 1), clock.clone());
    let (co, so, _) = run(&mut c, &mut s, &mut Transcript::default()).expect("mon auth");
    assert_eq!(co.global_id, so.global_id);
    assert_eq!(*co.session_key, *so.session_key);
    assert_eq!(*co.connection_secret, *so.connection_secret);
    co
}

fn osd_server(w: &World, clock: &Clock, cache: &ReplayCache, seed: u64) -> CephxServiceServer {
    CephxServiceServer::new(
        EntityType::Osd.service_id(),
        w.authority.rotating_keys(),
        cache.clone(),
        rng(seed),
        clock.clone(),
    )
}

#[test]
fn mon_exchange_crc_and_secure() {
    let w = world();
    let (clock, _) = test_clock();
    for (mode, len) in [(ConMode::Crc, 0), (ConMode::Secure, 64)] {
        let store = TicketStore::new(w.admin.clone());
        let out = mon_login(&w, mode, &store, &clock);
        assert_eq!(out.connection_secret.len(), len);
        assert_eq!(out.session_key.len(), 16);
        assert_eq!(store.global_id(), out.global_id);
        let auth = store
            .get(EntityType::Auth.service_id())
            .expect("AUTH ticket");
        assert_eq!(&auth.session_key.secret()[..], &out.session_key[..]);
        for svc in [
            EntityType::Mon.service_id(),
            EntityType::Osd.service_id(),
            EntityType::Mgr.service_id(),
        ] {
            let t = store.get(svc).expect("service ticket");
            assert_eq!(t.expires, UTime::from_secs(T0 + 3600));
            assert_eq!(t.renew_after, UTime::from_secs(T0 + 2700));
        }
        assert!(store.get(EntityType::Mds.service_id()).is_none());
        assert_eq!(store.need(client::DEFAULT_WANT_KEYS, clock()), 0);
    }
}

#[test]
fn mon_request_bytes_and_proof_layout() {
    let w = world();
    let (clock, _) = test_clock();
    let store = TicketStore::new(w.admin.clone());
    let mut c = CephxMonClient::new(w.admin_key.clone(), store, rng(2), clock);
    let req = c.request().expect("request");
    let mut want = vec![10u8, 8, 0, 0, 0, 5, 0, 0, 0];
    want.extend_from_slice(b"admin");
    want.extend_from_slice(&[0; 8]);
    assert_eq!(req, want);
    let more = c
        .handle_reply_more(&[1, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11])
        .expect("answer");
    // header 0x0100, v3, challenge, key, empty old ticket (13 bytes), other_keys.
    assert_eq!(more.len(), 2 + 1 + 8 + 8 + 13 + 4);
    assert_eq!(&more[..3], &[0, 1, 3]);
    assert_eq!(&more[more.len() - 4..], &[0x15, 0, 0, 0]);
    let mut r = Reader::new(&more[2..], "auth");
    let a = types::CephXAuthenticate::parse(&mut r).expect("parse");
    assert_eq!(
        a.key,
        types::key_proof(&w.admin_key, 0x1111_1111_1111_1111, a.client_challenge)
    );
    // A second challenge is out of order.
    assert!(matches!(
        c.handle_reply_more(&[1, 0, 0, 0, 0, 0, 0, 0, 1]),
        Err(AuthError::UnexpectedStep(_))
    ));
}

#[test]
fn reconnect_reclaims_global_id_with_old_ticket() {
    let w = world();
    let (clock, _) = test_clock();
    let store = TicketStore::new(w.admin.clone());
    let first = mon_login(&w, ConMode::Secure, &store, &clock);
    let old_auth = store.get(EntityType::Auth.service_id()).expect("auth");
    // The second login presents global id and old ticket; the mon encrypts
    // the new ticket with the old session key (ticket_enc path).
    let mut c = CephxMonClient::new(w.admin_key.clone(), store.clone(), rng(7), clock.clone());
    let mut s = CephxTestMon::new(w.authority.clone(), rng(8), clock.clone());
    let mut tr = Transcript::default();
    let (second, _, _) = run(&mut c, &mut s, &mut tr).expect("reclaim");
    assert_eq!(first.global_id, second.global_id);
    // AUTH_DONE: header (6) | u8 1 | le32 1 | le32 0x20 | u8 1 | bl enc | u8 ticket_enc=1.
    let done = &tr.server[1];
    let mut r = Reader::new(&done[6..], "reply");
    let reply = types::CephXServiceTicketReply::parse(&mut r).expect("reply");
    assert!(
        reply.entries[0].ticket_enc,
        "reclaimed ticket must be encrypted"
    );
    let req = &tr.client[1];
    let a = types::CephXAuthenticate::parse(&mut Reader::new(&req[2..], "a")).expect("auth");
    assert_eq!(a.old_ticket, old_auth.ticket);
    let new_auth = store.get(EntityType::Auth.service_id()).expect("auth");
    assert_ne!(old_auth.session_key, new_auth.session_key);

    // Reclaiming an id without a ticket is refused (insecure reclaim off).
    let bare = TicketStore::new(w.admin.clone());
    bare.set_global_id(first.global_id);
    let mut c = CephxMonClient::new(w.admin_key.clone(), bare, rng(5), clock.clone());
    let mut s = CephxTestMon::new(w.authority.clone(), rng(6), clock.clone());
    let err = run(&mut c, &mut s, &mut Transcript::default()).expect_err("refused");
    assert!(
        matches!(err, AuthError::Cephx(CephxError::Refused { .. }))
            && err.refusal_errno() == Some(-EACCES),
        "{err:?}"
    );
}

#[test]
fn wrong_client_key_is_refused() {
    let w = world();
    let (clock, _) = test_clock();
    let store = TicketStore::new(w.admin.clone());
    let wrong = CryptoKey::new([0x42; 16], UTime::ZERO);
    let mut c = CephxMonClient::new(wrong, store.clone(), rng(2), clock.clone());
    let mut s = CephxTestMon::new(w.authority.clone(), rng(3), clock.clone());
    let err = run(&mut c, &mut s, &mut Transcript::default()).expect_err("refused");
    assert!(
        matches!(err, AuthError::Cephx(CephxError::Refused { .. }))
            && err.refusal_errno() == Some(-EPERM),
        "{err:?}"
    );
    assert!(store.get(EntityType::Auth.service_id()).is_none());

    // Unknown entity likewise.
    let nobody = TicketStore::new(AuthEntityName::new(EntityType::Client, "nobody"));
    let mut c = CephxMonClient::new(w.admin_key.clone(), nobody, rng(2), clock.clone());
    let mut s = CephxTestMon::new(w.authority.clone(), rng(3), clock);
    assert!(run(&mut c, &mut s, &mut Transcript::default()).is_err());
}

#[test]
fn authorizer_exchange_crc_and_secure() {
    let w = world();
    let (clock, _) = test_clock();
    let store = TicketStore::new(w.admin.clone());
    mon_login(&w, ConMode::Secure, &store, &clock);
    let osd_ticket = store.get(EntityType::Osd.service_id()).expect("osd ticket");
    let cache = ReplayCache::default();
    for (i, (mode, len)) in [(ConMode::Crc, 0), (ConMode::Secure, 64)]
        .into_iter()
        .enumerate()
    {
        let mut c = CephxAuthorizerClient::new(
            EntityType::Osd.service_id(),
            store.clone(),
            rng(10 + i as u64),
            clock.clone(),
        )
        .with_modes(vec![mode]);
        let mut s = osd_server(&w, &clock, &cache, 20 + i as u64);
        let mut tr = Transcript::default();
        let (co, so, _) = run(&mut c, &mut s, &mut tr).expect("authorizer auth");
        assert_eq!(tr.client.len(), 2, "the challenge round always runs");
        assert_eq!(co.global_id, store.global_id());
        assert_eq!(so.global_id, store.global_id());
        assert_eq!(*co.session_key, *so.session_key);
        assert_eq!(&co.session_key[..], &osd_ticket.session_key.secret()[..]);
        assert_eq!(co.connection_secret.len(), len);
        assert_eq!(*co.connection_secret, *so.connection_secret);
        let peer = s.peer().expect("peer identity");
        assert_eq!(peer.name, w.admin);
    }
}

/// One successful exchange, returning the client's two payloads.
fn captured_exchange(w: &World, clock: &Clock, store: &TicketStore) -> Vec<Vec<u8>> {
    let mut c = CephxAuthorizerClient::new(
        EntityType::Osd.service_id(),
        store.clone(),
        rng(30),
        clock.clone(),
    );
    let mut s = osd_server(w, clock, &ReplayCache::default(), 31);
    let mut tr = Transcript::default();
    run(&mut c, &mut s, &mut tr).expect("exchange");
    tr.client
}

#[test]
fn tampered_authorizer_is_rejected() {
    let w = world();
    let (clock, _) = test_clock();
    let store = TicketStore::new(w.admin.clone());
    mon_login(&w, ConMode::Crc, &store, &clock);
    let req = captured_exchange(&w, &clock, &store).remove(0);
    // Flip a byte in the ticket blob, and one in the encrypted authorize.
    for at in [30, req.len() - 5] {
        let mut bad = req.clone();
        bad[at] ^= 0x01;
        let mut s = osd_server(&w, &clock, &ReplayCache::default(), 40);
        assert!(
            s.handle_request(8, METHOD_CEPHX, ConMode::Crc, &bad)
                .is_err(),
            "flip at {at}"
        );
    }
    // Truncations never panic and always fail.
    for n in 0..req.len() {
        let mut s = osd_server(&w, &clock, &ReplayCache::default(), 41);
        assert!(s
            .handle_request(8, METHOD_CEPHX, ConMode::Crc, &req[..n])
            .is_err());
    }
    // A ticket for another service is refused.
    let mut mgr = CephxServiceServer::new(
        EntityType::Mgr.service_id(),
        w.authority.rotating_keys(),
        ReplayCache::default(),
        rng(42),
        clock.clone(),
    );
    assert!(mgr
        .handle_request(8, METHOD_CEPHX, ConMode::Crc, &req)
        .is_err());
    // Wrong rotating secrets: the ticket does not decrypt (padding or magic).
    let wrong = RotatingKeys::new();
    let mut rs = w
        .authority
        .rotating_secrets(EntityType::Osd.service_id())
        .expect("osd");
    for k in rs.secrets.values_mut() {
        k.key = CryptoKey::new([9; 16], UTime::ZERO);
    }
    wrong.set(EntityType::Osd.service_id(), rs);
    let mut s = CephxServiceServer::new(
        EntityType::Osd.service_id(),
        wrong,
        ReplayCache::default(),
        rng(43),
        clock.clone(),
    );
    let err = s
        .handle_request(8, METHOD_CEPHX, ConMode::Crc, &req)
        .err()
        .expect("wrong secret");
    assert!(
        matches!(err, AuthError::Cephx(CephxError::Cipher(_))),
        "{err:?}"
    );
}

#[test]
fn replayed_authorizers_are_rejected() {
    let w = world();
    let (clock, _) = test_clock();
    let store = TicketStore::new(w.admin.clone());
    mon_login(&w, ConMode::Crc, &store, &clock);
    let cache = ReplayCache::default();
    let mut c = CephxAuthorizerClient::new(
        EntityType::Osd.service_id(),
        store.clone(),
        rng(50),
        clock.clone(),
    );
    let mut s = osd_server(&w, &clock, &cache, 51);
    let mut tr = Transcript::default();
    run(&mut c, &mut s, &mut tr).expect("exchange");
    let (round1, round2) = (tr.client[0].clone(), tr.client[1].clone());

    // Answering the challenge twice on the same handler.
    assert!(matches!(
        s.handle_request_more(&round2),
        Err(AuthError::UnexpectedStep(_))
    ));
    // A fresh handler of the same daemon has seen the nonce.
    let mut s2 = osd_server(&w, &clock, &cache, 52);
    let replayed = s2.handle_request(8, METHOD_CEPHX, ConMode::Crc, &round1);
    assert!(
        matches!(replayed, Err(AuthError::Cephx(CephxError::Replay(_)))),
        "{:?}",
        replayed.err()
    );
    // A daemon that never saw it still challenges afresh, so the old answer
    // (old challenge + 1) fails.
    let mut s3 = osd_server(&w, &clock, &ReplayCache::default(), 53);
    match s3
        .handle_request(8, METHOD_CEPHX, ConMode::Crc, &round2)
        .expect("fresh challenge")
    {
        AuthServerStep::More(_) => {}
        AuthServerStep::Done { .. } => panic!("replay must not skip the challenge"),
    }
    let stale = s3.handle_request_more(&round2);
    assert!(
        matches!(stale, Err(AuthError::Cephx(CephxError::Replay(_)))),
        "{:?}",
        stale.err()
    );
    // Answering with the round-1 authorizer (no challenge answer) fails too.
    let mut s4 = osd_server(&w, &clock, &ReplayCache::default(), 54);
    s4.handle_request(8, METHOD_CEPHX, ConMode::Crc, &round1)
        .expect("challenge");
    assert!(s4.handle_request_more(&round1).is_err());
}

#[test]
fn client_checks_nonce_plus_one() {
    let w = world();
    let (clock, _) = test_clock();
    let store = TicketStore::new(w.admin.clone());
    mon_login(&w, ConMode::Crc, &store, &clock);
    let ticket = store.get(EntityType::Osd.service_id()).expect("osd");
    let mut c = CephxAuthorizerClient::new(EntityType::Osd.service_id(), store, rng(60), clock);
    let req = c.request().expect("request");
    let az = types::CephXAuthorizer::parse(&mut Reader::new(&req, "az")).expect("parse");
    let nonce = az.authorize(&ticket.session_key).expect("decrypt").nonce;
    let reply = types::CephXAuthorizeReply {
        nonce_plus_one: nonce.wrapping_add(2),
        connection_secret: Default::default(),
    };
    let payload = crypto::encode_encrypt_vec(&ticket.session_key, &reply);
    let err = c
        .handle_done(1, ConMode::Crc, &payload)
        .expect_err("bad nonce+1");
    assert!(
        matches!(err, AuthError::Cephx(CephxError::Replay(_))),
        "{err:?}"
    );
}

#[test]
fn expired_tickets_are_rejected() {
    let w = world();
    let (clock, t) = test_clock();
    let store = TicketStore::new(w.admin.clone());
    mon_login(&w, ConMode::Crc, &store, &clock);
    let req = captured_exchange(&w, &clock, &store).remove(0);
    t.store(T0 + 3600, Ordering::SeqCst);
    let mut s = osd_server(&w, &clock, &ReplayCache::default(), 70);
    let err = s
        .handle_request(8, METHOD_CEPHX, ConMode::Crc, &req)
        .err()
        .expect("expired");
    assert!(
        matches!(err, AuthError::Cephx(CephxError::TicketExpired { .. })),
        "{err:?}"
    );
    // The client also refuses to use an expired ticket.
    let mut c = CephxAuthorizerClient::new(
        EntityType::Osd.service_id(),
        store.clone(),
        rng(71),
        clock.clone(),
    );
    assert!(c.request().is_err());
    assert_eq!(
        store.need(
            EntityType::Osd.service_id() | EntityType::Mon.service_id(),
            clock()
        ),
        EntityType::Osd.service_id() | EntityType::Mon.service_id()
    );
}

#[test]
fn wrong_global_id_is_rejected() {
    let w = world();
    let (clock, _) = test_clock();
    let store = TicketStore::new(w.admin.clone());
    mon_login(&w, ConMode::Crc, &store, &clock);
    store.set_global_id(store.global_id() + 1);
    let mut c =
        CephxAuthorizerClient::new(EntityType::Osd.service_id(), store, rng(80), clock.clone());
    let mut s = osd_server(&w, &clock, &ReplayCache::default(), 81);
    let err = run(&mut c, &mut s, &mut Transcript::default()).expect_err("mismatch");
    assert!(
        matches!(err, AuthError::Cephx(CephxError::GlobalIdMismatch { .. })),
        "{err:?}"
    );
}

#[test]
fn bad_method_policy() {
    let w = world();
    let (clock, _) = test_clock();
    let store = TicketStore::new(w.admin.clone());
    let mut c = CephxMonClient::new(w.admin_key.clone(), store.clone(), rng(2), clock.clone());
    // Observed from a Pacific mon: methods [2], modes [2, 1]; we offered both.
    assert!(c.handle_bad_method(2, -95, &[2], &[2, 1]).is_err());
    c.handle_bad_method(2, -95, &[2], &[1])
        .expect("narrow to crc");
    assert_eq!(c.method_and_modes().1, vec![ConMode::Crc]);
    assert!(c.handle_bad_method(2, -95, &[1], &[1]).is_err());
    let mut s =
        CephxTestMon::new(w.authority.clone(), rng(3), clock).with_modes(vec![ConMode::Crc]);
    let (out, _, mode) = run(&mut c, &mut s, &mut Transcript::default()).expect("auth");
    assert_eq!(mode, ConMode::Crc);
    assert!(out.connection_secret.is_empty());
}

#[test]
fn rotating_keys_via_mauth_verify_authorizers() {
    let w = world();
    let (clock, _) = test_clock();
    let mut r = StdRng::seed_from_u64(90);
    // osd.3 asks for its rotating secrets.
    let m = MAuth::cephx(build_rotating_key_request(), 1);
    let mut front = Vec::new();
    m.emit(&mut front);
    let back = MAuth::parse(&mut Reader::new(&front, "MAuth")).expect("MAuth");
    assert_eq!(back, m);
    let result_bl = w
        .authority
        .handle_mauth(&w.osd3, &back.auth_payload, &mut r, clock())
        .expect("rotating reply");
    let reply = MAuthReply {
        protocol: 2,
        result: 0,
        global_id: 4242,
        result_bl,
        result_msg: String::new(),
    };
    let mut front = Vec::new();
    reply.emit(&mut front);
    let reply = MAuthReply::parse(&mut Reader::new(&front, "MAuthReply")).expect("reply");
    let secrets = handle_rotating_key_reply(&w.osd3_key, &reply.result_bl).expect("decrypt");
    assert_eq!(
        Some(&secrets),
        w.authority
            .rotating_secrets(EntityType::Osd.service_id())
            .as_ref()
    );
    // Wrong daemon key fails.
    assert!(handle_rotating_key_reply(&w.admin_key, &reply.result_bl).is_err());

    let keys = RotatingKeys::new();
    keys.set(EntityType::Osd.service_id(), secrets);
    let store = TicketStore::new(w.admin.clone());
    mon_login(&w, ConMode::Secure, &store, &clock);
    let mut c =
        CephxAuthorizerClient::new(EntityType::Osd.service_id(), store, rng(91), clock.clone())
            .with_modes(vec![ConMode::Secure, ConMode::Crc]);
    let mut s = CephxServiceServer::new(
        EntityType::Osd.service_id(),
        keys,
        ReplayCache::default(),
        rng(92),
        clock,
    )
    .with_own_key(w.osd3_key.clone());
    let (co, so, mode) = run(&mut c, &mut s, &mut Transcript::default()).expect("auth");
    assert_eq!(mode, ConMode::Secure);
    assert_eq!(*co.connection_secret, *so.connection_secret);
}

#[test]
fn ticket_renewal_via_mauth() {
    let w = world();
    let (clock, t) = test_clock();
    let store = TicketStore::new(w.admin.clone());
    mon_login(&w, ConMode::Crc, &store, &clock);
    let old_osd = store.get(EntityType::Osd.service_id()).expect("osd");
    t.store(T0 + 3000, Ordering::SeqCst);
    let need = store.need(client::DEFAULT_WANT_KEYS, clock());
    assert_eq!(need, client::DEFAULT_WANT_KEYS);
    let mut r = StdRng::seed_from_u64(100);
    let req =
        build_ticket_renewal_request(&store, need | EntityType::Mds.service_id(), &mut r, clock())
            .expect("request");
    assert_eq!(&req[..2], &[0, 2]);
    let result_bl = w
        .authority
        .handle_mauth(&w.admin, &req, &mut r, clock())
        .expect("reply");
    let renewed = handle_ticket_renewal_reply(&store, &result_bl, clock()).expect("renewed");
    assert_eq!(renewed, need | EntityType::Mds.service_id());
    let new_osd = store.get(EntityType::Osd.service_id()).expect("osd");
    assert_ne!(new_osd.session_key, old_osd.session_key);
    assert_eq!(new_osd.expires, UTime::from_secs(T0 + 3000 + 3600));
    assert_eq!(store.need(client::DEFAULT_WANT_KEYS, clock()), 0);
    // The renewed ticket works against the OSD.
    let mut c =
        CephxAuthorizerClient::new(EntityType::Osd.service_id(), store, rng(101), clock.clone());
    let mut s = osd_server(&w, &clock, &ReplayCache::default(), 102);
    run(&mut c, &mut s, &mut Transcript::default()).expect("auth with renewed ticket");
}

#[test]
fn debug_output_has_no_key_material() {
    let w = world();
    let (clock, _) = test_clock();
    let store = TicketStore::new(w.admin.clone());
    let out = mon_login(&w, ConMode::Secure, &store, &clock);
    let auth = store.get(EntityType::Auth.service_id()).expect("auth");
    let c = CephxMonClient::new(w.admin_key.clone(), store.clone(), rng(1), clock);
    let texts = [
        format!("{out:?}"),
        format!("{auth:?}"),
        format!("{store:?}"),
        format!("{c:?}"),
        format!("{:?}", w.authority),
        format!("{:?}", w.admin_key),
    ];
    let secrets = [
        auth.session_key.secret().to_vec(),
        w.admin_key.secret().to_vec(),
        out.connection_secret[..16].to_vec(),
    ];
    for t in &texts {
        for s in &secrets {
            let dec = format!("{:?}", &s[..4]);
            let dec = dec.trim_matches(|c| c == '[' || c == ']');
            let hex: String = s[..4].iter().map(|b| format!("{b:02x}")).collect();
            assert!(!t.contains(dec) && !t.contains(&hex), "{t}");
        }
    }
}
