//! The connecting side's handshake (msgr2 reference 5, 7, 9; Ceph's
//! `ProtocolV2::start_connect` and the `client_*` steps of crimson's
//! `ProtocolV2`): HELLO, AUTH_REQUEST until AUTH_DONE, signatures, then
//! CLIENT_IDENT for a new session or SESSION_RECONNECT to resume one.

use super::{
    check_signature, exchange_banners, finish_auth, frame_bytes, Authed, Codec, Input, Step,
    Transcripts,
};
use crate::auth::AuthClient;
use crate::crypto::Role;
use crate::proto::config::Policy;
use crate::proto::connection::{Core, PeerFacts};
use crate::proto::error::{ConnError, PeerIncompatible, PeerMisbehaved};
use crate::proto::event::Event;
use crate::proto::phase::Phase;
use crate::wire::addr::{AddrType, EntityAddr, EntityAddrVec};
use crate::wire::control::*;
use crate::wire::entity::{EntityName, EntityType};
use crate::wire::{ConMode, Tag};

/// The connecting side: what survives reconnects, and where it is.
pub(in crate::proto) struct Connector {
    /// The exact address (type, IP, port, nonce) we dial.
    pub(in crate::proto) target: EntityAddr,
    /// The entity type the peer must announce in HELLO.
    pub(in crate::proto) peer_type: EntityType,
    /// Our policy toward this peer; the acceptor's lossy flag overrides ours.
    pub(in crate::proto) policy: Policy,
    pub(in crate::proto) auth: Box<dyn AuthClient>,
    /// The modes our last AUTH_REQUEST offered.
    pub(in crate::proto) offered_modes: Vec<ConMode>,
    pub(in crate::proto) phase: Phase<ConnectorStep>,
}

/// Where a connector's handshake is, named for what it expects next.
// Named for what each step expects next, as rustls names its states (style card 4).
#[allow(clippy::enum_variant_names)]
pub(in crate::proto) enum ConnectorStep {
    ExpectBanner { log: Transcripts },
    ExpectHello { codec: Codec, log: Transcripts },
    ExpectAuthReply { codec: Codec, log: Transcripts },
    ExpectAuthSignature { authed: Authed, signed_tx: Vec<u8> },
    ExpectServerIdent { authed: Authed },
    ExpectReconnectReply { authed: Authed },
}

impl Step for ConnectorStep {
    fn name(&self) -> &'static str {
        match self {
            ConnectorStep::ExpectBanner { .. } => "expecting the banner",
            ConnectorStep::ExpectHello { .. } => "expecting HELLO",
            ConnectorStep::ExpectAuthReply { .. } => "expecting an auth reply",
            ConnectorStep::ExpectAuthSignature { .. } => "expecting AUTH_SIGNATURE",
            ConnectorStep::ExpectServerIdent { .. } => "expecting SERVER_IDENT",
            ConnectorStep::ExpectReconnectReply { .. } => "expecting a reconnect reply",
        }
    }

    fn expects_banner(&self) -> bool {
        matches!(self, ConnectorStep::ExpectBanner { .. })
    }

    fn codec(&self) -> Option<&Codec> {
        match self {
            ConnectorStep::ExpectBanner { .. } => None,
            ConnectorStep::ExpectHello { codec, .. }
            | ConnectorStep::ExpectAuthReply { codec, .. } => Some(codec),
            ConnectorStep::ExpectAuthSignature { authed, .. }
            | ConnectorStep::ExpectServerIdent { authed }
            | ConnectorStep::ExpectReconnectReply { authed } => Some(&authed.codec),
        }
    }

    fn parts(&mut self) -> (Option<&mut Codec>, Option<&mut Transcripts>) {
        match self {
            ConnectorStep::ExpectBanner { log } => (None, Some(log)),
            ConnectorStep::ExpectHello { codec, log }
            | ConnectorStep::ExpectAuthReply { codec, log } => (Some(codec), Some(log)),
            ConnectorStep::ExpectAuthSignature { authed, .. }
            | ConnectorStep::ExpectServerIdent { authed }
            | ConnectorStep::ExpectReconnectReply { authed } => (Some(&mut authed.codec), None),
        }
    }

    fn transcripts(&self) -> Option<&Transcripts> {
        match self {
            ConnectorStep::ExpectBanner { log }
            | ConnectorStep::ExpectHello { log, .. }
            | ConnectorStep::ExpectAuthReply { log, .. } => Some(log),
            _ => None,
        }
    }

    fn mode(&self) -> Option<ConMode> {
        match self {
            ConnectorStep::ExpectAuthSignature { authed, .. }
            | ConnectorStep::ExpectServerIdent { authed }
            | ConnectorStep::ExpectReconnectReply { authed } => Some(authed.mode),
            _ => None,
        }
    }
}

