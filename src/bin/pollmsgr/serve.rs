//! `pollmsgr serve`: accept msgr2 sessions as one Ceph entity, host N OSD
//! endpoints (`--osds`), or make them cluster members (`--join`). All three
//! run on the same path (`serve_osds`): endpoints on pinned reactors, and a
//! control plane (rotating keys, membership) on the main thread, so nothing
//! a reactor runs waits on a monitor.
//!
//! One entity logs each established session (peer entity, mode, revision)
//! on stderr, counts received messages by type, and prints a JSON summary on
//! stdout when SIGINT or SIGTERM arrives.
//!
//! With `--auth cephx` the entity runs as a Ceph service identity (e.g.
//! `osd.3` with its keyring): like a real OSD it authenticates to the
//! monitor, fetches its service's rotating secrets (`CEPHX_GET_ROTATING_KEY`),
//! refreshes them periodically, and verifies every incoming authorizer with
//! them (challenge round, replay cache, expiry and global id checks).

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Args as ClapArgs;
use pollmsgr::monc::MonClientConfig;
use pollmsgr::msg;
use pollmsgr::pool::auth::{RotatingKeyService, ServerAuth};
use pollmsgr::pool::{Handler, Replier};
use pollmsgr::proto::{ConnError, Established, Message};
use pollmsgr::wire::addr::{AddrType, EntityAddr};
use pollmsgr::wire::entity::EntityName;

use crate::serve_osds::{ControlPlane, NoControl, RotatingRefresh, ServePlan};

use crate::common::{fail, mon_auth, parse_auth_name, AuthFlag, ModeFlag, TransportFlag};

/// Flags of `serve`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Our entity, e.g. mon.a, osd.3 (not with --join: the cluster assigns ids).
    #[arg(long)]
    entity: Option<String>,
    /// Address to listen on, e.g. v2:127.0.0.1:6800/1234 (the nonce is part of
    /// our identity). With --join the default is the conf's public_addr (or
    /// 127.0.0.1), port 0 (any), a random nonce.
    #[arg(long)]
    listen: Option<String>,
    /// ceph.conf to read (default: $CEPH_CONF, then /etc/ceph/ceph.conf):
    /// mon_host, fsid, keyring, ms_*_mode, public_addr. Flags override it.
    #[arg(short = 'c', long = "conf")]
    conf: Option<std::path::PathBuf>,
    /// Make each --osds endpoint a member of the cluster: create (or reuse,
    /// from --state-dir) its OSD id, boot it, keep it up, mark it down on exit.
    #[arg(long, requires = "osds")]
    join: bool,
    /// Where --join keeps each endpoint's OSD UUID and key, so a restart
    /// boots the same ids.
    #[arg(long, default_value = "pollmsgr-state")]
    state_dir: std::path::PathBuf,
    /// With --join: the key that creates OSDs (client.admin or client.bootstrap-osd).
    #[arg(long, default_value = "client.admin")]
    name: String,
    /// With --join: the CRUSH host bucket the OSDs go under (default pollmsgr-HOSTNAME).
    #[arg(long)]
    crush_host: Option<String>,
    /// Run inside this existing network namespace (re-executed under `ip
    /// netns exec`); with --transport tap the TAP's kernel side goes there
    /// too, so daemons and clients in the namespace reach the endpoints.
    #[arg(long)]
    netns: Option<String>,
    /// With --join: seconds between MOSDBeacons (default: the conf's
    /// osd_beacon_report_interval, else 300).
    #[arg(long)]
    beacon_interval: Option<u64>,
    /// With --join: most MiB the in-memory object store holds, for all
    /// endpoints together; writes past it fail with ENOSPC (default: half
    /// of the machine's memory).
    #[arg(long)]
    store_max_mib: Option<u64>,
    /// Authentication method to require.
    #[arg(long, value_enum, default_value = "none")]
    auth: AuthFlag,
    /// msgr2 revision to advertise: 1 (msgr2.1) or 0 (msgr2.0).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    msgr_rev: u8,
    /// Modes allowed for peers (Ceph's ms_service_mode; default prefer-crc, or
    /// the conf's ms_service_mode with --join); cephx only, auth none is crc.
    #[arg(long, value_enum)]
    mode: Option<ModeFlag>,
    /// The monitor to fetch rotating service secrets from (cephx).
    #[arg(long)]
    mon: Option<String>,
    /// Keyring file holding this entity's key (cephx).
    #[arg(long)]
    keyring: Option<String>,
    /// Seconds between rotating-secret refreshes from the monitor (cephx).
    #[arg(long, default_value_t = 300)]
    rotating_refresh: u64,
    /// Host this many OSD endpoints (--entity osd.ID .. osd.ID+N-1 on
    /// consecutive ports and nonces), each answering bench requests.
    #[arg(long)]
    osds: Option<usize>,
    /// Transport for --osds.
    #[arg(long, value_enum, default_value = "kernel")]
    transport: TransportFlag,
    /// Cores for the reactors with --osds, e.g. 0 or 0,1 (one reactor per core).
    #[arg(long, default_value = "0")]
    cores: String,
    /// Reply data size in bytes with --osds (0: header-only replies, as perf_msgr).
    #[arg(long, default_value_t = 0)]
    reply_size: usize,
    /// smoltcp interfaces per reactor over TAP and DPDK memif: smoltcp walks
    /// all of an interface's sockets per packet, so sharding keeps that work
    /// to one shard's sockets when sessions are many (one more frame copy).
    /// Default: 64 over TAP, 1 over DPDK (its single-session speed first).
    #[arg(long)]
    smol_shards: Option<usize>,
    #[command(flatten)]
    limits: LimitFlags,
}

