//! The transitions of [`Connection`]: banner, HELLO, AUTH, signatures,
//! IDENT / RECONNECT and the READY data path (msgr2 reference sections 2, 5–9).

use super::connection::{frame_bytes, Connection, Event, Side, State};
use super::error::{ConnError, PeerIncompatible, PeerMisbehaved};
use super::frame::{Decoded, Frame, FrameDecoder, FrameEncoder};
use crate::auth::{AuthError, AuthServerStep};
use crate::crypto::{self, Role};
use crate::wire::addr::{AddrType, EntityAddr, EntityAddrVec};
use crate::wire::banner::{self, BannerError, BannerRepr};
use crate::wire::control::*;
use crate::wire::entity::EntityType;
use crate::wire::{ConMode, Tag};

// errno values carried in AUTH_BAD_METHOD.
use crate::wire::errno::{EACCES, EOPNOTSUPP};

/// Most entries we put in an AUTH_BAD_METHOD list (the kernel reads at most 8).
const MAX_BAD_METHOD_LIST: usize = 8;

impl Connection {
    pub(super) fn process_input(&mut self) -> Result<(), ConnError> {
        self.t.backlog = false;
        let mut frames = 0usize;
        loop {
            if self.t.rx.len() > self.t.rx_pos
                && (frames >= self.config.max_frames_per_input || self.replies_held())
            {
                // A bounded share per call, and no more replies than the
                // back-pressure bound: the rest waits in the receive buffer
                // (and the driver stops reading) until the peer drains.
                self.t.backlog = true;
                return Ok(());
            }
            if matches!(
                self.t.state,
                State::Closed | State::Faulted { .. } | State::AwaitSessionDecision { .. }
            ) {
                return Ok(());
            }
            let avail = &self.t.rx[self.t.rx_pos..];
            if matches!(self.t.state, State::ExpectBanner) {
                let len = match banner::banner_len(avail) {
                    Ok(len) if len <= avail.len() => len,
                    Ok(_) | Err(BannerError::Truncated { .. }) => return Ok(()),
                    Err(e) => return Err(e.into()),
                };
                let raw = avail[..len].to_vec();
                self.record_rx(&raw)?;
                self.t.rx_pos += len;
                self.handle_banner(&raw)?;
                continue;
            }
            let Some(decoder) = self.t.decoder.as_mut() else {
                return Ok(());
            };
            let (consumed, decoded) = decoder.decode(avail)?;
            let declared_rest = decoder.frame_rest_len();
            if consumed > 0 {
                let start = self.t.rx_pos;
                self.t.rx_pos += consumed;
                if let Some(log) = self.t.rx_log.as_mut() {
                    log.extend_from_slice(&self.t.rx[start..start + consumed]);
                    check_pre_auth(log.len(), self.config.max_pre_auth_bytes)?;
                    // Refuse a frame by its preamble: what it declares must
                    // fit too, before any of it is buffered.
                    let limit = self.config.max_pre_auth_bytes;
                    if log.len().saturating_add(declared_rest) > limit {
                        return Err(ConnError::PreAuthFrameTooLarge {
                            declared: declared_rest,
                            limit,
                        });
                    }
                }
            }
            match decoded {
                Decoded::NeedMore => {
                    if consumed == 0 {
                        return Ok(());
                    }
                }
                Decoded::Aborted => {}
                Decoded::Frame(frame) => {
                    frames += 1;
                    self.handle_frame(frame)?
                }
            }
        }
    }

    fn record_rx(&mut self, raw: &[u8]) -> Result<(), ConnError> {
        if let Some(log) = self.t.rx_log.as_mut() {
            log.extend_from_slice(raw);
            check_pre_auth(log.len(), self.config.max_pre_auth_bytes)?;
        }
        Ok(())
    }

    pub(super) fn queue_raw(&mut self, bytes: &[u8]) {
        if let Some(log) = self.t.tx_log.as_mut() {
            log.extend_from_slice(bytes);
        }
        self.t.tx.push(bytes);
    }

