//! `pollmsgr rados`: object I/O on a real Ceph cluster through the
//! objecter, with the flags and output of Ceph's `rados` tool: `put`, `get`,
//! `stat`, `rm`, `ls` and `bench`.
//!
//! [`Cluster`] holds the mon session and the objecter's reactor.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use bytes::Bytes;
use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use pollmsgr::msg::osd_op::{flag, op, HObject, ObjectLocator, OsdOp, PgId, PgNlsResponse};
use pollmsgr::objecter::app::Workload;
use pollmsgr::objecter::{Completion, ObjectRequest, OpReply};
use pollmsgr::osdmap::PgPool;
use pollmsgr::wire::utime::UTime;
use pollmsgr::wire::Reader;

use crate::common::fail;
use crate::net_args::NetArgs;
use crate::rados_bench;
use crate::rados_cluster::Cluster;

/// Flags of `rados` (Ceph's names where Ceph's tool has them).
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// ceph.conf to read (else $CEPH_CONF, then Ceph's search path).
    #[arg(short = 'c', long = "conf")]
    pub conf: Option<PathBuf>,
    /// Our client id (client.ID).
    #[arg(long)]
    pub id: Option<String>,
    /// Our entity name, e.g. client.admin (overrides --id).
    #[arg(short = 'n', long)]
    pub name: Option<String>,
    /// Keyring holding our key (else the conf's `keyring`).
    #[arg(short = 'k', long)]
    pub keyring: Option<String>,
    /// A mon's msgr2 address (else the conf's mon_host).
    #[arg(short = 'm', long)]
    pub mon: Option<String>,
    /// The pool.
    #[arg(short = 'p', long)]
    pub pool: Option<String>,
    /// The namespace within the pool.
    #[arg(short = 'N', long = "namespace", default_value = "")]
    pub nspace: String,
    /// msgr2 revision to advertise: 1 (msgr2.1) or 0 (msgr2.0).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub msgr_rev: u8,
    /// Fail an op with no reply after this many seconds.
    #[arg(long, default_value_t = 30.0)]
    pub op_timeout: f64,
    /// Core to pin the objecter's reactor to.
    #[arg(long)]
    pub core: Option<usize>,
    /// Print results as JSON.
    #[arg(long, alias = "format-json")]
    pub json: bool,
    #[command(flatten)]
    pub net: NetArgs,
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// What to do.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Write FILE (or - for stdin) to object OBJ (replacing it).
    Put { obj: String, file: String },
    /// Read object OBJ into FILE (or - for stdout).
    Get { obj: String, file: String },
    /// Print OBJ's size and modification time.
    Stat { obj: String },
    /// Remove OBJ.
    Rm { obj: String },
    /// List the pool's objects.
    Ls,
    /// `rados bench SECONDS write|seq|rand`: timed object I/O, with live
    /// per-second lines and totals like Ceph's.
    Bench(rados_bench::BenchArgs),
}

/// Which benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchKind {
    /// Write new objects.
    Write,
    /// Read the objects of the last write run in order.
    Seq,
    /// Read the objects of the last write run at random.
    Rand,
}

pub fn run(args: Args) -> i32 {
    match execute(&args) {
        Ok(code) => code,
        Err(e) => fail(format!("rados: {e}")),
    }
}

