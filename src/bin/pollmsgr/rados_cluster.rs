//! The cluster handle of `pollmsgr rados`: the mon session on the main
//! thread (cephx tickets, the osdmap subscription, ticket renewal) and one
//! objecter reactor, started with the first command and kept, with its OSD
//! sessions and its transport, until the handle drops. Each command is a
//! [`Workload`] the reactor runs in turn ([`Turns`]); new osdmaps are posted
//! to it, so nothing on the reactor waits on the mon.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, TryRecvError};
use pollmsgr::conf::{CephConf, ModeOption};
use pollmsgr::monc::{MonAuth, MonClient, MonClientConfig};
use pollmsgr::msg::osd_mon::MOsdMap;
use pollmsgr::msg::subscribe::MonSubscribe;
use pollmsgr::msg::{from_message, types};
use pollmsgr::net::spec::{AnyTransport, Transports};
use pollmsgr::net::transport::IdlePolicy;
use pollmsgr::objecter::app::{RadosApp, Workload};
use pollmsgr::objecter::maps::MapTracker;
use pollmsgr::objecter::turns::Turns;
use pollmsgr::objecter::{ObjectRequest, Objecter, ObjecterConfig, ObjecterStats, OpReply};
use pollmsgr::pool::auth::ClientAuth;
use pollmsgr::proto::ConnectionConfig;
use pollmsgr::reactor::{self, driver::Driver, ReactorHandle};
use pollmsgr::wire::entity::EntityType;

use crate::common::{key_from_keyring, mon_addrs, msgr2_features, parse_auth_name};
use crate::rados::{Args, Batch};

type ObjecterReactor = ReactorHandle<AnyTransport, RadosApp<Turns>>;

/// How long a closing handle waits for the objecter to end its sessions.
const CLOSE_WAIT: Duration = Duration::from_secs(3);

/// What one [`Cluster::run`] gives back.
pub struct Ran<W> {
    /// The workload, with its results.
    pub workload: W,
    /// What the objecter counted during the run.
    pub stats: ObjecterStats,
}

/// The mon session, the current osdmap and the objecter's reactor.
pub struct Cluster {
    mc: MonClient<AnyTransport>,
    /// The objecter's reactor, once a run started it.
    reactor: Option<ObjecterReactor>,
    /// The objecter's transport set-up: prepared once (a DPDK port opens
    /// once per process) and kept while the reactor lives.
    data: Transports,
    data_idle: IdlePolicy,
    /// The mon session's transport set-up, kept while the session lives.
    _control: Transports,
    /// The osdmap, kept current from the mon's MOSDMaps.
    pub tracker: MapTracker,
    objecter: ObjecterConfig,
    core: Option<usize>,
}

impl Cluster {
    /// Reads the conf and keyring, authenticates with the first mon that
    /// answers, subscribes to the osdmap and waits for the first map.
    pub fn connect(args: &Args) -> Result<Self, String> {
        let conf = CephConf::from_env_or(args.conf.as_deref())
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let name = match (&args.name, &args.id) {
            (Some(n), _) => parse_auth_name(n)?,
            (None, Some(id)) => parse_auth_name(&format!("client.{id}"))?,
            (None, None) => parse_auth_name("client.admin")?,
        };
        let mons = mon_addrs(&conf, &name, args.mon.as_deref(), "-m")?;
        let keyring = match &args.keyring {
            Some(k) => Some(k.clone()),
            None => conf.keyring(&name).map(|p| p.display().to_string()),
        };
        let auth = match keyring {
            Some(k) => MonAuth::Cephx(key_from_keyring(&k, &name)?),
            None => MonAuth::None,
        };
        let cephx = matches!(auth, MonAuth::Cephx(_));
        let mut cfg = MonClientConfig::new(mons[0], name.clone(), auth);
        cfg.modes = conf
            .con_modes(&name, ModeOption::MonClient)
            .map_err(|e| e.to_string())?;
        cfg.rev1 = args.msgr_rev == 1;
        cfg.want_keys = EntityType::Mon.service_id() | EntityType::Osd.service_id();
        let (control_spec, data_spec) = args.net.specs()?;
        let mut control = control_spec.prepare(1, []).map_err(|e| e.to_string())?;
        let t = control.open(0).map_err(|e| e.to_string())?;
        let mut mc = MonClient::connect_first_over(Driver::with_transport(t), &mons, &cfg, None)
            .map_err(|e| e.to_string())?;
        let osd_modes = conf
            .con_modes(&name, ModeOption::Client)
            .map_err(|e| e.to_string())?;
        let client_auth = if cephx {
            let store = mc
                .tickets()
                .ok_or("the mon session has no cephx tickets")?
                .clone();
            if store.get(EntityType::Osd.service_id()).is_none() {
                return Err(format!("the mon issued no OSD ticket to {name}"));
            }
            ClientAuth::cephx(EntityType::Osd.service_id(), store, osd_modes)
        } else {
            ClientAuth::None
        };
        let mut sub = MonSubscribe::default();
        sub.want("osdmap", 0, 0);
        mc.subscribe(&sub);
        let mut tracker = MapTracker::new();
        let first = mc
            .wait_for("osdmap", |m| m.ty == types::OSD_MAP)
            .map_err(|e| format!("first osdmap: {e}"))?;
        let maps = from_message::<MOsdMap>(&first).map_err(|e| format!("osdmap message: {e}"))?;
        tracker.handle(&maps).map_err(|e| format!("osdmap: {e}"))?;
        if tracker.epoch() == 0 {
            return Err("the mon sent no full osdmap".into());
        }
        let mut base = ConnectionConfig::new(EntityType::Client);
        base.msgr2_supported = msgr2_features(args.msgr_rev);
        let mut objecter = ObjecterConfig::new(base, client_auth, mc.global_id());
        objecter.op_timeout = Duration::from_secs_f64(args.op_timeout.max(0.1));
        let data = data_spec.prepare(1, []).map_err(|e| e.to_string())?;
        Ok(Cluster {
            mc,
            reactor: None,
            data,
            data_idle: data_spec.idle(Duration::from_millis(1)),
            _control: control,
            tracker,
            objecter,
            core: args.core,
        })
    }

