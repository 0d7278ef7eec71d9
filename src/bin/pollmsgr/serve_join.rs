//! `pollmsgr serve --osds N --join`: N OSD endpoints that are real members
//! of a Ceph cluster (read from `ceph.conf`): ids from `osd new` (kept in
//! `--state-dir`), booted with MOSDBoot, kept up with beacons, serving real
//! clients' object ops, `ceph tell` and heartbeats, marked down on exit.
//!
//! Order of start-up: the admin key creates (or finds) the ids; the first
//! OSD's key fetches the rotating OSD secrets every endpoint verifies tickets
//! with; the reactors start listening; then the control plane boots each OSD
//! at the address its endpoint bound, and prints the ready line once the
//! osdmap shows all of them up.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pollmsgr::auth::cephx::TicketStore;
use pollmsgr::conf::{CephConf, ModeOption};
use pollmsgr::monc::{MonAuth, MonClient, MonClientConfig};
use pollmsgr::msg::fsid_to_string;
use pollmsgr::osd::handler::{OsdHandler, OsdIdentity};
use pollmsgr::osd::join::{osd_new, JoinState};
use pollmsgr::osd::member::{ClusterView, HostedOsd, MemberConfig, Membership};
use pollmsgr::osd::store::{MemStore, ObjectService};
use pollmsgr::pool::auth::{ClientAuth, RotatingKeyService};
use pollmsgr::pool::Handler;
use pollmsgr::wire::addr::EntityAddr;
use pollmsgr::wire::entity::AuthEntityName as AuthName;
use pollmsgr::wire::entity::{EntityName, EntityType};
use pollmsgr::wire::ConMode;

use crate::common::{key_from_keyring, mon_addrs, parse_auth_name, ModeFlag, TransportFlag};
use crate::serve_osds::{log_secrets, serve_osds, ControlPlane, OsdsArgs, ServePlan};

/// What `serve --join` takes from the flags.
pub struct JoinArgs {
    pub conf: Option<PathBuf>,
    pub osds: usize,
    pub state_dir: PathBuf,
    pub name: String,
    pub keyring: Option<String>,
    pub mon: Option<String>,
    pub listen: Option<String>,
    pub mode: Option<ModeFlag>,
    pub crush_host: Option<String>,
    pub beacon_interval: Option<u64>,
    pub transport: TransportFlag,
    pub cores: String,
    pub msgr_rev: u8,
    pub smol_shards: usize,
    pub rotating_refresh: u64,
    pub netns: Option<String>,
    /// Bounds against hostile peers and overload.
    pub limits: crate::serve_osds::ServeLimits,
    /// Most bytes the in-memory object store holds (ENOSPC past it).
    pub store_max_bytes: u64,
}

/// How long booting all endpoints may take.
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

