//! The acceptor's session rules (msgr2 reference section 9): which session a
//! CLIENT_IDENT or SESSION_RECONNECT gets, including connect races.
//!
//! [`SessionRegistry`] keeps lossless sessions by peer address between
//! transports and answers [`SessionRequest`]s with Pacific's rules, in order.
//! It is sans-IO: the messenger (or a test) owns it and feeds it events.

use std::collections::HashMap;

use super::event::{SessionDecision, SessionRequest};
use super::session::Session;
use crate::wire::addr::{EntityAddr, EntityAddrVec};

/// A session parked between transports, with what the rules need to know.
#[derive(Debug)]
struct Parked {
    session: Session,
    /// Policy of the peer type: detect peer restarts.
    resetcheck: bool,
}

/// What the registry knows about our own outgoing connection to a peer, for
/// connect races (both sides dialing each other at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outgoing {
    /// We are not dialing this peer.
    None,
    /// We are dialing and have not reached READY.
    Connecting,
}

/// Lossless sessions by peer address, and the decisions of reference 9.
#[derive(Debug, Default)]
pub struct SessionRegistry {
    parked: HashMap<String, Parked>,
}

fn key(addrs: &EntityAddrVec) -> String {
    addrs.to_string()
}

impl SessionRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parks a lossless session whose transport failed, for the peer's reconnect.
    pub fn park(&mut self, peer_addrs: &EntityAddrVec, session: Session, resetcheck: bool) {
        self.parked.insert(
            key(peer_addrs),
            Parked {
                session,
                resetcheck,
            },
        );
    }

    /// Number of parked sessions.
    pub fn len(&self) -> usize {
        self.parked.len()
    }

    /// True if no session is parked.
    pub fn is_empty(&self) -> bool {
        self.parked.is_empty()
    }

    /// Decides a session request. `my_addr` is our msgr2 address and
    /// `outgoing` our own connection attempt toward the same peer.
    pub fn decide(
        &mut self,
        request: &SessionRequest,
        my_addr: &EntityAddr,
        outgoing: Outgoing,
        i_am_server: bool,
    ) -> SessionDecision {
        match request {
            SessionRequest::Ident {
                peer_addrs,
                global_seq,
                client_cookie,
                ..
            } => self.decide_ident(
                peer_addrs,
                *global_seq,
                *client_cookie,
                my_addr,
                outgoing,
                i_am_server,
            ),
            SessionRequest::Reconnect {
                peer_addrs,
                client_cookie,
                global_seq,
                connect_seq,
                ..
            } => self.decide_reconnect(
                peer_addrs,
                *client_cookie,
                *global_seq,
                *connect_seq,
                my_addr,
                outgoing,
                i_am_server,
            ),
        }
    }

    /// CLIENT_IDENT with a possibly existing session (`handle_existing_connection`).
    fn decide_ident(
        &mut self,
        peer_addrs: &EntityAddrVec,
        global_seq: u64,
        client_cookie: u64,
        my_addr: &EntityAddr,
        outgoing: Outgoing,
        i_am_server: bool,
    ) -> SessionDecision {
        let k = key(peer_addrs);
        if let Some(existing) = self.parked.get(&k) {
            // Rule 3: an older connection attempt than the session we hold is stale.
            if existing.session.peer_global_seq > global_seq {
                return SessionDecision::Close;
            }
            // Rules 4–7: lossy sessions are replaced; a changed cookie (peer
            // restart) resets the session if resetcheck; otherwise reuse it.
            let Some(mut parked) = self.parked.remove(&k) else {
                return SessionDecision::NewSession;
            };
            if parked.session.lossy {
                return SessionDecision::NewSession;
            }
            if parked.session.client_cookie != client_cookie && parked.resetcheck {
                parked.session.reset();
            }
            return SessionDecision::Adopt(Box::new(parked.session));
        }
        // Rule 8: both sides dialing at once. The connection from the peer with
        // the lower address wins; a server always lets the peer win.
        if outgoing == Outgoing::Connecting && !i_am_server {
            if let Some(peer) = peer_addrs.msgr2() {
                if peer > my_addr {
                    return SessionDecision::Wait;
                }
            }
        }
        SessionDecision::NewSession
    }

    /// SESSION_RECONNECT, Pacific's rules 1–8 in order.
    #[allow(clippy::too_many_arguments)]
    fn decide_reconnect(
        &mut self,
        peer_addrs: &EntityAddrVec,
        client_cookie: u64,
        global_seq: u64,
        connect_seq: u64,
        my_addr: &EntityAddr,
        outgoing: Outgoing,
        i_am_server: bool,
    ) -> SessionDecision {
        let k = key(peer_addrs);
        // Rule 1: no session for this peer.
        let Some(existing) = self.parked.get(&k) else {
            return SessionDecision::Reset { full: true };
        };
        // Rule 3: we reset since the peer's session began.
        if existing.session.client_cookie != client_cookie {
            let full = existing.resetcheck;
            self.parked.remove(&k);
            return SessionDecision::Reset { full };
        }
        // Rule 4: the session never completed SERVER_IDENT.
        if existing.session.server_cookie == 0 {
            self.parked.remove(&k);
            return SessionDecision::Reset { full: false };
        }
        // Rule 5: a newer connection of this peer already reached us.
        if existing.session.peer_global_seq > global_seq {
            return SessionDecision::RetryGlobal {
                global_seq: existing.session.peer_global_seq,
            };
        }
        // Rule 6: the peer is behind on reconnect attempts.
        if existing.session.connect_seq > connect_seq {
            return SessionDecision::Retry {
                connect_seq: existing.session.connect_seq,
            };
        }
        // Rule 7: a reconnect race; the lower address wins.
        if existing.session.connect_seq == connect_seq
            && outgoing == Outgoing::Connecting
            && !i_am_server
        {
            if let Some(peer) = peer_addrs.msgr2() {
                if peer > my_addr {
                    return SessionDecision::Wait;
                }
            }
        }
        // Rule 8: adopt the session on the new transport.
        match self.parked.remove(&k) {
            Some(p) => SessionDecision::Adopt(Box::new(p.session)),
            None => SessionDecision::Reset { full: true },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::addr::AddrType;

    fn addr(port: u16) -> EntityAddr {
        EntityAddr {
            ty: AddrType::Msgr2,
            nonce: 1,
            addr: Some(std::net::SocketAddr::from(([127, 0, 0, 1], port))),
        }
    }

    fn reconnect(cookie: u64, gs: u64, cs: u64) -> SessionRequest {
        SessionRequest::Reconnect {
            peer_type: crate::wire::entity::EntityType::Osd,
            peer_addrs: EntityAddrVec(vec![addr(7000)]),
            client_cookie: cookie,
            server_cookie: 5,
            global_seq: gs,
            connect_seq: cs,
            msg_seq: 0,
        }
    }

    fn parked(cookie: u64, peer_gs: u64, cs: u64) -> SessionRegistry {
        let mut r = SessionRegistry::new();
        let s = Session {
            client_cookie: cookie,
            server_cookie: 5,
            peer_global_seq: peer_gs,
            connect_seq: cs,
            ..Session::default()
        };
        r.park(&EntityAddrVec(vec![addr(7000)]), s, true);
        r
    }

    #[test]
    fn reconnect_rules_in_order() {
        let me = addr(6800);
        let d = SessionRegistry::new().decide(&reconnect(1, 2, 1), &me, Outgoing::None, true);
        assert!(matches!(d, SessionDecision::Reset { full: true }));
        let d = parked(9, 1, 0).decide(&reconnect(1, 2, 1), &me, Outgoing::None, true);
        assert!(matches!(d, SessionDecision::Reset { full: true }));
        let d = parked(1, 10, 0).decide(&reconnect(1, 2, 1), &me, Outgoing::None, true);
        assert!(matches!(d, SessionDecision::RetryGlobal { global_seq: 10 }));
        let d = parked(1, 1, 4).decide(&reconnect(1, 2, 1), &me, Outgoing::None, true);
        assert!(matches!(d, SessionDecision::Retry { connect_seq: 4 }));
        let d = parked(1, 1, 1).decide(&reconnect(1, 2, 1), &me, Outgoing::None, true);
        assert!(matches!(d, SessionDecision::Adopt(_)));
    }

    #[test]
    fn connect_race_lower_address_wins() {
        // The peer (port 7000) is higher than us (6800): we are the winner, so it waits.
        let me = addr(6800);
        let d = parked(1, 1, 1).decide(&reconnect(1, 2, 1), &me, Outgoing::Connecting, false);
        assert!(matches!(d, SessionDecision::Wait));
        let ident = SessionRequest::Ident {
            peer_name: crate::wire::entity::EntityName {
                ty: crate::wire::entity::EntityType::Osd,
                num: 2,
            },
            peer_addrs: EntityAddrVec(vec![addr(7000)]),
            global_seq: 3,
            client_cookie: 8,
        };
        let d = SessionRegistry::new().decide(&ident, &me, Outgoing::Connecting, false);
        assert!(matches!(d, SessionDecision::Wait));
        // A lower peer wins against us, and a server always lets the peer win.
        let higher_me = addr(9000);
        let d = SessionRegistry::new().decide(&ident, &higher_me, Outgoing::Connecting, false);
        assert!(matches!(d, SessionDecision::NewSession));
        let d = SessionRegistry::new().decide(&ident, &me, Outgoing::Connecting, true);
        assert!(matches!(d, SessionDecision::NewSession));
    }

    #[test]
    fn stale_ident_is_closed_and_restart_resets() {
        let me = addr(6800);
        let ident = |cookie, gs| SessionRequest::Ident {
            peer_name: crate::wire::entity::EntityName {
                ty: crate::wire::entity::EntityType::Osd,
                num: 2,
            },
            peer_addrs: EntityAddrVec(vec![addr(7000)]),
            global_seq: gs,
            client_cookie: cookie,
        };
        let d = parked(1, 10, 0).decide(&ident(1, 3), &me, Outgoing::None, true);
        assert!(matches!(d, SessionDecision::Close));
        let mut r = parked(1, 1, 0);
        let d = r.decide(&ident(2, 3), &me, Outgoing::None, true);
        match d {
            SessionDecision::Adopt(s) => assert_eq!(s.connect_seq, 0),
            other => panic!("expected adopt, got {other:?}"),
        }
        assert!(r.is_empty());
    }
}