fn execute(args: &Args) -> Result<i32, String> {
    let mut cluster = Cluster::connect(args)?;
    let pool_name = args.pool.as_deref().ok_or("no pool given: pass -p POOL")?;
    let pool = cluster
        .tracker
        .pool_id(pool_name)
        .ok_or_else(|| format!("pool {pool_name} does not exist"))?;
    let locator = ObjectLocator::new(pool, args.nspace.as_bytes());
    match &args.cmd {
        Cmd::Put { obj, file } => {
            let data = read_input(file)?;
            let len = data.len();
            let req = ObjectRequest {
                mtime: UTime::from_system(std::time::SystemTime::now()),
                ..ObjectRequest::new(locator, obj.as_bytes(), vec![OsdOp::writefull(data)])
            };
            let reply = cluster.one(req)?;
            check(&reply, obj)?;
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"op": "put", "name": obj, "size": len})
                );
            }
            Ok(0)
        }
        Cmd::Get { obj, file } => {
            let req = ObjectRequest::new(
                locator,
                obj.as_bytes(),
                vec![OsdOp::stat(), OsdOp::read(0, 0)],
            );
            let reply = cluster.one(req)?;
            check(&reply, obj)?;
            let data = reply
                .ops
                .get(1)
                .map(|o| o.outdata.clone())
                .unwrap_or_default();
            write_output(file, &data)?;
            Ok(0)
        }
        Cmd::Stat { obj } => {
            let req = ObjectRequest::new(locator, obj.as_bytes(), vec![OsdOp::stat()]);
            let reply = cluster.one(req)?;
            check(&reply, obj)?;
            let out = reply
                .ops
                .first()
                .map(|o| o.outdata.clone())
                .unwrap_or_default();
            let (size, mtime) = parse_stat(&out).ok_or("stat reply is too short")?;
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"pool": pool_name, "name": obj, "size": size,
                        "mtime": format_utime(mtime)})
                );
            } else {
                println!(
                    "{pool_name}/{obj} mtime {}, size {size}",
                    format_utime(mtime)
                );
            }
            Ok(0)
        }
        Cmd::Rm { obj } => {
            let req = ObjectRequest::new(locator, obj.as_bytes(), vec![OsdOp::delete()]);
            let reply = cluster.one(req)?;
            check(&reply, obj)?;
            Ok(0)
        }
        Cmd::Ls => {
            let pg_pool = cluster
                .tracker
                .map()
                .and_then(|m| m.pools.get(&pool).cloned())
                .ok_or_else(|| format!("pool {pool_name} is not in the osdmap"))?;
            let lister = Lister::new(locator, pg_pool, cluster.tracker.epoch());
            let lister = cluster.run(lister, |_| {})?.workload;
            if let Some(e) = lister.error {
                return Err(e);
            }
            let mut names = lister.names;
            names.sort();
            if args.json {
                println!("{}", serde_json::json!(names));
            } else {
                let mut out = std::io::stdout().lock();
                for n in names {
                    let _ = writeln!(out, "{n}");
                }
            }
            Ok(0)
        }
        Cmd::Bench(b) => rados_bench::run(&mut cluster, locator, b, args.json),
    }
}

/// Fails with Ceph's wording if the reply carries an error.
fn check(reply: &OpReply, obj: &str) -> Result<(), String> {
    if reply.result < 0 {
        return Err(format!(
            "{obj}: {} (osd.{} replied {})",
            errno_text(-reply.result),
            reply.osd,
            reply.result
        ));
    }
    Ok(())
}

fn errno_text(e: i32) -> String {
    std::io::Error::from_raw_os_error(e).to_string()
}

/// The STAT op's outdata: `uint64 size` then `utime_t mtime`.
fn parse_stat(out: &[u8]) -> Option<(u64, UTime)> {
    let mut r = Reader::new(out, "stat reply");
    Some((r.u64_le().ok()?, UTime::parse(&mut r).ok()?))
}

/// `utime_t` as `rados stat` prints it: `YYYY-MM-DDTHH:MM:SS.uuuuuu+0000` (UTC).
fn format_utime(t: UTime) -> String {
    let secs = i64::from(t.sec);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}+0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        t.nsec / 1000
    )
}

fn read_input(file: &str) -> Result<Bytes, String> {
    let mut v = Vec::new();
    if file == "-" {
        std::io::stdin()
            .read_to_end(&mut v)
            .map_err(|e| format!("stdin: {e}"))?;
    } else {
        v = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
    }
    Ok(Bytes::from(v))
}

fn write_output(file: &str, data: &[u8]) -> Result<(), String> {
    if file == "-" {
        std::io::stdout()
            .lock()
            .write_all(data)
            .map_err(|e| format!("stdout: {e}"))
    } else {
        std::fs::write(file, data).map_err(|e| format!("{file}: {e}"))
    }
}

/// A fixed list of requests, up to `depth` at a time; keeps every
/// completion in submit order.
pub struct Batch {
    reqs: std::collections::VecDeque<ObjectRequest>,
    next_token: u64,
    /// Completions by token (= position in the list).
    pub results: Vec<Option<Completion>>,
    pending: usize,
}

impl Batch {
    /// A batch of `reqs`.
    pub fn new(reqs: Vec<ObjectRequest>) -> Self {
        let n = reqs.len();
        Batch {
            reqs: reqs.into(),
            next_token: 0,
            results: (0..n).map(|_| None).collect(),
            pending: n,
        }
    }
}