    /// Encodes a control frame (segment 0 only) onto the transmit buffer.
    pub(super) fn send_control(&mut self, tag: Tag, payload: &[u8]) -> Result<(), ConnError> {
        let Some(encoder) = self.t.encoder.as_mut() else {
            return Err(ConnError::Internal(
                "a frame was sent before the banner exchange",
            ));
        };
        let log = &mut self.t.tx_log;
        // Control frames are built in the chain's owned tail, so the exact
        // bytes sent can be recorded for the pre-auth signature.
        self.t.tx.with_tail(|tail| {
            let start = tail.len();
            encoder.encode(tag, &[payload], tail)?;
            if let Some(log) = log.as_mut() {
                log.extend_from_slice(tail.get(start..).unwrap_or(&[]));
            }
            Ok::<(), ConnError>(())
        })?;
        if let Some(log) = self.t.tx_log.as_ref() {
            check_pre_auth(log.len(), self.config.max_pre_auth_bytes)?;
        }
        Ok(())
    }

    fn handle_banner(&mut self, raw: &[u8]) -> Result<(), ConnError> {
        let (peer, _) = BannerRepr::parse(raw)?;
        let ours = BannerRepr {
            supported: self.config.msgr2_supported,
            required: self.config.msgr2_required,
        };
        let revision = ours.negotiate(&peer)?;
        self.t.revision = revision;
        self.t.encoder = Some(FrameEncoder::new(revision));
        self.t.decoder = Some(FrameDecoder::new(revision, self.config.frame_limits));
        self.set_state(State::ExpectHello);
        if let Side::Connector { target, .. } = &self.side {
            let hello = HelloFrame {
                entity_type: self.config.my_type as u8,
                peer_addr: *target,
            };
            self.send_control(Tag::Hello, &frame_bytes(|o| hello.emit(o)))?;
        }
        Ok(())
    }

    fn handle_frame(&mut self, frame: Frame) -> Result<(), ConnError> {
        let tag = Tag::from_u8(frame.tag).ok_or(PeerMisbehaved::UnknownTag(frame.tag))?;
        let payload: &[u8] = &frame.segments[0];
        match (&self.t.state, tag) {
            (State::ExpectHello, Tag::Hello) => self.handle_hello(HelloFrame::parse(payload)?),
            (State::ExpectAuthReply, Tag::AuthBadMethod) => {
                self.handle_auth_bad_method(AuthBadMethodFrame::parse(payload)?)
            }
            (State::ExpectAuthReply, Tag::AuthReplyMore) => {
                self.handle_auth_reply_more(AuthReplyMoreFrame::parse(payload)?)
            }
            (State::ExpectAuthReply, Tag::AuthDone) => {
                self.handle_auth_done(AuthDoneFrame::parse(payload)?)
            }
            (State::ExpectAuthRequest, Tag::AuthRequest) => {
                self.handle_auth_request(AuthRequestFrame::parse(payload)?)
            }
            (State::ExpectAuthRequestMore { mode }, Tag::AuthRequestMore) => {
                let mode = *mode;
                let more = AuthRequestMoreFrame::parse(payload)?;
                let step = match &mut self.side {
                    Side::Acceptor { auth, .. } => auth.handle_request_more(&more.auth_payload),
                    Side::Connector { .. } => Err(AuthError::UnexpectedStep(
                        "AUTH_REQUEST_MORE reached a connector",
                    )),
                };
                self.handle_auth_step(step, mode, 0)
            }
            (State::ExpectAuthSignature, Tag::AuthSignature) => {
                self.handle_auth_signature(AuthSignatureFrame::parse(payload)?)
            }
            (State::ExpectServerIdent, Tag::ServerIdent) => {
                self.handle_server_ident(ServerIdentFrame::parse(payload)?, false)
            }
            (State::ExpectServerIdent, Tag::IdentMissingFeatures) => {
                let f = IdentMissingFeaturesFrame::parse(payload)?;
                Err(PeerIncompatible::PeerLacksFeatures {
                    missing: f.features,
                }
                .into())
            }
            (State::ExpectServerIdent | State::ExpectReconnectReply, Tag::Wait) => {
                WaitFrame::parse(payload)?;
                self.waited = true;
                Err(ConnError::Wait)
            }
            (State::ExpectReconnectReply, Tag::SessionReconnectOk) => {
                let ok = SessionReconnectOkFrame::parse(payload)?;
                self.session.discard_requeued_upto(ok.msg_seq);
                self.become_ready(true);
                Ok(())
            }
            (State::ExpectReconnectReply, Tag::SessionRetry) => {
                let r = SessionRetryFrame::parse(payload)?;
                self.session.connect_seq = r.connect_seq + 1;
                self.send_reconnect()
            }
            (State::ExpectReconnectReply, Tag::SessionRetryGlobal) => {
                let r = SessionRetryGlobalFrame::parse(payload)?;
                self.global_seq = self.global_seq.max(r.global_seq) + 1;
                self.send_reconnect()
            }
            (State::ExpectReconnectReply, Tag::SessionReset) => {
                let r = SessionResetFrame::parse(payload)?;
                if r.full {
                    self.session.reset();
                    self.session.out_queue.clear();
                    self.events.push_back(Event::RemoteReset);
                } else {
                    self.session.restart_numbering();
                }
                self.send_client_ident()
            }
            (State::ExpectIdentOrReconnect, Tag::ClientIdent) => {
                self.handle_client_ident(ClientIdentFrame::parse(payload)?)
            }
            (State::ExpectIdentOrReconnect, Tag::SessionReconnect) => {
                self.handle_session_reconnect(SessionReconnectFrame::parse(payload)?)
            }
            (State::Ready, Tag::Message) => self.handle_message(frame),
            (State::Ready, Tag::Ack) => {
                let ack = AckFrame::parse(payload)?;
                Ok(self.session.handle_ack(ack.seq)?)
            }
            (State::Ready, Tag::Keepalive2) => {
                let k = Keepalive2Frame::parse(payload)?;
                let ack = Keepalive2AckFrame { stamp: k.stamp };
                self.send_control(Tag::Keepalive2Ack, &frame_bytes(|o| ack.emit(o)))
            }
            (State::Ready, Tag::Keepalive2Ack) => {
                let k = Keepalive2AckFrame::parse(payload)?;
                self.events
                    .push_back(Event::KeepaliveAck { stamp: k.stamp });
                Ok(())
            }
            (state, tag) => Err(PeerMisbehaved::UnexpectedFrame {
                tag: tag_name(tag),
                state: state.name(),
            }
            .into()),
        }
    }

