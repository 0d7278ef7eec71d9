//! How `pollmsgr rados` and `pollmsgr ping` reach the cluster:
//! `--transport kernel|tap` through `net::spec`. Over TAP the mon session
//! and the data path (the objecter, the OSD session) each get a TAP device
//! whose kernel side is moved into `--netns` (where the cluster's network
//! is) as their gateway: the mon session on `--link`, the data path on the
//! next /24, so the two stacks never share an address.

use clap::Args as ClapArgs;

use pollmsgr::net::spec::{DpdkPort, Netns, TransportOptions, TransportSpec};

use crate::common::{parse_link, TransportFlag};

/// The transport flags of `rados` and `ping`.
#[derive(ClapArgs, Debug, Clone)]
pub struct NetArgs {
    /// How to reach the cluster: kernel TCP, or smoltcp over TAP devices
    /// whose kernel sides are moved into --netns.
    #[arg(long, value_enum, default_value = "kernel")]
    pub transport: TransportFlag,
    /// With --transport tap: the existing network namespace where the
    /// cluster's network is.
    #[arg(long)]
    pub netns: Option<String>,
    /// With --transport tap: the mon session's link as A.B.C (kernel side .1,
    /// ours .2); the data path's is A.B.(C+1).
    #[arg(long, default_value = "169.254.78")]
    pub link: String,
}

impl NetArgs {
    /// The specs of the mon session's transport and of the data path's.
    pub fn specs(&self) -> Result<(TransportSpec, TransportSpec), String> {
        if self.transport == TransportFlag::Dpdk {
            // One EAL per process: the two net_tap ports would have to come
            // from one spec, and a port cannot be reopened for each run.
            return Err("--transport dpdk is not supported here yet (kernel or tap)".into());
        }
        let netns = match (&self.netns, self.transport) {
            (_, TransportFlag::Kernel) => Netns::Create,
            (Some(ns), _) => Netns::Existing(ns.clone()),
            (None, _) => {
                return Err(
                    "--transport tap needs --netns NS (where the cluster's network is)".into(),
                )
            }
        };
        let link = parse_link(&self.link)?;
        let data_link = [link[0], link[1], link[2].wrapping_add(1)];
        let spec = |link| {
            TransportSpec::choose(
                self.transport.kind(),
                TransportOptions {
                    netns: netns.clone(),
                    link,
                    gateway: true,
                    interfaces: 1,
                    dpdk: DpdkPort::NetTap,
                },
            )
        };
        Ok((spec(link), spec(data_link)))
    }
}
