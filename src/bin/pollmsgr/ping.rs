//! `pollmsgr ping`: authenticate with a monitor, open a session to an OSD
//! (with a cephx authorizer built from the mon's OSD ticket, or auth none),
//! run N KEEPALIVE2 round trips and print the session mode, revision and
//! round-trip percentiles.
//!
//! The OSD session is a lossy client's (Ceph's `Policy::lossy_client`): when
//! it is reset (e.g. by an OSD with `ms_inject_socket_failures`), the
//! keepalive in flight is lost and counted, and the session is dialed again
//! with backoff, as a Ceph client's `Objecter` would, and the run goes on.

use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use hdrhistogram::Histogram;
use pollmsgr::auth::cephx::{system_clock, CephxAuthorizerClient};
use pollmsgr::auth::none::NoneClient;
use pollmsgr::auth::AuthClient;
use pollmsgr::monc::{MonClient, MonClientConfig};
use pollmsgr::net::spec::AnyTransport;
use pollmsgr::pool::load::redial_wait;
use pollmsgr::proto::{Connection, ConnectionConfig, Event, Policy};
use pollmsgr::reactor::driver::Driver;
use pollmsgr::wire::addr::{AddrType, EntityAddr};
use pollmsgr::wire::entity::EntityType;
use pollmsgr::wire::utime::UTime;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use crate::common::{
    fail, mon_auth, msgr2_features, parse_auth_name, rev_number, AuthFlag, ModeFlag,
};
use crate::net_args::NetArgs;

/// Flags of `ping`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The monitors' msgr2 addresses, comma-separated, e.g. v2:127.0.0.1:3300
    /// (hunted in this order).
    #[arg(long, value_delimiter = ',', required = true)]
    mon: Vec<String>,
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
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    count: u32,
    /// Milliseconds to wait after an answer before the next keepalive.
    #[arg(long, default_value_t = 0)]
    interval_ms: u64,
    /// Keep pinging for this many seconds (at most --count keepalives);
    /// --timeout then counts from the end of this time.
    #[arg(long)]
    duration: Option<f64>,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    #[command(flatten)]
    net: NetArgs,
}

/// How long a keepalive may go unanswered on a live session before it is
/// counted lost and the session dialed again.
const KEEPALIVE_LOST_AFTER: Duration = Duration::from_secs(5);

/// What one ping run measured.
struct Report {
    mode: &'static str,
    rev: u8,
    global_id: u64,
    mon_mode: &'static str,
    /// Round trips answered, in microseconds (bounded memory for long runs).
    rtts_us: Histogram<u64>,
    /// Keepalives sent.
    sent: u64,
    /// Keepalives whose session was reset (or that went unanswered) before
    /// their ack came.
    lost: u64,
    /// Sessions established again after a loss.
    reconnects: u64,
    /// Why the last session loss happened.
    last_error: Option<String>,
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
    let mons: Vec<EntityAddr> = args
        .mon
        .iter()
        .map(|m| m.parse().map_err(|e| format!("--mon {m}: {e}")))
        .collect::<Result<_, String>>()?;
    let mon = *mons.first().ok_or("--mon: no address")?;
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
    let my_type = name.ty;
    let timeout = Duration::from_secs(args.timeout);

    // 1. The monitor: a global id, and with cephx the OSD ticket.
    let mut cfg = MonClientConfig::new(
        mon,
        name.clone(),
        mon_auth(args.auth, args.keyring.as_deref(), &name)?,
    );
    cfg.mons = mons;
    cfg.modes = args.mon_mode.modes();
    cfg.rev1 = args.msgr_rev == 1;
    cfg.timeout = timeout;
    cfg.want_keys =
        EntityType::Mon.service_id() | EntityType::Osd.service_id() | EntityType::Mgr.service_id();
    let (control_spec, data_spec) = args.net.specs()?;
    let mut control = control_spec.prepare(1, []).map_err(|e| e.to_string())?;
    let t = control.open(0).map_err(|e| e.to_string())?;
    let store = cfg.fresh_store();
    let mc = MonClient::connect_over(Driver::with_transport(t), cfg, store)
        .map_err(|e| format!("{}: {e}", args.mon.join(",")))?;
    let global_id = mc.global_id();
    let mon_mode = mc.established().mode.name();

    // 2. The OSD session, dialed again whenever it is lost.
    let mut rng = StdRng::from_entropy();
    let tickets = mc.tickets().cloned();
    let dial = |driver: &mut Driver<AnyTransport>, rng: &mut StdRng| {
        let auth: Box<dyn AuthClient> = match &tickets {
            Some(store) => Box::new(
                CephxAuthorizerClient::new(
                    EntityType::Osd.service_id(),
                    store.clone(),
                    Box::new(StdRng::seed_from_u64(rng.next_u64())),
                    system_clock(),
                )
                .with_modes(args.mode.modes()),
            ),
            None => Box::new(NoneClient::new(name.ty as u32, &name.id, global_id, false)),
        };
        let mut ccfg = ConnectionConfig::new(my_type);
        ccfg.my_nonce = rng.next_u32();
        ccfg.my_gid = i64::try_from(global_id).unwrap_or(-1);
        ccfg.msgr2_supported = msgr2_features(args.msgr_rev);
        ccfg.handshake_timeout = timeout.min(Duration::from_secs(10));
        let conn = Connection::connect(
            ccfg,
            osd,
            EntityType::Osd,
            Policy::lossy_client(),
            auth,
            Box::new(StdRng::seed_from_u64(rng.next_u64())),
            Instant::now(),
        );
        driver
            .connect(osd_sock, conn)
            .map_err(|e| format!("connect to {osd_sock}: {e}"))
    };
    let mut data = data_spec.prepare(1, []).map_err(|e| e.to_string())?;
    let mut driver = Driver::with_transport(data.open(0).map_err(|e| format!("poll setup: {e}"))?);
    let mut id = Some(dial(&mut driver, &mut rng)?);