    // ---- HELLO ---------------------------------------------------------------------------

    fn handle_hello(&mut self, hello: HelloFrame) -> Result<(), ConnError> {
        let peer_type = EntityType::from_u8(hello.entity_type).ok_or(DecodeInvalid(
            "HELLO entity type",
            u64::from(hello.entity_type),
        ))?;
        self.t.peer_type = Some(peer_type);
        match &mut self.side {
            Side::Connector {
                peer_type: expected,
                auth,
                ..
            } => {
                if *expected != peer_type {
                    return Err(PeerMisbehaved::WrongPeerType {
                        expected: expected.name(),
                        got: peer_type.name(),
                    }
                    .into());
                }
                // Learn our own IP from what the peer saw, if we have none (reference 7.1).
                if self
                    .config
                    .my_addrs
                    .0
                    .first()
                    .is_none_or(|a| a.addr.is_none())
                {
                    if let Some(seen) = hello.peer_addr.addr {
                        let mut learned = seen;
                        learned.set_port(0);
                        self.config.my_addrs = EntityAddrVec(vec![EntityAddr {
                            ty: AddrType::Any,
                            nonce: self.config.my_nonce,
                            addr: Some(learned),
                        }]);
                    }
                }
                let (method, modes) = auth.method_and_modes();
                let auth_payload = auth.request()?;
                let req = AuthRequestFrame {
                    method,
                    preferred_modes: modes.iter().map(|m| *m as u32).collect(),
                    auth_payload,
                };
                self.set_state(State::ExpectAuthReply);
                self.send_control(Tag::AuthRequest, &frame_bytes(|o| req.emit(o)))
            }
            Side::Acceptor {
                peer_socket,
                policies,
                policy,
                ..
            } => {
                *policy = policies.for_peer(peer_type);
                self.session.lossy = policy.lossy;
                let reply = HelloFrame {
                    entity_type: self.config.my_type as u8,
                    peer_addr: EntityAddr {
                        ty: AddrType::Msgr2,
                        nonce: 0,
                        addr: Some(*peer_socket),
                    },
                };
                self.set_state(State::ExpectAuthRequest);
                self.send_control(Tag::Hello, &frame_bytes(|o| reply.emit(o)))
            }
        }
    }

    // ---- AUTH, connector -----------------------------------------------------------------

