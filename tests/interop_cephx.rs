//! Interop with real Ceph 16.2 daemons under cephx (issue 3): `mon-command`
//! in secure and crc mode over msgr2.1 and msgr2.0; the monitor client's
//! global_id reclaim, ticket renewal and rotating-key fetch against the real
//! mon; `ping` to a real ceph-osd in secure and crc mode; and a pollmsgr
//! connector (tickets from the real mon) talking to `pollmsgr serve` running
//! as an OSD identity (rotating keys from the real mon).

mod common;

use common::pollmsgr::run_json;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{pollmsgr_bin, Auth, CephCluster, ClusterOpts};
use pollmsgr::auth::cephx::{
    system_clock, CephxAuthorizerClient, CephxError, CephxServiceServer, Keyring, ReplayCache,
    RotatingKeys,
};
use pollmsgr::auth::{AuthClient, AuthError, AuthServer, AuthServerStep};
use pollmsgr::monc::{MonAuth, MonClient, MonClientConfig};
use pollmsgr::wire::entity::{AuthEntityName, EntityType};
use pollmsgr::wire::ConMode;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn cluster(with_osd: bool) -> CephCluster {
    common::require_ceph();
    CephCluster::start(ClusterOpts {
        auth: Auth::Cephx,
        with_osd,
        ..ClusterOpts::default()
    })
    .unwrap_or_else(|e| panic!("cluster did not start: {e}"))
}

fn keyring(c: &CephCluster) -> String {
    c.dir.join("keyring").to_string_lossy().into_owned()
}

#[test]
fn interop_cephx_mon_command_secure_and_crc_rev1_and_rev0() {
    let c = cluster(false);
    let kr = keyring(&c);
    let mut gids = Vec::new();
    for mode in ["secure", "crc"] {
        for rev in ["1", "0"] {
            let v = run_json(&[
                "mon-command",
                "--mon",
                &c.mon_addr,
                "--auth",
                "cephx",
                "--keyring",
                &kr,
                "--mode",
                mode,
                "--msgr-rev",
                rev,
                "--json",
                r#"{"prefix": "fsid", "format": "json"}"#,
            ]);
            assert_eq!(v["r"], 0, "{mode} rev{rev}: {v}");
            assert_eq!(v["mode"], mode, "{mode} rev{rev}: {v}");
            assert_eq!(v["rev"].to_string(), rev, "{mode} rev{rev}: {v}");
            let out: serde_json::Value =
                serde_json::from_str(v["out"].as_str().unwrap_or("")).expect("fsid is JSON");
            assert_eq!(out["fsid"], c.fsid.as_str(), "{mode} rev{rev}: {v}");
            gids.push(v["global_id"].as_u64().expect("global_id"));
        }
    }
    assert!(gids.iter().all(|g| *g > 0), "{gids:?}");

    // A wrong key is refused by the mon, and we say so.
    let bad = c.dir.join("bad.keyring");
    let mut ring = std::fs::read_to_string(&kr).expect("keyring");
    let admin_key = c.admin_key.clone().expect("admin key");
    let mut other = admin_key.clone().into_bytes();
    let i = other.len() - 4;
    other[i] = if other[i] == b'A' { b'B' } else { b'A' };
    ring = ring.replace(&admin_key, &String::from_utf8(other).expect("ascii"));
    std::fs::write(&bad, ring).expect("write bad keyring");
    let out = Command::new(pollmsgr_bin())
        .args([
            "mon-command",
            "--mon",
            &c.mon_addr,
            "--auth",
            "cephx",
            "--keyring",
            bad.to_str().expect("utf8"),
            "--mode",
            "secure",
            "--timeout",
            "10",
            r#"{"prefix": "fsid"}"#,
        ])
        .output()
        .expect("run pollmsgr");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a wrong key must fail");
    assert!(err.contains("refused"), "{err}");
    assert!(
        !err.contains(&admin_key),
        "the key must never be printed: {err}"
    );
}

