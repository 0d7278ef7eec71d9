//! A throwaway real Ceph 16.2 cluster (one `ceph-mon`, optionally one memstore
//! `ceph-osd`) for interop tests, driven by `scripts/ceph-cluster.sh`.
//!
//! Every cluster gets its own loopback address (`127.<pid-derived>`; all of
//! 127.0.0.0/8 is loopback on Linux), its own mon port and its own directory, so tests
//! can run side by side. The daemons are msgr2-only (`ms_bind_msgr1 = false`) and log
//! with `debug ms = 1` into `<dir>/log/`.
//!
//! Cleanup, in three layers:
//! 1. [`CephCluster`]'s `Drop` stops the daemons by pid (the script's `stop`) and
//!    removes the directory — unless the test is panicking, then the directory is kept
//!    and its path printed, for the logs.
//! 2. The script starts a watcher per cluster that stops the daemons when the test
//!    process exits without running `Drop` (killed, `abort`).
//! 3. [`CephCluster::start`] sweeps directories of earlier test processes that are gone
//!    and stops any of their daemons still recorded in pid files.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Prefix of the per-cluster directories under the system temp dir.
const DIR_PREFIX: &str = "pollmsgr-ceph-";
/// First mon port tried on a cluster's loopback address.
const MON_PORT_BASE: u16 = 3300;
/// `--connect-timeout` given to the `ceph` CLI, seconds.
const CLI_CONNECT_TIMEOUT: u32 = 10;
/// Wall-clock limit of one `ceph` CLI run, seconds (commands that need a mgr would
/// otherwise hang: this cluster has none).
const CLI_TIMEOUT: u32 = 60;

/// Clusters started by this process so far (makes ports and directories unique).
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Errors of the test harness. `Debug` prints the same text as `Display`, so that
/// `.unwrap()` in a test shows a readable message.
#[derive(thiserror::Error)]
pub enum HarnessError {
    /// The Ceph packages are missing on this machine.
    #[error("`{0}` not found in PATH: Ceph is not installed; run scripts/install-deps.sh (as root) first")]
    CephNotInstalled(&'static str),
    /// An I/O error while preparing or cleaning up, with what was being done.
    #[error("{what}: {source}")]
    Io {
        /// What the harness was doing.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `scripts/ceph-cluster.sh` (or another command) exited with failure.
    #[error("`{cmd}` failed ({status}):\n{stderr}")]
    CommandFailed {
        /// The command line.
        cmd: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// Its standard error (the script prints the tail of the failing daemon's log).
        stderr: String,
    },
    /// `env.sh` lacks a variable the harness needs.
    #[error("{path}: variable {key} missing or empty")]
    EnvMissing {
        /// The env file.
        path: PathBuf,
        /// The variable name.
        key: &'static str,
    },
    /// Output of Ceph or of the script could not be parsed.
    #[error("cannot parse {what}: {detail}")]
    Parse {
        /// What was parsed.
        what: String,
        /// Why it failed.
        detail: String,
    },
    /// No free mon port was found on the cluster's address.
    #[error("no free TCP port on {0}")]
    NoFreePort(Ipv4Addr),
}

impl fmt::Debug for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
    let what = what.into();
    move |source| HarnessError::Io { what, source }
}

/// Authentication the cluster requires (`auth_{cluster,service,client}_required`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// `auth none`: no keys; connections use crc mode.
    None,
    /// `cephx`: client.admin and osd.0 keys are generated and reported.
    Cephx,
}

impl Auth {
    /// The word `ceph.conf` and the script use.
    pub fn as_str(self) -> &'static str {
        match self {
            Auth::None => "none",
            Auth::Cephx => "cephx",
        }
    }
}

/// What to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClusterOpts {
    /// Authentication mode of the whole cluster.
    pub auth: Auth,
    /// Start `osd.0` (memstore) as well as the mon. Mon-only clusters start faster.
    pub with_osd: bool,
    /// Lines added to `[global]` of the cluster's ceph.conf (e.g. short
    /// report timeouts for a membership test).
    pub extra_conf: &'static str,
}

