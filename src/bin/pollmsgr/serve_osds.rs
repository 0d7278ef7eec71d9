//! `pollmsgr serve --osds N`: N OSD endpoints in one process, spread over
//! pinned reactors, each answering every bench request with a reply.
//!
//! Prints one JSON line with the endpoints' exact addresses when ready, and
//! a JSON summary on SIGINT/SIGTERM.
//!
//! With `--auth cephx` the process runs as one OSD identity registered in a
//! real monitor (`--entity osd.ID --mon --keyring`): it fetches the rotating
//! OSD service secrets once, shares them (and one replay cache) with every
//! endpoint on every reactor, and refreshes them every `--rotating-refresh`
//! seconds from this (control) thread. OSD secrets are per service type, so
//! they open the tickets of peers dialing any of the N endpoints.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pollmsgr::monc::MonClientConfig;
use pollmsgr::net::dpdk::MemifRole;
use pollmsgr::net::guard::{self, Guard};
use pollmsgr::net::spec::{
    DpdkPort, MemifSpec, Netns, SpecError, TransportOptions, TransportSpec, Transports,
    SERVE_TAP_LINK,
};
use pollmsgr::net::transport::Transport;
use pollmsgr::pool::auth::{ClientAuth, RotatingKeyService, ServerAuth};
use pollmsgr::pool::cpu::CpuTimer;
use pollmsgr::pool::load::EchoHandler;
use pollmsgr::pool::{EndpointSpec, EndpointsApp, Handler};
use pollmsgr::proto::{ConnectionConfig, Policies};
use pollmsgr::reactor::driver::{DriverLimits, DriverStats};
use pollmsgr::reactor::{self, IdlePolicy};
use pollmsgr::wire::addr::{AddrType, EntityAddr};
use pollmsgr::wire::entity::{EntityName, EntityType};
use pollmsgr::wire::ConMode;

use crate::common::{msgr2_features, parse_cores, TransportFlag};

/// What `serve --osds` needs from the flags.
pub struct OsdsArgs {
    pub osds: usize,
    pub first_id: u64,
    pub listen: EntityAddr,
    pub transport: TransportFlag,
    pub cores: String,
    pub reply_size: usize,
    /// smoltcp interfaces per reactor over TAP and DPDK memif (per-packet
    /// work follows one).
    pub smol_shards: usize,
    pub msgr_rev: u8,
    /// cephx settings; `None` serves with auth none (crc only).
    pub cephx: Option<OsdsCephx>,
    /// `serve --entity X` (one entity, named X): no ready line, and the
    /// summary has that mode's fields (`entity`, `listen`, `messages_by_type`).
    pub single: Option<String>,
    /// With `--transport tap`: an existing network namespace (the process
    /// runs in it) that holds the TAP's kernel side, instead of a new one.
    pub netns: Option<String>,
    /// Bounds against hostile peers and overload.
    pub limits: ServeLimits,
}

/// What protects `serve` from hostile peers and overload (the `--max-conns`,
/// `--memory-budget`, `--*-timeout` ... flags): memory budgets per
/// connection and per process, progress deadlines, a fair read share per
/// pass, and a connection cap below the descriptor limit.
#[derive(Debug, Clone)]
pub struct ServeLimits {
    /// Accepted connections per reactor; `None`: derived from RLIMIT_NOFILE.
    pub max_conns: Option<usize>,
    /// Bytes all connections of the process may hold (received, queued).
    pub memory_budget: usize,
    /// Bytes one connection may hold before it is not read.
    pub conn_memory_budget: usize,
    /// A connection over a budget this long is closed.
    pub budget_timeout: Duration,
    /// READY must be reached within this.
    pub handshake_timeout: Duration,
    /// A frame that stops arriving this long is closed.
    pub frame_timeout: Duration,
    /// A READY session moving nothing this long is closed (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// Replies the peer does not read for this long close it.
    pub drain_timeout: Duration,
    /// Bytes read from one connection per reactor pass.
    pub read_bytes_per_pass: usize,
    /// Frames handled from one connection per reactor pass.
    pub frames_per_pass: usize,
    /// Heavy connections served per pass, in turn.
    pub heavy_per_pass: usize,
    /// Share of reactor time (percent) heavy connections get while light ones are active.
    pub heavy_share_percent: u32,
    /// Counters, log limiter and the shared budget (one per process).
    pub guard: Arc<Guard>,
}