fn admin_client(c: &CephCluster, modes: Vec<ConMode>, rev1: bool) -> MonClient {
    let name = AuthEntityName::parse_str("client.admin").expect("name");
    let ring = Keyring::parse(&std::fs::read_to_string(keyring(c)).expect("keyring"))
        .expect("keyring parses");
    let key = ring.get(&name).expect("admin key").clone();
    let mut cfg = MonClientConfig::new(
        c.mon_addr.parse().expect("mon addr"),
        name,
        MonAuth::Cephx(key),
    );
    cfg.modes = modes;
    cfg.rev1 = rev1;
    cfg.timeout = Duration::from_secs(20);
    MonClient::connect(cfg).unwrap_or_else(|e| panic!("mon session: {e}"))
}

/// Registers `osd.N` in the real mon; returns its name, keyring and keyring file.
fn osd_identity(c: &CephCluster, id: u32) -> (AuthEntityName, Keyring, PathBuf) {
    let (path, text) = c
        .register_osd(id)
        .unwrap_or_else(|e| panic!("register osd.{id}: {e}"));
    let ring = Keyring::parse(&text).expect("get-or-create prints a keyring");
    let name = AuthEntityName::parse_str(&format!("osd.{id}")).expect("name");
    (name, ring, path)
}

#[test]
fn interop_cephx_monclient_reclaim_renewal_and_rotating_keys() {
    let c = cluster(false);
    let mut mc = admin_client(&c, vec![ConMode::Secure], true);
    let gid = mc.global_id();
    assert_eq!(mc.established().mode, ConMode::Secure);
    let store = mc.tickets().expect("cephx tickets").clone();
    let osd_before = store
        .get(EntityType::Osd.service_id())
        .expect("an OSD ticket");

    // Reconnect: CephXAuthenticate v3 with the old AUTH ticket reclaims the
    // global id (this cluster sets auth_allow_insecure_global_id_reclaim=false,
    // so a reclaim without a valid ticket would be refused).
    mc.reconnect().unwrap_or_else(|e| panic!("reconnect: {e}"));
    assert_eq!(mc.global_id(), gid, "global_id reclaimed");
    let map = mc.get_monmap().expect("monmap after reconnect");
    assert_eq!(
        pollmsgr::msg::fsid_to_string(&map.fsid),
        c.fsid,
        "fsid of the real cluster"
    );

    // Ticket renewal (CEPHX_GET_PRINCIPAL_SESSION_KEY in an MAuth).
    let renewed = mc
        .renew_tickets(EntityType::Osd.service_id() | EntityType::Mon.service_id())
        .unwrap_or_else(|e| panic!("renewal: {e}"));
    assert_eq!(
        renewed,
        EntityType::Osd.service_id() | EntityType::Mon.service_id()
    );
    let osd_after = store
        .get(EntityType::Osd.service_id())
        .expect("an OSD ticket");
    assert_ne!(
        osd_after.session_key, osd_before.session_key,
        "the renewed ticket has a new session key"
    );
    assert!(osd_after.expires >= osd_before.expires);
    // Freshly renewed tickets are not due; renew_if_due does nothing.
    let plan = mc.renew_if_due().expect("renew_if_due");
    assert!(plan.is_empty(), "{plan:?}");

    // An OSD identity fetches its rotating service secrets from the real mon.
    let (osd3, ring, _) = osd_identity(&c, 3);
    let key = ring.get(&osd3).expect("osd.3 key").clone();
    let mut cfg = MonClientConfig::new(
        c.mon_addr.parse().expect("mon"),
        osd3.clone(),
        MonAuth::Cephx(key),
    );
    cfg.timeout = Duration::from_secs(20);
    let mut osd_mc = MonClient::connect(cfg).unwrap_or_else(|e| panic!("osd.3 mon session: {e}"));
    let secrets = osd_mc
        .fetch_rotating_keys()
        .unwrap_or_else(|e| panic!("rotating keys: {e}"));
    assert!(!secrets.secrets.is_empty(), "{secrets:?}");
    // Debug output of secrets and clients shows no key material.
    let rendered = format!("{secrets:?} {osd_mc:?} {mc:?} {ring:?}");
    for (_, k) in secrets.secrets.iter() {
        assert!(!rendered.contains(&*k.key.to_base64()), "{rendered}");
    }
    assert!(!rendered.contains(&*ring.get(&osd3).expect("k").to_base64()));

    // The admin's OSD ticket (from the real mon) verifies with those secrets:
    // a full authorizer exchange, challenge round included, in memory.
    let server_keys = RotatingKeys::new();
    server_keys.set(EntityType::Osd.service_id(), secrets);
    let replay = ReplayCache::default();
    let mut server = CephxServiceServer::new(
        EntityType::Osd.service_id(),
        server_keys.clone(),
        replay.clone(),
        Box::new(StdRng::seed_from_u64(1)),
        system_clock(),
    );
    let mut client = CephxAuthorizerClient::new(
        EntityType::Osd.service_id(),
        store.clone(),
        Box::new(StdRng::seed_from_u64(2)),
        system_clock(),
    )
    .with_modes(vec![ConMode::Secure]);
    let req = client.request().expect("authorizer");
    let AuthServerStep::More(ch) = server
        .handle_request(8, 2, ConMode::Secure, &req)
        .unwrap_or_else(|e| panic!("the real mon's ticket did not verify: {e}"))
    else {
        panic!("the service must challenge");
    };
    let answer = client.handle_reply_more(&ch).expect("answer");
    let AuthServerStep::Done { outcome, payload } = server
        .handle_request_more(&answer)
        .expect("challenge answered")
    else {
        panic!("done after the challenge");
    };
    let co = client
        .handle_done(outcome.global_id, ConMode::Secure, &payload)
        .expect("nonce+1 verified");
    assert_eq!(co.global_id, gid);
    assert_eq!(*co.connection_secret, *outcome.connection_secret);
    assert_eq!(co.connection_secret.len(), 64);
    // Replaying the captured authorizer to another handler of the same
    // daemon (shared replay cache) is refused.
    let mut again = CephxServiceServer::new(
        EntityType::Osd.service_id(),
        server_keys.clone(),
        replay.clone(),
        Box::new(StdRng::seed_from_u64(3)),
        system_clock(),
    );
    let replayed = again.handle_request(8, 2, ConMode::Secure, &req);
    assert!(
        matches!(&replayed, Err(AuthError::Cephx(CephxError::Replay(_)))),
        "a replayed authorizer must be refused"
    );
    // A ticket for another service (the MON ticket presented to an OSD) is refused.
    let mut wrong = CephxAuthorizerClient::new(
        EntityType::Mon.service_id(),
        store.clone(),
        Box::new(StdRng::seed_from_u64(4)),
        system_clock(),
    );
    let mut fresh = CephxServiceServer::new(
        EntityType::Osd.service_id(),
        server_keys,
        replay,
        Box::new(StdRng::seed_from_u64(5)),
        system_clock(),
    );
    assert!(fresh
        .handle_request(
            8,
            2,
            ConMode::Secure,
            &wrong.request().expect("mon authorizer")
        )
        .is_err());
    let peer = server.peer().expect("peer identity");
    assert_eq!(peer.name.to_string(), "client.admin");
    assert_eq!(peer.global_id, gid);
}

