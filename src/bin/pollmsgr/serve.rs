//! `pollmsgr serve`: accept msgr2 sessions as one Ceph entity.
//!
//! Logs each established session (peer entity, mode, revision) on stderr,
//! counts received messages by type, and prints a JSON summary on stdout
//! when SIGINT or SIGTERM arrives.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use pollmsgr::auth::none::NoneServer;
use pollmsgr::msg;
use pollmsgr::net::kernel::KernelDriver;
use pollmsgr::proto::{Connection, ConnectionConfig, Event, Policies};
use pollmsgr::wire::addr::{AddrType, EntityAddr, EntityAddrVec};
use pollmsgr::wire::entity::EntityName;
use rand::SeedableRng;

use crate::common::{fail, msgr2_features, AuthFlag, TransportFlag};

/// Flags of `serve`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Our entity, e.g. mon.a, osd.3 (with --osds: the first OSD id, default osd.0).
    #[arg(long)]
    entity: Option<String>,
    /// Address to listen on, e.g. v2:127.0.0.1:6800/1234 (the nonce is part of our identity).
    #[arg(long)]
    listen: String,
    /// Authentication method to require.
    #[arg(long, value_enum, default_value = "none")]
    auth: AuthFlag,
    /// msgr2 revision to advertise: 1 (msgr2.1) or 0 (msgr2.0).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    msgr_rev: u8,
    /// Host this many OSD endpoints (osd.ID .. osd.ID+N-1 on consecutive ports
    /// and nonces), each answering bench requests.
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
}

pub fn run(args: Args) -> i32 {
    let result = match args.osds {
        Some(osds) => osds_args(&args, osds).and_then(|a| crate::serve_osds::serve_osds(&a)),
        None => serve(&args),
    };
    match result {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
}

fn osds_args(args: &Args, osds: usize) -> Result<crate::serve_osds::OsdsArgs, String> {
    let first = parse_entity(args.entity.as_deref().unwrap_or("osd.0"))?;
    if first.ty != pollmsgr::wire::entity::EntityType::Osd {
        return Err("--osds hosts OSD endpoints: --entity must be osd.ID".into());
    }
    Ok(crate::serve_osds::OsdsArgs {
        osds,
        first_id: first.num,
        listen: args
            .listen
            .parse()
            .map_err(|e| format!("--listen {}: {e}", args.listen))?,
        transport: args.transport,
        cores: args.cores.clone(),
        reply_size: args.reply_size,
        msgr_rev: args.msgr_rev,
    })
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

fn serve(args: &Args) -> Result<(), String> {
    if args.auth == AuthFlag::Cephx {
        return Err("--auth cephx is not available yet in this build".into());
    }
    let entity = args
        .entity
        .as_deref()
        .ok_or_else(|| "--entity is required (or use --osds N)".to_string())?;
    let me = parse_entity(entity)?;
    let listen: EntityAddr = args
        .listen
        .parse()
        .map_err(|e| format!("--listen {}: {e}", args.listen))?;
    if listen.ty != AddrType::Msgr2 {
        return Err(format!("--listen {}: not a v2 address", args.listen));
    }
    let sock = listen
        .addr
        .ok_or_else(|| format!("--listen {}: no IP address", args.listen))?;
    let mut cfg = ConnectionConfig::new(me.ty);
    cfg.my_gid = me.num as i64;
    cfg.my_addrs = EntityAddrVec(vec![listen]);
    cfg.my_nonce = listen.nonce;
    cfg.msgr2_supported = msgr2_features(args.msgr_rev);

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    let next_global_id = Arc::new(AtomicU64::new(4100));
    let mut driver = KernelDriver::new().map_err(|e| format!("poll setup: {e}"))?;
    let accept_cfg = cfg.clone();
    let bound = driver
        .listen(
            sock,
            listen,
            Box::new(move |peer, now| {
                let first = next_global_id.fetch_add(1, Ordering::Relaxed);
                Connection::accept(
                    accept_cfg.clone(),
                    peer,
                    Policies::osd(),
                    Box::new(NoneServer::new(first)),
                    Box::new(rand::rngs::StdRng::from_entropy()),
                    now,
                )
            }),
        )
        .map_err(|e| format!("listen on {sock}: {e}"))?;
    eprintln!(
        "pollmsgr serve: {} listening on v2:{bound}/{}",
        entity, listen.nonce
    );

    let started = Instant::now();
    let mut sessions = 0u64;
    let mut faults = 0u64;
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    while !stop.load(Ordering::Relaxed) {
        let events = driver
            .poll_once(Duration::from_millis(100))
            .map_err(|e| format!("poll: {e}"))?;
        for (_, event) in events {
            match event {
                Event::Established(est) => {
                    sessions += 1;
                    eprintln!(
                        "session: peer={} addr={} mode={} rev={} lossy={}",
                        est.peer_name,
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
                Event::Message(m) => {
                    *by_type
                        .entry(msg::types::type_name(m.ty).to_owned())
                        .or_default() += 1;
                }
                Event::Closed { error, .. } => {
                    faults += 1;
                    eprintln!("connection closed: {error}");
                }
                _ => {}
            }
        }
    }
    let total: u64 = by_type.values().sum();
    let summary = serde_json::json!({
        "entity": entity,
        "listen": format!("v2:{bound}/{}", listen.nonce),
        "sessions": sessions,
        "closed": faults,
        "messages": total,
        "messages_by_type": by_type,
        "uptime_s": started.elapsed().as_secs_f64(),
    });
    println!("{summary}");
    Ok(())
}