impl Default for ClusterOpts {
    fn default() -> Self {
        ClusterOpts {
            auth: Auth::Cephx,
            with_osd: true,
            extra_conf: "",
        }
    }
}

/// A running throwaway cluster. Dropping it stops the daemons.
pub struct CephCluster {
    /// The loopback (or namespace) address every daemon binds.
    pub ip: Ipv4Addr,
    /// The mon's msgr2 port.
    pub mon_port: u16,
    /// The mon's address as Ceph prints it: `v2:IP:PORT` (nonce 0); mon.a's
    /// when there are several.
    pub mon_addr: String,
    /// Every mon's address (mon.a, mon.b, ... on consecutive ports).
    pub mon_addrs: Vec<String>,
    /// The cluster fsid.
    pub fsid: String,
    /// client.admin's base64 secret (`None` with [`Auth::None`]).
    pub admin_key: Option<String>,
    /// osd.0's v2 address from the osdmap with its nonce, `v2:IP:PORT/NONCE`
    /// (`None` without an OSD).
    pub osd0_addr: Option<String>,
    /// osd.0's base64 secret (`None` without an OSD or with [`Auth::None`]).
    pub osd0_key: Option<String>,
    /// `<dir>/ceph.conf`.
    pub conf_path: PathBuf,
    /// The cluster directory (conf, keyring, `log/`, `pids/`, `env.sh`).
    pub dir: PathBuf,
    /// What was started.
    pub opts: ClusterOpts,
    /// Network namespace the cluster runs in, if any.
    pub netns: Option<String>,
    stopped: bool,
}

impl fmt::Debug for CephCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CephCluster")
            .field("mon_addr", &self.mon_addr)
            .field("osd0_addr", &self.osd0_addr)
            .field("auth", &self.opts.auth)
            .field("dir", &self.dir)
            .finish()
    }
}

/// The repository root (where `Cargo.toml` of the `pollmsgr` package is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of the `pollmsgr` binary cargo built for this integration test.
pub fn pollmsgr_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pollmsgr"))
}

fn script_path() -> PathBuf {
    repo_root().join("scripts/ceph-cluster.sh")
}

fn in_path(bin: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
        .unwrap_or(false)
}

/// Checks that the Ceph daemons and CLI are installed.
pub fn check_ceph_installed() -> Result<(), HarnessError> {
    for bin in [
        "ceph-mon",
        "ceph-osd",
        "ceph",
        "ceph-authtool",
        "monmaptool",
    ] {
        if !in_path(bin) {
            return Err(HarnessError::CephNotInstalled(bin));
        }
    }
    Ok(())
}

/// Fails the calling test (panics) when Ceph is not installed, saying to run
/// `scripts/install-deps.sh`. Interop tests must never pass silently without Ceph.
pub fn require_ceph() {
    if let Err(e) = check_ceph_installed() {
        panic!("{e}");
    }
}

/// A loopback address private to this test process: `127.(128+p/65536).(p/256%256).(p%256)`
/// for pid `p` (Linux pids are below 2^22, so this is unique among live processes; any
/// 127.x.y.z, including .0 and .255, is an ordinary loopback address on Linux).
pub fn unique_loopback_ip() -> Ipv4Addr {
    let pid = std::process::id();
    Ipv4Addr::new(
        127,
        128 + ((pid >> 16) & 0x3f) as u8,
        ((pid >> 8) & 0xff) as u8,
        (pid & 0xff) as u8,
    )
}

/// A TCP port that is free on `ip` right now (bound to port 0, then released).
pub fn free_port(ip: Ipv4Addr) -> Result<u16, HarnessError> {
    let l = TcpListener::bind((ip, 0)).map_err(io_err(format!("bind {ip}:0")))?;
    let port = l
        .local_addr()
        .map_err(io_err("local_addr of a probe listener"))?
        .port();
    Ok(port)
}

