//! pollmsgr OSD endpoints as members of a real Ceph 16.2 cluster (cephx):
//! `serve --osds N --join` boots them, and unmodified `ceph`, `rados` and
//! `ceph-osd` are the judges: the osdmap shows them up at the addresses they
//! bound, `ceph tell` answers, `rados` round-trips objects in crc and secure
//! mode over msgr2.1 and 2.0, `rados bench` finishes without errors, caps are
//! enforced, a real ceph-osd heartbeats them without reporting failures, and
//! SIGTERM / SIGKILL / restart do what a ceph-osd's would.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::pollmsgr::Serve;
use common::{Auth, CephCluster, ClusterOpts};
use serde_json::Value;

/// Short beacon and report timeouts so a killed process is noticed quickly;
/// failure reports from one reporter suffice (the heartbeat test's real OSD);
/// and every OSD may be marked down (by default a mon keeps 30% of the OSDs
/// up, `mon_osd_min_up_ratio`, so a whole single-host test cluster could
/// not go down).
const CONF: &str = "mon osd report timeout = 15
mon osd min up ratio = 0
osd beacon report interval = 3
mon osd min down reporters = 1
osd heartbeat grace = 8
osd heartbeat interval = 1";

fn cluster(with_osd: bool) -> CephCluster {
    common::require_ceph();
    CephCluster::start(ClusterOpts {
        auth: Auth::Cephx,
        with_osd,
        extra_conf: CONF,
    })
    .unwrap_or_else(|e| panic!("cluster did not start: {e}"))
}

fn state_dir(c: &CephCluster) -> PathBuf {
    c.dir.join("pollmsgr-state")
}

/// `serve --osds N --join` against `c`, with extra flags.
fn join(c: &CephCluster, n: usize, extra: &[&str]) -> (Serve, Value) {
    let conf = c.conf_path.display().to_string();
    let state = state_dir(c).display().to_string();
    let n = n.to_string();
    let mut args = vec![
        "--osds",
        &n,
        "--join",
        "-c",
        &conf,
        "--state-dir",
        &state,
        "--cores",
        "0",
    ];
    args.extend_from_slice(extra);
    Serve::start(&args)
}

fn ids(ready: &Value) -> Vec<u64> {
    ready["osds"]
        .as_array()
        .expect("osds in the ready line")
        .iter()
        .filter_map(Value::as_u64)
        .collect()
}

/// `osd dump`: id → (up, public v2 address with nonce).
fn osd_states(c: &CephCluster) -> Vec<(u64, bool, String)> {
    let dump = c.ceph_json(&["osd", "dump"]).expect("osd dump");
    dump["osds"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            let addr = o["public_addrs"]["addrvec"]
                .as_array()
                .and_then(|v| v.iter().find(|a| a["type"] == "v2"))
                .map(|a| {
                    format!(
                        "v2:{}/{}",
                        a["addr"].as_str().unwrap_or(""),
                        a["nonce"].as_u64().unwrap_or(0)
                    )
                })
                .unwrap_or_default();
            (
                o["osd"].as_u64().unwrap_or(u64::MAX),
                o["up"].as_u64() == Some(1),
                addr,
            )
        })
        .collect()
}

fn all_up(c: &CephCluster, ids: &[u64], up: bool) -> bool {
    let states = osd_states(c);
    ids.iter()
        .all(|id| states.iter().any(|(i, u, _)| i == id && *u == up))
}

/// Runs `rados -c CONF ARGS` (optionally as another client with its keyring).
fn rados(c: &CephCluster, who: Option<(&str, &Path)>, args: &[&str]) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "5", "120", "rados", "-c"])
        .arg(&c.conf_path)
        .env_remove("CEPH_ARGS")
        .env_remove("CEPH_CONF");
    if let Some((name, keyring)) = who {
        cmd.args(["--name", name, "--keyring"]).arg(keyring);
    }
    cmd.args(args).output().expect("run rados")
}

