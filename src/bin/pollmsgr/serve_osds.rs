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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pollmsgr::monc::MonClientConfig;
use pollmsgr::net::kernel::KernelTransport;
use pollmsgr::pool::auth::{RotatingKeyService, ServerAuth};
use pollmsgr::pool::cpu::process_cpu_seconds;
use pollmsgr::pool::load::EchoHandler;
use pollmsgr::pool::reactor::{self, IdlePolicy};
use pollmsgr::pool::{EndpointSpec, EndpointsApp};
use pollmsgr::proto::{ConnectionConfig, Policies};
use pollmsgr::wire::addr::EntityAddr;
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
    pub msgr_rev: u8,
    /// cephx settings; `None` serves with auth none (crc only).
    pub cephx: Option<OsdsCephx>,
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

pub fn serve_osds(a: &OsdsArgs) -> Result<(), String> {
    if a.transport != TransportFlag::Kernel {
        return Err(format!(
            "--transport {:?} is not wired into serve yet; use kernel",
            a.transport
        ));
    }
    let base_sock = a
        .listen
        .addr
        .ok_or_else(|| "--listen needs an IP address".to_string())?;
    let cores = parse_cores(&a.cores)?;
    let (mut rotating, auth) = match &a.cephx {
        Some(c) => {
            let (svc, auth) = start_cephx(c)?;
            (Some(svc), auth)
        }
        None => (None, ServerAuth::None),
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    let mut base = ConnectionConfig::new(EntityType::Osd);
    base.msgr2_supported = msgr2_features(a.msgr_rev);
    // Endpoint i listens on base port + i (or an ephemeral port if the base is 0),
    // with nonce base nonce + i, and runs on reactor i % cores.
    let mut per_reactor: Vec<Vec<EndpointSpec>> = cores.iter().map(|_| Vec::new()).collect();
    for i in 0..a.osds {
        let mut sock = base_sock;
        if sock.port() != 0 {
            let port = u16::try_from(usize::from(sock.port()) + i)
                .map_err(|_| "--listen port + --osds exceeds 65535".to_string())?;
            sock.set_port(port);
        }
        per_reactor[i % cores.len()].push(EndpointSpec {
            name: EntityName {
                ty: EntityType::Osd,
                num: a.first_id + i as u64,
            },
            listen: sock,
            nonce: a.listen.nonce.wrapping_add(i as u32),
            policies: Policies::osd(),
            handler: Box::new(EchoHandler::new(a.reply_size)),
        });
    }
    let cpu0 = process_cpu_seconds();
    let started = Instant::now();
    let mut handles = Vec::new();
    for (r, specs) in per_reactor.into_iter().enumerate() {
        let app = EndpointsApp::new(specs, base.clone()).with_auth(auth.clone());
        let h = reactor::spawn(
            format!("serve-{r}"),
            Some(cores[r]),
            IdlePolicy::Sleep(Duration::from_millis(5)),
            KernelTransport::new,
            app,
        )
        .map_err(|e| format!("start reactor: {e}"))?;
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
        let stats = rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "a reactor did not start (see errors above)".to_string())?;
        endpoints.extend(stats);
    }
    endpoints.sort_by_key(|(name, _, _)| name.num);
    let addrs: Vec<String> = endpoints
        .iter()
        .filter_map(|(name, bound, _)| {
            let bound = (*bound)?;
            let nonce = a.listen.nonce.wrapping_add((name.num - a.first_id) as u32);
            Some(format!("v2:{bound}/{nonce}"))
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({ "endpoints": addrs, "auth": auth.name() })
    );
    eprintln!(
        "pollmsgr serve: {} OSD endpoints on {} reactor(s), cores {:?}, auth {}",
        a.osds,
        handles.len(),
        cores,
        auth.name()
    );
    while !stop.load(Ordering::Relaxed) && !handles.iter().any(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
        if let (Some(svc), Some(c)) = (rotating.as_mut(), a.cephx.as_ref()) {
            match svc.refresh_if_due(c.refresh) {
                Some(Ok(_)) => log_secrets(svc),
                Some(Err(e)) => eprintln!("rotating keys: refresh failed: {e}"),
                None => {}
            }
        }
    }
    let mut per_endpoint = Vec::new();
    let (mut sessions, mut messages, mut closed) = (0u64, 0u64, 0u64);
    for h in handles {
        let app = h.join().map_err(|e| format!("reactor failed: {e}"))?;
        for (name, bound, s) in app.stats() {
            sessions += s.sessions;
            messages += s.messages;
            closed += s.closed;
            per_endpoint.push(serde_json::json!({
                "entity": name.to_string(),
                "addr": bound.map(|b| b.to_string()),
                "sessions": s.sessions,
                "messages": s.messages,
            }));
        }
    }
    let cpu = match (cpu0, process_cpu_seconds()) {
        (Some(x), Some(y)) => Some(y - x),
        _ => None,
    };
    println!(
        "{}",
        serde_json::json!({
            "osds": a.osds,
            "auth": auth.name(),
            "sessions": sessions,
            "messages": messages,
            "closed": closed,
            "cpu_s": cpu,
            "server_cpu_us_per_msg": cpu.map(|c| c * 1e6 / messages.max(1) as f64),
            "uptime_s": started.elapsed().as_secs_f64(),
            "endpoints": per_endpoint,
        })
    );
    Ok(())
}
