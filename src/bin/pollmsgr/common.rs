//! Flag types shared by the verbs.

use clap::ValueEnum;
use pollmsgr::wire::ConMode;

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