    /// The data path's transport ("kernel", "tap", "dpdk").
    pub fn data_transport(&self) -> &'static str {
        self.data.name()
    }

    /// The objecter's reactor, started (with the current map) on first use.
    fn reactor(&mut self) -> Result<&ObjecterReactor, String> {
        if self.reactor.is_none() {
            let app = RadosApp::new(Objecter::new(self.objecter.clone()), Turns::new());
            let handle = reactor::spawn(
                "rados".into(),
                self.core,
                self.data_idle,
                self.data.factory(0).map_err(|e| e.to_string())?,
                app,
            )
            .map_err(|e| format!("start reactor: {e}"))?;
            if let Some(p) = self.tracker.placement() {
                post_map(&handle, p);
            }
            self.reactor = Some(handle);
        }
        self.reactor
            .as_ref()
            .ok_or_else(|| "no objecter reactor".into())
    }

    /// Why the objecter's reactor ended (it ends only on an error before
    /// the handle closes it).
    fn reactor_failure(&mut self) -> String {
        match self.reactor.take().map(ReactorHandle::join) {
            Some(Err(e)) => format!("objecter reactor: {e}"),
            _ => "objecter reactor ended".into(),
        }
    }

    /// Runs `workload` on the objecter's reactor until it is done, keeping
    /// the map current and calling `tick` about once a second with the time
    /// since the start.
    pub fn run<W: Workload>(
        &mut self,
        workload: W,
        mut tick: impl FnMut(Duration),
    ) -> Result<Ran<W>, String> {
        let (back, done) = channel::bounded::<W>(1);
        let (stats_tx, stats) = channel::bounded::<ObjecterStats>(2);
        let before_tx = stats_tx.clone();
        let posted = self.reactor()?.post(move |_, app: &mut RadosApp<Turns>| {
            let _ = before_tx.send(app.objecter.stats());
            // Runs are sequential (`&mut self`), so the slot is free.
            let _ = app.workload.start(workload, back);
        });
        if !posted {
            return Err(self.reactor_failure());
        }
        let started = Instant::now();
        let mut last_tick = started;
        let workload = loop {
            match done.try_recv() {
                Ok(w) => break w,
                Err(TryRecvError::Disconnected) => return Err(self.reactor_failure()),
                Err(TryRecvError::Empty) => {}
            }
            if self.reactor.as_ref().is_none_or(ReactorHandle::is_finished) {
                return Err(self.reactor_failure());
            }
            self.poll_mon(Duration::from_millis(20));
            if last_tick.elapsed() >= Duration::from_secs(1) {
                last_tick = Instant::now();
                tick(started.elapsed());
            }
        };
        let after = self.reactor()?.post(move |_, app: &mut RadosApp<Turns>| {
            let _ = stats_tx.send(app.objecter.stats());
        });
        let before = stats.recv_timeout(CLOSE_WAIT);
        let after = after.then(|| stats.recv_timeout(CLOSE_WAIT));
        let stats = match (before, after) {
            (Ok(b), Some(Ok(a))) => a.since(&b),
            _ => return Err(self.reactor_failure()),
        };
        Ok(Ran { workload, stats })
    }

    /// Runs one request and returns its reply.
    pub fn one(&mut self, req: ObjectRequest) -> Result<OpReply, String> {
        let ran = self.run(Batch::new(vec![req]), |_| {})?;
        ran.workload
            .results
            .into_iter()
            .next()
            .flatten()
            .ok_or("the request did not complete")?
            .result
            .map_err(|e| e.to_string())
    }

    /// Takes the mon's messages for up to `wait`: new osdmaps go to the
    /// objecter; renews tickets when due.
    fn poll_mon(&mut self, wait: Duration) {
        match self.mc.poll_messages(wait) {
            Ok(msgs) => {
                for m in msgs.iter().filter(|m| m.ty == types::OSD_MAP) {
                    match from_message::<MOsdMap>(m) {
                        Ok(maps) => match self.tracker.handle(&maps) {
                            Ok(true) => {
                                if let (Some(p), Some(r)) =
                                    (self.tracker.placement(), self.reactor.as_ref())
                                {
                                    post_map(r, p);
                                }
                            }
                            Ok(false) => {}
                            Err(e) => eprintln!("rados: osdmap: {e}"),
                        },
                        Err(e) => eprintln!("rados: osdmap message: {e}"),
                    }
                }
            }
            Err(e) => eprintln!("rados: mon session: {e}"),
        }
        if let Err(e) = self.mc.renew_if_due() {
            eprintln!("rados: ticket renewal: {e}");
        }
    }
}

fn post_map(reactor: &ObjecterReactor, map: Arc<dyn pollmsgr::objecter::Placement>) {
    reactor.post(move |d, app: &mut RadosApp<Turns>| {
        app.set_map(d, map, Instant::now());
    });
}

impl Drop for Cluster {
    /// Closes the objecter's OSD sessions (it finishes once the current
    /// workload, if any, is done) and joins its reactor before the
    /// transport's set-up goes.
    fn drop(&mut self) {
        let Some(reactor) = self.reactor.take() else {
            return;
        };
        reactor.post(|_, app: &mut RadosApp<Turns>| app.workload.close());
        let deadline = Instant::now() + CLOSE_WAIT;
        while !reactor.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = reactor.join();
    }
}
