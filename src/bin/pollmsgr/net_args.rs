//! How `pollmsgr rados` and `pollmsgr ping` reach the cluster:
//! `--transport kernel|tap|dpdk` through `net::spec`. Over TAP the mon
//! session and the data path (the objecter, the OSD sessions) each get a
//! TAP device whose kernel side is moved into `--netns` (where the
//! cluster's network is) as their gateway: the mon session on `--link`, the
//! data path on the next /24, so the two stacks never share an address.
//! Over DPDK the data path is a DPDK net_tap port instead (its kernel side
//! moved the same way) and the mon session stays on a TAP device; with
//! `--memif SOCKETS` the data path is the client end of those memif links
//! (to `serve --transport dpdk --join`'s endpoints) and the mon session
//! runs over kernel TCP.

use clap::Args as ClapArgs;

use pollmsgr::net::dpdk::MemifRole;
use pollmsgr::net::spec::{
    DpdkPort, MemifSpec, Netns, TransportKind, TransportOptions, TransportSpec,
};

use crate::common::{parse_link, TransportFlag};

/// The transport flags of `rados` and `ping`.
#[derive(ClapArgs, Debug, Clone)]
pub struct NetArgs {
    /// How to reach the cluster: kernel TCP, smoltcp over TAP devices whose
    /// kernel sides are moved into --netns, or (dpdk) the data path over a
    /// DPDK net_tap port moved the same way and the mon session over TAP.
    #[arg(long, value_enum, default_value = "kernel")]
    pub transport: TransportFlag,
    /// With --transport tap or dpdk: the existing network namespace where
    /// the cluster's network is.
    #[arg(long)]
    pub netns: Option<String>,
    /// With --transport tap or dpdk: the mon session's link as A.B.C (kernel
    /// side .1, ours .2); the data path's is A.B.(C+1).
    #[arg(long, default_value = "169.254.78")]
    pub link: String,
    /// With --transport dpdk: reach the OSDs over these DPDK memif sockets
    /// (`serve --transport dpdk --join` prints them) instead of a net_tap
    /// port; the mon session then runs over kernel TCP.
    #[arg(long, value_delimiter = ',')]
    pub memif: Option<Vec<String>>,
}

impl NetArgs {
    /// The specs of the mon session's transport and of the data path's.
    /// Over DPDK the data path (the objecter, the OSD sessions) is a DPDK
    /// net_tap port and the mon session rides smoltcp over a plain TAP:
    /// one EAL per process holds one port, and the control plane does not
    /// need a poll-mode queue.
    pub fn specs(&self) -> Result<(TransportSpec, TransportSpec), String> {
        if let Some(sockets) = &self.memif {
            if self.transport != TransportFlag::Dpdk {
                return Err("--memif needs --transport dpdk".into());
            }
            let data = TransportSpec::DpdkMemif(MemifSpec {
                role: MemifRole::Client,
                sockets: Some(sockets.clone()),
                interfaces: 1,
            });
            return Ok((TransportSpec::Kernel, data));
        }
        let netns = match (&self.netns, self.transport) {
            (_, TransportFlag::Kernel) => Netns::Create,
            (Some(ns), _) => Netns::Existing(ns.clone()),
            (None, _) => {
                return Err(
                    "--transport tap and dpdk need --netns NS (where the cluster's network is)"
                        .into(),
                )
            }
        };
        let link = parse_link(&self.link)?;
        let data_link = [link[0], link[1], link[2].wrapping_add(1)];
        let spec = |kind, link| {
            TransportSpec::choose(
                kind,
                TransportOptions {
                    netns: netns.clone(),
                    link,
                    gateway: true,
                    interfaces: 1,
                    dpdk: DpdkPort::NetTap,
                },
            )
        };
        let data = self.transport.kind();
        let control = match data {
            TransportKind::Dpdk => TransportKind::Tap,
            other => other,
        };
        Ok((spec(control, link), spec(data, data_link)))
    }
}
