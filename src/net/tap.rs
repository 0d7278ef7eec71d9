//! The TAP transport's environment: a TAP device whose kernel side lives in a
//! network namespace of its own, so smoltcp (our side of the TAP) talks only
//! to the kernel inside that namespace and no traffic can leave the machine.
//!
//! ```text
//!   this process: SmolTransport<TunTapInterface>  169.254.N.2 (smoltcp)
//!        | TAP fd
//!   netns pmns<pid>x<k>: tap device  169.254.N.1/24 (kernel TCP)
//! ```
//!
//! [`TapSetup`] creates the TAP (`TunTapInterface`), a uniquely named
//! namespace (`ip netns add`), moves the TAP into it, addresses and raises
//! it; dropping it deletes the namespace (and with it the TAP's kernel
//! side). [`Namespace`] alone adopts an interface someone else created (DPDK's
//! `net_tap`). Needs root (CAP_NET_ADMIN).
#![deny(unsafe_code)]

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use smoltcp::phy::{Medium, TunTapInterface};

use super::smol::{SmolConfig, SmolError, SmolTransport};

/// The transport over a kernel TAP device.
pub type TapTransport = SmolTransport<TunTapInterface>;

/// Default link-local subnet between smoltcp and the namespace's kernel:
/// `169.254.78.0/24`. It exists only inside namespaces we create.
pub const DEFAULT_SUBNET: [u8; 3] = [169, 254, 78];

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique per process and call: `<prefix><pid>x<n>`, cut to 15 bytes
/// (the kernel's IFNAMSIZ - 1), so it fits interfaces and namespaces.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut s = format!("{prefix}{}x{n}", std::process::id());
    s.truncate(15);
    s
}

