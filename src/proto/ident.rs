//! Session establishment after authentication: CLIENT_IDENT / SERVER_IDENT,
//! SESSION_RECONNECT and its replies (msgr2 reference 7.1, 7.2 and 9).

use super::connection::{
    frame_bytes, nonzero, Connection, Established, Event, SessionDecision, SessionRequest, Side,
    State,
};
use super::error::{ConnError, PeerIncompatible, PeerMisbehaved};
use super::session::Session;
use crate::wire::addr::{AddrType, EntityAddrVec};
use crate::wire::control::*;
use crate::wire::entity::{EntityName, EntityType};
use crate::wire::{features, Tag};

impl Connection {
    fn my_ident_gid(&self) -> i64 {
        // Clients are known by their global id, daemons by their number (reference 5).
        match (self.config.my_type, &self.t.auth) {
            (EntityType::Client, Some(auth)) if auth.global_id != 0 => auth.global_id as i64,
            _ => self.config.my_gid,
        }
    }

    pub(super) fn send_client_ident(&mut self) -> Result<(), ConnError> {
        let Side::Connector { target, policy, .. } = &self.side else {
            return Err(ConnError::Internal(
                "an acceptor tried to send CLIENT_IDENT",
            ));
        };
        let ident = ClientIdentFrame {
            addrs: self.config.my_addrs.clone(),
            target_addr: *target,
            gid: self.my_ident_gid(),
            global_seq: self.global_seq,
            supported_features: self.config.features_supported,
            required_features: self.config.features_required,
            flags: if policy.lossy { CONNECT_FLAG_LOSSY } else { 0 },
            client_cookie: self.session.client_cookie,
        };
        self.set_state(State::ExpectServerIdent);
        self.send_control(Tag::ClientIdent, &frame_bytes(|o| ident.emit(o)))
    }

    pub(super) fn send_reconnect(&mut self) -> Result<(), ConnError> {
        let reconnect = SessionReconnectFrame {
            addrs: self.config.my_addrs.clone(),
            client_cookie: self.session.client_cookie,
            server_cookie: self.session.server_cookie,
            global_seq: self.global_seq,
            connect_seq: self.session.connect_seq,
            msg_seq: self.session.in_seq,
        };
        self.set_state(State::ExpectReconnectReply);
        self.send_control(Tag::SessionReconnect, &frame_bytes(|o| reconnect.emit(o)))
    }

    pub(super) fn handle_server_ident(
        &mut self,
        ident: ServerIdentFrame,
        reconnected: bool,
    ) -> Result<(), ConnError> {
        let Side::Connector {
            target, peer_type, ..
        } = &self.side
        else {
            return Err(ConnError::Internal("an acceptor handled SERVER_IDENT"));
        };
        if !ident.addrs.0.contains(target) {
            return Err(PeerMisbehaved::WrongPeerAddr {
                target: target.to_string(),
                addrs: ident.addrs.to_string(),
            }
            .into());
        }
        let missing = ident.required_features & !self.config.features_supported;
        if missing != 0 {
            return Err(PeerIncompatible::MissingFeatures { missing }.into());
        }
        let peer_name = EntityName {
            ty: *peer_type,
            num: ident.gid as u64,
        };
        self.session.server_cookie = ident.server_cookie;
        self.session.peer_global_seq = ident.global_seq;
        // The acceptor's policy decides lossiness (reference 9).
        self.session.lossy = ident.flags & CONNECT_FLAG_LOSSY != 0;
        if self.session.lossy {
            self.session.sent.clear();
        }
        self.t.peer_features = ident.supported_features & self.config.features_supported;
        self.t.peer_name = Some(peer_name);
        self.t.peer_addrs = ident.addrs;
        self.become_ready(reconnected);
        Ok(())
    }

    fn check_peer_addrs(&self, addrs: &EntityAddrVec) -> Result<(), ConnError> {
        match addrs.0.first() {
            Some(a) if a.ty != AddrType::None => Ok(()),
            _ => Err(PeerMisbehaved::NoPeerAddr.into()),
        }
    }

