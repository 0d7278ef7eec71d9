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
