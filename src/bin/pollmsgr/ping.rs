//! `pollmsgr ping`: authenticate with a monitor, open a session to an OSD
//! (with a cephx authorizer built from the mon's OSD ticket, or auth none),
//! run N KEEPALIVE2 round trips and print the session mode, revision and
//! round-trip percentiles.

use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use pollmsgr::auth::cephx::{entity_type, system_clock, CephxAuthorizerClient};
use pollmsgr::auth::none::NoneClient;
use pollmsgr::auth::AuthClient;
use pollmsgr::monc::{MonClient, MonClientConfig};
use pollmsgr::net::kernel::KernelDriver;
use pollmsgr::proto::{Connection, ConnectionConfig, Event, Policy};
use pollmsgr::wire::addr::{AddrType, EntityAddr};
use pollmsgr::wire::entity::EntityType;
use pollmsgr::wire::utime::UTime;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use crate::common::{
    fail, mon_auth, msgr2_features, parse_auth_name, rev_number, AuthFlag, ModeFlag,
};

/// Flags of `ping`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The monitor's msgr2 address, e.g. v2:127.0.0.1:3300.
    #[arg(long)]
    mon: String,
    /// The OSD's msgr2 address with its nonce from the osdmap, e.g. v2:127.0.0.1:6800/1234.
    #[arg(long)]
    osd: String,
    /// Authentication method.
    #[arg(long, value_enum, default_value = "cephx")]
    auth: AuthFlag,
    /// Our entity name.
    #[arg(long, default_value = "client.admin")]
    name: String,
    /// Keyring file holding our key (cephx).
    #[arg(long)]
    keyring: Option<String>,
    /// Connection modes to offer the OSD (Ceph's ms_mode values).
    #[arg(long, value_enum, default_value = "prefer-crc")]
    mode: ModeFlag,
    /// Connection modes to offer the monitor.
    #[arg(long, value_enum, default_value = "prefer-secure")]
    mon_mode: ModeFlag,
    /// msgr2 revision to advertise: 1 (msgr2.1) or 0 (msgr2.0).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    msgr_rev: u8,
    /// Number of keepalive round trips.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    count: u32,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

/// What one ping run measured.
struct Report {
    mode: &'static str,
    rev: u8,
    global_id: u64,
    mon_mode: &'static str,
    rtts_us: Vec<u64>,
}

pub fn run(args: Args) -> i32 {
    match execute(&args) {
        Ok(r) => {
            print_report(&args, &r);
            0
        }
        Err(e) => fail(e),
    }
}

