//! `pollmsgr bench`: a request/reply load generator in the style of Ceph's
//! perf_msgr tools, with a live progress line and a final report of msgs/s,
//! MB/s, CPU per message and latency percentiles.
//!
//! With `--auth cephx` the generator authenticates to a real monitor
//! (`--mon`, `--keyring`, `--name`), takes the OSD service ticket it issues,
//! and every load connection presents an authorizer built from it, offering
//! exactly the mode of `--mode` (secure: AES-128-GCM, msgr2 reference 4).
//! The report's `mode` is what the sessions negotiated (their `Established`
//! events), and the run fails if any session negotiated another mode.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use hdrhistogram::Histogram;
use pollmsgr::monc::{MonClient, MonClientConfig};
use pollmsgr::net::dpdk::MemifRole;
use pollmsgr::net::spec::{
    DpdkPort, MemifSpec, Netns, TransportOptions, TransportSpec, Transports, CLIENT_LINK,
};
use pollmsgr::pool::auth::ClientAuth;
use pollmsgr::pool::cpu::CpuTimer;
use pollmsgr::pool::load::{LoadApp, LoadConfig, LoadCounters};
use pollmsgr::proto::ConnectionConfig;
use pollmsgr::reactor::driver::DriverStats;
use pollmsgr::reactor::{self, IdlePolicy};
use pollmsgr::wire::addr::{AddrType, EntityAddr};
use pollmsgr::wire::entity::EntityType;
use pollmsgr::wire::ConMode;

use crate::common::{
    fail, mon_auth, msgr2_features, parse_auth_name, parse_cores, AuthFlag, TransportFlag,
};

/// Flags of `bench`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Endpoints to load, comma-separated exact msgr2 addresses (v2:IP:PORT/NONCE).
    #[arg(long, value_delimiter = ',', required = true)]
    connect: Vec<String>,
    /// Total connections (spread over endpoints and reactors).
    #[arg(long, default_value_t = 1)]
    conns: usize,
    /// Load as osd.N: a lossless peer session that reconnects and replays
    /// after faults (the default is a lossy client, as perf_msgr).
    #[arg(long)]
    peer_osd: Option<u64>,
    /// Dial this IP:PORT instead of the endpoint's own address (a relay that
    /// injects faults); the endpoint's address is still what we present.
    #[arg(long)]
    via: Option<std::net::SocketAddr>,
    /// smoltcp interfaces per load reactor over DPDK memif (as serve's
    /// flag): with many --idle sessions, per-packet work then follows one
    /// interface's sockets. 1: one interface.
    #[arg(long, default_value_t = 1)]
    smol_shards: usize,
    /// Extra sessions kept established but idle (connection-scaling runs).
    #[arg(long, default_value_t = 0)]
    idle: usize,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 32)]
    depth: usize,
    /// Request payload size in bytes.
    #[arg(long, default_value_t = 4096)]
    size: usize,
    /// Connection mode to offer (only this one); secure needs --auth cephx.
    #[arg(long, value_enum, default_value = "crc")]
    mode: BenchMode,
    /// Authentication: none (crc only), or cephx with an OSD ticket from --mon.
    #[arg(long, value_enum, default_value = "none")]
    auth: AuthFlag,
    /// The monitor issuing our OSD ticket (cephx), e.g. v2:127.0.0.1:3300.
    #[arg(long)]
    mon: Option<String>,
    /// Keyring file holding --name's key (cephx).
    #[arg(long)]
    keyring: Option<String>,
    /// Our cephx identity.
    #[arg(long, default_value = "client.admin")]
    name: String,
    /// Seconds of load.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// The serving side's memif sockets, for --transport dpdk (from serve's ready line).
    #[arg(long, value_delimiter = ',')]
    memif: Vec<String>,
    /// Transport of the load generator: kernel, or dpdk (memif, with --memif).
    #[arg(long, value_enum, default_value = "kernel")]
    transport: TransportFlag,
    /// Open the load connections (kernel TCP) inside network namespace NAME,
    /// e.g. the one `serve --transport tap` announced, after the cephx mon
    /// session is set up here: a secure bench reaches endpoints over TAP and
    /// a mon the namespace has no route to.
    #[arg(long, value_name = "NAME")]
    netns: Option<String>,
    /// Cores for the load reactors, e.g. 1 or 0,1 (one reactor per core).
    #[arg(long, default_value = "1")]
    cores: String,
    /// msgr2 revision to advertise: 1 (msgr2.1) or 0 (msgr2.0).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    msgr_rev: u8,
    /// Print the report as JSON (one line) instead of text.
    #[arg(long)]
    json: bool,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchMode {
    Crc,
    Secure,
}