impl Connector {
    /// Handles the peer's banner or a handshake frame in the current step.
    pub(in crate::proto) fn handle(
        &mut self,
        core: &mut Core,
        input: Input<'_>,
    ) -> Result<(), ConnError> {
        let Some(step) = self.phase.take_step() else {
            return Ok(());
        };
        let next = self.step(core, step, input)?;
        self.phase.enter(next);
        Ok(())
    }

    fn step(
        &mut self,
        core: &mut Core,
        step: ConnectorStep,
        input: Input<'_>,
    ) -> Result<Phase<ConnectorStep>, ConnError> {
        use ConnectorStep as S;
        let (tag, frame) = match input {
            Input::Frame(tag, frame) => (tag, frame),
            Input::Banner(raw) => {
                let S::ExpectBanner { mut log } = step else {
                    return Err(ConnError::Internal(
                        "a banner was parsed after the banner exchange",
                    ));
                };
                let mut codec = exchange_banners(core, raw)?;
                let hello = HelloFrame {
                    entity_type: core.config.my_type as u8,
                    peer_addr: self.target,
                };
                core.send_control(
                    &mut codec.encoder,
                    Some(&mut log.tx),
                    Tag::Hello,
                    &frame_bytes(|o| hello.emit(o)),
                )?;
                return Ok(Phase::Handshake(S::ExpectHello { codec, log }));
            }
        };
        let payload: &[u8] = &frame.segments[0];
        let next = match (step, tag) {
            (S::ExpectHello { codec, log }, Tag::Hello) => {
                self.handle_hello(core, codec, log, HelloFrame::parse(payload)?)?
            }
            (S::ExpectAuthReply { mut codec, mut log }, Tag::AuthBadMethod) => {
                let bad = AuthBadMethodFrame::parse(payload)?;
                self.auth.handle_bad_method(
                    bad.method,
                    bad.result,
                    &bad.allowed_methods,
                    &bad.allowed_modes,
                )?;
                self.offered_modes = self.send_auth_request(core, &mut codec, &mut log)?;
                S::ExpectAuthReply { codec, log }
            }
            (S::ExpectAuthReply { mut codec, mut log }, Tag::AuthReplyMore) => {
                let more = AuthReplyMoreFrame::parse(payload)?;
                let auth_payload = self.auth.handle_reply_more(&more.auth_payload)?;
                let req = AuthRequestMoreFrame { auth_payload };
                core.send_control(
                    &mut codec.encoder,
                    Some(&mut log.tx),
                    Tag::AuthRequestMore,
                    &frame_bytes(|o| req.emit(o)),
                )?;
                S::ExpectAuthReply { codec, log }
            }
            (S::ExpectAuthReply { codec, log }, Tag::AuthDone) => {
                let done = AuthDoneFrame::parse(payload)?;
                let mode = ConMode::from_u32(done.con_mode)
                    .filter(|m| self.offered_modes.contains(m))
                    .ok_or(PeerMisbehaved::ModeNotOffered(done.con_mode))?;
                let outcome = self
                    .auth
                    .handle_done(done.global_id, mode, &done.auth_payload)?;
                // The connector stops recording once AUTH_DONE is read (reference 7.3).
                let (authed, signed_tx) =
                    finish_auth(core, codec, log, outcome, mode, Role::Connector)?;
                S::ExpectAuthSignature { authed, signed_tx }
            }
            (S::ExpectAuthSignature { authed, signed_tx }, Tag::AuthSignature) => {
                check_signature(&authed, &signed_tx, &AuthSignatureFrame::parse(payload)?)?;
                if core.session.server_cookie == 0 {
                    self.send_client_ident(core, authed)?
                } else {
                    send_reconnect(core, authed)?
                }
            }
            (S::ExpectServerIdent { authed }, Tag::ServerIdent) => {
                return self.handle_server_ident(core, authed, ServerIdentFrame::parse(payload)?);
            }
            (S::ExpectServerIdent { .. }, Tag::IdentMissingFeatures) => {
                let f = IdentMissingFeaturesFrame::parse(payload)?;
                return Err(PeerIncompatible::PeerLacksFeatures {
                    missing: f.features,
                }
                .into());
            }
            (S::ExpectServerIdent { .. } | S::ExpectReconnectReply { .. }, Tag::Wait) => {
                WaitFrame::parse(payload)?;
                core.waited = true;
                return Err(ConnError::Wait);
            }
            (S::ExpectReconnectReply { authed }, Tag::SessionReconnectOk) => {
                let ok = SessionReconnectOkFrame::parse(payload)?;
                core.session.discard_requeued_upto(ok.msg_seq);
                let peer = PeerFacts::unknown(self.peer_type);
                return Ok(Phase::Ready(core.become_ready(authed, peer, true)));
            }
            (S::ExpectReconnectReply { authed }, Tag::SessionRetry) => {
                let r = SessionRetryFrame::parse(payload)?;
                core.session.connect_seq = r.connect_seq + 1;
                send_reconnect(core, authed)?
            }
            (S::ExpectReconnectReply { authed }, Tag::SessionRetryGlobal) => {
                let r = SessionRetryGlobalFrame::parse(payload)?;
                core.global_seq = core.global_seq.max(r.global_seq) + 1;
                send_reconnect(core, authed)?
            }
            (S::ExpectReconnectReply { authed }, Tag::SessionReset) => {
                let r = SessionResetFrame::parse(payload)?;
                if r.full {
                    core.session.reset();
                    core.session.out_queue.clear();
                    core.events.push_back(Event::RemoteReset);
                } else {
                    core.session.restart_numbering();
                }
                self.send_client_ident(core, authed)?
            }
            (step, tag) => return Err(PeerMisbehaved::unexpected(tag, step.name()).into()),
        };
        Ok(Phase::Handshake(next))
    }