fn execute(args: &Args) -> Result<Report, String> {
    let mon: EntityAddr = args
        .mon
        .parse()
        .map_err(|e| format!("--mon {}: {e}", args.mon))?;
    let osd: EntityAddr = args
        .osd
        .parse()
        .map_err(|e| format!("--osd {}: {e}", args.osd))?;
    if osd.ty != AddrType::Msgr2 {
        return Err(format!("--osd {}: not a v2 address", args.osd));
    }
    let osd_sock = osd
        .addr
        .ok_or_else(|| format!("--osd {}: no IP address", args.osd))?;
    let name = parse_auth_name(&args.name)?;
    let my_type = EntityType::from_u32(name.ty).ok_or("--name: unknown entity type")?;
    let timeout = Duration::from_secs(args.timeout);

    // 1. The monitor: a global id, and with cephx the OSD ticket.
    let mut cfg = MonClientConfig::new(
        mon,
        name.clone(),
        mon_auth(args.auth, args.keyring.as_deref(), &name)?,
    );
    cfg.modes = args.mon_mode.modes();
    cfg.rev1 = args.msgr_rev == 1;
    cfg.timeout = timeout;
    cfg.want_keys = entity_type::MON | entity_type::OSD | entity_type::MGR;
    let mc = MonClient::connect(cfg).map_err(|e| format!("{}: {e}", args.mon))?;
    let global_id = mc.global_id();
    let mon_mode = mc.established().mode.name();

    // 2. The OSD session.
    let mut rng = StdRng::from_entropy();
    let auth: Box<dyn AuthClient> = match mc.tickets() {
        Some(store) => Box::new(
            CephxAuthorizerClient::new(
                entity_type::OSD,
                store.clone(),
                Box::new(StdRng::seed_from_u64(rng.next_u64())),
                system_clock(),
            )
            .with_modes(args.mode.modes()),
        ),
        None => Box::new(NoneClient::new(name.ty, &name.id, global_id, false)),
    };
    let mut ccfg = ConnectionConfig::new(my_type);
    ccfg.my_nonce = rng.next_u32();
    ccfg.my_gid = i64::try_from(global_id).unwrap_or(-1);
    ccfg.msgr2_supported = msgr2_features(args.msgr_rev);
    ccfg.handshake_timeout = timeout;
    let conn = Connection::connect(
        ccfg,
        osd,
        EntityType::Osd,
        Policy::lossy_client(),
        auth,
        Box::new(StdRng::seed_from_u64(rng.next_u64())),
        Instant::now(),
    );
    let mut driver = KernelDriver::new().map_err(|e| format!("poll setup: {e}"))?;
    let id = driver
        .connect(osd_sock, conn)
        .map_err(|e| format!("connect to {osd_sock}: {e}"))?;

    // 3. Keepalive round trips, one at a time.
    let deadline = Instant::now() + timeout;
    let mut session = None;
    let mut rtts = Vec::with_capacity(args.count as usize);
    let mut in_flight: Option<(u32, Instant)> = None;
    while rtts.len() < args.count as usize {
        if Instant::now() >= deadline {
            return Err(format!(
                "{}: {} of {} keepalives answered within {}s",
                args.osd,
                rtts.len(),
                args.count,
                args.timeout
            ));
        }
        for (_, ev) in driver
            .poll_once(Duration::from_millis(50))
            .map_err(|e| format!("poll: {e}"))?
        {
            match ev {
                Event::Established(e) => session = Some(e),
                Event::KeepaliveAck { stamp } => {
                    if let Some((n, sent)) = in_flight {
                        if stamp.sec == n {
                            rtts.push(sent.elapsed().as_micros() as u64);
                            in_flight = None;
                        }
                    }
                }
                Event::Closed { error, .. } => {
                    return Err(format!("{}: session closed: {error}", args.osd));
                }
                _ => {}
            }
        }
        if session.is_some() && in_flight.is_none() && rtts.len() < args.count as usize {
            let n = rtts.len() as u32 + 1;
            let conn = driver.conn_mut(id).ok_or("the OSD connection vanished")?;
            if conn.send_keepalive(UTime { sec: n, nsec: 0 }) {
                in_flight = Some((n, Instant::now()));
            }
        }
    }
    let est = session.ok_or("no session")?;
    Ok(Report {
        mode: est.mode.name(),
        rev: rev_number(est.revision),
        global_id,
        mon_mode,
        rtts_us: rtts,
    })
}

/// The `p`-th percentile (nearest rank) of sorted values.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn print_report(args: &Args, r: &Report) {
    let mut s = r.rtts_us.clone();
    s.sort_unstable();
    let (p50, p90, p99) = (
        percentile(&s, 50.0),
        percentile(&s, 90.0),
        percentile(&s, 99.0),
    );
    let (min, max) = (
        s.first().copied().unwrap_or(0),
        s.last().copied().unwrap_or(0),
    );
    if args.json {
        let v = serde_json::json!({
            "osd": args.osd,
            "mode": r.mode,
            "rev": r.rev,
            "mon_mode": r.mon_mode,
            "global_id": r.global_id,
            "count": s.len(),
            "rtt_us": {"min": min, "p50": p50, "p90": p90, "p99": p99, "max": max},
        });
        println!("{v}");
    } else {
        println!(
            "{}: session mode={} msgr2.{} global_id={} (mon mode={})",
            args.osd, r.mode, r.rev, r.global_id, r.mon_mode
        );
        println!(
            "{} keepalives: rtt min/p50/p90/p99/max = {min}/{p50}/{p90}/{p99}/{max} us",
            s.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&[7], 90.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
