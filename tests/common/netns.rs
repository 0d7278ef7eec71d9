//! A network namespace a test creates for a mon (169.254.77.1 on its
//! loopback) and whatever else it moves in; removed on drop.

use std::process::Command;

/// The mon's address inside a [`MonNamespace`].
pub const MON_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(169, 254, 77, 1);

/// Runs `ip ARGS`, panicking with its output if it fails.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A namespace named `pmmon<tag><pid>` with [`MON_IP`] on its loopback.
pub struct MonNamespace {
    /// Its name.
    pub name: String,
}

impl MonNamespace {
    /// Creates it (unique per test process and tag).
    pub fn new(tag: &str) -> MonNamespace {
        let name = format!("pmmon{tag}{}", std::process::id());
        ip(&["netns", "add", &name]);
        let ns = MonNamespace { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        let cidr = format!("{MON_IP}/32");
        ip(&["-n", &ns.name, "addr", "add", &cidr, "dev", "lo"]);
        ns
    }
}

impl Drop for MonNamespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