impl BenchMode {
    fn con_mode(self) -> ConMode {
        match self {
            BenchMode::Crc => ConMode::Crc,
            BenchMode::Secure => ConMode::Secure,
        }
    }
}

/// How often the mon session is asked to renew due tickets during a run.
const RENEW_CHECK: Duration = Duration::from_secs(30);

pub fn run(args: Args) -> i32 {
    match bench(&args) {
        Ok(report) => {
            if args.json {
                println!("{report}");
            } else {
                print_text(&report);
            }
            let n = |k: &str| report[k].as_u64().unwrap_or(0);
            let want = args.mode.con_mode().name();
            let other = match args.mode {
                BenchMode::Crc => n("sessions_secure"),
                BenchMode::Secure => n("sessions_crc"),
            };
            if other > 0 {
                return fail(format!(
                    "{other} of {} sessions negotiated a mode other than {want}",
                    n("sessions")
                ));
            }
            if n("completed") == 0 {
                return fail(format!(
                    "no request completed ({} sessions, {} errors; first: {})",
                    n("sessions"),
                    n("errors"),
                    report["first_error"].as_str().unwrap_or("none")
                ));
            }
            if n("mismatches") > 0 {
                return fail(format!("{} replies did not match", n("mismatches")));
            }
            0
        }
        Err(e) => fail(e),
    }
}

/// With `--auth cephx`: authenticates to the monitor and returns the load
/// connections' auth and the mon session (kept to renew tickets).
fn client_auth(args: &Args) -> Result<(ClientAuth, Option<MonClient>), String> {
    let modes = vec![args.mode.con_mode()];
    match args.auth {
        AuthFlag::None if args.mode == BenchMode::Secure => Err(
            "--mode secure needs cephx keys: add --auth cephx --mon v2:IP:PORT --keyring FILE \
             (a throwaway cluster: scripts/bench-cluster.sh start DIR; . DIR/env.sh; \
             then --mon $MON_V2_ADDR --keyring $ADMIN_KEYRING)"
                .into(),
        ),
        AuthFlag::None => Ok((ClientAuth::None, None)),
        AuthFlag::Cephx => {
            let mon = args
                .mon
                .as_deref()
                .ok_or("--auth cephx needs --mon v2:IP:PORT (the monitor issuing OSD tickets)")?;
            let name = parse_auth_name(&args.name)?;
            if let Some(osd) = args.peer_osd {
                if name.to_string() != format!("osd.{osd}") {
                    return Err(format!(
                        "--peer-osd {osd} --auth cephx authenticates as osd.{osd}: pass \
                         --name osd.{osd} and a --keyring holding its key"
                    ));
                }
            }
            let mut cfg = MonClientConfig::new(
                mon.parse().map_err(|e| format!("--mon {mon}: {e}"))?,
                name.clone(),
                mon_auth(AuthFlag::Cephx, args.keyring.as_deref(), &name)?,
            );
            cfg.rev1 = args.msgr_rev == 1;
            cfg.want_keys = EntityType::Mon.service_id() | EntityType::Osd.service_id();
            let mc = MonClient::connect(cfg).map_err(|e| format!("{mon}: {e}"))?;
            let store = mc
                .tickets()
                .ok_or("the mon session has no cephx tickets")?
                .clone();
            if store.get(EntityType::Osd.service_id()).is_none() {
                return Err(format!(
                    "{mon} issued no OSD ticket to {name} (does it have osd caps?)"
                ));
            }
            eprintln!(
                "bench: cephx as {name} (global_id {}), OSD ticket from {mon}",
                mc.global_id()
            );
            Ok((
                ClientAuth::cephx(EntityType::Osd.service_id(), store, modes),
                Some(mc),
            ))
        }
    }
}