    // 3. Keepalive round trips, one at a time.
    let started = Instant::now();
    let send_until = args
        .duration
        .map(|d| started + Duration::from_secs_f64(d.max(0.0)));
    let deadline = send_until.unwrap_or(started) + timeout;
    let count = u64::from(args.count);
    let mut first_session = None;
    let mut session = false;
    let mut rtts = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
        .map_err(|e| format!("histogram: {e}"))?;
    let interval = Duration::from_millis(args.interval_ms);
    let mut next_send = started;
    let mut in_flight: Option<(u32, Instant)> = None;
    let (mut sent, mut lost, mut reconnects) = (0u64, 0u64, 0u64);
    let mut last_error: Option<String> = None;
    let mut failures = 0u32; // losses since the last good session
    let mut redial_at: Option<Instant> = None;
    let sending = |sent: u64, now: Instant| sent < count && send_until.is_none_or(|t| now < t);
    loop {
        let now = Instant::now();
        if in_flight.is_none() && !sending(sent, now) {
            break;
        }
        if now >= deadline {
            return Err(format!(
                "{}: {} of {} keepalives answered within {}s ({lost} lost, {reconnects} \
                 reconnects; last error: {})",
                args.osd,
                rtts.len(),
                sent,
                deadline.duration_since(started).as_secs(),
                last_error.as_deref().unwrap_or("none")
            ));
        }
        if id.is_none() && redial_at.is_some_and(|t| now >= t) {
            redial_at = None;
            match dial(&mut driver, &mut rng) {
                Ok(c) => id = Some(c),
                Err(e) => {
                    failures = failures.saturating_add(1);
                    redial_at = Some(now + redial_wait(failures, &mut rng));
                    last_error = Some(e);
                }
            }
        }
        // A keepalive unanswered on a live session: count it lost, start over.
        if let (Some((_, t)), Some(c)) = (in_flight, id) {
            if now.duration_since(t) > KEEPALIVE_LOST_AFTER {
                in_flight = None;
                lost += 1;
                last_error = Some(format!("no keepalive ack within {KEEPALIVE_LOST_AFTER:?}"));
                driver.remove(c);
                id = None;
                session = false;
                failures = failures.saturating_add(1);
                redial_at = Some(now + redial_wait(failures, &mut rng));
            }
        }
        // Wake for the next keepalive's turn (--interval-ms) or a redial.
        let wake = [Some(next_send), redial_at]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min()
            .map_or(Duration::from_millis(50), |t| {
                t.duration_since(now).min(Duration::from_millis(50))
            });
        for (c, ev) in driver.poll_once(wake).map_err(|e| format!("poll: {e}"))? {
            if Some(c) != id {
                continue;
            }
            match ev {
                Event::Established(e) => {
                    if first_session.is_some() {
                        reconnects += 1;
                    } else {
                        first_session = Some(e);
                    }
                    session = true;
                    failures = 0;
                }
                Event::KeepaliveAck { stamp } => {
                    if let Some((n, sent_at)) = in_flight {
                        if stamp.sec == n {
                            let us = sent_at.elapsed().as_micros() as u64;
                            let _ = rtts.record(us.clamp(1, 60_000_000));
                            in_flight = None;
                            next_send = Instant::now() + interval;
                        }
                    }
                }
                Event::Closed { error, .. } => {
                    if in_flight.take().is_some() {
                        lost += 1;
                    }
                    last_error = Some(error.to_string());
                    driver.remove(c);
                    id = None;
                    session = false;
                    failures = failures.saturating_add(1);
                    redial_at = Some(Instant::now() + redial_wait(failures, &mut rng));
                }
                _ => {}
            }
        }
        let now = Instant::now();
        if session && in_flight.is_none() && now >= next_send && sending(sent, now) {
            let n = u32::try_from(sent % u64::from(u32::MAX)).unwrap_or(0) + 1;
            let c = id.and_then(|c| driver.conn_mut(c));
            if let Some(conn) = c {
                if conn.send_keepalive(UTime { sec: n, nsec: 0 }) {
                    in_flight = Some((n, Instant::now()));
                    sent += 1;
                }
            }
        }
    }
    let est = first_session.ok_or("no session")?;
    Ok(Report {
        mode: est.mode.name(),
        rev: rev_number(est.revision),
        global_id,
        mon_mode,
        rtts_us: rtts,
        sent,
        lost,
        reconnects,
        last_error,
    })
}

fn print_report(args: &Args, r: &Report) {
    let h = &r.rtts_us;
    let q = |x: f64| {
        if h.is_empty() {
            0
        } else {
            h.value_at_quantile(x)
        }
    };
    let (p50, p90, p99) = (q(0.5), q(0.9), q(0.99));
    let (min, max) = if h.is_empty() {
        (0, 0)
    } else {
        (h.min(), h.max())
    };
    if args.json {
        let v = serde_json::json!({
            "osd": args.osd,
            "mode": r.mode,
            "rev": r.rev,
            "mon_mode": r.mon_mode,
            "global_id": r.global_id,
            "count": h.len(),
            "sent": r.sent,
            "lost": r.lost,
            "reconnects": r.reconnects,
            "last_error": r.last_error,
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
            h.len()
        );
        println!(
            "{} sent, {} lost to session resets, {} reconnects",
            r.sent, r.lost, r.reconnects
        );
    }
}