    fn handle_auth_bad_method(&mut self, bad: AuthBadMethodFrame) -> Result<(), ConnError> {
        let Side::Connector { auth, .. } = &mut self.side else {
            return unreachable_role();
        };
        auth.handle_bad_method(
            bad.method,
            bad.result,
            &bad.allowed_methods,
            &bad.allowed_modes,
        )?;
        let (method, modes) = auth.method_and_modes();
        let auth_payload = auth.request()?;
        if let Side::Connector { offered_modes, .. } = &mut self.side {
            offered_modes.clone_from(&modes);
        }
        let req = AuthRequestFrame {
            method,
            preferred_modes: modes.iter().map(|m| *m as u32).collect(),
            auth_payload,
        };
        self.send_control(Tag::AuthRequest, &frame_bytes(|o| req.emit(o)))
    }

    fn handle_auth_reply_more(&mut self, more: AuthReplyMoreFrame) -> Result<(), ConnError> {
        let Side::Connector { auth, .. } = &mut self.side else {
            return unreachable_role();
        };
        let auth_payload = auth.handle_reply_more(&more.auth_payload)?;
        let req = AuthRequestMoreFrame { auth_payload };
        self.send_control(Tag::AuthRequestMore, &frame_bytes(|o| req.emit(o)))
    }

    fn handle_auth_done(&mut self, done: AuthDoneFrame) -> Result<(), ConnError> {
        let Side::Connector {
            auth,
            offered_modes,
            ..
        } = &mut self.side
        else {
            return unreachable_role();
        };
        let mode = ConMode::from_u32(done.con_mode)
            .filter(|m| offered_modes.contains(m))
            .ok_or(PeerMisbehaved::ModeNotOffered(done.con_mode))?;
        let outcome = auth.handle_done(done.global_id, mode, &done.auth_payload)?;
        // The connector stops recording once AUTH_DONE is read (reference 7.3).
        let rx_log = self.t.rx_log.take().unwrap_or_default();
        self.t.signed_tx = self.t.tx_log.take();
        self.install_mode(mode, &outcome.connection_secret)?;
        let signature = crypto::hmac::sign_transcript(&outcome.session_key, &rx_log);
        self.t.auth = Some(outcome);
        self.set_state(State::ExpectAuthSignature);
        let sig = AuthSignatureFrame { signature };
        self.send_control(Tag::AuthSignature, &frame_bytes(|o| sig.emit(o)))
    }

    // ---- AUTH, acceptor ------------------------------------------------------------------

    fn handle_auth_request(&mut self, req: AuthRequestFrame) -> Result<(), ConnError> {
        let peer_type = self.t.peer_type.map(|t| t as u8).unwrap_or(0);
        let Side::Acceptor { auth, .. } = &mut self.side else {
            return unreachable_role();
        };
        let methods = auth.allowed_methods(peer_type);
        let allowed_modes = auth.allowed_modes(peer_type, req.method);
        // First of the client's modes that we allow, in the client's order (reference 7.4).
        let mode = req
            .preferred_modes
            .iter()
            .filter_map(|m| ConMode::from_u32(*m))
            .find(|m| allowed_modes.contains(m));
        let (true, Some(mode)) = (methods.contains(&req.method), mode) else {
            return self.send_bad_method(req.method, -EOPNOTSUPP, &methods, &allowed_modes);
        };
        let step = auth.handle_request(peer_type, req.method, mode, &req.auth_payload);
        self.handle_auth_step(step, mode, req.method)
    }

    fn send_bad_method(
        &mut self,
        method: u32,
        result: i32,
        methods: &[u32],
        modes: &[ConMode],
    ) -> Result<(), ConnError> {
        let bad = AuthBadMethodFrame {
            method,
            result,
            allowed_methods: methods.iter().copied().take(MAX_BAD_METHOD_LIST).collect(),
            allowed_modes: modes
                .iter()
                .map(|m| *m as u32)
                .take(MAX_BAD_METHOD_LIST)
                .collect(),
        };
        self.set_state(State::ExpectAuthRequest);
        self.send_control(Tag::AuthBadMethod, &frame_bytes(|o| bad.emit(o)))
    }

