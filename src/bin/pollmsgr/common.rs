//! Flag types and helpers shared by the verbs.

use clap::ValueEnum;
use pollmsgr::auth::cephx::{CryptoKey, Keyring};
use pollmsgr::conf::CephConf;
use pollmsgr::monc::MonAuth;
use pollmsgr::wire::addr::EntityAddr;
use pollmsgr::wire::entity::AuthEntityName;
use pollmsgr::wire::{ConMode, Revision};

/// `--auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthFlag {
    /// auth none (crc mode only).
    None,
    /// cephx.
    Cephx,
}

/// `--mode`: Ceph's `ms_mode` values, in order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeFlag {
    Crc,
    Secure,
    PreferCrc,
    PreferSecure,
}

impl ModeFlag {
    /// The modes to offer, in order of preference (the kernel's ms_mode lists).
    pub fn modes(self) -> Vec<ConMode> {
        match self {
            ModeFlag::Crc => vec![ConMode::Crc],
            ModeFlag::Secure => vec![ConMode::Secure],
            ModeFlag::PreferCrc => vec![ConMode::Crc, ConMode::Secure],
            ModeFlag::PreferSecure => vec![ConMode::Secure, ConMode::Crc],
        }
    }
}

/// `--msgr-rev`: which msgr2 revision to advertise.
pub fn msgr2_features(rev: u8) -> u64 {
    if rev == 0 {
        0
    } else {
        pollmsgr::wire::banner::feature::REVISION_1
    }
}

/// The revision as printed (0 or 1).
pub fn rev_number(r: Revision) -> u8 {
    match r {
        Revision::V2_0 => 0,
        Revision::V2_1 => 1,
    }
}

/// Parses `client.admin` / `osd.3` as a cephx entity name.
pub fn parse_auth_name(s: &str) -> Result<AuthEntityName, String> {
    AuthEntityName::parse_str(s)
        .ok_or_else(|| format!("--name {s}: expected TYPE.ID, e.g. client.admin"))
}

/// The msgr2 monitor addresses to use: `flag`'s value (`mon`) if given,
/// else `mon_host` from the conf as `name` reads it; an error if none.
pub fn mon_addrs(
    conf: &CephConf,
    name: &AuthEntityName,
    mon: Option<&str>,
    flag: &str,
) -> Result<Vec<EntityAddr>, String> {
    let mons: Vec<EntityAddr> = match mon {
        Some(m) => vec![m.parse().map_err(|e| format!("{flag} {m}: {e}"))?],
        None => conf
            .mon_host(name)
            .map_err(|e| e.to_string())?
            .iter()
            .filter_map(|v| v.msgr2().copied())
            .collect(),
    };
    if mons.is_empty() {
        return Err(format!(
            "no msgr2 monitor address: set mon_host in ceph.conf (-c) or pass {flag}"
        ));
    }
    Ok(mons)
}

/// Reads `name`'s key from a keyring file. The key is never printed.
pub fn key_from_keyring(path: &str, name: &AuthEntityName) -> Result<CryptoKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--keyring {path}: {e}"))?;
    let ring = Keyring::parse(&text).map_err(|e| format!("--keyring {path}: {e}"))?;
    ring.get(name)
        .cloned()
        .ok_or_else(|| format!("--keyring {path}: no key for {name}"))
}

/// The credentials for `--auth`, reading the keyring for cephx.
pub fn mon_auth(
    auth: AuthFlag,
    keyring: Option<&str>,
    name: &AuthEntityName,
) -> Result<MonAuth, String> {
    match auth {
        AuthFlag::None => Ok(MonAuth::None),
        AuthFlag::Cephx => {
            let path = keyring.ok_or("--auth cephx needs --keyring FILE")?;
            Ok(MonAuth::Cephx(key_from_keyring(path, name)?))
        }
    }
}

/// This host's name (trimmed), or empty if the kernel does not say.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// Prints an error the way every verb does and returns the exit status.
pub fn fail(msg: impl std::fmt::Display) -> i32 {
    eprintln!("pollmsgr: {msg}");
    1
}

/// `--transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportFlag {
    /// Kernel TCP sockets.
    Kernel,
    /// smoltcp over a TAP device.
    Tap,
    /// smoltcp over a DPDK queue.
    Dpdk,
}

impl TransportFlag {
    /// The library's name for the choice (`net::spec` builds it).
    pub fn kind(self) -> pollmsgr::net::spec::TransportKind {
        use pollmsgr::net::spec::TransportKind;
        match self {
            TransportFlag::Kernel => TransportKind::Kernel,
            TransportFlag::Tap => TransportKind::Tap,
            TransportFlag::Dpdk => TransportKind::Dpdk,
        }
    }
}

/// Parses `--link A.B.C` (a /24 for a userspace transport's link).
pub fn parse_link(link: &str) -> Result<[u8; 3], String> {
    let parts: Vec<u8> = link
        .split('.')
        .map(|p| p.parse::<u8>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("--link {link}: expected A.B.C"))?;
    let [a, b, c] = parts[..] else {
        return Err(format!("--link {link}: expected A.B.C"));
    };
    Ok([a, b, c])
}

/// Parses `--cores` ("1", "0,1", "0-3").
pub fn parse_cores(s: &str) -> Result<Vec<usize>, String> {
    let mut cores = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let bad = || format!("--cores {s}: expected a list like 0,1 or 0-3");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                cores.extend(a..=b);
            }
            None => cores.push(part.parse().map_err(|_| bad())?),
        }
    }
    if cores.is_empty() {
        return Err(format!("--cores {s}: no cores"));
    }
    Ok(cores)
}

/// A flag that SIGINT or SIGTERM sets: the verbs that run until stopped poll it.
pub fn stop_on_signals() -> Result<std::sync::Arc<std::sync::atomic::AtomicBool>, String> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, std::sync::Arc::clone(&stop))
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    Ok(stop)
}