fn bench(args: &Args) -> Result<serde_json::Value, String> {
    let (auth, mut mon_session) = client_auth(args)?;
    if let Some(name) = &args.netns {
        if args.transport != TransportFlag::Kernel {
            return Err("--netns opens kernel TCP connections in the namespace: \
                        use it with --transport kernel"
                .into());
        }
        // The mon session's socket stays in our namespace; the reactors
        // started below, and their sockets, are in this one.
        pollmsgr::net::tap::Namespace::existing(name)
            .enter()
            .map_err(|e| format!("--netns {name}: {e}"))?;
    }
    if args.transport == TransportFlag::Tap {
        return Err(
            "the load generator has no TAP of its own: run it over kernel TCP \
                    inside the serving namespace (ip netns exec NS pollmsgr bench ...)"
                .into(),
        );
    }
    if args.transport == TransportFlag::Dpdk && args.memif.is_empty() {
        return Err("--transport dpdk needs --memif SOCKETS (from serve's ready line)".into());
    }
    let spec = TransportSpec::choose(
        args.transport.kind(),
        TransportOptions {
            netns: Netns::Create,
            link: CLIENT_LINK,
            gateway: false,
            interfaces: args.smol_shards.max(1),
            dpdk: DpdkPort::Memif(MemifSpec {
                role: MemifRole::Client,
                sockets: Some(args.memif.clone()),
                interfaces: args.smol_shards,
            }),
        },
    );
    let targets: Vec<EntityAddr> = args
        .connect
        .iter()
        .map(|s| {
            s.parse::<EntityAddr>()
                .map_err(|e| format!("--connect {s}: {e}"))
                .and_then(|a| match a.ty {
                    AddrType::Msgr2 if a.addr.is_some() => Ok(a),
                    _ => Err(format!("--connect {s}: not a v2 address with an IP")),
                })
        })
        .collect::<Result<_, _>>()?;
    let cores = parse_cores(&args.cores)?;
    if args.conns == 0 || args.depth == 0 {
        return Err("--conns and --depth must be at least 1".into());
    }
    let mut base = ConnectionConfig::new(EntityType::Client);
    base.msgr2_supported = msgr2_features(args.msgr_rev);
    let counters = Arc::new(LoadCounters::default());
    let duration = Duration::from_secs_f64(args.duration.max(0.1));
    let cpu_timer = CpuTimer::start();
    // One reactor per core (DPDK: per memif link), each with its share.
    let reactors = spec
        .max_reactors()
        .map_or(cores.len(), |m| cores.len().min(m));
    let mut configs = Vec::new();
    for (i, &core) in cores.iter().enumerate().take(reactors) {
        // Spread the connections: reactor i takes every len-th one.
        let share = |n: usize| (n + reactors - 1 - i) / reactors;
        let (conns, idle) = (share(args.conns), share(args.idle));
        // Over memif, reactor i reaches only the endpoints on its own link.
        let mine: Vec<EntityAddr> = targets
            .iter()
            .filter(|t| t.addr.is_some_and(|a| spec.reaches(i, a)))
            .copied()
            .collect();
        if conns + idle == 0 || mine.is_empty() {
            continue;
        }
        configs.push((
            core,
            LoadConfig {
                targets: mine,
                conns,
                idle,
                depth: args.depth,
                size: args.size,
                duration,
                base: base.clone(),
                first_target: i,
                auth: auth.clone(),
                peer_osd: args.peer_osd,
                via: args.via,
            },
        ));
    }
    if configs.is_empty() {
        return Err("no reactor has a target to load".into());
    }
    let started = Instant::now();
    let progress = Progress {
        counters: &counters,
        size: args.size,
        started,
    };
    let mut transports = spec.prepare(reactors, []).map_err(|e| e.to_string())?;
    let (hist, driver_stats) = run_load(
        configs,
        spec.idle(Duration::from_millis(1)),
        &mut transports,
        &counters,
        &mut mon_session,
        &progress,
    )?;
    let cpu = cpu_timer.elapsed();
    let completed = counters.completed.load(Ordering::Relaxed);
    let secs = duration.as_secs_f64();
    let us = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let crc = counters.sessions_crc.load(Ordering::Relaxed);
    let secure = counters.sessions_secure.load(Ordering::Relaxed);
    // What the sessions negotiated, not what was asked for.
    let mode = match (crc, secure) {
        (0, 0) => "none",
        (_, 0) => "crc",
        (0, _) => "secure",
        _ => "mixed",
    };
    Ok(serde_json::json!({
        "transport": spec.name(),
        "mode": mode,
        "auth": match auth { ClientAuth::None => "none", ClientAuth::Cephx { .. } => "cephx" },
        "rev": args.msgr_rev,
        "conns": args.conns,
        "idle_sessions": args.idle,
        "depth": args.depth,
        "size": args.size,
        "duration_s": secs,
        "sent": counters.sent.load(Ordering::Relaxed),
        "completed": completed,
        "msgs_per_s": completed as f64 / secs,
        "mb_per_s": completed as f64 * args.size as f64 / secs / 1e6,
        "client_cpu_us_per_msg": cpu.map(|c| c * 1e6 / completed.max(1) as f64),
        "client_rx_copies_per_byte": driver_stats.rx_copies_per_byte(),
        "client_tx_copies_per_byte": driver_stats.tx_copies_per_byte(),
        "client_driver": driver_stats.to_json(completed),
        "latency_us": {
            "p50": us(0.5), "p99": us(0.99), "p999": us(0.999),
            "max": hist.max() as f64 / 1000.0, "mean": hist.mean() / 1000.0,
        },
        "sessions": counters.sessions.load(Ordering::Relaxed),
        "sessions_crc": crc,
        "sessions_secure": secure,
        "errors": counters.errors.load(Ordering::Relaxed),
        "reconnects": counters.reconnects.load(Ordering::Relaxed),
        "lost": counters.lost.load(Ordering::Relaxed),
        "mismatches": counters.mismatches.load(Ordering::Relaxed),
        "faults": counters.faults.load(Ordering::Relaxed),
        "integrity_faults": counters.integrity_faults.load(Ordering::Relaxed),
        "first_fault": counters
            .first_fault
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
        // One per transport that authenticated in secure mode, and how many
        // of those reused an earlier transport's connection secret.
        "secure_auths": counters.secure_auths.load(Ordering::Relaxed),
        "secure_secret_repeats": counters.secure_secret_repeats.load(Ordering::Relaxed),
        "first_error": counters
            .first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
    }))
}