/// Joins the cluster and serves until SIGINT/SIGTERM.
pub fn serve_joined(j: &JoinArgs) -> Result<(), String> {
    // Over DPDK memif the endpoints boot with their memif addresses: only
    // clients on the other end of the memif links (`pollmsgr rados
    // --transport dpdk --memif SOCKETS`) reach them; the mon sessions run
    // over kernel TCP.
    if let (TransportFlag::Tap, None) = (j.transport, &j.netns) {
        return Err(
            "--join --transport tap needs --netns NS: the namespace where the mon \
             and the clients run (the TAP's kernel side goes there)"
                .into(),
        );
    }
    let conf = CephConf::from_env_or(j.conf.as_deref())
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let admin = parse_auth_name(&j.name)?;
    let mons = mon_addrs(&conf, &admin, j.mon.as_deref(), "--mon")?;
    let keyring = match &j.keyring {
        Some(k) => k.clone(),
        None => conf
            .keyring(&admin)
            .map(|p| p.display().to_string())
            .ok_or_else(|| format!("no keyring for {admin}: pass --keyring or set keyring"))?,
    };
    let admin_key = key_from_keyring(&keyring, &admin)?;
    let mon_modes = conf
        .con_modes(&admin, ModeOption::MonClient)
        .map_err(|e| e.to_string())?;
    let mut admin_cfg = MonClientConfig::new(mons[0], admin.clone(), MonAuth::Cephx(admin_key));
    admin_cfg.modes = mon_modes.clone();
    admin_cfg.rev1 = j.msgr_rev == 1;
    let mut mc = MonClient::connect_first(&mons, &admin_cfg, None)
        .map_err(|e| format!("as {admin}: {e}"))?;
    let fsid = match conf.fsid(&admin).map_err(|e| e.to_string())? {
        Some(f) => f,
        None => mc.get_monmap().map_err(|e| format!("monmap: {e}"))?.fsid,
    };
    let mut state =
        JoinState::load_or_new(&j.state_dir, fsid, j.osds).map_err(|e| e.to_string())?;
    for slot in 0..j.osds {
        let id = osd_new(&mut mc, fsid, &state.osds[slot]).map_err(|e| e.to_string())?;
        state.osds[slot].id = Some(id);
        state.save(&j.state_dir).map_err(|e| e.to_string())?;
    }
    drop(mc);
    let osds: Vec<Identity> = state.osds[..j.osds]
        .iter()
        .map(|o| {
            let id = o.id.ok_or("osd new gave no id")?;
            Ok(Identity {
                id,
                uuid: o.uuid_bytes().map_err(|e| e.to_string())?,
                key: o.crypto_key().map_err(|e| e.to_string())?,
                // Filled by the OSD's mon session; its endpoint dials
                // heartbeat peers with them.
                tickets: TicketStore::new(AuthName::new(EntityType::Osd, id.to_string())),
            })
        })
        .collect::<Result<_, String>>()?;
    let ids: Vec<u32> = osds.iter().map(|o| o.id).collect();
    eprintln!(
        "pollmsgr serve --join: cluster {}, osds {ids:?} (state {})",
        fsid_to_string(&fsid),
        j.state_dir.display()
    );

    // The OSD service's rotating secrets, fetched as the first hosted OSD.
    let first = &osds[0];
    let first_name = AuthName::new(EntityType::Osd, first.id.to_string());
    let mut rot_cfg = MonClientConfig::new(
        mons[0],
        first_name.clone(),
        MonAuth::Cephx(first.key.clone()),
    );
    rot_cfg.mons = mons.clone();
    rot_cfg.modes = mon_modes.clone();
    rot_cfg.rev1 = j.msgr_rev == 1;
    let svc = RotatingKeyService::start(rot_cfg).map_err(|e| format!("rotating keys: {e}"))?;
    log_secrets(&svc);
    let service_modes: Vec<ConMode> = match j.mode {
        Some(m) => m.modes(),
        None => conf
            .con_modes(&first_name, ModeOption::Service)
            .map_err(|e| e.to_string())?,
    };
    let auth = svc.server_auth(service_modes);

    let heartbeat_interval = conf
        .get_parsed::<f64>(&first_name, "osd_heartbeat_interval")
        .map_err(|e| e.to_string())?
        .unwrap_or(6.0);
    // Modes toward other OSDs (heartbeats): Ceph's ms_cluster_mode.
    let cluster_modes = conf
        .con_modes(&first_name, ModeOption::Cluster)
        .map_err(|e| e.to_string())?;
    let objects: Arc<dyn ObjectService> = Arc::new(MemStore::with_limit(j.store_max_bytes));
    let mut endpoints: Vec<(EntityName, Box<dyn Handler>)> = Vec::new();
    let mut views = Vec::new();
    let mut dial_auth = HashMap::new();
    for o in &osds {
        let (tx, rx) = crossbeam::channel::bounded::<Arc<ClusterView>>(64);
        views.push(tx);
        let me = OsdIdentity {
            id: u64::from(o.id),
            fsid,
            uuid: o.uuid,
            heartbeat_interval: Duration::from_secs_f64(heartbeat_interval.clamp(0.1, 3600.0)),
        };
        let name = EntityName::new(EntityType::Osd, u64::from(o.id));
        dial_auth.insert(
            name,
            ClientAuth::cephx(
                EntityType::Osd.service_id(),
                o.tickets.clone(),
                cluster_modes.clone(),
            ),
        );
        endpoints.push((
            name,
            Box::new(
                OsdHandler::new(me, Arc::clone(&objects), rx)
                    .with_guard(Arc::clone(&j.limits.guard)),
            ),
        ));
    }
    let beacon = match j.beacon_interval {
        Some(s) => s,
        None => conf
            .get_parsed::<u64>(&first_name, "osd_beacon_report_interval")
            .map_err(|e| e.to_string())?
            .unwrap_or(300),
    };
    let member_cfg = MemberConfig {
        mons: mons.clone(),
        fsid,
        modes: mon_modes,
        rev1: j.msgr_rev == 1,
        crush_host: j.crush_host.clone().unwrap_or_else(default_crush_host),
        crush_weight: 1.0,
        beacon_interval: Duration::from_secs(beacon.max(1)),
        timeout: Duration::from_secs(30),
        boot_timeout: BOOT_TIMEOUT,
    };
    let listen: EntityAddr = match &j.listen {
        Some(l) => l.parse().map_err(|e| format!("--listen {l}: {e}"))?,
        None => {
            let ip = conf
                .public_addr(&first_name)
                .map_err(|e| e.to_string())?
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|| "127.0.0.1".into());
            format!("v2:{ip}:0/{}", rand::random::<u32>() >> 1)
                .parse()
                .map_err(|e| format!("listen address: {e}"))?
        }
    };
    let control = JoinControl {
        cfg: member_cfg,
        osds,
        views,
        membership: None,
        rotating: svc,
        refresh: Duration::from_secs(j.rotating_refresh.max(1)),
    };
    let a = OsdsArgs {
        osds: j.osds,
        first_id: 0,
        listen,
        transport: j.transport,
        cores: j.cores.clone(),
        reply_size: 0,
        smol_shards: j.smol_shards.max(1),
        msgr_rev: j.msgr_rev,
        cephx: None,
        single: None,
        netns: j.netns.clone(),
        limits: j.limits.clone(),
    };
    serve_osds(
        &a,
        ServePlan {
            endpoints,
            auth,
            control: Box::new(control),
            dial_auth,
        },
    )
}