/// Bounds against hostile peers and overload (`serve`, all modes).
#[derive(ClapArgs, Debug, Clone)]
pub struct LimitFlags {
    /// Accepted connections per reactor (default: from the open-file limit,
    /// raised to its hard limit at start, minus headroom for outgoing
    /// connections and mon sessions).
    #[arg(long)]
    max_conns: Option<usize>,
    /// MiB all connections of the process may hold (received and not yet
    /// handled, queued to send), like Ceph's ms_dispatch_throttle_bytes;
    /// over it, connections holding more than 256 KiB are not read.
    #[arg(long, default_value_t = 512)]
    memory_budget_mib: usize,
    /// MiB one connection may hold before it is not read (at least a
    /// largest frame: 64 MiB data + 2 × 16 MiB).
    #[arg(long, default_value_t = 128)]
    conn_memory_budget_mib: usize,
    /// Seconds a connection may stay unread over a budget before it is closed.
    #[arg(long, default_value_t = 30.0)]
    budget_timeout: f64,
    /// Seconds to reach READY after the TCP connection opens.
    #[arg(long, default_value_t = 10.0)]
    handshake_timeout: f64,
    /// Seconds a frame may stop arriving mid-way before the connection closes.
    #[arg(long, default_value_t = 30.0)]
    frame_timeout: f64,
    /// Seconds a READY session may move nothing before it closes (0: never;
    /// Ceph's ms_connection_idle_timeout is 900).
    #[arg(long, default_value_t = 900.0)]
    idle_timeout: f64,
    /// Seconds a peer may leave our replies unread before it is closed.
    #[arg(long, default_value_t = 60.0)]
    drain_timeout: f64,
    /// KiB read from one connection per reactor pass (its fair share).
    #[arg(long, default_value_t = 64)]
    read_kib_per_pass: usize,
    /// Frames handled from one connection per reactor pass.
    #[arg(long, default_value_t = 16)]
    frames_per_pass: usize,
    /// Connections that used their whole share last pass ("heavy": floods,
    /// bulk transfers) served per pass, in turn; the others are served
    /// every pass, so a latency-bound peer waits for at most this many shares.
    #[arg(long, default_value_t = 2)]
    heavy_per_pass: usize,
    /// Percent of a reactor's time heavy connections may use while light
    /// (latency-bound) ones are active (100: no limit).
    #[arg(long, default_value_t = 20)]
    heavy_share_percent: u32,
}