impl ServeLimits {
    /// Applies the per-connection settings to `cfg`.
    fn apply(&self, cfg: &mut ConnectionConfig) {
        cfg.handshake_timeout = self.handshake_timeout;
        cfg.frame_timeout = Some(self.frame_timeout);
        cfg.idle_timeout = self.idle_timeout;
        cfg.drain_timeout = Some(self.drain_timeout);
        cfg.max_frames_per_input = self.frames_per_pass.max(1);
        // Replies (and the back-pressure on a peer that does not read them)
        // stop below the connection's whole budget.
        cfg.max_pending_bytes = cfg
            .max_pending_bytes
            .min(self.conn_memory_budget / 2)
            .max(1);
    }

    /// The driver limits for one of `reactors` reactors, with `cap` accepted
    /// connections unless `--max-conns` set it.
    fn driver_limits(&self, cap: usize) -> DriverLimits {
        DriverLimits {
            max_conns: self.max_conns.unwrap_or(cap),
            read_bytes_per_pass: self.read_bytes_per_pass.max(1),
            conn_memory_budget: self.conn_memory_budget,
            budget_timeout: self.budget_timeout,
            heavy_per_pass: self.heavy_per_pass,
            heavy_share_percent: self.heavy_share_percent,
            ..DriverLimits::default()
        }
    }
}

/// `serve --osds --auth cephx`: the identity and monitor for rotating secrets.
pub struct OsdsCephx {
    /// The mon session settings (name = the OSD identity, its key).
    pub mon: MonClientConfig,
    /// Modes allowed for peers, in order of preference.
    pub modes: Vec<ConMode>,
    /// Interval between rotating-secret refreshes.
    pub refresh: Duration,
}

/// What runs beside the reactors on the main (control) thread: rotating-key
/// refreshes for a cephx service, and with `--join` the cluster membership.
/// Nothing here runs on a reactor, so its waits on the mon hold up no session.
pub trait ControlPlane {
    /// The endpoints are listening at these addresses (in endpoint order):
    /// finish starting (e.g. boot them into the cluster) and add what the
    /// ready line should show to `hello`.
    fn ready(
        &mut self,
        _endpoints: &[(EntityName, EntityAddr)],
        _hello: &mut serde_json::Value,
    ) -> Result<(), String> {
        Ok(())
    }
    /// Called every 50 ms until stopped.
    fn tick(&mut self);
    /// SIGINT/SIGTERM arrived; the reactors still run. Adds to the summary.
    fn stop(&mut self, _summary: &mut serde_json::Value) {}
}

/// `serve --osds --auth cephx` without `--join`: keeps the rotating secrets fresh.
pub struct RotatingRefresh {
    svc: RotatingKeyService,
    every: Duration,
}

impl RotatingRefresh {
    /// Refreshes `svc`'s secrets every `every`.
    pub fn new(svc: RotatingKeyService, every: Duration) -> Self {
        RotatingRefresh { svc, every }
    }
}

impl ControlPlane for RotatingRefresh {
    fn tick(&mut self) {
        match self.svc.refresh_if_due(self.every) {
            Some(Ok(_)) => log_secrets(&self.svc),
            Some(Err(e)) => eprintln!("rotating keys: refresh failed: {e}"),
            None => {}
        }
    }
}

/// No control plane (auth none).
pub struct NoControl;

impl ControlPlane for NoControl {
    fn tick(&mut self) {}
}

/// Fetches the rotating secrets for `--auth cephx` and logs their ids (never the keys).
fn start_cephx(c: &OsdsCephx) -> Result<(RotatingKeyService, ServerAuth), String> {
    let svc = RotatingKeyService::start(c.mon.clone()).map_err(|e| format!("cephx: {e}"))?;
    let auth = svc.server_auth(c.modes.clone());
    log_secrets(&svc);
    Ok((svc, auth))
}

