//! `pollmsgr mon-command`: one MMonCommand to a real ceph-mon.
//!
//! Connects as a client, learns the fsid from the monmap (MMonGetMap →
//! MMonMap), sends the command and prints the MMonCommandAck: output on
//! stdout, status string on stderr, like the `ceph` CLI.

use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use pollmsgr::auth::none::NoneClient;
use pollmsgr::auth::AuthClient;
use pollmsgr::msg::{
    self, from_message, to_message, MonCommand, MonCommandAck, MonGetMap, MonMapMsg,
};
use pollmsgr::net::kernel::KernelDriver;
use pollmsgr::proto::{Connection, ConnectionConfig, Event, Message, Policy};
use pollmsgr::wire::addr::{AddrType, EntityAddr};
use pollmsgr::wire::entity::{AuthEntityName, EntityType};
use rand::{RngCore, SeedableRng};

use crate::common::{fail, msgr2_features, AuthFlag, ModeFlag};

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
    /// Keyring file (cephx).
    #[arg(long)]
    keyring: Option<String>,
    /// Connection modes to offer.
    #[arg(long, value_enum, default_value = "prefer-crc")]
    mode: ModeFlag,
    /// msgr2 revision to advertise: 1 (msgr2.1) or 0 (msgr2.0).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    msgr_rev: u8,
    /// Print {"r","rs","out","mode","rev"} as JSON instead of plain output.
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
}

pub fn run(args: Args) -> i32 {
    match execute(&args) {
        Ok(reply) => print_reply(&args, &reply),
        Err(e) => fail(e),
    }
}

fn client_auth(args: &Args, name: &AuthEntityName) -> Result<Box<dyn AuthClient>, String> {
    match args.auth {
        AuthFlag::None => {
            if args.mode.modes() == [pollmsgr::wire::ConMode::Secure] {
                return Err("secure mode needs cephx: auth none yields no key".into());
            }
            Ok(Box::new(NoneClient::new(name.ty as u32, &name.id, 0, true)))
        }
        AuthFlag::Cephx => Err("--auth cephx is not available yet in this build".into()),
    }
}

fn execute(args: &Args) -> Result<Reply, String> {
    let target: EntityAddr = args
        .mon
        .parse()
        .map_err(|e| format!("--mon {}: {e}", args.mon))?;
    if target.ty != AddrType::Msgr2 {
        return Err(format!("--mon {}: not a v2 address", args.mon));
    }
    let sock = target
        .addr
        .ok_or_else(|| format!("--mon {}: no IP address", args.mon))?;
    let name: AuthEntityName = args
        .name
        .parse()
        .map_err(|e| format!("--name {}: {e}", args.name))?;
    serde_json::from_str::<serde_json::Value>(&args.command)
        .map_err(|e| format!("the command is not valid JSON: {e}"))?;
    let mut cfg = ConnectionConfig::new(name.ty);
    cfg.my_nonce = rand::thread_rng().next_u32();
    cfg.msgr2_supported = msgr2_features(args.msgr_rev);
    let auth = client_auth(args, &name)?;
    let conn = Connection::connect(
        cfg,
        target,
        EntityType::Mon,
        Policy::lossy_client(),
        auth,
        Box::new(rand::rngs::StdRng::from_entropy()),
        Instant::now(),
    );
    let mut driver = KernelDriver::new().map_err(|e| format!("poll setup: {e}"))?;
    let id = driver
        .connect(sock, conn)
        .map_err(|e| format!("connect to {sock}: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let mut session: Option<(&'static str, u8)> = None;
    while Instant::now() < deadline {
        let events = driver
            .poll_once(Duration::from_millis(200))
            .map_err(|e| format!("poll: {e}"))?;
        for (_, event) in events {
            match event {
                Event::Established(est) => {
                    let rev = match est.revision {
                        pollmsgr::wire::Revision::V2_0 => 0,
                        pollmsgr::wire::Revision::V2_1 => 1,
                    };
                    session = Some((est.mode.name(), rev));
                    send(&mut driver, id, to_message(&MonGetMap, 0));
                }
                Event::Message(m) if m.ty == msg::types::MON_MAP => {
                    let map: MonMapMsg =
                        from_message(&m).map_err(|e| format!("bad monmap: {e}"))?;
                    let cmd = MonCommand {
                        fsid: map.monmap.fsid,
                        cmd: vec![args.command.clone()],
                        inbl: Vec::new(),
                    };
                    send(&mut driver, id, to_message(&cmd, 1));
                }
                Event::Message(m) if m.ty == msg::types::MON_COMMAND_ACK => {
                    let ack: MonCommandAck =
                        from_message(&m).map_err(|e| format!("bad command reply: {e}"))?;
                    let (mode, rev) = session.unwrap_or(("crc", args.msgr_rev));
                    return Ok(Reply { ack, mode, rev });
                }
                Event::Closed { error, .. } => {
                    return Err(format!("connection to {} closed: {error}", args.mon));
                }
                _ => {}
            }
        }
    }
    Err(format!(
        "no reply from {} within {}s",
        args.mon, args.timeout
    ))
}

fn send(driver: &mut KernelDriver, id: usize, m: Message) {
    if let Some(conn) = driver.conn_mut(id) {
        conn.send_message(m);
    }
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