fn secs(flag: &str, v: f64) -> Result<std::time::Duration, String> {
    std::time::Duration::try_from_secs_f64(v).map_err(|e| format!("--{flag} {v}: {e}"))
}

impl LimitFlags {
    /// The limits these flags describe, with a fresh process guard.
    pub fn limits(&self) -> Result<crate::serve_osds::ServeLimits, String> {
        let mib = |v: usize| v.saturating_mul(1 << 20);
        let memory_budget = mib(self.memory_budget_mib);
        let idle = secs("idle-timeout", self.idle_timeout)?;
        Ok(crate::serve_osds::ServeLimits {
            max_conns: self.max_conns,
            memory_budget,
            conn_memory_budget: mib(self.conn_memory_budget_mib).max(1),
            budget_timeout: secs("budget-timeout", self.budget_timeout)?,
            handshake_timeout: secs("handshake-timeout", self.handshake_timeout)?,
            frame_timeout: secs("frame-timeout", self.frame_timeout)?,
            idle_timeout: (!idle.is_zero()).then_some(idle),
            drain_timeout: secs("drain-timeout", self.drain_timeout)?,
            read_bytes_per_pass: self.read_kib_per_pass.saturating_mul(1024).max(1),
            frames_per_pass: self.frames_per_pass.max(1),
            heavy_per_pass: self.heavy_per_pass.max(1),
            heavy_share_percent: self.heavy_share_percent.clamp(1, 100),
            guard: std::sync::Arc::new(pollmsgr::net::guard::Guard::new(memory_budget)),
        })
    }
}

/// The mon session settings of a cephx service identity (`--entity` with
/// its `--keyring` key, toward `--mon`), shared by `serve` and `serve --osds`.
fn cephx_identity(args: &Args) -> Result<MonClientConfig, String> {
    let mon = args
        .mon
        .as_deref()
        .ok_or("--auth cephx needs --mon v2:IP:PORT (the monitor with the rotating secrets)")?;
    let name = parse_auth_name(entity_arg(args)?)?;
    let auth = mon_auth(AuthFlag::Cephx, args.keyring.as_deref(), &name)?;
    let mut cfg = MonClientConfig::new(
        mon.parse().map_err(|e| format!("--mon {mon}: {e}"))?,
        name,
        auth,
    );
    cfg.rev1 = args.msgr_rev == 1;
    Ok(cfg)
}

/// `--entity`, required except with --join.
fn entity_arg(args: &Args) -> Result<&str, String> {
    args.entity
        .as_deref()
        .ok_or_else(|| "serve needs --entity TYPE.ID (or --osds N --join)".to_string())
}

/// `--listen`, required except with --join.
fn listen_arg(args: &Args) -> Result<EntityAddr, String> {
    let l = args
        .listen
        .as_deref()
        .ok_or("serve needs --listen v2:IP:PORT/NONCE")?;
    l.parse().map_err(|e| format!("--listen {l}: {e}"))
}

/// `--mode`, or prefer-crc.
fn mode_arg(args: &Args) -> ModeFlag {
    args.mode.unwrap_or(ModeFlag::PreferCrc)
}

/// Set in the re-executed process: the namespace it already runs in.
const NETNS_ENV: &str = "POLLMSGR_SERVE_NETNS";

/// Re-executes this `serve` inside namespace `ns` (`ip netns exec NS`, which
/// execs in turn, so the pid stays the same for whoever signals it).
fn reexec_in(ns: &str) -> String {
    use std::os::unix::process::CommandExt;
    let mut argv = std::env::args_os();
    let _program = argv.next();
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return format!("--netns {ns}: cannot find our own executable: {e}"),
    };
    let err = std::process::Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(exe)
        .args(argv)
        .env(NETNS_ENV, ns)
        .exec();
    format!("--netns {ns}: cannot run `ip netns exec`: {err}")
}