/// Logs the ids of the installed rotating secrets (never the keys).
pub fn log_secrets(svc: &RotatingKeyService) {
    let ids: Vec<u64> = svc
        .keys()
        .secrets(svc.service())
        .map(|s| s.secrets.keys().copied().collect())
        .unwrap_or_default();
    eprintln!(
        "rotating keys: {} secrets for {} (ids {ids:?}) from the mon, as global_id {}",
        ids.len(),
        pollmsgr::auth::cephx::type_name(svc.service()),
        svc.global_id()
    );
}

/// What the endpoints are and who serves them: their names, handlers, how
/// peers authenticate, and the control plane beside the reactors.
pub struct ServePlan {
    /// One name and handler per endpoint, in endpoint order.
    pub endpoints: Vec<(EntityName, Box<dyn Handler>)>,
    /// How accepted peers authenticate.
    pub auth: ServerAuth,
    /// What the control thread runs.
    pub control: Box<dyn ControlPlane>,
    /// How endpoints authenticate when they dial peers (by endpoint name).
    pub dial_auth: HashMap<EntityName, ClientAuth>,
}

/// The benchmark plan: `--osds` echo endpoints named osd.FIRST.., with cephx
/// rotating secrets from the mon when `--auth cephx`.
pub fn echo_plan(a: &OsdsArgs) -> Result<ServePlan, String> {
    let endpoints = (0..a.osds)
        .map(|i| {
            let name = EntityName {
                ty: EntityType::Osd,
                num: a.first_id + i as u64,
            };
            (
                name,
                Box::new(EchoHandler::new(a.reply_size)) as Box<dyn Handler>,
            )
        })
        .collect();
    let (auth, control): (ServerAuth, Box<dyn ControlPlane>) = match &a.cephx {
        Some(c) => {
            let (svc, auth) = start_cephx(c)?;
            let control = RotatingRefresh {
                svc,
                every: c.refresh,
            };
            (auth, Box::new(control))
        }
        None => (ServerAuth::None, Box::new(NoControl)),
    };
    Ok(ServePlan {
        endpoints,
        auth,
        control,
        dial_auth: HashMap::new(),
    })
}

/// Serves `plan`'s endpoints on one reactor per `--cores` core over the
/// chosen transport until SIGINT/SIGTERM.
pub fn serve_osds(a: &OsdsArgs, plan: ServePlan) -> Result<(), String> {
    let base_sock = a
        .listen
        .addr
        .ok_or_else(|| "--listen needs an IP address".to_string())?;
    let cores = parse_cores(&a.cores)?;
    let spec = TransportSpec::choose(
        a.transport.kind(),
        TransportOptions {
            netns: Netns::from_option(a.netns.as_deref()),
            link: SERVE_TAP_LINK,
            gateway: false,
            interfaces: a.smol_shards,
            dpdk: DpdkPort::Memif(MemifSpec {
                role: MemifRole::Server,
                sockets: None,
                interfaces: a.smol_shards,
            }),
        },
    );
    // Where endpoint i on reactor r listens.
    let listen_at = |r: usize, i: usize| -> Result<SocketAddr, String> {
        spec.listen_addr(r, i, base_sock).map_err(|e| match e {
            SpecError::PortOverflow { .. } => "--listen port + --osds exceeds 65535".to_string(),
            e => e.to_string(),
        })
    };
    // Endpoint i runs on reactor i % cores, with nonce base nonce + i.
    let mut per_reactor: Vec<Vec<EndpointSpec>> = cores.iter().map(|_| Vec::new()).collect();
    let ServePlan {
        endpoints,
        auth,
        control,
        dial_auth,
    } = plan;
    let mut nonces = HashMap::new();
    for (i, (name, handler)) in endpoints.into_iter().enumerate() {
        let r = i % cores.len();
        let nonce = a.listen.nonce.wrapping_add(i as u32);
        nonces.insert(name, nonce);
        per_reactor[r].push(EndpointSpec {
            name,
            listen: listen_at(r, i)?,
            nonce,
            policies: Policies::osd(),
            handler,
        });
    }
    let plan = Running {
        auth,
        control,
        nonces,
        dial_auth,
    };
    // Software steering over a shared TAP: each endpoint's port belongs to its reactor.
    let ports = per_reactor
        .iter()
        .enumerate()
        .flat_map(|(r, specs)| specs.iter().map(move |s| (s.listen.port(), r)))
        .collect::<Vec<_>>();
    let mut transports = spec
        .prepare(cores.len(), ports)
        .map_err(|e| e.to_string())?;
    run_reactors(
        a,
        plan,
        &cores,
        per_reactor,
        spec.idle(Duration::from_millis(5)),
        &mut transports,
    )
}