/// `pollmsgr-HOSTNAME`: the CRUSH host bucket of this process's OSDs.
fn default_crush_host() -> String {
    let host: String = crate::common::hostname()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("pollmsgr-{}", if host.is_empty() { "host" } else { &host })
}

/// A hosted OSD's identity before its endpoint has an address.
struct Identity {
    id: u32,
    uuid: [u8; 16],
    key: pollmsgr::auth::cephx::CryptoKey,
    tickets: TicketStore,
}

/// The control plane of joined endpoints: membership and rotating secrets.
struct JoinControl {
    cfg: MemberConfig,
    osds: Vec<Identity>,
    views: Vec<crossbeam::channel::Sender<Arc<ClusterView>>>,
    membership: Option<Membership>,
    rotating: RotatingKeyService,
    refresh: Duration,
}

impl ControlPlane for JoinControl {
    fn ready(
        &mut self,
        endpoints: &[(EntityName, EntityAddr)],
        hello: &mut serde_json::Value,
    ) -> Result<(), String> {
        let by_id: HashMap<u64, EntityAddr> = endpoints.iter().map(|(n, a)| (n.num, *a)).collect();
        let hosted = self
            .osds
            .iter()
            .map(|o| {
                Ok(HostedOsd {
                    id: o.id,
                    uuid: o.uuid,
                    key: o.key.clone(),
                    tickets: o.tickets.clone(),
                    addr: *by_id
                        .get(&u64::from(o.id))
                        .ok_or_else(|| format!("osd.{} did not bind", o.id))?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let mut m = Membership::new(self.cfg.clone(), hosted, self.views.clone());
        m.boot_all()
            .map_err(|e| format!("joining the cluster: {e}"))?;
        if let Some(h) = hello.as_object_mut() {
            h.insert("osds".into(), serde_json::json!(m.ids()));
            h.insert(
                "fsid".into(),
                serde_json::json!(fsid_to_string(&self.cfg.fsid)),
            );
            h.insert("crush_host".into(), serde_json::json!(self.cfg.crush_host));
            h.insert("osdmap_epoch".into(), serde_json::json!(m.view().epoch));
        }
        self.membership = Some(m);
        Ok(())
    }

    fn tick(&mut self) {
        match self.rotating.refresh_if_due(self.refresh) {
            Some(Ok(_)) => log_secrets(&self.rotating),
            Some(Err(e)) => eprintln!("rotating keys: refresh failed: {e}"),
            None => {}
        }
        if let Some(m) = self.membership.as_mut() {
            m.tick();
        }
    }

    fn stop(&mut self, summary: &mut serde_json::Value) {
        let Some(m) = self.membership.as_mut() else {
            return;
        };
        let acked = m.mark_down_all(Duration::from_secs(3));
        eprintln!("pollmsgr serve --join: marked down {acked:?}");
        let s = m.stats();
        if let Some(o) = summary.as_object_mut() {
            o.insert("marked_down".into(), serde_json::json!(acked));
            o.insert(
                "membership".into(),
                serde_json::json!({
                    "boots": s.boots,
                    "beacons": s.beacons,
                    "maps": s.maps,
                    "reconnects": s.reconnects,
                    "errors": s.errors,
                }),
            );
        }
    }
}