    pub(super) fn handle_client_ident(&mut self, ident: ClientIdentFrame) -> Result<(), ConnError> {
        self.check_peer_addrs(&ident.addrs)?;
        if !self.config.my_addrs.0.contains(&ident.target_addr) {
            return Err(PeerMisbehaved::NotOurAddr {
                target: ident.target_addr.to_string(),
                ours: self.config.my_addrs.to_string(),
            }
            .into());
        }
        let required = match &self.side {
            Side::Acceptor { policy, .. } => policy.features_required,
            Side::Connector { .. } => 0,
        } | features::MSG_ADDR2;
        let missing = required & !ident.supported_features;
        if missing != 0 {
            let f = IdentMissingFeaturesFrame { features: missing };
            self.send_control(Tag::IdentMissingFeatures, &frame_bytes(|o| f.emit(o)))?;
            return Err(PeerIncompatible::PeerLacksFeatures { missing }.into());
        }
        let peer_type = self.t.peer_type.unwrap_or(EntityType::Client);
        let peer_name = EntityName {
            ty: peer_type,
            num: ident.gid as u64,
        };
        self.t.peer_features = ident.supported_features & self.config.features_supported;
        self.t.peer_name = Some(peer_name);
        self.t.peer_addrs = ident.addrs.clone();
        let request = SessionRequest::Ident {
            peer_name,
            peer_addrs: ident.addrs,
            global_seq: ident.global_seq,
            client_cookie: ident.client_cookie,
        };
        self.events
            .push_back(Event::SessionRequest(request.clone()));
        self.set_state(State::AwaitSessionDecision { request });
        Ok(())
    }

    pub(super) fn handle_session_reconnect(
        &mut self,
        rec: SessionReconnectFrame,
    ) -> Result<(), ConnError> {
        self.check_peer_addrs(&rec.addrs)?;
        let peer_type = self.t.peer_type.unwrap_or(EntityType::Client);
        self.t.peer_addrs = rec.addrs.clone();
        let request = SessionRequest::Reconnect {
            peer_type,
            peer_addrs: rec.addrs,
            client_cookie: rec.client_cookie,
            server_cookie: rec.server_cookie,
            global_seq: rec.global_seq,
            connect_seq: rec.connect_seq,
            msg_seq: rec.msg_seq,
        };
        self.events
            .push_back(Event::SessionRequest(request.clone()));
        self.set_state(State::AwaitSessionDecision { request });
        Ok(())
    }

    /// Answers an [`Event::SessionRequest`] (acceptor only).
    ///
    /// If the transport failed before the answer came, nothing is applied and
    /// an adopted session is handed back, so the caller can park it again.
    #[must_use = "an unapplied session must be parked again, or it is lost"]
    pub fn decide_session(&mut self, decision: SessionDecision) -> Option<Box<Session>> {
        if !matches!(self.t.state, State::AwaitSessionDecision { .. }) {
            return match decision {
                SessionDecision::Adopt(session) => Some(session),
                _ => None,
            };
        }
        let State::AwaitSessionDecision { request } =
            std::mem::replace(&mut self.t.state, State::ExpectIdentOrReconnect)
        else {
            return None;
        };
        let now = self.last_now;
        if let Err(e) = self.apply_decision(request, decision) {
            self.fault(e, now);
            return None;
        }
        if self.is_ready() {
            self.flush_ready();
        }
        None
    }