/// A plan whose endpoints have been given to the reactors.
struct Running {
    auth: ServerAuth,
    control: Box<dyn ControlPlane>,
    nonces: HashMap<EntityName, u32>,
    dial_auth: HashMap<EntityName, ClientAuth>,
}

/// Why the reactors did not all start: the first failed reactor's error.
fn reactor_failure<T: Transport + 'static>(
    handles: Vec<reactor::ReactorHandle<T, EndpointsApp>>,
) -> String {
    for h in handles {
        if h.is_finished() {
            if let Err(e) = h.join() {
                return format!("a reactor failed to start: {e}");
            }
        } else {
            h.request_stop();
        }
    }
    "a reactor did not start in time".to_string()
}

/// Runs the endpoints on one reactor per core over `transports`, prints the
/// ready line (endpoints plus the transport's fields), waits for
/// SIGINT/SIGTERM and prints the summary.
fn run_reactors(
    a: &OsdsArgs,
    plan: Running,
    cores: &[usize],
    per_reactor: Vec<Vec<EndpointSpec>>,
    idle: IdlePolicy,
    transports: &mut Transports,
) -> Result<(), String> {
    let mut hello = transports.describe();
    let Running {
        auth,
        mut control,
        nonces,
        dial_auth,
    } = plan;
    let stop = crate::common::stop_on_signals()?;
    let mut base = ConnectionConfig::new(EntityType::Osd);
    base.msgr2_supported = msgr2_features(a.msgr_rev);
    a.limits.apply(&mut base);
    // Descriptors: the soft limit raised to the hard one, and a cap per
    // reactor below it, so the cap refuses before accept runs out.
    let nofile = guard::raise_nofile_limit();
    let cap = guard::conn_cap(nofile, cores.len());
    let driver_limits = a.limits.driver_limits(cap);
    eprintln!(
        "pollmsgr serve: open-file limit {nofile}, at most {} accepted connections per reactor, memory budget {} bytes (process) / {} (connection)",
        driver_limits.max_conns, a.limits.memory_budget, a.limits.conn_memory_budget
    );
    let cpu_timer = CpuTimer::start();
    let started = Instant::now();
    let mut handles = Vec::new();
    for (r, specs) in per_reactor.into_iter().enumerate() {
        let app = EndpointsApp::new(specs, base.clone())
            .with_auth(auth.clone())
            .with_dial_auth(dial_auth.clone());
        let h = reactor::spawn(
            format!("serve-{r}"),
            Some(cores[r]),
            idle,
            transports.factory(r).map_err(|e| e.to_string())?,
            app,
        )
        .map_err(|e| format!("start reactor: {e}"))?;
        // Runs before the reactor's first poll: no connection escapes it.
        let g = Arc::clone(&a.limits.guard);
        h.post(move |driver, _| {
            driver.set_guard(g);
            driver.set_limits(driver_limits);
        });
        handles.push(h);
    }
    // Ask each reactor for its endpoints' bound addresses, in endpoint order.
    let (tx, rx) = crossbeam::channel::unbounded();
    for h in &handles {
        let tx = tx.clone();
        h.post(move |_, app: &mut EndpointsApp| {
            let _ = tx.send(app.stats());
        });
    }
    let mut endpoints = Vec::new();
    for _ in 0..handles.len() {
        match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(stats) => endpoints.extend(stats),
            Err(_) => return Err(reactor_failure(handles)),
        }
    }
    endpoints.sort_by_key(|(name, _, _)| name.num);
    let bound: Vec<(EntityName, EntityAddr)> = endpoints
        .iter()
        .filter_map(|(name, bound, _)| {
            Some((
                *name,
                EntityAddr {
                    ty: AddrType::Msgr2,
                    nonce: *nonces.get(name)?,
                    addr: Some((*bound)?),
                },
            ))
        })
        .collect();
    let addrs: Vec<String> = bound.iter().map(|(_, a)| a.to_string()).collect();
    if let Some(h) = hello.as_object_mut() {
        h.insert("endpoints".into(), serde_json::json!(addrs));
        h.insert("auth".into(), serde_json::json!(auth.name()));
    }
    if let Err(e) = control.ready(&bound, &mut hello) {
        for h in handles {
            h.request_stop();
        }
        return Err(e);
    }
    if a.single.is_none() {
        println!("{hello}");
    }
    eprintln!(
        "pollmsgr serve: {} OSD endpoints on {} reactor(s) over {}, cores {:?}, auth {}",
        a.osds,
        handles.len(),
        hello["transport"].as_str().unwrap_or("?"),
        cores,
        auth.name()
    );
    while !stop.load(Ordering::Relaxed) && !handles.iter().any(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
        control.tick();
    }
    let mut control_summary = serde_json::json!({});
    control.stop(&mut control_summary);
    let mut per_endpoint = Vec::new();
    let (mut sessions, mut messages, mut closed) = (0u64, 0u64, 0u64);
    let mut single_report = serde_json::Value::Null;
    let mut driver_stats = DriverStats::default();
    for h in handles {
        let app = h.join().map_err(|e| format!("reactor failed: {e}"))?;
        driver_stats.add(app.driver_stats());
        for (name, bound, s) in app.stats() {
            sessions += s.sessions;
            messages += s.messages;
            closed += s.closed;
            let mut e = serde_json::json!({
                "entity": name.to_string(),
                "addr": bound.map(|b| b.to_string()),
                "sessions": s.sessions,
                "messages": s.messages,
            });
            if !s.report.is_null() {
                e["report"] = s.report.clone();
            }
            per_endpoint.push(e);
            single_report = s.report;
        }
    }
    let cpu = cpu_timer.elapsed();
    let mut summary = serde_json::json!({
            "osds": a.osds,
            "transport": hello["transport"],
            "auth": auth.name(),
            "sessions": sessions,
            "messages": messages,
            "closed": closed,
            "cpu_s": cpu,
            "server_cpu_us_per_msg": cpu.map(|c| c * 1e6 / messages.max(1) as f64),
            "uptime_s": started.elapsed().as_secs_f64(),
            "endpoints": per_endpoint,
            "connections": a.limits.guard.report(),
            "limits": {
                "nofile": nofile,
                "max_conns_per_reactor": driver_limits.max_conns,
            },
    });
    // Receive copies, idle passes and frames per message (see DriverStats).
    if let (Some(s), serde_json::Value::Object(extra)) =
        (summary.as_object_mut(), driver_stats.to_json(messages))
    {
        s.extend(extra);
    }
    if let (Some(s), Some(extra)) = (summary.as_object_mut(), control_summary.as_object()) {
        s.extend(extra.clone());
    }
    if let (Some(entity), Some(s), Some((_, a))) =
        (&a.single, summary.as_object_mut(), bound.first())
    {
        s.insert("entity".into(), serde_json::json!(entity));
        s.insert("listen".into(), serde_json::json!(a.to_string()));
        s.insert(
            "messages_by_type".into(),
            single_report["messages_by_type"].clone(),
        );
    }
    println!("{summary}");
    Ok(())
}