fn rados_ok(c: &CephCluster, args: &[&str]) -> String {
    let out = rados(c, None, args);
    assert!(
        out.status.success(),
        "rados {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A pool whose PGs map only to the pollmsgr endpoints (the cluster's
/// CRUSH rule under our host bucket).
fn our_pool(c: &CephCluster, ready: &Value, pool: &str) {
    let host = ready["crush_host"].as_str().expect("crush_host");
    c.pool_on_host(host, pool).expect("pool on our host");
}

/// Objects of 1 B to 4 MiB with random bytes: put, stat, get (compared), rm.
fn round_trips(c: &CephCluster, pool: &str, extra: &[&str], tag: &str) {
    let dir = c.dir.join(format!("objects-{tag}"));
    std::fs::create_dir_all(&dir).expect("objects dir");
    for (i, size) in [1usize, 4095, 100_000, (1 << 20) + 3, 4 << 20]
        .iter()
        .enumerate()
    {
        let data: Vec<u8> = (0..*size).map(|_| rand::random::<u8>()).collect();
        let src = dir.join(format!("in-{i}"));
        let dst = dir.join(format!("out-{i}"));
        std::fs::write(&src, &data).expect("write object file");
        let name = format!("{tag}-obj-{i}");
        let (s, d) = (src.display().to_string(), dst.display().to_string());
        let mut a = extra.to_vec();
        a.extend(["-p", pool, "put", &name, &s]);
        rados_ok(c, &a);
        let mut a = extra.to_vec();
        a.extend(["-p", pool, "stat", &name]);
        let stat = rados_ok(c, &a);
        assert!(
            stat.contains(&format!("size {size}")),
            "stat {name}: {stat}"
        );
        let mut a = extra.to_vec();
        a.extend(["-p", pool, "get", &name, &d]);
        rados_ok(c, &a);
        let back = std::fs::read(&dst).expect("read back");
        assert!(
            back == data,
            "{name}: {size} bytes did not come back identical"
        );
        let mut a = extra.to_vec();
        a.extend(["-p", pool, "rm", &name]);
        rados_ok(c, &a);
        let mut a = extra.to_vec();
        a.extend(["-p", pool, "stat", &name]);
        let gone = rados(c, None, &a);
        assert!(!gone.status.success(), "{name} still there after rm");
        assert!(
            String::from_utf8_lossy(&gone.stderr).contains("No such file or directory"),
            "stat after rm: {}",
            String::from_utf8_lossy(&gone.stderr)
        );
    }
}

/// 16 endpoints join; osd tree/dump show them at their addresses; `ceph
/// tell` answers each; rados round trips, listing, xattrs and `rados bench`
/// write + seq; SIGTERM marks them down at once; a restart boots the same ids.
#[test]
fn sixteen_endpoints_join_and_serve_rados() {
    let c = cluster(false);
    let t = Instant::now();
    let (mut serve, ready) = join(&c, 16, &[]);
    let ids = ids(&ready);
    eprintln!("joined {ids:?} in {:?}", t.elapsed());
    assert_eq!(ids.len(), 16);
    let endpoints = common::pollmsgr::strings(&ready, "endpoints");
    let states = osd_states(&c);
    for (id, ep) in ids.iter().zip(&endpoints) {
        assert!(
            states.iter().any(|(i, up, a)| i == id && *up && a == ep),
            "osd.{id} not up at {ep}: {states:?}"
        );
    }
    let tree = c.ceph_ok(&["osd", "tree"]).expect("osd tree");
    eprintln!("{tree}");
    assert!(tree.contains(ready["crush_host"].as_str().unwrap_or("?")));
    assert_eq!(tree.matches(" up ").count(), 16, "{tree}");

    for id in &ids {
        let who = format!("osd.{id}");
        let v = c
            .ceph_ok(&["tell", &who, "version"])
            .expect("ceph tell version");
        let v: Value = serde_json::from_str(&v).expect("version JSON");
        assert_eq!(v["version"], "16.2.15", "{who}: {v}");
    }
    let st = c
        .ceph_ok(&["tell", "osd.0", "status"])
        .expect("tell status");
    assert!(
        st.contains("\"whoami\": 0") || st.contains("\"whoami\":0"),
        "{st}"
    );

    our_pool(&c, &ready, "pm");
    round_trips(&c, "pm", &[], "crc");
    // Listing and xattrs.
    let f = c.dir.join("small");
    std::fs::write(&f, b"hello").expect("write");
    let fs = f.display().to_string();
    for i in 0..20 {
        rados_ok(&c, &["-p", "pm", "put", &format!("ls-{i}"), &fs]);
    }
    let ls = rados_ok(&c, &["-p", "pm", "ls"]);
    let mut listed: Vec<&str> = ls.lines().collect();
    listed.sort();
    let mut want: Vec<String> = (0..20).map(|i| format!("ls-{i}")).collect();
    want.sort();
    assert_eq!(listed, want.iter().map(String::as_str).collect::<Vec<_>>());
    rados_ok(&c, &["-p", "pm", "setxattr", "ls-0", "color", "blue"]);
    let x = rados_ok(&c, &["-p", "pm", "getxattr", "ls-0", "color"]);
    assert_eq!(x.trim(), "blue");

    let w = rados_ok(
        &c,
        &[
            "-p",
            "pm",
            "bench",
            "10",
            "write",
            "-b",
            "4096",
            "-t",
            "16",
            "--no-cleanup",
        ],
    );
    eprintln!("{w}");
    assert!(w.contains("Total writes made"), "{w}");
    let s = rados_ok(&c, &["-p", "pm", "bench", "10", "seq", "-t", "16"]);
    eprintln!("{s}");
    assert!(s.contains("Total reads made"), "{s}");
    for out in [&w, &s] {
        assert!(
            !out.lines()
                .any(|l| l.contains("errno") || l.contains("error")),
            "rados bench reported errors: {out}"
        );
    }

    // SIGTERM: marked down at once (MOSDMarkMeDown), not at the report timeout.
    let t = Instant::now();
    let (out, err) = serve.stop();
    eprintln!("serve stopped: {out}\n{err}");
    assert!(
        CephCluster::wait_until(Duration::from_secs(5), || all_up(&c, &ids, false)),
        "not all marked down within 5 s of SIGTERM: {:?}",
        osd_states(&c)
    );
    eprintln!("marked down {:?} after SIGTERM", t.elapsed());

    // A restart with the same state dir boots the same ids.
    let (_serve, again) = join(&c, 16, &[]);
    assert_eq!(self::ids(&again), ids, "a restart got other ids");
    assert!(all_up(&c, &ids, true));
}

/// Secure mode (the client asks ms_mode secure) and crc over msgr2.1, then
/// both over msgr2.0 (the endpoints advertise only 2.0); `messenger status`
/// shows the sessions' modes.
#[test]
fn rados_in_secure_mode_and_over_msgr20() {
    let c = cluster(false);
    let (mut serve, ready) = join(&c, 2, &["--mode", "prefer-secure"]);
    our_pool(&c, &ready, "sec");
    let secure = [
        "--ms_client_mode",
        "secure",
        "--ms_mon_client_mode",
        "secure",
    ];
    round_trips(&c, "sec", &secure, "secure");
    let status = c
        .ceph_ok(&["tell", "osd.0", "messenger", "status"])
        .expect("messenger status");
    let status2 = c
        .ceph_ok(&["tell", "osd.1", "messenger", "status"])
        .expect("messenger status");
    assert!(
        status.contains("client/secure") || status2.contains("client/secure"),
        "no secure client session counted: {status} {status2}"
    );
    // The process's connection counters and memory budget (issue 8).
    let v: Value = serde_json::from_str(&status).expect("status is JSON");
    assert!(
        v["connections"]["budget_bytes"]
            .as_u64()
            .is_some_and(|b| b > 0)
            && v["connections"]["reasons"].is_object(),
        "no connection counters in messenger status: {status}"
    );
    serve.stop();

    let (_serve, ready) = join(&c, 2, &["--msgr-rev", "0", "--mode", "prefer-secure"]);
    our_pool(&c, &ready, "rev0");
    round_trips(&c, "rev0", &[], "rev0-crc");
    round_trips(&c, "rev0", &secure, "rev0-secure");
}

/// `osd 'allow r'` reads but may not write (EPERM in the op reply); a
/// pool-scoped key writes only its pool; the sessions stay up.
#[test]
fn caps_are_enforced() {
    let c = cluster(false);
    let (_serve, ready) = join(&c, 2, &[]);
    our_pool(&c, &ready, "open");
    our_pool(&c, &ready, "closed");
    let f = c.dir.join("obj");
    std::fs::write(&f, b"data").expect("write");
    let fs = f.display().to_string();
    rados_ok(&c, &["-p", "open", "put", "o", &fs]);
    let keyring = |name: &str, osd_caps: &str| -> PathBuf {
        let text = c
            .ceph_ok(&[
                "auth",
                "get-or-create",
                name,
                "mon",
                "allow r",
                "osd",
                osd_caps,
            ])
            .expect("auth get-or-create");
        let p = c.dir.join(format!("{name}.keyring"));
        std::fs::write(&p, text).expect("keyring");
        p
    };
    let ro = keyring("client.ro", "allow r");
    let scoped = keyring("client.scoped", "allow rw pool=open");
    let out = c.dir.join("o.out").display().to_string();
    let get = rados(
        &c,
        Some(("client.ro", &ro)),
        &["-p", "open", "get", "o", &out],
    );
    assert!(get.status.success(), "allow r could not read: {get:?}");
    let put = rados(
        &c,
        Some(("client.ro", &ro)),
        &["-p", "open", "put", "o2", &fs],
    );
    assert!(!put.status.success(), "allow r wrote");
    let err = String::from_utf8_lossy(&put.stderr);
    assert!(err.contains("Operation not permitted"), "{err}");
    let ok = rados(
        &c,
        Some(("client.scoped", &scoped)),
        &["-p", "open", "put", "o3", &fs],
    );
    assert!(
        ok.status.success(),
        "pool=open could not write open: {ok:?}"
    );
    let no = rados(
        &c,
        Some(("client.scoped", &scoped)),
        &["-p", "closed", "put", "o3", &fs],
    );
    assert!(!no.status.success(), "pool=open wrote to closed");
    assert!(String::from_utf8_lossy(&no.stderr).contains("Operation not permitted"));
    let status = c
        .ceph_ok(&["tell", "osd.0", "messenger", "status"])
        .expect("status");
    let status1 = c
        .ceph_ok(&["tell", "osd.1", "messenger", "status"])
        .expect("status");
    let refused = |s: &str| {
        serde_json::from_str::<Value>(s).map_or(0, |v| v["refused"].as_u64().unwrap_or(0))
    };
    assert!(
        refused(&status) + refused(&status1) >= 2,
        "{status} {status1}"
    );
}

/// A real ceph-osd in the same cluster heartbeats the endpoints for 60 s
/// and reports no failure; then SIGKILL: the mon marks them down within the
/// report timeout, and a restart boots them again.
#[test]
fn real_osd_heartbeats_then_sigkill_and_restart() {
    let c = cluster(true);
    let (mut serve, ready) = join(&c, 4, &[]);
    let ids = ids(&ready);
    let t = Instant::now();
    bench_as_peer_osd(&c, &ready);
    while t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_secs(5));
        assert!(
            all_up(&c, &ids, true),
            "an endpoint was marked down: {:?}",
            osd_states(&c)
        );
    }
    let osd_log = std::fs::read_to_string(c.log_path("osd.0")).unwrap_or_default();
    let replies = osd_log.matches("osd_ping(ping_reply").count();
    let no_reply: Vec<&str> = osd_log
        .lines()
        .filter(|l| l.contains("heartbeat_check: no reply"))
        .collect();
    assert!(
        no_reply.is_empty(),
        "the real OSD saw missing heartbeat replies: {no_reply:?}"
    );
    let health = c.ceph_ok(&["health", "detail"]).unwrap_or_default();
    assert!(!health.contains("down"), "{health}");
    eprintln!("the real osd.0 got {replies} ping replies; health: {health}");
    assert!(
        replies > 0,
        "the real OSD's log shows no ping reply from the endpoints"
    );
    let status: u64 = ids
        .iter()
        .map(|id| {
            let s = c
                .ceph_ok(&["tell", &format!("osd.{id}"), "messenger", "status"])
                .unwrap_or_default();
            serde_json::from_str::<Value>(&s)
                .ok()
                .and_then(|v| v["messages"]["osd_ping"].as_u64())
                .unwrap_or(0)
        })
        .sum();
    assert!(status > 0, "no MOSDPing reached the endpoints in 60 s");
    // And the endpoints ping the real OSD (their heartbeat peer) and see replies.
    let s = c
        .ceph_ok(&["tell", &format!("osd.{}", ids[0]), "messenger", "status"])
        .expect("messenger status");
    let v: Value = serde_json::from_str(&s).expect("status JSON");
    let peer = &v["heartbeat"]["peers"]["osd.0"];
    eprintln!("osd.{} heartbeat toward osd.0: {peer}", ids[0]);
    assert!(
        peer["replies"].as_u64().unwrap_or(0) > 0,
        "no ping reply from the real osd.0: {v}"
    );

    let t = Instant::now();
    serve.kill();
    assert!(
        CephCluster::wait_until(Duration::from_secs(40), || all_up(&c, &ids, false)),
        "not marked down within 40 s of SIGKILL"
    );
    eprintln!("marked down {:?} after SIGKILL", t.elapsed());
    let (_serve, again) = join(&c, 4, &[]);
    assert_eq!(self::ids(&again), ids);
}

