//! `pollmsgr mon-command`: one MMonCommand to a real ceph-mon.
//!
//! Connects and authenticates (auth none or cephx) with [`MonClient`],
//! learns the fsid from the monmap (MMonGetMap → MMonMap), sends the command
//! and prints the MMonCommandAck: output on stdout, status string on stderr,
//! like the `ceph` CLI.

use std::time::Duration;

use clap::Args as ClapArgs;

use pollmsgr::monc::{MonClient, MonClientConfig};
use pollmsgr::msg::MonCommandAck;
use pollmsgr::net::spec::{DpdkPort, Netns, TransportOptions, TransportSpec};
use pollmsgr::net::transport::Transport;
use pollmsgr::reactor::driver::Driver;
use pollmsgr::wire::addr::EntityAddr;

use crate::common::{
    fail, mon_auth, parse_auth_name, parse_link, rev_number, AuthFlag, ModeFlag, TransportFlag,
};

/// Flags of `mon-command`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The monitors' msgr2 addresses, comma-separated, e.g.
    /// v2:127.0.0.1:3300 (hunted in this order, then the monmap's).
    #[arg(long, value_delimiter = ',', required = true)]
    mon: Vec<String>,
    /// Authentication method.
    #[arg(long, value_enum, default_value = "none")]
    auth: AuthFlag,
    /// Our entity name.
    #[arg(long, default_value = "client.admin")]
    name: String,
    /// Keyring file holding our key (cephx).
    #[arg(long)]
    keyring: Option<String>,
    /// Connection modes to offer (Ceph's ms_mode values).
    #[arg(long, value_enum, default_value = "prefer-crc")]
    mode: ModeFlag,
    /// msgr2 revision to advertise: 1 (msgr2.1) or 0 (msgr2.0).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    msgr_rev: u8,
    /// How to reach the mon: kernel TCP, or smoltcp over a TAP device or a
    /// DPDK net_tap port whose kernel side is moved into --netns.
    #[arg(long, value_enum, default_value = "kernel")]
    transport: TransportFlag,
    /// With --transport tap|dpdk: the existing network namespace where the
    /// mon's network is (our link's kernel side goes there, as our gateway).
    #[arg(long)]
    netns: Option<String>,
    /// With --transport tap|dpdk: the link's /24 as A.B.C: the kernel side
    /// (in --netns) is .1, we are .2 (link-local by default).
    #[arg(long, default_value = "169.254.78")]
    link: String,
    /// Print {"r","rs","out","mode","rev","global_id"} as JSON instead of plain output.
    #[arg(long)]
    json: bool,
    /// Give up after this many seconds (hunting for a monitor included).
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// The command, as JSON, e.g. '{"prefix": "mon stat"}'.
    command: String,
}

/// What the monitor answered.
struct Reply {
    ack: MonCommandAck,
    /// The monitor that answered.
    mon: String,
    /// Sessions it took (more than 1: the client hunted).
    sessions: u64,
    mode: &'static str,
    rev: u8,
    global_id: u64,
}

pub fn run(args: Args) -> i32 {
    match execute(&args) {
        Ok(reply) => print_reply(&args, &reply),
        Err(e) => fail(e),
    }
}

fn execute(args: &Args) -> Result<Reply, String> {
    let mons: Vec<EntityAddr> = args
        .mon
        .iter()
        .map(|m| m.parse().map_err(|e| format!("--mon {m}: {e}")))
        .collect::<Result<_, String>>()?;
    let target = *mons.first().ok_or("--mon: no address")?;
    let name = parse_auth_name(&args.name)?;
    serde_json::from_str::<serde_json::Value>(&args.command)
        .map_err(|e| format!("the command is not valid JSON: {e}"))?;
    let auth = mon_auth(args.auth, args.keyring.as_deref(), &name)?;
    let mut cfg = MonClientConfig::new(target, name, auth);
    cfg.mons = mons;
    cfg.modes = args.mode.modes();
    cfg.rev1 = args.msgr_rev == 1;
    cfg.timeout = Duration::from_secs(args.timeout);
    if args.transport == TransportFlag::Kernel {
        let mc = MonClient::connect(cfg).map_err(|e| format!("{}: {e}", args.mon.join(",")))?;
        return talk(args, mc);
    }
    let spec = TransportSpec::choose(
        args.transport.kind(),
        TransportOptions {
            netns: Netns::Existing(
                args.netns
                    .clone()
                    .ok_or("--transport tap|dpdk needs --netns NS (where the mon's network is)")?,
            ),
            link: parse_link(&args.link)?,
            gateway: true,
            interfaces: 1,
            dpdk: DpdkPort::NetTap,
        },
    );
    let mut transports = spec.prepare(1, []).map_err(|e| e.to_string())?;
    let t = transports.open(0).map_err(|e| e.to_string())?;
    let store = cfg.fresh_store();
    let mc = MonClient::connect_over(Driver::with_transport(t), cfg, store)
        .map_err(|e| format!("{}: {e}", args.mon.join(",")))?;
    talk(args, mc)
}

/// Gets the monmap, runs the command and reports the session.
fn talk<T: Transport>(args: &Args, mut mc: MonClient<T>) -> Result<Reply, String> {
    let map = mc
        .get_monmap()
        .map_err(|e| format!("{}: {e}", args.mon.join(",")))?;
    let ack = mc
        .command(map.fsid, &args.command, Vec::new())
        .map_err(|e| format!("{}: {e}", args.mon.join(",")))?;
    let est = mc.established();
    Ok(Reply {
        ack,
        mon: mc.current_mon().to_string(),
        sessions: mc.sessions(),
        mode: est.mode.name(),
        rev: rev_number(est.revision),
        global_id: est.global_id,
    })
}

fn print_reply(args: &Args, reply: &Reply) -> i32 {
    let out = String::from_utf8_lossy(&reply.ack.outbl);
    if args.json {
        let v = serde_json::json!({
            "r": reply.ack.r,
            "rs": reply.ack.rs,
            "out": out,
            "mode": reply.mode,
            "rev": reply.rev,
            "global_id": reply.global_id,
            "mon": reply.mon,
            "sessions": reply.sessions,
        });
        println!("{v}");
    } else {
        if !out.is_empty() {
            print!("{out}");
            if !out.ends_with('\n') {
                println!();
            }
        }
        if !reply.ack.rs.is_empty() {
            eprintln!("{}", reply.ack.rs);
        }
    }
    if reply.ack.r < 0 {
        (-reply.ack.r).clamp(1, 255)
    } else {
        0
    }
}