    fn handle_hello(
        &mut self,
        core: &mut Core,
        mut codec: Codec,
        mut log: Transcripts,
        hello: HelloFrame,
    ) -> Result<ConnectorStep, ConnError> {
        let peer_type = hello.sender_type()?;
        if self.peer_type != peer_type {
            return Err(PeerMisbehaved::WrongPeerType {
                expected: self.peer_type.name(),
                got: peer_type.name(),
            }
            .into());
        }
        // Learn our own IP from what the peer saw, if we have none (reference 7.1).
        let config = &mut core.config;
        if config.my_addrs.0.first().is_none_or(|a| a.addr.is_none()) {
            if let Some(seen) = hello.peer_addr.addr {
                let mut learned = seen;
                learned.set_port(0);
                config.my_addrs = EntityAddrVec(vec![EntityAddr {
                    ty: AddrType::Any,
                    nonce: config.my_nonce,
                    addr: Some(learned),
                }]);
            }
        }
        self.send_auth_request(core, &mut codec, &mut log)?;
        Ok(ConnectorStep::ExpectAuthReply { codec, log })
    }

    /// AUTH_REQUEST with the auth client's current method and modes;
    /// returns the modes offered.
    fn send_auth_request(
        &mut self,
        core: &mut Core,
        codec: &mut Codec,
        log: &mut Transcripts,
    ) -> Result<Vec<ConMode>, ConnError> {
        let (method, modes) = self.auth.method_and_modes();
        let auth_payload = self.auth.request()?;
        let req = AuthRequestFrame {
            method,
            preferred_modes: modes.iter().map(|m| *m as u32).collect(),
            auth_payload,
        };
        core.send_control(
            &mut codec.encoder,
            Some(&mut log.tx),
            Tag::AuthRequest,
            &frame_bytes(|o| req.emit(o)),
        )?;
        Ok(modes)
    }