fn ping(c: &CephCluster, osd: &str, mode: &str, rev: &str) -> serde_json::Value {
    run_json(&[
        "ping",
        "--mon",
        &c.mon_addr,
        "--osd",
        osd,
        "--auth",
        "cephx",
        "--keyring",
        &keyring(c),
        "--mode",
        mode,
        "--msgr-rev",
        rev,
        "--count",
        "20",
        "--timeout",
        "30",
        "--json",
    ])
}

fn check_ping(v: &serde_json::Value, mode: &str, rev: &str) {
    assert_eq!(v["mode"], mode, "{v}");
    assert_eq!(v["rev"].to_string(), rev, "{v}");
    assert_eq!(v["count"], 20, "{v}");
    let rtt = &v["rtt_us"];
    let (p50, p99, max) = (
        rtt["p50"].as_u64().expect("p50"),
        rtt["p99"].as_u64().expect("p99"),
        rtt["max"].as_u64().expect("max"),
    );
    assert!(p50 > 0 && p50 <= p99 && p99 <= max, "{v}");
}

#[test]
fn interop_cephx_ping_osd_secure_and_crc() {
    let c = cluster(true);
    let osd = c.osd0_addr.clone().expect("osd.0 address");
    for mode in ["secure", "crc"] {
        for rev in ["1", "0"] {
            let v = ping(&c, &osd, mode, rev);
            check_ping(&v, mode, rev);
        }
    }
    // A wrong nonce is a different OSD instance: the real OSD closes on us.
    let wrong = match osd.rsplit_once('/') {
        Some((a, n)) => format!("{a}/{}", n.parse::<u32>().expect("nonce") + 1),
        None => panic!("osd address without nonce: {osd}"),
    };
    let out = Command::new(pollmsgr_bin())
        .args([
            "ping",
            "--mon",
            &c.mon_addr,
            "--osd",
            &wrong,
            "--keyring",
            &keyring(&c),
            "--timeout",
            "5",
        ])
        .output()
        .expect("run pollmsgr");
    assert!(
        !out.status.success(),
        "a wrong nonce must not yield a session"
    );
}

