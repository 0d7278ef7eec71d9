//! RSS-aware local port choice for multi-queue NICs (design: "Flow steering
//! across cores").
//!
//! A NIC with RSS hashes each received TCP/IPv4 packet's 4-tuple with the
//! Toeplitz function and the port's key, and sends it to queue
//! `reta[hash % reta.len()]`. For an outgoing connection, the replies carry
//! (source = peer, destination = us), so a reactor that owns queue `q` picks a
//! local port whose reply hash lands on `q`: [`RssPorts`]. The port's key and
//! redirection table come from `dpdk_env::Port` (`RssConfig::key`, `reta()`).
//!
//! The hash follows Microsoft's RSS specification ("Verifying the RSS Hash
//! Calculation"); the tests use its published vectors.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::smol::{LocalPortChooser, SequentialPorts};

/// The key most NICs and DPDK's examples use by default (Microsoft's sample key).
pub const DEFAULT_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// The Toeplitz hash of `input` under `key` (the key must be at least
/// `input.len() + 4` bytes; extra key bytes are ignored, missing ones read as 0).
pub fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
    let key_bit = |i: usize| -> u32 {
        key.get(i / 8)
            .map_or(0, |b| u32::from((b >> (7 - (i % 8))) & 1))
    };
    // The 32-bit window of the key starting at the current input bit.
    let mut window = (0..32).fold(0u32, |w, i| (w << 1) | key_bit(i));
    let mut hash = 0u32;
    for (byte_index, byte) in input.iter().enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                hash ^= window;
            }
            window = (window << 1) | key_bit(32 + byte_index * 8 + bit);
        }
    }
    hash
}

/// The RSS hash of a TCP/IPv4 packet from `src` to `dst`.
pub fn tcp4_hash(key: &[u8], src: SocketAddrV4, dst: SocketAddrV4) -> u32 {
    let mut input = [0u8; 12];
    input[0..4].copy_from_slice(&src.ip().octets());
    input[4..8].copy_from_slice(&dst.ip().octets());
    input[8..10].copy_from_slice(&src.port().to_be_bytes());
    input[10..12].copy_from_slice(&dst.port().to_be_bytes());
    toeplitz(key, &input)
}

/// The queue `reta` gives a TCP/IPv4 packet from `src` to `dst`.
fn reta_queue(key: &[u8], reta: &[u16], src: SocketAddrV4, dst: SocketAddrV4) -> Option<u16> {
    let h = tcp4_hash(key, src, dst) as usize;
    reta.get(h % reta.len().max(1)).copied()
}

/// Picks local ports whose replies the NIC steers to `queue`.
#[derive(Debug, Clone)]
pub struct RssPorts {
    key: Vec<u8>,
    reta: Vec<u16>,
    queue: u16,
    ports: SequentialPorts,
}

impl RssPorts {
    /// Ports for `queue`, given the port's RSS `key` and redirection table.
    pub fn new(key: &[u8], reta: Vec<u16>, queue: u16) -> Self {
        RssPorts {
            key: key.to_vec(),
            reta,
            queue,
            ports: SequentialPorts::ephemeral(),
        }
    }

    /// The queue the NIC gives a packet from `remote` to `local`.
    pub fn queue_of(&self, remote: SocketAddrV4, local: SocketAddrV4) -> Option<u16> {
        reta_queue(&self.key, &self.reta, remote, local)
    }
}

impl LocalPortChooser for RssPorts {
    fn choose(
        &mut self,
        local: Ipv4Addr,
        remote: SocketAddrV4,
        in_use: &dyn Fn(u16) -> bool,
    ) -> Option<u16> {
        let (key, reta, queue) = (&self.key, &self.reta, self.queue);
        self.ports.next_matching(|p| {
            !in_use(p) && reta_queue(key, reta, remote, SocketAddrV4::new(local, p)) == Some(queue)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddrV4 {
        s.parse().expect("literal")
    }

    /// Microsoft's "Verifying the RSS Hash Calculation", IPv4 with TCP.
    #[test]
    fn microsoft_verification_vectors() {
        let cases = [
            ("66.9.149.187:2794", "161.142.100.80:1766", 0x51cc_c178u32),
            ("199.92.111.2:14230", "65.69.140.83:4739", 0xc626_b0ea),
            ("24.19.198.95:12898", "12.22.207.184:38024", 0x5c2b_394a),
            ("38.27.205.30:48228", "209.142.163.6:2217", 0xafc7_327f),
            ("153.39.163.191:44251", "202.188.127.2:1303", 0x10e8_28a2),
        ];
        for (src, dst, want) in cases {
            assert_eq!(
                tcp4_hash(&DEFAULT_KEY, sa(src), sa(dst)),
                want,
                "{src} -> {dst}"
            );
        }
    }

    #[test]
    fn chosen_ports_steer_replies_to_the_dialing_queue() {
        // A 128-entry table over 4 queues, as drivers fill it by default.
        let reta: Vec<u16> = (0..128).map(|i| i % 4).collect();
        let local = Ipv4Addr::new(169, 254, 0, 2);
        let remote = sa("169.254.0.1:6800");
        for q in 0..4 {
            let mut ports = RssPorts::new(&DEFAULT_KEY, reta.clone(), q);
            let mut seen = std::collections::HashSet::new();
            for _ in 0..64 {
                let p = ports
                    .choose(local, remote, &|p| seen.contains(&p))
                    .expect("a port");
                assert!(seen.insert(p), "port {p} chosen twice");
                assert_eq!(
                    ports.queue_of(remote, SocketAddrV4::new(local, p)),
                    Some(q),
                    "replies to port {p} would reach another queue"
                );
            }
        }
        // When every port is taken, there is none.
        let mut ports = RssPorts::new(&DEFAULT_KEY, reta, 0);
        assert_eq!(ports.choose(local, remote, &|_| true), None);
    }
}
