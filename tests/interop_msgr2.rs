//! Interop with real Ceph 16.2 daemons, auth none (issue "msgr2 protocol core"):
//! `pollmsgr mon-command` against a real ceph-mon in msgr2.1 and msgr2.0, a
//! session to a real ceph-osd that reaches READY with keepalive round trips,
//! and a real `ceph` CLI completing the handshake with `pollmsgr serve`.

mod common;

use common::pollmsgr::run_json;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{pollmsgr_bin, Auth, CephCluster, ClusterOpts};
use pollmsgr::auth::none::NoneClient;
use pollmsgr::proto::{Connection, ConnectionConfig, Event, Policy};
use pollmsgr::reactor::driver::KernelDriver;
use pollmsgr::wire::addr::EntityAddr;
use pollmsgr::wire::entity::EntityType;
use pollmsgr::wire::utime::UTime;
use rand::SeedableRng;

fn cluster(with_osd: bool) -> CephCluster {
    common::require_ceph();
    CephCluster::start(ClusterOpts {
        auth: Auth::None,
        with_osd,
        ..ClusterOpts::default()
    })
    .unwrap_or_else(|e| panic!("cluster did not start: {e}"))
}

fn mon_command(c: &CephCluster, rev: &str, cmd: &str) -> serde_json::Value {
    run_json(&[
        "mon-command",
        "--mon",
        &c.mon_addr,
        "--msgr-rev",
        rev,
        "--json",
        cmd,
    ])
}

#[test]
fn interop_mon_command_rev1_and_rev0() {
    let c = cluster(false);
    for (rev, want_rev) in [("1", 1), ("0", 0)] {
        let v = mon_command(&c, rev, r#"{"prefix": "fsid", "format": "json"}"#);
        assert_eq!(v["r"], 0, "rev {rev}: {v}");
        assert_eq!(v["mode"], "crc", "auth none is crc: {v}");
        assert_eq!(v["rev"], want_rev, "{v}");
        let out: serde_json::Value =
            serde_json::from_str(v["out"].as_str().unwrap_or("")).expect("fsid output is JSON");
        assert_eq!(out["fsid"], c.fsid.as_str(), "rev {rev}: wrong fsid in {v}");
    }
    // Plain output like `ceph`, and a failing command exits non-zero with its status string.
    let ok = Command::new(pollmsgr_bin())
        .args([
            "mon-command",
            "--mon",
            &c.mon_addr,
            r#"{"prefix": "mon stat"}"#,
        ])
        .output()
        .expect("run pollmsgr");
    assert!(ok.status.success());
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("1 mons at"),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let bad = Command::new(pollmsgr_bin())
        .args([
            "mon-command",
            "--mon",
            &c.mon_addr,
            r#"{"prefix": "no such command"}"#,
        ])
        .output()
        .expect("run pollmsgr");
    assert!(!bad.status.success(), "an unknown command must fail");
    assert!(!bad.stderr.is_empty(), "the status string goes to stderr");
}

#[test]
fn interop_osd_session_ready_and_keepalives() {
    let c = cluster(true);
    let osd: EntityAddr = c
        .osd0_addr
        .as_deref()
        .expect("osd.0 address")
        .parse()
        .expect("osd address parses");
    let sock = osd.addr.expect("osd has an IP");
    let mut cfg = ConnectionConfig::new(EntityType::Client);
    cfg.my_nonce = std::process::id();
    let now = Instant::now();
    let conn = Connection::connect(
        cfg,
        osd,
        EntityType::Osd,
        Policy::lossy_client(),
        Box::new(NoneClient::new(8, "admin", 0, false)),
        Box::new(rand::rngs::StdRng::seed_from_u64(7)),
        now,
    );
    let mut driver = KernelDriver::new().expect("driver");
    let id = driver.connect(sock, conn).expect("dial osd");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut established = None;
    let mut acked = Vec::new();
    let mut sent = 0u32;
    while Instant::now() < deadline && acked.len() < 5 {
        for (_, ev) in driver.poll_once(Duration::from_millis(50)).expect("poll") {
            match ev {
                Event::Established(e) => established = Some(e),
                Event::KeepaliveAck { stamp } => acked.push(stamp),
                Event::Closed { error, .. } => panic!("OSD closed the session: {error}"),
                _ => {}
            }
        }
        if established.is_some() && sent == acked.len() as u32 {
            sent += 1;
            let conn = driver.conn_mut(id).expect("conn");
            assert!(conn.send_keepalive(UTime {
                sec: 1000 + sent,
                nsec: 7
            }));
        }
    }
    let e = established.expect("session with the OSD never reached READY");
    assert_eq!(e.peer_name.ty, EntityType::Osd);
    assert!(
        e.peer_addrs.contains(&osd),
        "OSD addrs {} lack {osd}",
        e.peer_addrs
    );
    assert!(e.lossy, "OSDs treat clients as lossy");
    // Each ack echoes the exact stamp we sent, in order.
    let want: Vec<UTime> = (1..=5)
        .map(|i| UTime {
            sec: 1000 + i,
            nsec: 7,
        })
        .collect();
    assert_eq!(acked, want);
}

/// Stops our own child by pid with SIGTERM; returns its stdout and stderr.
fn terminate(mut child: std::process::Child) -> (String, String) {
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

#[test]
fn interop_ceph_cli_connects_to_pollmsgr_serve() {
    common::require_ceph();
    let ip = common::unique_loopback_ip();
    let port = common::free_port(ip).expect("free port");
    let dir = tempdir_for("serve-mon");
    let listen = format!("v2:{ip}:{port}/0");
    let serve = Command::new(pollmsgr_bin())
        .args(["serve", "--entity", "mon.a", "--listen", &listen])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pollmsgr serve");
    let conf = dir.join("ceph.conf");
    std::fs::write(
        &conf,
        format!(
            "[global]\nmon host = v2:{ip}:{port}\nauth client required = none\n\
             auth cluster required = none\nauth service required = none\n\
             ms mon client mode = crc\nlog file = {}/client.log\n",
            dir.display()
        ),
    )
    .expect("write ceph.conf");
    std::thread::sleep(Duration::from_millis(300));
    let cli = Command::new("ceph")
        .args([
            "-c",
            conf.to_str().expect("utf8 path"),
            "--connect-timeout",
            "4",
            "mon",
            "stat",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ceph CLI");
    // The CLI waits for a monmap we do not send; give it time to handshake and talk.
    std::thread::sleep(Duration::from_secs(3));
    let _ = Command::new("kill")
        .args(["-TERM", &cli.id().to_string()])
        .status();
    let mut cli = cli;
    let _ = cli.wait();
    let (summary, log) = terminate(serve);
    let v: serde_json::Value = serde_json::from_str(summary.trim()).unwrap_or_else(|e| {
        panic!("serve printed no JSON summary ({e}): {summary:?}; its log: {log}")
    });
    assert!(
        log.contains("session: peer=client."),
        "no session logged: {log}"
    );
    assert!(v["sessions"].as_u64().unwrap_or(0) >= 1, "no session: {v}");
    let by_type = v["messages_by_type"].as_object().expect("messages_by_type");
    assert!(
        v["messages"].as_u64().unwrap_or(0) >= 1,
        "no message decoded: {v}"
    );
    assert!(
        by_type.keys().all(|k| !k.starts_with("unknown")),
        "messages of unknown type: {v}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir_for(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("pollmsgr-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
