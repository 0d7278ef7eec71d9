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
use pollmsgr::wire::addr::EntityAddr;

use crate::common::{fail, mon_auth, parse_auth_name, rev_number, AuthFlag, ModeFlag};

/// Flags of `mon-command`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The monitor's msgr2 address, e.g. v2:127.0.0.1:3300.
    #[arg(long)]
    mon: String,
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
    /// Print {"r","rs","out","mode","rev","global_id"} as JSON instead of plain output.
    #[arg(long)]
    json: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// The command, as JSON, e.g. '{"prefix": "mon stat"}'.
    command: String,
}

/// What the monitor answered.
struct Reply {
    ack: MonCommandAck,
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
    let target: EntityAddr = args
        .mon
        .parse()
        .map_err(|e| format!("--mon {}: {e}", args.mon))?;
    let name = parse_auth_name(&args.name)?;
    serde_json::from_str::<serde_json::Value>(&args.command)
        .map_err(|e| format!("the command is not valid JSON: {e}"))?;
    let auth = mon_auth(args.auth, args.keyring.as_deref(), &name)?;
    let mut cfg = MonClientConfig::new(target, name, auth);
    cfg.modes = args.mode.modes();
    cfg.rev1 = args.msgr_rev == 1;
    cfg.timeout = Duration::from_secs(args.timeout);
    let mut mc = MonClient::connect(cfg).map_err(|e| format!("{}: {e}", args.mon))?;
    let map = mc.get_monmap().map_err(|e| format!("{}: {e}", args.mon))?;
    let ack = mc
        .command(map.fsid, &args.command, Vec::new())
        .map_err(|e| format!("{}: {e}", args.mon))?;
    let est = mc.established();
    Ok(Reply {
        ack,
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