    fn handle_auth_step(
        &mut self,
        step: Result<AuthServerStep, AuthError>,
        mode: ConMode,
        method: u32,
    ) -> Result<(), ConnError> {
        match step {
            Ok(AuthServerStep::More(auth_payload)) => {
                self.set_state(State::ExpectAuthRequestMore { mode });
                let more = AuthReplyMoreFrame { auth_payload };
                self.send_control(Tag::AuthReplyMore, &frame_bytes(|o| more.emit(o)))
            }
            Ok(AuthServerStep::Done { outcome, payload }) => {
                let done = AuthDoneFrame {
                    global_id: outcome.global_id,
                    con_mode: mode as u32,
                    auth_payload: payload,
                };
                self.send_control(Tag::AuthDone, &frame_bytes(|o| done.emit(o)))?;
                // The acceptor stops recording right after writing AUTH_DONE (reference 7.3).
                self.t.signed_tx = self.t.tx_log.take();
                let rx_log = self.t.rx_log.take().unwrap_or_default();
                self.install_mode(mode, &outcome.connection_secret)?;
                let signature = crypto::hmac::sign_transcript(&outcome.session_key, &rx_log);
                self.t.auth = Some(outcome);
                self.set_state(State::ExpectAuthSignature);
                let sig = AuthSignatureFrame { signature };
                self.send_control(Tag::AuthSignature, &frame_bytes(|o| sig.emit(o)))
            }
            Err(e) => {
                // Tell the peer it was refused, then close with the reason.
                let _ = self.send_bad_method(method, -EACCES, &[], &[]);
                Err(e.into())
            }
        }
    }

    fn install_mode(&mut self, mode: ConMode, secret: &[u8]) -> Result<(), ConnError> {
        self.t.mode = mode;
        if mode == ConMode::Secure {
            let role = if self.is_connector() {
                Role::Connector
            } else {
                Role::Acceptor
            };
            let (tx, rx) = crypto::session_ciphers(secret, role, self.t.revision)?;
            if let Some(e) = self.t.encoder.as_mut() {
                e.set_cipher(tx);
            }
            if let Some(d) = self.t.decoder.as_mut() {
                d.set_cipher(rx);
            }
        }
        Ok(())
    }

    fn handle_auth_signature(&mut self, sig: AuthSignatureFrame) -> Result<(), ConnError> {
        let key = self
            .t
            .auth
            .as_ref()
            .map(|a| a.session_key.to_vec())
            .unwrap_or_default();
        let sent = self.t.signed_tx.take().unwrap_or_default();
        if !crypto::hmac::verify_transcript(&key, &sent, &sig.signature) {
            return Err(PeerMisbehaved::BadSignature.into());
        }
        match &self.side {
            Side::Connector { .. } => {
                if self.session.server_cookie == 0 {
                    self.send_client_ident()
                } else {
                    self.send_reconnect()
                }
            }
            Side::Acceptor { .. } => {
                self.set_state(State::ExpectIdentOrReconnect);
                Ok(())
            }
        }
    }
}

/// An impossible role mismatch: each `Side` only reaches its own handlers.
fn unreachable_role<T>() -> Result<T, ConnError> {
    Err(ConnError::Internal("a frame was handled by the wrong role"))
}

fn check_pre_auth(len: usize, limit: usize) -> Result<(), ConnError> {
    if len > limit {
        return Err(ConnError::PreAuthTooLarge { limit });
    }
    Ok(())
}

#[allow(non_snake_case)]
fn DecodeInvalid(what: &'static str, value: u64) -> ConnError {
    ConnError::Decode(crate::wire::DecodeError::InvalidValue { what, value })
}

/// A frame tag's protocol name, for errors.
pub(super) fn tag_name(tag: Tag) -> &'static str {
    match tag {
        Tag::Hello => "HELLO",
        Tag::AuthRequest => "AUTH_REQUEST",
        Tag::AuthBadMethod => "AUTH_BAD_METHOD",
        Tag::AuthReplyMore => "AUTH_REPLY_MORE",
        Tag::AuthRequestMore => "AUTH_REQUEST_MORE",
        Tag::AuthDone => "AUTH_DONE",
        Tag::AuthSignature => "AUTH_SIGNATURE",
        Tag::ClientIdent => "CLIENT_IDENT",
        Tag::ServerIdent => "SERVER_IDENT",
        Tag::IdentMissingFeatures => "IDENT_MISSING_FEATURES",
        Tag::SessionReconnect => "SESSION_RECONNECT",
        Tag::SessionReset => "SESSION_RESET",
        Tag::SessionRetry => "SESSION_RETRY",
        Tag::SessionRetryGlobal => "SESSION_RETRY_GLOBAL",
        Tag::SessionReconnectOk => "SESSION_RECONNECT_OK",
        Tag::Wait => "WAIT",
        Tag::Message => "MESSAGE",
        Tag::Keepalive2 => "KEEPALIVE2",
        Tag::Keepalive2Ack => "KEEPALIVE2_ACK",
        Tag::Ack => "ACK",
    }
}