/// Runs `cmd`; a non-zero exit becomes [`SmolError::Command`] with its stderr.
pub fn run(cmd: &mut Command) -> Result<String, SmolError> {
    let line = format!("{cmd:?}");
    let out = cmd.output().map_err(|source| SmolError::Device {
        what: format!("running {line}"),
        source,
    })?;
    if !out.status.success() {
        return Err(SmolError::Command {
            cmd: line,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `ip ARGS...`.
pub fn ip(args: &[&str]) -> Result<String, SmolError> {
    run(Command::new("ip").args(args))
}

/// A network namespace, deleted on drop with every virtual interface in it
/// (unless it is someone else's: [`Namespace::existing`]).
#[derive(Debug)]
pub struct Namespace {
    name: String,
    owned: bool,
}

impl Namespace {
    /// `ip netns add <prefix><pid>x<n>` and brings its loopback up.
    pub fn new(prefix: &str) -> Result<Namespace, SmolError> {
        let name = unique_name(prefix);
        ip(&["netns", "add", &name])?;
        let ns = Namespace { name, owned: true };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A namespace someone else created (and removes): never deleted here.
    pub fn existing(name: &str) -> Namespace {
        Namespace {
            name: name.to_owned(),
            owned: false,
        }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip ARGS...` inside the namespace.
    pub fn ip(&self, args: &[&str]) -> Result<String, SmolError> {
        let mut a = vec!["-n", self.name.as_str()];
        a.extend_from_slice(args);
        ip(&a)
    }

    /// Moves the calling thread into the namespace (`setns` on
    /// `/run/netns/NAME`): sockets it opens from now on, and threads it starts,
    /// are in there; sockets it already has stay where they were made (so a
    /// process can hold a session outside and open its load connections
    /// inside).
    pub fn enter(&self) -> Result<(), SmolError> {
        let path = format!("/run/netns/{}", self.name);
        let device = |source| SmolError::Device {
            what: format!("entering network namespace {path}"),
            source,
        };
        let file = std::fs::File::open(&path).map_err(device)?;
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&file),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .map_err(|e| device(e.into()))
    }

    /// A command that runs `program` inside the namespace
    /// (`ip netns exec NS program`); add arguments and spawn it.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Moves root-namespace interface `ifname` into this namespace, gives it
    /// `addr/prefix_len` and brings it up.
    pub fn adopt(&self, ifname: &str, addr: Ipv4Addr, prefix_len: u8) -> Result<(), SmolError> {
        adopt_into(&self.name, ifname, addr, prefix_len)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if self.owned {
            let _ = ip(&["netns", "del", &self.name]);
        }
    }
}

/// Frames the kernel side of a TAP may queue toward our stack. The default
/// (1000) overflows under bursts of many connections while the reactor is
/// busy: each drop costs a TCP retransmission, some a 1 s timeout.
pub const TAP_TX_QUEUE: &str = "10000";

/// Moves interface `ifname` into the existing namespace `netns`, gives its
/// kernel side `addr/prefix_len`, deepens its transmit queue and brings it up.
pub fn adopt_into(
    netns: &str,
    ifname: &str,
    addr: Ipv4Addr,
    prefix_len: u8,
) -> Result<(), SmolError> {
    ip(&["link", "set", ifname, "netns", netns])?;
    let cidr = format!("{addr}/{prefix_len}");
    ip(&["-n", netns, "addr", "add", &cidr, "dev", ifname])?;
    ip(&[
        "-n",
        netns,
        "link",
        "set",
        ifname,
        "txqueuelen",
        TAP_TX_QUEUE,
    ])?;
    ip(&["-n", netns, "link", "set", ifname, "up"])?;
    Ok(())
}

/// A TAP device with its kernel side in a fresh namespace.
#[derive(Debug)]
pub struct TapSetup {
    ns: Namespace,
    ifname: String,
    kernel_addr: Ipv4Addr,
    our_addr: Ipv4Addr,
    prefix_len: u8,
}

impl TapSetup {
    /// Creates the TAP and the namespace on [`DEFAULT_SUBNET`]: the kernel
    /// side is `.1`, smoltcp's `.2`. Returns the setup (the namespace guard)
    /// and the TAP device for [`SmolTransport`].
    pub fn new() -> Result<(TapSetup, TunTapInterface), SmolError> {
        let [a, b, c] = DEFAULT_SUBNET;
        Self::with_subnet(Ipv4Addr::new(a, b, c, 1), Ipv4Addr::new(a, b, c, 2), 24)
    }

    /// Like [`TapSetup::new`] with explicit addresses.
    pub fn with_subnet(
        kernel_addr: Ipv4Addr,
        our_addr: Ipv4Addr,
        prefix_len: u8,
    ) -> Result<(TapSetup, TunTapInterface), SmolError> {
        let ifname = unique_name("pmtap");
        let dev = TunTapInterface::new(&ifname, Medium::Ethernet).map_err(|source| {
            SmolError::Device {
                what: format!("opening TAP device {ifname}"),
                source,
            }
        })?;
        let setup = Self::adopt(&ifname, kernel_addr, our_addr, prefix_len)?;
        Ok((setup, dev))
    }

    /// Wraps an interface created elsewhere (e.g. DPDK `net_tap`): moves it
    /// into a fresh namespace with `kernel_addr/prefix_len`.
    pub fn adopt(
        ifname: &str,
        kernel_addr: Ipv4Addr,
        our_addr: Ipv4Addr,
        prefix_len: u8,
    ) -> Result<TapSetup, SmolError> {
        let ns = Namespace::new("pmns")?;
        ns.adopt(ifname, kernel_addr, prefix_len)?;
        Ok(TapSetup {
            ns,
            ifname: ifname.to_owned(),
            kernel_addr,
            our_addr,
            prefix_len,
        })
    }

    /// The namespace.
    pub fn netns(&self) -> &Namespace {
        &self.ns
    }

    /// The TAP's interface name (inside the namespace).
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// The kernel's address (inside the namespace).
    pub fn kernel_addr(&self) -> Ipv4Addr {
        self.kernel_addr
    }

    /// smoltcp's address.
    pub fn our_addr(&self) -> Ipv4Addr {
        self.our_addr
    }

    /// A [`SmolConfig`] for our side: our address on the subnet, a locally
    /// administered MAC derived from the pid.
    pub fn smol_config(&self) -> SmolConfig {
        let pid = std::process::id().to_be_bytes();
        let n = COUNTER.load(Ordering::Relaxed) as u8;
        SmolConfig::new(
            [0x02, pid[1], pid[2], pid[3], n, 0x02],
            self.our_addr,
            self.prefix_len,
        )
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        self.ns.command(program)
    }
}

/// Creates a [`TapSetup`] and the transport over its TAP with
/// [`TapSetup::smol_config`] adjusted by `tune`.
pub fn tap_transport(
    tune: impl FnOnce(&mut SmolConfig),
) -> Result<(TapSetup, TapTransport), SmolError> {
    let (setup, dev) = TapSetup::new()?;
    let mut cfg = setup.smol_config();
    tune(&mut cfg);
    let t = SmolTransport::new(dev, cfg)?;
    Ok((setup, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_fit_ifnamsiz() {
        let a = unique_name("pmtap");
        let b = unique_name("pmtap");
        assert_ne!(a, b);
        assert!(a.len() <= 15);
    }
}