pub fn run(args: Args) -> i32 {
    if let Some(ns) = &args.netns {
        if std::env::var(NETNS_ENV).ok().as_deref() != Some(ns.as_str()) {
            return fail(reexec_in(ns));
        }
    }
    if args.join {
        let result = crate::serve_join::JoinArgs::from_serve(&args)
            .and_then(|j| crate::serve_join::serve_joined(&j));
        return match result {
            Ok(()) => 0,
            Err(e) => fail(e),
        };
    }
    let result = match args.osds {
        Some(osds) => osds_args(&args, osds).and_then(|a| {
            let plan = crate::serve_osds::echo_plan(&a)?;
            crate::serve_osds::serve_osds(&a, plan)
        }),
        None => serve(&args),
    };
    match result {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
}

/// Parses `mon.a` / `osd.3`: mon ids may be names, which map to rank 0.
fn parse_entity(s: &str) -> Result<EntityName, String> {
    if let Ok(n) = s.parse::<EntityName>() {
        return Ok(n);
    }
    let (ty, _) = s
        .split_once('.')
        .ok_or_else(|| format!("--entity {s}: expected TYPE.ID"))?;
    let ty = ty.parse().map_err(|e| format!("--entity {s}: {e}"))?;
    Ok(EntityName { ty, num: 0 })
}

/// The settings of `serve --osds N`: with `--auth cephx`, `--entity osd.ID`
/// is the identity (registered in the mon) whose rotating OSD secrets every
/// endpoint shares; with auth none only crc mode is possible.
fn osds_args(args: &Args, osds: usize) -> Result<crate::serve_osds::OsdsArgs, String> {
    let first = parse_entity(entity_arg(args)?)?;
    if first.ty != pollmsgr::wire::entity::EntityType::Osd {
        return Err("--osds hosts OSD endpoints: --entity must be osd.ID".into());
    }
    let cephx = match args.auth {
        AuthFlag::None => {
            if matches!(mode_arg(args), ModeFlag::Secure | ModeFlag::PreferSecure) {
                let mode = clap::ValueEnum::to_possible_value(&mode_arg(args))
                    .map(|v| v.get_name().to_owned())
                    .unwrap_or_default();
                return Err(format!(
                    "--mode {mode} needs --auth cephx --mon v2:IP:PORT --keyring FILE; auth none is crc only"
                ));
            }
            None
        }
        AuthFlag::Cephx => Some(crate::serve_osds::OsdsCephx {
            mon: cephx_identity(args)?,
            modes: mode_arg(args).modes(),
            refresh: Duration::from_secs(args.rotating_refresh.max(1)),
        }),
    };
    Ok(crate::serve_osds::OsdsArgs {
        osds,
        first_id: first.num,
        listen: listen_arg(args)?,
        transport: args.transport,
        cores: args.cores.clone(),
        reply_size: args.reply_size,
        smol_shards: smol_shards(args.smol_shards, args.transport),
        msgr_rev: args.msgr_rev,
        cephx,
        single: None,
        netns: args.netns.clone(),
        limits: args.limits.limits()?,
    })
}

fn serve(args: &Args) -> Result<(), String> {
    let me = parse_entity(entity_arg(args)?)?;
    let listen = listen_arg(args)?;
    if listen.ty != AddrType::Msgr2 {
        return Err(format!("--listen {listen}: not a v2 address"));
    }
    let (auth, control): (ServerAuth, Box<dyn ControlPlane>) = match args.auth {
        AuthFlag::Cephx => {
            let svc = RotatingKeyService::start(cephx_identity(args)?)
                .map_err(|e| format!("cephx: {e}"))?;
            crate::serve_osds::log_secrets(&svc);
            let auth = svc.server_auth(mode_arg(args).modes());
            let every = Duration::from_secs(args.rotating_refresh.max(1));
            (auth, Box::new(RotatingRefresh::new(svc, every)))
        }
        AuthFlag::None => (ServerAuth::None, Box::new(NoControl)),
    };
    let a = crate::serve_osds::OsdsArgs {
        osds: 1,
        first_id: me.num,
        listen,
        transport: args.transport,
        cores: args.cores.clone(),
        reply_size: 0,
        smol_shards: smol_shards(args.smol_shards, args.transport),
        msgr_rev: args.msgr_rev,
        cephx: None,
        single: Some(entity_arg(args)?.to_owned()),
        netns: args.netns.clone(),
        limits: args.limits.limits()?,
    };
    let plan = ServePlan {
        endpoints: vec![(me, Box::new(SessionLog::default()))],
        auth,
        control,
        dial_auth: Default::default(),
    };
    crate::serve_osds::serve_osds(&a, plan)
}

/// The handler of `serve --entity X`: logs each session and each closed
/// connection on stderr and counts received messages by type.
#[derive(Default)]
struct SessionLog {
    by_type: BTreeMap<String, u64>,
}

impl Handler for SessionLog {
    fn handle_message(&mut self, m: Message, _reply: &mut Replier<'_>) {
        *self
            .by_type
            .entry(msg::types::type_name(m.ty).to_owned())
            .or_default() += 1;
    }

    fn established(&mut self, est: &Established) {
        eprintln!(
            "session: peer={} global_id={} addr={} mode={} rev={} lossy={}",
            est.peer_name,
            est.global_id,
            est.peer_addrs,
            est.mode.name(),
            if est.revision == pollmsgr::wire::Revision::V2_1 {
                "2.1"
            } else {
                "2.0"
            },
            est.lossy
        );
    }

    fn closed(&mut self, error: &ConnError, _reconnect: bool) {
        eprintln!("connection closed: {error}");
    }

    fn report(&self) -> serde_json::Value {
        serde_json::json!({ "messages_by_type": self.by_type })
    }
}

impl crate::serve_join::JoinArgs {
    /// The `--join` settings from `serve`'s flags.
    pub fn from_serve(a: &Args) -> Result<Self, String> {
        if a.entity.is_some() {
            return Err("--join assigns OSD ids from the cluster: drop --entity".into());
        }
        Ok(crate::serve_join::JoinArgs {
            conf: a.conf.clone(),
            osds: a.osds.ok_or("--join needs --osds N")?,
            state_dir: a.state_dir.clone(),
            name: a.name.clone(),
            keyring: a.keyring.clone(),
            mon: a.mon.clone(),
            listen: a.listen.clone(),
            mode: a.mode,
            crush_host: a.crush_host.clone(),
            beacon_interval: a.beacon_interval,
            transport: a.transport,
            cores: a.cores.clone(),
            msgr_rev: a.msgr_rev,
            smol_shards: smol_shards(a.smol_shards, a.transport),
            rotating_refresh: a.rotating_refresh,
            netns: a.netns.clone(),
            limits: a.limits.limits()?,
            store_max_bytes: a
                .store_max_mib
                .map_or_else(half_of_memory, |m| m.saturating_mul(1 << 20)),
        })
    }
}

/// Half of the machine's memory (`MemTotal`), the object store's default
/// limit; unbounded if /proc/meminfo cannot be read.
fn half_of_memory() -> u64 {
    pollmsgr::net::heap::proc_kib("/proc/meminfo", "MemTotal")
        .map_or(u64::MAX, |kib| kib.saturating_mul(1024) / 2)
}

/// `--smol-shards`, or its default for `transport`.
fn smol_shards(flag: Option<usize>, transport: TransportFlag) -> usize {
    flag.unwrap_or(match transport {
        TransportFlag::Dpdk => 1,
        _ => 64,
    })
    .max(1)
}