impl Workload for Batch {
    fn next_request(&mut self, _now: Instant) -> Option<(ObjectRequest, u64)> {
        let r = self.reqs.pop_front()?;
        let t = self.next_token;
        self.next_token += 1;
        Some((r, t))
    }
    fn peek_bytes(&self) -> usize {
        self.reqs.front().map_or(0, ObjectRequest::data_len)
    }
    fn complete(&mut self, c: Completion, _now: Instant) {
        if let Some(slot) = usize::try_from(c.token)
            .ok()
            .and_then(|i| self.results.get_mut(i))
        {
            *slot = Some(c);
            self.pending -= 1;
        }
    }
    fn done(&self) -> bool {
        self.pending == 0
    }
}

/// Lists a pool with PGNLS the way librados does (`Objecter::list_nobjects`):
/// one cursor over the whole pool in hobject order; each page goes to the
/// PG the cursor's hash folds into, and the OSD's reply carries the cursor
/// to go on from (the next PG's start at the end of a PG, the maximum
/// object at the end of the pool).
struct Lister {
    locator: ObjectLocator,
    pool: PgPool,
    epoch: u32,
    cursor: HObject,
    waiting: bool,
    finished: bool,
    /// Pages asked for; bounded so a peer that never advances the cursor
    /// cannot keep us listing forever.
    pages: u64,
    names: Vec<String>,
    error: Option<String>,
}

impl Lister {
    fn new(locator: ObjectLocator, pool: PgPool, epoch: u32) -> Self {
        Lister {
            locator,
            pool,
            epoch,
            cursor: HObject::default(),
            waiting: false,
            finished: false,
            pages: 0,
            names: Vec::new(),
            error: None,
        }
    }

    fn fail(&mut self, why: String) {
        self.error = Some(why);
        self.finished = true;
    }
}

/// Objects one PGNLS page asks for (librados' default page).
const LIST_PAGE: u64 = 1024;

impl Workload for Lister {
    fn next_request(&mut self, _now: Instant) -> Option<(ObjectRequest, u64)> {
        if self.waiting || self.finished {
            return None;
        }
        self.waiting = true;
        self.pages += 1;
        let seed = self.pool.raw_seed_to_seed(self.cursor.hash);
        let mut req = ObjectRequest::new(
            self.locator.clone(),
            Vec::new(),
            vec![OsdOp::pgnls(LIST_PAGE, self.epoch, &self.cursor)],
        );
        req.pg = Some(PgId {
            pool: self.locator.pool,
            seed,
        });
        req.extra_flags = flag::PGOP | flag::IGNORE_OVERLAY;
        Some((req, self.pages))
    }
    fn complete(&mut self, c: Completion, _now: Instant) {
        self.waiting = false;
        let seed = self.pool.raw_seed_to_seed(self.cursor.hash);
        let reply = match c.result {
            Ok(r) if r.result >= 0 => r,
            Ok(r) => return self.fail(format!("PGNLS on pg {seed:x}: {}", errno_text(-r.result))),
            Err(e) => return self.fail(format!("PGNLS on pg {seed:x}: {e}")),
        };
        let page = reply
            .ops
            .first()
            .filter(|o| o.op == op::PGNLS)
            .map(|o| PgNlsResponse::decode(&o.outdata));
        let page = match page {
            Some(Ok(page)) => page,
            Some(Err(e)) => return self.fail(format!("PGNLS reply on pg {seed:x}: {e}")),
            None => return self.fail(format!("PGNLS reply on pg {seed:x} has no op")),
        };
        for e in &page.entries {
            self.names
                .push(String::from_utf8_lossy(&e.oid).into_owned());
        }
        if page.handle.max {
            self.finished = true;
        } else if page.handle == self.cursor && page.entries.is_empty() {
            self.fail(format!("PGNLS on pg {seed:x} did not move the cursor"));
        } else if self.pages > MAX_LIST_PAGES {
            self.fail(format!("listing did not end within {MAX_LIST_PAGES} pages"));
        } else {
            self.cursor = page.handle;
        }
    }
    fn done(&self) -> bool {
        !self.waiting && self.finished
    }
}

/// Most PGNLS pages one listing asks for (64 Mi objects at 1024 a page).
const MAX_LIST_PAGES: u64 = 1 << 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utime_prints_as_rados_stat_does() {
        let t = UTime {
            sec: 1_764_788_400,
            nsec: 123_456_789,
        };
        assert_eq!(format_utime(t), "2025-12-03T19:00:00.123456+0000");
        assert_eq!(
            format_utime(UTime {
                sec: 951_782_400,
                nsec: 0
            }),
            "2000-02-29T00:00:00.000000+0000"
        );
    }
}