/// Stops our own child by pid with SIGTERM; returns its stdout and stderr.
fn terminate(mut child: Child) -> (String, String) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    let _ = child.wait();
    (out, err)
}

/// Waits until something accepts TCP connections on `addr`.
fn wait_listening(addr: std::net::SocketAddr, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut s) = child.stderr.take() {
                let _ = s.read_to_string(&mut err);
            }
            panic!("pollmsgr serve exited ({status}): {err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("pollmsgr serve is not listening on {addr}");
}

#[test]
fn interop_cephx_pollmsgr_connector_to_pollmsgr_osd_identity_acceptor() {
    let c = cluster(false);
    // An extra OSD identity, registered in the real mon; pollmsgr runs as it.
    let (osd7, ring, osd_keyring) = osd_identity(&c, 7);
    let port = common::free_port(c.ip).expect("free port");
    let listen = format!("v2:{}:{port}/4242", c.ip);
    let mut serve = Command::new(pollmsgr_bin())
        .args([
            "serve",
            "--entity",
            "osd.7",
            "--listen",
            &listen,
            "--auth",
            "cephx",
            "--mon",
            &c.mon_addr,
            "--keyring",
            osd_keyring.to_str().expect("utf8"),
            "--mode",
            "prefer-crc",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pollmsgr serve");
    wait_listening(std::net::SocketAddr::from((c.ip, port)), &mut serve);
    // The connector's OSD ticket comes from the real mon; the acceptor opens
    // it with the rotating OSD secrets it fetched from the same mon.
    let mut gids = Vec::new();
    for (mode, rev) in [("secure", "1"), ("secure", "0"), ("crc", "1")] {
        let v = ping(&c, &listen, mode, rev);
        check_ping(&v, mode, rev);
        gids.push(v["global_id"].as_u64().expect("global id"));
    }
    let (summary, log) = terminate(serve);
    let v: serde_json::Value = serde_json::from_str(summary.trim())
        .unwrap_or_else(|e| panic!("serve printed no JSON summary ({e}): {summary:?}; log: {log}"));
    assert_eq!(v["auth"], "cephx", "{v}");
    assert_eq!(v["sessions"], 3, "{v}\n{log}");
    assert!(
        log.contains("rotating keys: 3 secrets for osd"),
        "rotating keys not fetched from the mon: {log}"
    );
    for (gid, mode, rev) in [
        (gids[0], "secure", "2.1"),
        (gids[1], "secure", "2.0"),
        (gids[2], "crc", "2.1"),
    ] {
        let want = format!("session: peer=client.{gid} global_id={gid} ");
        let line = log
            .lines()
            .find(|l| l.starts_with(&want))
            .unwrap_or_else(|| panic!("no session for global_id {gid}: {log}"));
        assert!(line.contains(&format!("mode={mode} rev={rev}")), "{line}");
    }
    let secret = ring.get(&osd7).expect("key").to_base64();
    assert!(!log.contains(&*secret), "the OSD key leaked into the log");
}