    fn apply_decision(
        &mut self,
        request: SessionRequest,
        decision: SessionDecision,
    ) -> Result<(), ConnError> {
        use SessionDecision as D;
        match (request, decision) {
            (
                SessionRequest::Ident {
                    global_seq,
                    client_cookie,
                    ..
                },
                d @ (D::NewSession | D::Adopt(_)),
            ) => {
                if let D::Adopt(existing) = d {
                    // Reuse (SERVER_IDENT was lost, rule 6): the peer has received
                    // nothing of this session, so everything unacked is replayed.
                    // A restarted peer's session was already reset by the registry.
                    self.adopt(*existing);
                    self.session.requeue_sent();
                }
                let lossy = self.session.lossy;
                self.session.client_cookie = client_cookie;
                self.session.peer_global_seq = global_seq;
                self.session.server_cookie = if lossy { 0 } else { nonzero(self.rng.as_mut()) };
                self.global_seq += 1;
                let ident = ServerIdentFrame {
                    addrs: self.config.my_addrs.clone(),
                    gid: self.config.my_gid,
                    global_seq: self.global_seq,
                    supported_features: self.config.features_supported,
                    required_features: self.config.features_required,
                    flags: if lossy { CONNECT_FLAG_LOSSY } else { 0 },
                    server_cookie: self.session.server_cookie,
                };
                self.send_control(Tag::ServerIdent, &frame_bytes(|o| ident.emit(o)))?;
                self.become_ready(false);
                Ok(())
            }
            (
                SessionRequest::Reconnect {
                    global_seq,
                    connect_seq,
                    msg_seq,
                    ..
                },
                D::Adopt(existing),
            ) => {
                let lossy = self.session.lossy;
                self.adopt(*existing);
                self.session.lossy = lossy;
                self.session.requeue_sent();
                self.session.discard_requeued_upto(msg_seq);
                self.session.connect_seq = connect_seq;
                self.session.peer_global_seq = global_seq;
                let ok = SessionReconnectOkFrame {
                    msg_seq: self.session.in_seq,
                };
                self.send_control(Tag::SessionReconnectOk, &frame_bytes(|o| ok.emit(o)))?;
                self.become_ready(true);
                Ok(())
            }
            (SessionRequest::Reconnect { .. }, D::NewSession) => self.send_reset(true),
            (SessionRequest::Reconnect { .. }, D::Reset { full }) => self.send_reset(full),
            (SessionRequest::Reconnect { .. }, D::Retry { connect_seq }) => {
                let f = SessionRetryFrame { connect_seq };
                self.send_control(Tag::SessionRetry, &frame_bytes(|o| f.emit(o)))
            }
            (SessionRequest::Reconnect { .. }, D::RetryGlobal { global_seq }) => {
                let f = SessionRetryGlobalFrame { global_seq };
                self.send_control(Tag::SessionRetryGlobal, &frame_bytes(|o| f.emit(o)))
            }
            (_, D::Wait) => self.send_control(Tag::Wait, &frame_bytes(|o| WaitFrame.emit(o))),
            (_, D::Close) => Err(ConnError::SessionReplaced),
            (SessionRequest::Ident { .. }, _) => Err(ConnError::Internal(
                "the messenger answered CLIENT_IDENT with a decision only SESSION_RECONNECT takes",
            )),
        }
    }

    /// Takes over `existing`, keeping messages queued on this transport after its own.
    fn adopt(&mut self, existing: Session) {
        let pending = std::mem::take(&mut self.session.out_queue);
        self.session = existing;
        self.session.out_queue.extend(pending);
    }

    fn send_reset(&mut self, full: bool) -> Result<(), ConnError> {
        let f = SessionResetFrame { full };
        self.send_control(Tag::SessionReset, &frame_bytes(|o| f.emit(o)))
    }

    pub(super) fn become_ready(&mut self, reconnected: bool) {
        self.t.handshake_deadline = None;
        self.backoff = self.config.initial_backoff;
        let previous = self.established.take();
        let peer_name = self
            .t
            .peer_name
            .or_else(|| previous.as_ref().map(|e| e.peer_name))
            .unwrap_or(EntityName {
                ty: self.t.peer_type.unwrap_or(EntityType::Any),
                num: u64::MAX,
            });
        let mut peer_addrs = self.t.peer_addrs.clone();
        if peer_addrs.0.is_empty() {
            if let Some(p) = &previous {
                peer_addrs = p.peer_addrs.clone();
            }
        }
        let established = Established {
            peer_name,
            peer_addrs,
            mode: self.t.mode,
            revision: self.t.revision,
            features: if self.t.peer_features != 0 {
                self.t.peer_features
            } else {
                previous.map(|p| p.features).unwrap_or(0)
            },
            lossy: self.session.lossy,
            global_id: self.t.auth.as_ref().map(|a| a.global_id).unwrap_or(0),
            reconnected,
            peer_auth: self.t.auth.as_ref().and_then(|a| a.peer.clone()),
        };
        self.established = Some(established.clone());
        self.set_state(State::Ready);
        self.events.push_back(Event::Established(established));
    }
}