/// What the progress line needs.
struct Progress<'a> {
    counters: &'a LoadCounters,
    size: usize,
    started: Instant,
}

/// Spawns one load reactor per config over `transports`, prints progress
/// once a second, renews cephx tickets when due, and merges the latency
/// histograms when every reactor has finished.
fn run_load(
    configs: Vec<(usize, LoadConfig)>,
    idle: IdlePolicy,
    transports: &mut Transports,
    counters: &Arc<LoadCounters>,
    mon_session: &mut Option<MonClient>,
    progress: &Progress<'_>,
) -> Result<(Histogram<u64>, DriverStats), String> {
    let mut handles = Vec::new();
    for (i, (core, cfg)) in configs.into_iter().enumerate() {
        let app = LoadApp::new(cfg, Arc::clone(counters)).map_err(|e| e.to_string())?;
        let handle = reactor::spawn(
            format!("bench-{i}"),
            Some(core),
            idle,
            transports.factory(i).map_err(|e| e.to_string())?,
            app,
        )
        .map_err(|e| format!("start reactor: {e}"))?;
        handles.push(handle);
    }
    let mut last = (Instant::now(), 0u64);
    let mut renew_checked = Instant::now();
    while !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(200));
        let now = Instant::now();
        if let Some(mc) = mon_session.as_mut() {
            if now.duration_since(renew_checked) >= RENEW_CHECK {
                renew_checked = now;
                if let Err(e) = mc.renew_if_due() {
                    eprintln!("bench: ticket renewal failed: {e}");
                }
            }
        }
        if now.duration_since(last.0) >= Duration::from_secs(1) {
            let done = progress.counters.completed.load(Ordering::Relaxed);
            let rate = (done - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
            eprintln!(
                "[{:5.1}s] {:>9.0} msgs/s {:>8.1} MB/s  sessions {} errors {} lost {}",
                progress.started.elapsed().as_secs_f64(),
                rate,
                rate * progress.size as f64 / 1e6,
                progress.counters.sessions.load(Ordering::Relaxed),
                progress.counters.errors.load(Ordering::Relaxed),
                progress.counters.lost.load(Ordering::Relaxed),
            );
            last = (now, done);
        }
    }
    let mut hist = Histogram::<u64>::new_with_bounds(100, 60_000_000_000, 3)
        .map_err(|e| format!("histogram: {e}"))?;
    let mut driver_stats = DriverStats::default();
    for h in handles {
        let app = h.join().map_err(|e| format!("load reactor failed: {e}"))?;
        hist.add(&app.histogram)
            .map_err(|e| format!("merge histograms: {e}"))?;
        driver_stats.add(app.driver_stats);
    }
    Ok((hist, driver_stats))
}

fn print_text(r: &serde_json::Value) {
    println!(
        "{} sessions, mode {} (auth {}), {} x {} bytes in flight per connection",
        r["sessions"],
        r["mode"].as_str().unwrap_or("?"),
        r["auth"].as_str().unwrap_or("?"),
        r["depth"],
        r["size"],
    );
    println!(
        "{} msgs in {:.1}s: {:.0} msgs/s, {:.1} MB/s, client CPU {:.2} us/msg",
        r["completed"],
        r["duration_s"].as_f64().unwrap_or(0.0),
        r["msgs_per_s"].as_f64().unwrap_or(0.0),
        r["mb_per_s"].as_f64().unwrap_or(0.0),
        r["client_cpu_us_per_msg"].as_f64().unwrap_or(f64::NAN),
    );
    println!(
        "{} errors, {} reconnects, {} requests lost to lossy session resets",
        r["errors"], r["reconnects"], r["lost"]
    );
    let l = &r["latency_us"];
    println!(
        "latency us: p50 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
        l["p50"].as_f64().unwrap_or(0.0),
        l["p99"].as_f64().unwrap_or(0.0),
        l["p999"].as_f64().unwrap_or(0.0),
        l["max"].as_f64().unwrap_or(0.0),
    );
}