fn port_is_free(ip: Ipv4Addr, port: u16) -> bool {
    TcpListener::bind((ip, port)).is_ok()
}

/// Parses `v2:IP:PORT` or `v2:IP:PORT/NONCE` into the socket address and nonce (0 when
/// absent).
pub fn parse_v2_addr(s: &str) -> Result<(SocketAddrV4, u32), HarnessError> {
    let bad = |detail: &str| HarnessError::Parse {
        what: format!("msgr2 address {s:?}"),
        detail: detail.to_string(),
    };
    let rest = s.strip_prefix("v2:").ok_or_else(|| bad("no v2: prefix"))?;
    let (sa, nonce) = match rest.split_once('/') {
        Some((sa, n)) => (sa, n.parse::<u32>().map_err(|_| bad("bad nonce"))?),
        None => (rest, 0),
    };
    let sa: SocketAddrV4 = sa.parse().map_err(|_| bad("bad IP:PORT"))?;
    Ok((sa, nonce))
}

/// Is `pid` a running (not zombie) process? Daemons whose parent exited are reparented
/// and, where init does not reap, linger as zombies: those count as stopped.
pub fn pid_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesised command name.
        Ok(stat) => match stat.rfind(')') {
            Some(i) => !matches!(stat[i + 1..].trim_start().chars().next(), Some('Z' | 'X')),
            None => true,
        },
        Err(_) => false,
    }
}

fn parse_env_file(path: &Path) -> Result<Vec<(String, String)>, HarnessError> {
    let text = std::fs::read_to_string(path).map_err(io_err(format!("read {}", path.display())))?;
    Ok(text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

fn env_get(env: &[(String, String)], key: &str) -> Option<String> {
    env.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
}

fn env_require(
    env: &[(String, String)],
    path: &Path,
    key: &'static str,
) -> Result<String, HarnessError> {
    env_get(env, key).ok_or_else(|| HarnessError::EnvMissing {
        path: path.to_path_buf(),
        key,
    })
}

/// Stops daemons left behind by earlier test processes that died without cleaning up
/// (their directories stay, for the logs).
fn sweep_stale_clusters() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        let Some(owner) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if owner == std::process::id() || pid_running(owner) {
            continue;
        }
        let pids = e.path().join("pids");
        let has_pids = std::fs::read_dir(&pids)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if has_pids {
            let _ = Command::new(script_path())
                .arg("stop")
                .arg(e.path())
                .output();
        }
    }
}

impl CephCluster {
    /// Starts a cluster on a fresh loopback address of this process and a free mon
    /// port, in a fresh directory under the temp dir. Takes about a second.
    pub fn start(opts: ClusterOpts) -> Result<CephCluster, HarnessError> {
        Self::start_quorum(opts, 1)
    }

    /// Like [`CephCluster::start`] with `mons` monitors (1-5: mon.a, mon.b, ...
    /// on consecutive ports); returns once all of them are in quorum.
    pub fn start_quorum(opts: ClusterOpts, mons: u16) -> Result<CephCluster, HarnessError> {
        check_ceph_installed()?;
        sweep_stale_clusters();
        let ip = unique_loopback_ip();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut port = None;
        for i in 0..200u16 {
            let p = MON_PORT_BASE + ((n as u16).wrapping_mul(7).wrapping_add(i) % 3000);
            if (p..p + mons).all(|q| port_is_free(ip, q)) {
                port = Some(p);
                break;
            }
        }
        let port = port.ok_or(HarnessError::NoFreePort(ip))?;
        Self::start_inner(opts, ip, port, None, mons)
    }