    fn send_client_ident(
        &self,
        core: &mut Core,
        mut authed: Authed,
    ) -> Result<ConnectorStep, ConnError> {
        // Clients are known by their global id, daemons by their number (reference 5).
        let gid = match core.config.my_type {
            EntityType::Client if authed.auth.global_id != 0 => authed.auth.global_id as i64,
            _ => core.config.my_gid,
        };
        let ident = ClientIdentFrame {
            addrs: core.config.my_addrs.clone(),
            target_addr: self.target,
            gid,
            global_seq: core.global_seq,
            supported_features: core.config.features_supported,
            required_features: core.config.features_required,
            flags: if self.policy.lossy {
                CONNECT_FLAG_LOSSY
            } else {
                0
            },
            client_cookie: core.session.client_cookie,
        };
        core.send_control(
            &mut authed.codec.encoder,
            None,
            Tag::ClientIdent,
            &frame_bytes(|o| ident.emit(o)),
        )?;
        Ok(ConnectorStep::ExpectServerIdent { authed })
    }

    fn handle_server_ident(
        &self,
        core: &mut Core,
        authed: Authed,
        ident: ServerIdentFrame,
    ) -> Result<Phase<ConnectorStep>, ConnError> {
        if !ident.addrs.0.contains(&self.target) {
            return Err(PeerMisbehaved::WrongPeerAddr {
                target: self.target.to_string(),
                addrs: ident.addrs.to_string(),
            }
            .into());
        }
        let missing = ident.required_features & !core.config.features_supported;
        if missing != 0 {
            return Err(PeerIncompatible::MissingFeatures { missing }.into());
        }
        let session = &mut core.session;
        session.server_cookie = ident.server_cookie;
        session.peer_global_seq = ident.global_seq;
        // The acceptor's policy decides lossiness (reference 9).
        session.lossy = ident.flags & CONNECT_FLAG_LOSSY != 0;
        if session.lossy {
            session.sent.clear();
        }
        let peer = PeerFacts {
            ty: self.peer_type,
            name: Some(EntityName {
                ty: self.peer_type,
                num: ident.gid as u64,
            }),
            features: ident.supported_features & core.config.features_supported,
            addrs: ident.addrs,
        };
        Ok(Phase::Ready(core.become_ready(authed, peer, false)))
    }
}

/// SESSION_RECONNECT: resume the session the acceptor knows by its cookie.
fn send_reconnect(core: &mut Core, mut authed: Authed) -> Result<ConnectorStep, ConnError> {
    let reconnect = SessionReconnectFrame {
        addrs: core.config.my_addrs.clone(),
        client_cookie: core.session.client_cookie,
        server_cookie: core.session.server_cookie,
        global_seq: core.global_seq,
        connect_seq: core.session.connect_seq,
        msg_seq: core.session.in_seq,
    };
    core.send_control(
        &mut authed.codec.encoder,
        None,
        Tag::SessionReconnect,
        &frame_bytes(|o| reconnect.emit(o)),
    )?;
    Ok(ConnectorStep::ExpectReconnectReply { authed })
}