/// The same join over smoltcp/TAP: the mon and the real `rados` run inside a
/// namespace, the endpoints are reached through the TAP link.
#[test]
fn join_over_smoltcp_tap_with_the_client_in_the_namespace() {
    common::require_ceph();
    let ns = common::netns::MonNamespace::new("join");
    let c = CephCluster::start_at(
        ClusterOpts {
            auth: Auth::Cephx,
            with_osd: false,
            extra_conf: CONF,
        },
        common::netns::MON_IP,
        3300,
        Some(&ns.name),
    )
    .unwrap_or_else(|e| panic!("mon in {} did not start: {e}", ns.name));
    let (mut serve, ready) = join(&c, 4, &["--transport", "tap", "--netns", &ns.name]);
    let ids = ids(&ready);
    assert_eq!(ids.len(), 4, "{ready}");
    assert!(
        ready["endpoints"][0]
            .as_str()
            .unwrap_or("")
            .contains("169.254.100.2"),
        "not on the TAP link: {ready}"
    );
    assert!(all_up(&c, &ids, true), "{:?}", osd_states(&c));
    our_pool(&c, &ready, "tap");
    let data: Vec<u8> = (0..300_000).map(|_| rand::random::<u8>()).collect();
    let src = c.dir.join("tap-in");
    let dst = c.dir.join("tap-out");
    std::fs::write(&src, &data).expect("write");
    let in_ns = |args: &[&str]| {
        let out = Command::new("ip")
            .args(["netns", "exec", &ns.name, "timeout", "60", "rados", "-c"])
            .arg(&c.conf_path)
            .args(args)
            .env_remove("CEPH_ARGS")
            .env_remove("CEPH_CONF")
            .output()
            .expect("rados in the namespace");
        assert!(out.status.success(), "rados {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (s, d) = (src.display().to_string(), dst.display().to_string());
    in_ns(&["-p", "tap", "put", "o", &s]);
    in_ns(&["-p", "tap", "get", "o", &d]);
    assert!(
        std::fs::read(&dst).expect("read") == data,
        "bytes differ over TAP"
    );
    let b = in_ns(&["-p", "tap", "bench", "3", "write", "-b", "4096", "-t", "16"]);
    assert!(b.contains("Total writes made"), "{b}");
    let (_, err) = serve.stop();
    assert!(
        CephCluster::wait_until(Duration::from_secs(5), || all_up(&c, &ids, false)),
        "not marked down after SIGTERM: {err}"
    );
}

/// A cephx client session to endpoint `ep` (an OSD address) built from the
/// library, as `pollmsgr ping` builds one.
struct RawClient {
    driver: pollmsgr::reactor::driver::KernelDriver,
    id: pollmsgr::reactor::driver::ConnId,
}

impl RawClient {
    fn connect(c: &CephCluster, ep: &str) -> RawClient {
        let (tickets, gid) = Self::tickets(c);
        let mut rc = Self::dial(ep, tickets, gid);
        let est = rc.wait(|e| matches!(e, pollmsgr::proto::Event::Established(_)));
        assert!(est.is_some(), "no session with {ep}");
        rc
    }

    /// client.admin's OSD ticket and global id from the mon.
    fn tickets(c: &CephCluster) -> (pollmsgr::auth::cephx::TicketStore, u64) {
        use pollmsgr::auth::cephx::CryptoKey;
        use pollmsgr::monc::{MonAuth, MonClient, MonClientConfig};
        use pollmsgr::wire::entity::EntityType;
        let key = CryptoKey::from_base64(c.admin_key.as_deref().expect("admin key")).expect("key");
        let name = pollmsgr::wire::entity::AuthEntityName::parse_str("client.admin").expect("name");
        let mut cfg = MonClientConfig::new(
            c.mon_addr.parse().expect("mon addr"),
            name,
            MonAuth::Cephx(key),
        );
        cfg.want_keys = EntityType::Mon.service_id() | EntityType::Osd.service_id();
        let mc = MonClient::connect(cfg).expect("mon session");
        (mc.tickets().expect("tickets").clone(), mc.global_id())
    }

    /// Dials endpoint `ep` with those tickets (no wait for the session).
    fn dial(ep: &str, tickets: pollmsgr::auth::cephx::TicketStore, gid: u64) -> RawClient {
        use pollmsgr::auth::cephx::{system_clock, CephxAuthorizerClient};
        use pollmsgr::proto::{Connection, ConnectionConfig, Policy};
        use pollmsgr::wire::entity::EntityType;
        use rand::SeedableRng;
        let auth = CephxAuthorizerClient::new(
            EntityType::Osd.service_id(),
            tickets,
            Box::new(rand::rngs::StdRng::from_entropy()),
            system_clock(),
        );
        let mut ccfg = ConnectionConfig::new(EntityType::Client);
        ccfg.my_nonce = rand::random();
        ccfg.my_gid = gid as i64;
        let target: pollmsgr::wire::addr::EntityAddr = ep.parse().expect("endpoint");
        let conn = Connection::connect(
            ccfg,
            target,
            EntityType::Osd,
            Policy::lossy_client(),
            Box::new(auth),
            Box::new(rand::rngs::StdRng::from_entropy()),
            Instant::now(),
        );
        let mut driver = pollmsgr::reactor::driver::KernelDriver::new().expect("driver");
        let id = driver
            .connect(target.addr.expect("ip"), conn)
            .expect("connect");
        RawClient { driver, id }
    }

    fn send(&mut self, m: pollmsgr::proto::Message) {
        self.driver
            .conn_mut(self.id)
            .expect("connection")
            .send_message(m);
    }

    /// Waits up to 3 s for an event matching `f`; a close ends the wait.
    fn wait(
        &mut self,
        f: impl Fn(&pollmsgr::proto::Event) -> bool,
    ) -> Option<pollmsgr::proto::Event> {
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            for (_, ev) in self
                .driver
                .poll_once(Duration::from_millis(20))
                .expect("poll")
            {
                let closed = matches!(ev, pollmsgr::proto::Event::Closed { .. });
                if f(&ev) || closed {
                    return Some(ev);
                }
            }
        }
        None
    }
}

/// A client's MOSDPing is refused without closing its session; a MOSDOp that
/// does not decode closes only its own connection; unknown op codes and
/// pools get error replies; another client's session is untouched.
#[test]
fn hostile_messages_close_or_refuse_only_their_own_session() {
    use pollmsgr::msg::osd_mon::{ping_op, MOsdPing};
    use pollmsgr::msg::osd_op::{op, MOsdOp, MOsdOpReply, OsdOp};
    use pollmsgr::proto::Event;
    let c = cluster(false);
    let (_serve, ready) = join(&c, 1, &[]);
    our_pool(&c, &ready, "h");
    let ep = ready["endpoints"][0].as_str().expect("endpoint").to_owned();
    let pool = c
        .ceph_json(&["osd", "pool", "ls", "detail"])
        .expect("pools");
    let pool_id = pool[0]["pool_id"].as_i64().expect("pool id");
    let mut a = RawClient::connect(&c, &ep);
    let mut b = RawClient::connect(&c, &ep);

    let ping = MOsdPing {
        op: ping_op::PING,
        min_message_size: 100,
        ..MOsdPing::default()
    };
    a.send(pollmsgr::msg::to_message(&ping, 1));
    let op_req = |ops: Vec<OsdOp>, pool: i64| {
        let mut r = MOsdOp {
            oid: b"nothing-here".to_vec(),
            ops,
            ..MOsdOp::default()
        };
        r.spgid.pgid.pool = pool;
        r.locator.pool = pool;
        r
    };
    // The session is still up: a stat of a missing object gets -ENOENT.
    a.send(op_req(vec![OsdOp::stat()], pool_id).to_message(2));
    let ev = a.wait(|e| matches!(e, Event::Message(m) if m.ty == 43));
    let Some(Event::Message(m)) = ev else {
        panic!("no op reply after a refused ping: {ev:?}");
    };
    let r = MOsdOpReply::from_message(&m).expect("reply decodes");
    assert_eq!(r.result, -2, "{r:?}");
    // An op code we do not implement, and a pool that does not exist.
    a.send(op_req(vec![OsdOp::new(op::CALL)], pool_id).to_message(3));
    let Some(Event::Message(m)) = a.wait(|e| matches!(e, Event::Message(m) if m.ty == 43)) else {
        panic!("no reply to an unsupported op");
    };
    assert_eq!(MOsdOpReply::from_message(&m).expect("reply").result, -95);
    a.send(op_req(vec![OsdOp::stat()], 4242).to_message(4));
    let Some(Event::Message(m)) = a.wait(|e| matches!(e, Event::Message(m) if m.ty == 43)) else {
        panic!("no reply for an unknown pool");
    };
    assert_eq!(MOsdOpReply::from_message(&m).expect("reply").result, -6);

    // A truncated MOSDOp closes a's connection only.
    let mut bad = op_req(vec![OsdOp::stat()], pool_id).to_message(5);
    bad.front = bad.front.slice(..bad.front.len() / 2);
    a.send(bad);
    let ev = a.wait(|_| false);
    assert!(
        matches!(ev, Some(Event::Closed { .. })),
        "still open: {ev:?}"
    );
    b.send(op_req(vec![OsdOp::stat()], pool_id).to_message(6));
    assert!(
        b.wait(|e| matches!(e, Event::Message(m) if m.ty == 43))
            .is_some_and(|e| matches!(e, Event::Message(_))),
        "the other session was hurt"
    );
    let status = c
        .ceph_ok(&[
            "tell",
            &format!("osd.{}", ids(&ready)[0]),
            "messenger",
            "status",
        ])
        .expect("status");
    let v: Value = serde_json::from_str(&status).expect("json");
    assert!(v["refused"].as_u64() >= Some(1), "{v}");
    assert!(v["decode_errors"].as_u64() >= Some(1), "{v}");
}

/// `bench --peer-osd N --auth cephx` loads a joined endpoint as osd.N with
/// osd.N's own tickets, and refuses to load a real ceph-osd (which cannot
/// decode the bench's message type), naming why.
fn bench_as_peer_osd(c: &CephCluster, ready: &Value) {
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(state_dir(c).join("pollmsgr-osds.json")).expect("state file"),
    )
    .expect("state JSON");
    let me = &state["osds"][0];
    let id = me["id"].as_u64().expect("id");
    let keyring = c.dir.join("peer.keyring");
    std::fs::write(
        &keyring,
        format!("[osd.{id}]\n\tkey = {}\n", me["key"].as_str().expect("key")),
    )
    .expect("keyring");
    let k = keyring.display().to_string();
    let name = format!("osd.{id}");
    let ep = ready["endpoints"][1].as_str().expect("endpoint").to_owned();
    let bench = |target: &str| {
        Command::new(common::pollmsgr_bin())
            .args(["bench", "--connect", target, "--peer-osd", &id.to_string()])
            .args(["--auth", "cephx", "--mon", &c.mon_addr, "--name", &name])
            .args(["--keyring", &k, "--duration", "1", "--json"])
            .output()
            .expect("run bench")
    };
    let ok = bench(&ep);
    let out = String::from_utf8_lossy(&ok.stdout);
    let v: Value = serde_json::from_str(out.lines().last().unwrap_or("")).unwrap_or_default();
    assert!(
        v["completed"].as_u64().unwrap_or(0) > 0 && v["errors"] == 0,
        "bench --peer-osd with cephx against {ep}: {out} {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let real = c.osd0_addr.as_deref().expect("the real osd.0's address");
    let refused = bench(real);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(
        text.contains("not a pollmsgr endpoint"),
        "bench loaded a real ceph-osd: {text}"
    );
}

/// `serve --entity osd.7` (one entity) keeps accepting sessions while its
/// rotating-key refresh waits on a monitor that does not answer: the refresh
/// runs on the control thread, the sessions on the reactor.
#[test]
fn one_entity_serves_while_its_mon_is_unresponsive() {
    let c = cluster(false);
    let (keyring, _) = c.register_osd(7).expect("register osd.7");
    let port = common::free_port(c.ip).expect("port");
    let ep = format!("v2:{}:{port}/77", c.ip);
    let k = keyring.display().to_string();
    let mut serve = Command::new(common::pollmsgr_bin())
        .args([
            "serve", "--entity", "osd.7", "--listen", &ep, "--auth", "cephx",
        ])
        .args([
            "--mon",
            &c.mon_addr,
            "--keyring",
            &k,
            "--rotating-refresh",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start serve");
    let sock = std::net::SocketAddr::from((c.ip, port));
    assert!(
        CephCluster::wait_until(Duration::from_secs(15), || {
            std::net::TcpStream::connect(sock).is_ok()
        }),
        "serve did not listen"
    );
    let (tickets, gid) = RawClient::tickets(&c);
    let mon_pid = c
        .daemon_pids()
        .into_iter()
        .find(|(n, _)| n.starts_with("mon"))
        .map(|(_, p)| p)
        .expect("mon pid");
    let signal = |sig: &str| {
        let _ = Command::new("kill")
            .args([sig, &mon_pid.to_string()])
            .status();
    };
    signal("-STOP");
    // Let a refresh come due and block on the stopped mon.
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    let mut rc = RawClient::dial(&ep, tickets, gid);
    let est = rc.wait(|e| matches!(e, pollmsgr::proto::Event::Established(_)));
    let took = t.elapsed();
    signal("-CONT");
    let _ = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status();
    let _ = serve.wait();
    assert!(
        matches!(est, Some(pollmsgr::proto::Event::Established(_))),
        "no session while the mon was stopped: {est:?}"
    );
    eprintln!("session established in {took:?} with the mon stopped");
}