    /// Starts a cluster on a given address and mon port; with `netns`, the daemons (and
    /// [`CephCluster::ceph`]) run inside that existing network namespace
    /// (`ip netns exec`), which the caller creates and removes.
    pub fn start_at(
        opts: ClusterOpts,
        ip: Ipv4Addr,
        mon_port: u16,
        netns: Option<&str>,
    ) -> Result<CephCluster, HarnessError> {
        Self::start_inner(opts, ip, mon_port, netns, 1)
    }

    fn start_inner(
        opts: ClusterOpts,
        ip: Ipv4Addr,
        mon_port: u16,
        netns: Option<&str>,
        mons: u16,
    ) -> Result<CephCluster, HarnessError> {
        check_ceph_installed()?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "{DIR_PREFIX}{}-{n}-{nanos:08x}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(io_err(format!("create {}", dir.display())))?;

        let verb = if opts.with_osd { "start" } else { "start-mon" };
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(script_path());
                c
            }
            None => Command::new(script_path()),
        };
        cmd.arg(verb)
            .arg(&dir)
            .arg(opts.auth.as_str())
            .arg(ip.to_string())
            .arg(mon_port.to_string())
            .env("CEPH_OWNER_PID", std::process::id().to_string())
            .env("CEPH_EXTRA_CONF", opts.extra_conf)
            .env("CEPH_MONS", mons.to_string())
            .env_remove("CEPH_ARGS")
            .env_remove("CEPH_CONF");
        let out = cmd
            .output()
            .map_err(io_err(format!("run {}", script_path().display())))?;
        if !out.status.success() {
            // The script already stopped whatever it started; keep the dir for its logs.
            return Err(HarnessError::CommandFailed {
                cmd: format!(
                    "ceph-cluster.sh {verb} {} {} {ip} {mon_port}",
                    dir.display(),
                    opts.auth.as_str()
                ),
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }

        // From here on, Drop cleans up if parsing fails.
        let mut cluster = CephCluster {
            ip,
            mon_port,
            mon_addr: String::new(),
            mon_addrs: Vec::new(),
            fsid: String::new(),
            admin_key: None,
            osd0_addr: None,
            osd0_key: None,
            conf_path: dir.join("ceph.conf"),
            dir: dir.clone(),
            opts,
            netns: netns.map(str::to_string),
            stopped: false,
        };
        let env_path = dir.join("env.sh");
        let env = parse_env_file(&env_path)?;
        cluster.mon_addr = env_require(&env, &env_path, "MON_V2_ADDR")?;
        cluster.mon_addrs = env_require(&env, &env_path, "MON_V2_ADDRS")?
            .split(',')
            .map(str::to_owned)
            .collect();
        cluster.fsid = env_require(&env, &env_path, "FSID")?;
        cluster.conf_path = PathBuf::from(env_require(&env, &env_path, "CEPH_CONF")?);
        cluster.admin_key = env_get(&env, "CLIENT_ADMIN_KEY");
        cluster.osd0_addr = env_get(&env, "OSD0_V2_ADDR");
        cluster.osd0_key = env_get(&env, "OSD0_KEY");
        if opts.auth == Auth::Cephx && cluster.admin_key.is_none() {
            return Err(HarnessError::EnvMissing {
                path: env_path,
                key: "CLIENT_ADMIN_KEY",
            });
        }
        if opts.with_osd {
            let addr = env_require(&env, &env_path, "OSD0_V2_ADDR")?;
            parse_v2_addr(&addr)?;
            if opts.auth == Auth::Cephx {
                env_require(&env, &env_path, "OSD0_KEY")?;
            }
        }
        parse_v2_addr(&cluster.mon_addr)?;
        Ok(cluster)
    }

    /// The mon's socket address.
    pub fn mon_socket_addr(&self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(self.ip, self.mon_port))
    }

    /// osd.0's socket address and nonce, from the osdmap.
    pub fn osd0_socket_addr(&self) -> Option<(SocketAddrV4, u32)> {
        self.osd0_addr
            .as_deref()
            .and_then(|a| parse_v2_addr(a).ok())
    }

    /// Path of a daemon's log (`"mon.a"`, `"osd.0"`), written with `debug ms = 1`.
    pub fn log_path(&self, daemon: &str) -> PathBuf {
        self.dir.join("log").join(format!("{daemon}.log"))
    }

    /// The daemons this cluster recorded (`("mon.a", pid)`, `("osd.0", pid)`,
    /// `("watcher", pid)`), from its pid files.
    pub fn daemon_pids(&self) -> Vec<(String, u32)> {
        let mut v = Vec::new();
        if let Ok(d) = std::fs::read_dir(self.dir.join("pids")) {
            for e in d.flatten() {
                let pid = std::fs::read_to_string(e.path())
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok());
                if let (Some(name), Some(pid)) = (e.file_name().to_str(), pid) {
                    v.push((name.to_string(), pid));
                }
            }
        }
        v.sort();
        v
    }

    /// Runs the real `ceph` CLI against this cluster as client.admin, e.g.
    /// `c.ceph(&["osd", "dump", "-f", "json"])`. Bounded by `--connect-timeout` and a
    /// wall-clock limit (this cluster has no mgr, so mgr commands would hang).
    pub fn ceph(&self, args: &[&str]) -> Output {
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "timeout"]);
                c
            }
            None => Command::new("timeout"),
        };
        cmd.args(["-k", "5", &CLI_TIMEOUT.to_string(), "ceph", "-c"])
            .arg(&self.conf_path)
            .args(["--connect-timeout", &CLI_CONNECT_TIMEOUT.to_string()])
            .args(args)
            .env_remove("CEPH_ARGS")
            .env_remove("CEPH_CONF");
        match cmd.output() {
            Ok(o) => o,
            Err(e) => panic!("cannot run the ceph CLI (timeout ceph ...): {e}"),
        }
    }

    /// Like [`CephCluster::ceph`], but an error unless it exits 0; returns stdout.
    pub fn ceph_ok(&self, args: &[&str]) -> Result<String, HarnessError> {
        let out = self.ceph(args);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(HarnessError::CommandFailed {
                cmd: format!("ceph {}", args.join(" ")),
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            })
        }
    }

    /// Registers the identity `osd.ID` in the mon (`ceph auth get-or-create osd.ID
    /// mon 'allow profile osd' osd 'allow *'`), writes its keyring to
    /// `DIR/osd.ID.keyring`, and returns that path and the keyring text.
    pub fn register_osd(&self, id: u32) -> Result<(PathBuf, String), HarnessError> {
        let who = format!("osd.{id}");
        let text = self.ceph_ok(&[
            "auth",
            "get-or-create",
            &who,
            "mon",
            "allow profile osd",
            "osd",
            "allow *",
        ])?;
        let path = self.dir.join(format!("{who}.keyring"));
        std::fs::write(&path, &text).map_err(io_err(format!("write {}", path.display())))?;
        Ok((path, text))
    }

    /// Creates `pool` (32 PGs) under a replicated CRUSH rule that places
    /// only on `host`'s OSDs (the bucket `serve --join` hosts its endpoints
    /// in), and gives the OSDs half a second to see it.
    pub fn pool_on_host(&self, host: &str, pool: &str) -> Result<(), HarnessError> {
        let rule = format!("{pool}-rule");
        self.ceph_ok(&[
            "osd",
            "crush",
            "rule",
            "create-replicated",
            &rule,
            host,
            "osd",
        ])?;
        self.ceph_ok(&[
            "osd",
            "pool",
            "create",
            pool,
            "32",
            "32",
            "replicated",
            &rule,
        ])?;
        // Ops before the endpoints see the pool are accepted anyway;
        // listing needs pg_num.
        std::thread::sleep(std::time::Duration::from_millis(500));
        Ok(())
    }

    /// Runs `ceph ARGS -f json` and parses the output.
    pub fn ceph_json(&self, args: &[&str]) -> Result<serde_json::Value, HarnessError> {
        let mut a = args.to_vec();
        a.extend(["-f", "json"]);
        let out = self.ceph_ok(&a)?;
        serde_json::from_str(&out).map_err(|e| HarnessError::Parse {
            what: format!("output of ceph {}", a.join(" ")),
            detail: format!("{e}: {out}"),
        })
    }

    /// Waits until `f` returns true or `timeout` passes; true when it did.
    pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if f() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILLs mon.a (by its recorded pid) and starts it again on the same
    /// address and data (`ceph-cluster.sh restart-mon`); returns once it
    /// listens (it may need a moment more to serve: clients must hunt).
    pub fn restart_mon(&self) -> Result<(), HarnessError> {
        self.mon_script("restart-mon", "a")
    }

    /// Starts mon.`id` again (after [`CephCluster::kill_mon`]), or kills and
    /// restarts it; returns once it listens.
    pub fn restart_mon_id(&self, id: &str) -> Result<(), HarnessError> {
        self.mon_script("restart-mon", id)
    }

    /// SIGKILLs mon.`id` (by its recorded pid); the others hold quorum if a
    /// majority is left.
    pub fn kill_mon(&self, id: &str) -> Result<(), HarnessError> {
        self.mon_script("kill-mon", id)
    }

    fn mon_script(&self, verb: &str, id: &str) -> Result<(), HarnessError> {
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(script_path());
                c
            }
            None => Command::new(script_path()),
        };
        let out = cmd
            .arg(verb)
            .arg(&self.dir)
            .arg(id)
            .env_remove("CEPH_ARGS")
            .env_remove("CEPH_CONF")
            .output()
            .map_err(io_err(format!("run ceph-cluster.sh {verb}")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(HarnessError::CommandFailed {
                cmd: format!("ceph-cluster.sh {verb} {} {id}", self.dir.display()),
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            })
        }
    }

    /// Sets a config option in a running daemon through its admin socket
    /// (`ceph --admin-daemon DIR/run/DAEMON.asok config set KEY VALUE`), e.g.
    /// `ms_inject_socket_failures` after the cluster came up.
    pub fn daemon_config_set(
        &self,
        daemon: &str,
        key: &str,
        value: &str,
    ) -> Result<(), HarnessError> {
        let asok = self.dir.join("run").join(format!("{daemon}.asok"));
        let out = Command::new("timeout")
            .args(["-k", "5", "30", "ceph", "--admin-daemon"])
            .arg(&asok)
            .args(["config", "set", key, value])
            .env_remove("CEPH_ARGS")
            .env_remove("CEPH_CONF")
            .output()
            .map_err(io_err("run ceph --admin-daemon"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(HarnessError::CommandFailed {
                cmd: format!(
                    "ceph --admin-daemon {} config set {key} {value}",
                    asok.display()
                ),
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            })
        }
    }

    /// Stops the daemons now (Drop does it too). Idempotent.
    pub fn stop(&mut self) -> Result<(), HarnessError> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let out = Command::new(script_path())
            .arg("stop")
            .arg(&self.dir)
            .output()
            .map_err(io_err("run ceph-cluster.sh stop"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(HarnessError::CommandFailed {
                cmd: format!("ceph-cluster.sh stop {}", self.dir.display()),
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            })
        }
    }
}

impl Drop for CephCluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("CephCluster: stopping {} failed: {e}", self.dir.display());
        }
        let keep = std::thread::panicking() || std::env::var_os("POLLMSGR_KEEP_CEPH").is_some();
        if keep {
            eprintln!(
                "CephCluster: kept {} (ceph.conf, keyring, log/ with debug ms = 1)",
                self.dir.display()
            );
        } else if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("CephCluster: removing {} failed: {e}", self.dir.display());
        }
    }
}
