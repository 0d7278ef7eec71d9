//! Who may send what to a hosted OSD: every incoming message is checked
//! against the authenticated peer's entity type (its role), and object ops
//! against the OSD caps in the peer's cephx ticket (the secure-RPC idea of
//! an authenticated channel plus role-based access).
//!
//! Roles, as a Ceph OSD's dispatch enforces them (`OSD::ms_dispatch`,
//! `OSD::ms_fast_dispatch`, `OSD::handle_osd_ping`): heartbeats and
//! OSD-to-OSD messages come only from OSDs; object ops from clients (and
//! daemons acting as clients); commands (`ceph tell`, and the bench's
//! `version` probe) from clients, mgrs, mons and OSDs — never from MDSs.

use std::collections::HashMap;
use std::sync::Arc;

use super::caps::OsdCaps;
use crate::auth::PeerAuth;
use crate::msg::types;
use crate::wire::entity::EntityType;

/// What a message asks of us, by type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageClass {
    /// MOSDOp: object I/O.
    ObjectOp,
    /// MCommand: `ceph tell`.
    Command,
    /// MOSDPing: heartbeats.
    Heartbeat,
    /// Messages only peer OSDs send (replication, peering, recovery).
    PeerOsd,
    /// pollmsgr's own benchmark request (pure messenger measurement).
    Bench,
    /// Anything else.
    Other,
}

/// Classifies a message type.
pub fn classify(ty: u16) -> MessageClass {
    match ty {
        types::OSD_OP => MessageClass::ObjectOp,
        types::COMMAND => MessageClass::Command,
        types::OSD_PING => MessageClass::Heartbeat,
        types::POLLMSGR_BENCH_REQUEST => MessageClass::Bench,
        // MSG_OSD_* peering, replication, scrub, recovery and backfill
        // messages (Ceph `src/msg/Message.h`), which only OSDs send to OSDs.
        75..=78 | 80..=96 | 99..=160 => MessageClass::PeerOsd,
        _ => MessageClass::Other,
    }
}

/// Whether a peer of type `peer` may send a message of class `class`.
pub fn role_allows(peer: EntityType, class: MessageClass) -> bool {
    use EntityType as E;
    use MessageClass as C;
    match class {
        C::Heartbeat | C::PeerOsd => peer == E::Osd,
        C::ObjectOp => matches!(peer, E::Client | E::Osd | E::Mds | E::Mgr),
        C::Command => matches!(peer, E::Client | E::Mgr | E::Mon | E::Osd),
        C::Bench => true,
        C::Other => true,
    }
}

/// Parsed caps by caps text, so each session's caps parse once.
pub struct CapsCache {
    parsed: HashMap<String, Arc<OsdCaps>>,
    /// The caps of sessions that may do everything, made once.
    all: Arc<OsdCaps>,
}

impl Default for CapsCache {
    fn default() -> Self {
        CapsCache {
            parsed: HashMap::new(),
            all: Arc::new(OsdCaps::allow_all()),
        }
    }
}

/// Most distinct caps strings cached (a flood of unique tickets cannot grow
/// the cache without bound; past it, caps parse per message).
const MAX_CACHED_CAPS: usize = 1024;

impl CapsCache {
    /// The OSD caps of a session: everything with auth none (no tickets:
    /// the cluster chose not to authenticate) or a ticket with `allow_all`;
    /// otherwise the ticket's caps, and nothing if they do not parse.
    pub fn caps_of(&mut self, peer: Option<&PeerAuth>) -> Arc<OsdCaps> {
        let Some(p) = peer else {
            return Arc::clone(&self.all);
        };
        if p.allow_all {
            return Arc::clone(&self.all);
        }
        if let Some(c) = self.parsed.get(&p.caps) {
            return Arc::clone(c);
        }
        let caps = Arc::new(OsdCaps::parse(&p.caps).unwrap_or_default());
        if self.parsed.len() < MAX_CACHED_CAPS {
            self.parsed.insert(p.caps.clone(), Arc::clone(&caps));
        }
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        assert!(role_allows(EntityType::Osd, classify(types::OSD_PING)));
        assert!(!role_allows(EntityType::Client, classify(types::OSD_PING)));
        assert!(role_allows(EntityType::Client, classify(types::OSD_OP)));
        assert!(!role_allows(EntityType::Mon, classify(types::OSD_OP)));
        assert!(role_allows(EntityType::Client, classify(types::COMMAND)));
        assert!(!role_allows(EntityType::Mds, classify(types::COMMAND)));
        assert!(!role_allows(EntityType::Client, classify(76)));
    }

    #[test]
    fn caps_from_tickets() {
        use super::super::caps::Need;
        let mut c = CapsCache::default();
        let w = Need {
            write: true,
            ..Need::default()
        };
        assert!(c.caps_of(None).allows(None, "", "o", w));
        let ro = PeerAuth {
            entity: "client.ro".into(),
            allow_all: false,
            caps: "allow r".into(),
        };
        assert!(!c.caps_of(Some(&ro)).allows(None, "", "o", w));
        let bad = PeerAuth {
            caps: "nonsense".into(),
            ..ro.clone()
        };
        let r = Need {
            read: true,
            ..Need::default()
        };
        assert!(!c.caps_of(Some(&bad)).allows(None, "", "o", r));
        let all = PeerAuth {
            allow_all: true,
            ..bad
        };
        assert!(c.caps_of(Some(&all)).allows(None, "", "o", w));
    }
}
