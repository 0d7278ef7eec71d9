//! The accepting side's handshake (msgr2 reference 5, 7, 9; Ceph's
//! `ProtocolV2::start_accept` and the `server_*` steps of crimson's
//! `ProtocolV2`): HELLO, AUTH_REQUEST until AUTH_DONE, signatures, then the
//! peer's CLIENT_IDENT or SESSION_RECONNECT, answered as the messenger
//! decides ([`crate::proto::Connection::decide_session`]).

use std::net::SocketAddr;

use super::{
    check_signature, exchange_banners, finish_auth, frame_bytes, Authed, Codec, Input, Step,
    Transcripts,
};
use crate::auth::{AuthError, AuthServer, AuthServerStep};
use crate::crypto::Role;
use crate::proto::config::{Policies, Policy};
use crate::proto::connection::{nonzero, Core, PeerFacts};
use crate::proto::error::{ConnError, PeerIncompatible, PeerMisbehaved};
use crate::proto::event::{Event, SessionDecision, SessionRequest};
use crate::proto::phase::Phase;
use crate::proto::session::Session;
use crate::wire::addr::{AddrType, EntityAddr, EntityAddrVec};
use crate::wire::control::*;
use crate::wire::entity::{EntityName, EntityType};
use crate::wire::errno::{EACCES, EOPNOTSUPP};
use crate::wire::{features, ConMode, Tag};

/// Most entries we put in an AUTH_BAD_METHOD list (the kernel reads at most 8).
const MAX_BAD_METHOD_LIST: usize = 8;

/// The accepting side: what it was built with, and where it is.
pub(in crate::proto) struct Acceptor {
    /// The peer's address as our socket sees it.
    pub(in crate::proto) peer_socket: SocketAddr,
    /// Policies by peer type.
    pub(in crate::proto) policies: Policies,
    pub(in crate::proto) auth: Box<dyn AuthServer>,
    /// The policy for the peer's type (the default until HELLO).
    pub(in crate::proto) policy: Policy,
    pub(in crate::proto) phase: Phase<AcceptorStep>,
}

/// Where an acceptor's handshake is, named for what it expects next.
pub(in crate::proto) enum AcceptorStep {
    ExpectBanner {
        log: Transcripts,
    },
    ExpectHello {
        codec: Codec,
        log: Transcripts,
    },
    ExpectAuthRequest {
        codec: Codec,
        log: Transcripts,
        peer_type: EntityType,
    },
    ExpectAuthRequestMore {
        codec: Codec,
        log: Transcripts,
        peer_type: EntityType,
        mode: ConMode,
    },
    ExpectAuthSignature {
        authed: Authed,
        signed_tx: Vec<u8>,
        peer_type: EntityType,
    },
    ExpectIdentOrReconnect {
        authed: Authed,
        peer_type: EntityType,
    },
    AwaitSessionDecision {
        authed: Authed,
        request: SessionRequest,
        peer: PeerFacts,
    },
}

impl Step for AcceptorStep {
    fn name(&self) -> &'static str {
        match self {
            AcceptorStep::ExpectBanner { .. } => "expecting the banner",
            AcceptorStep::ExpectHello { .. } => "expecting HELLO",
            AcceptorStep::ExpectAuthRequest { .. } => "expecting AUTH_REQUEST",
            AcceptorStep::ExpectAuthRequestMore { .. } => "expecting AUTH_REQUEST_MORE",
            AcceptorStep::ExpectAuthSignature { .. } => "expecting AUTH_SIGNATURE",
            AcceptorStep::ExpectIdentOrReconnect { .. } => {
                "expecting CLIENT_IDENT or SESSION_RECONNECT"
            }
            AcceptorStep::AwaitSessionDecision { .. } => "awaiting a session decision",
        }
    }

    fn expects_banner(&self) -> bool {
        matches!(self, AcceptorStep::ExpectBanner { .. })
    }

    fn awaits_decision(&self) -> bool {
        matches!(self, AcceptorStep::AwaitSessionDecision { .. })
    }

    fn codec(&self) -> Option<&Codec> {
        match self {
            AcceptorStep::ExpectBanner { .. } => None,
            AcceptorStep::ExpectHello { codec, .. }
            | AcceptorStep::ExpectAuthRequest { codec, .. }
            | AcceptorStep::ExpectAuthRequestMore { codec, .. } => Some(codec),
            AcceptorStep::ExpectAuthSignature { authed, .. }
            | AcceptorStep::ExpectIdentOrReconnect { authed, .. }
            | AcceptorStep::AwaitSessionDecision { authed, .. } => Some(&authed.codec),
        }
    }

    fn parts(&mut self) -> (Option<&mut Codec>, Option<&mut Transcripts>) {
        match self {
            AcceptorStep::ExpectBanner { log } => (None, Some(log)),
            AcceptorStep::ExpectHello { codec, log }
            | AcceptorStep::ExpectAuthRequest { codec, log, .. }
            | AcceptorStep::ExpectAuthRequestMore { codec, log, .. } => (Some(codec), Some(log)),
            AcceptorStep::ExpectAuthSignature { authed, .. }
            | AcceptorStep::ExpectIdentOrReconnect { authed, .. }
            | AcceptorStep::AwaitSessionDecision { authed, .. } => (Some(&mut authed.codec), None),
        }
    }

    fn transcripts(&self) -> Option<&Transcripts> {
        match self {
            AcceptorStep::ExpectBanner { log }
            | AcceptorStep::ExpectHello { log, .. }
            | AcceptorStep::ExpectAuthRequest { log, .. }
            | AcceptorStep::ExpectAuthRequestMore { log, .. } => Some(log),
            _ => None,
        }
    }

    fn mode(&self) -> Option<ConMode> {
        match self {
            AcceptorStep::ExpectAuthSignature { authed, .. }
            | AcceptorStep::ExpectIdentOrReconnect { authed, .. }
            | AcceptorStep::AwaitSessionDecision { authed, .. } => Some(authed.mode),
            _ => None,
        }
    }
}

impl Acceptor {
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
        self.phase.enter(Phase::Handshake(next));
        Ok(())
    }

    fn step(
        &mut self,
        core: &mut Core,
        step: AcceptorStep,
        input: Input<'_>,
    ) -> Result<AcceptorStep, ConnError> {
        use AcceptorStep as S;
        let (tag, frame) = match input {
            Input::Frame(tag, frame) => (tag, frame),
            Input::Banner(raw) => {
                let S::ExpectBanner { log } = step else {
                    return Err(ConnError::Internal(
                        "a banner was parsed after the banner exchange",
                    ));
                };
                let codec = exchange_banners(core, raw)?;
                return Ok(S::ExpectHello { codec, log });
            }
        };
        let payload: &[u8] = &frame.segments[0];
        match (step, tag) {
            (S::ExpectHello { codec, log }, Tag::Hello) => {
                self.handle_hello(core, codec, log, HelloFrame::parse(payload)?)
            }
            (
                S::ExpectAuthRequest {
                    codec,
                    log,
                    peer_type,
                },
                Tag::AuthRequest,
            ) => {
                let req = AuthRequestFrame::parse(payload)?;
                self.handle_auth_request(core, codec, log, peer_type, req)
            }
            (
                S::ExpectAuthRequestMore {
                    codec,
                    log,
                    peer_type,
                    mode,
                },
                Tag::AuthRequestMore,
            ) => {
                let more = AuthRequestMoreFrame::parse(payload)?;
                let step = self.auth.handle_request_more(&more.auth_payload);
                auth_step(core, codec, log, peer_type, step, mode, 0)
            }
            (
                S::ExpectAuthSignature {
                    authed,
                    signed_tx,
                    peer_type,
                },
                Tag::AuthSignature,
            ) => {
                check_signature(&authed, &signed_tx, &AuthSignatureFrame::parse(payload)?)?;
                Ok(S::ExpectIdentOrReconnect { authed, peer_type })
            }
            (S::ExpectIdentOrReconnect { authed, peer_type }, Tag::ClientIdent) => {
                let ident = ClientIdentFrame::parse(payload)?;
                self.handle_client_ident(core, authed, peer_type, ident)
            }
            (S::ExpectIdentOrReconnect { authed, peer_type }, Tag::SessionReconnect) => {
                let rec = SessionReconnectFrame::parse(payload)?;
                check_peer_addrs(&rec.addrs)?;
                let peer = PeerFacts {
                    addrs: rec.addrs.clone(),
                    ..PeerFacts::unknown(peer_type)
                };
                let request = SessionRequest::Reconnect {
                    peer_type,
                    peer_addrs: rec.addrs,
                    client_cookie: rec.client_cookie,
                    server_cookie: rec.server_cookie,
                    global_seq: rec.global_seq,
                    connect_seq: rec.connect_seq,
                    msg_seq: rec.msg_seq,
                };
                core.events
                    .push_back(Event::SessionRequest(request.clone()));
                Ok(S::AwaitSessionDecision {
                    authed,
                    request,
                    peer,
                })
            }
            (step, tag) => Err(PeerMisbehaved::unexpected(tag, step.name()).into()),
        }
    }

    fn handle_hello(
        &mut self,
        core: &mut Core,
        mut codec: Codec,
        mut log: Transcripts,
        hello: HelloFrame,
    ) -> Result<AcceptorStep, ConnError> {
        let peer_type = hello.sender_type()?;
        self.policy = self.policies.for_peer(peer_type);
        core.session.lossy = self.policy.lossy;
        let reply = HelloFrame {
            entity_type: core.config.my_type as u8,
            peer_addr: EntityAddr {
                ty: AddrType::Msgr2,
                nonce: 0,
                addr: Some(self.peer_socket),
            },
        };
        core.send_control(
            &mut codec.encoder,
            Some(&mut log.tx),
            Tag::Hello,
            &frame_bytes(|o| reply.emit(o)),
        )?;
        Ok(AcceptorStep::ExpectAuthRequest {
            codec,
            log,
            peer_type,
        })
    }

    fn handle_auth_request(
        &mut self,
        core: &mut Core,
        mut codec: Codec,
        mut log: Transcripts,
        peer_type: EntityType,
        req: AuthRequestFrame,
    ) -> Result<AcceptorStep, ConnError> {
        let ty = peer_type as u8;
        let methods = self.auth.allowed_methods(ty);
        let allowed_modes = self.auth.allowed_modes(ty, req.method);
        // First of the client's modes that we allow, in the client's order (reference 7.4).
        let mode = req
            .preferred_modes
            .iter()
            .filter_map(|m| ConMode::from_u32(*m))
            .find(|m| allowed_modes.contains(m));
        let (true, Some(mode)) = (methods.contains(&req.method), mode) else {
            send_bad_method(
                core,
                &mut codec,
                &mut log,
                req.method,
                -EOPNOTSUPP,
                &methods,
                &allowed_modes,
            )?;
            return Ok(AcceptorStep::ExpectAuthRequest {
                codec,
                log,
                peer_type,
            });
        };
        let step = self
            .auth
            .handle_request(ty, req.method, mode, &req.auth_payload);
        auth_step(core, codec, log, peer_type, step, mode, req.method)
    }

    fn handle_client_ident(
        &self,
        core: &mut Core,
        mut authed: Authed,
        peer_type: EntityType,
        ident: ClientIdentFrame,
    ) -> Result<AcceptorStep, ConnError> {
        check_peer_addrs(&ident.addrs)?;
        if !core.config.my_addrs.0.contains(&ident.target_addr) {
            return Err(PeerMisbehaved::NotOurAddr {
                target: ident.target_addr.to_string(),
                ours: core.config.my_addrs.to_string(),
            }
            .into());
        }
        let required = self.policy.features_required | features::MSG_ADDR2;
        let missing = required & !ident.supported_features;
        if missing != 0 {
            let f = IdentMissingFeaturesFrame { features: missing };
            core.send_control(
                &mut authed.codec.encoder,
                None,
                Tag::IdentMissingFeatures,
                &frame_bytes(|o| f.emit(o)),
            )?;
            return Err(PeerIncompatible::PeerLacksFeatures { missing }.into());
        }
        let peer_name = EntityName {
            ty: peer_type,
            num: ident.gid as u64,
        };
        let peer = PeerFacts {
            ty: peer_type,
            name: Some(peer_name),
            features: ident.supported_features & core.config.features_supported,
            addrs: ident.addrs.clone(),
        };
        let request = SessionRequest::Ident {
            peer_name,
            peer_addrs: ident.addrs,
            global_seq: ident.global_seq,
            client_cookie: ident.client_cookie,
        };
        core.events
            .push_back(Event::SessionRequest(request.clone()));
        Ok(AcceptorStep::AwaitSessionDecision {
            authed,
            request,
            peer,
        })
    }

    /// Applies the messenger's answer to the pending session request.
    ///
    /// `Err(decision)` hands the decision back unapplied: no request is
    /// pending (the transport failed before the answer came).
    pub(in crate::proto) fn decide(
        &mut self,
        core: &mut Core,
        decision: SessionDecision,
    ) -> Result<Result<(), ConnError>, SessionDecision> {
        let Some(step) = self.phase.take_step() else {
            return Err(decision);
        };
        let AcceptorStep::AwaitSessionDecision {
            authed,
            request,
            peer,
        } = step
        else {
            self.phase.enter(Phase::Handshake(step));
            return Err(decision);
        };
        Ok(
            match apply_decision(core, authed, request, peer, decision) {
                Ok(next) => {
                    self.phase.enter(next);
                    Ok(())
                }
                Err(e) => Err(e),
            },
        )
    }
}

/// What the messenger's decision does to the session and the wire
/// (reference 9): READY on a new or adopted session, or a reply that keeps
/// the handshake expecting the peer's next CLIENT_IDENT / SESSION_RECONNECT.
fn apply_decision(
    core: &mut Core,
    mut authed: Authed,
    request: SessionRequest,
    peer: PeerFacts,
    decision: SessionDecision,
) -> Result<Phase<AcceptorStep>, ConnError> {
    use SessionDecision as D;
    let peer_type = peer.ty;
    let reply = |core: &mut Core, mut authed: Authed, tag: Tag, payload: Vec<u8>| {
        core.send_control(&mut authed.codec.encoder, None, tag, &payload)?;
        Ok(Phase::Handshake(AcceptorStep::ExpectIdentOrReconnect {
            authed,
            peer_type,
        }))
    };
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
                adopt(&mut core.session, *existing);
                core.session.requeue_sent();
            }
            let lossy = core.session.lossy;
            core.session.client_cookie = client_cookie;
            core.session.peer_global_seq = global_seq;
            core.session.server_cookie = if lossy { 0 } else { nonzero(core.rng.as_mut()) };
            core.global_seq += 1;
            let ident = ServerIdentFrame {
                addrs: core.config.my_addrs.clone(),
                gid: core.config.my_gid,
                global_seq: core.global_seq,
                supported_features: core.config.features_supported,
                required_features: core.config.features_required,
                flags: if lossy { CONNECT_FLAG_LOSSY } else { 0 },
                server_cookie: core.session.server_cookie,
            };
            core.send_control(
                &mut authed.codec.encoder,
                None,
                Tag::ServerIdent,
                &frame_bytes(|o| ident.emit(o)),
            )?;
            Ok(Phase::Ready(core.become_ready(authed, peer, false)))
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
            let lossy = core.session.lossy;
            adopt(&mut core.session, *existing);
            let session = &mut core.session;
            session.lossy = lossy;
            session.requeue_sent();
            session.discard_requeued_upto(msg_seq);
            session.connect_seq = connect_seq;
            session.peer_global_seq = global_seq;
            let ok = SessionReconnectOkFrame {
                msg_seq: session.in_seq,
            };
            core.send_control(
                &mut authed.codec.encoder,
                None,
                Tag::SessionReconnectOk,
                &frame_bytes(|o| ok.emit(o)),
            )?;
            Ok(Phase::Ready(core.become_ready(authed, peer, true)))
        }
        (SessionRequest::Reconnect { .. }, D::NewSession) => {
            let f = SessionResetFrame { full: true };
            reply(core, authed, Tag::SessionReset, frame_bytes(|o| f.emit(o)))
        }
        (SessionRequest::Reconnect { .. }, D::Reset { full }) => {
            let f = SessionResetFrame { full };
            reply(core, authed, Tag::SessionReset, frame_bytes(|o| f.emit(o)))
        }
        (SessionRequest::Reconnect { .. }, D::Retry { connect_seq }) => {
            let f = SessionRetryFrame { connect_seq };
            reply(core, authed, Tag::SessionRetry, frame_bytes(|o| f.emit(o)))
        }
        (SessionRequest::Reconnect { .. }, D::RetryGlobal { global_seq }) => {
            let f = SessionRetryGlobalFrame { global_seq };
            reply(
                core,
                authed,
                Tag::SessionRetryGlobal,
                frame_bytes(|o| f.emit(o)),
            )
        }
        (_, D::Wait) => reply(core, authed, Tag::Wait, frame_bytes(|o| WaitFrame.emit(o))),
        (_, D::Close) => Err(ConnError::SessionReplaced),
        (SessionRequest::Ident { .. }, _) => Err(ConnError::Internal(
            "the messenger answered CLIENT_IDENT with a decision only SESSION_RECONNECT takes",
        )),
    }
}

/// Takes over `existing`, keeping messages queued on this transport after its own.
fn adopt(session: &mut Session, existing: Session) {
    let pending = std::mem::take(&mut session.out_queue);
    *session = existing;
    session.out_queue.extend(pending);
}

fn check_peer_addrs(addrs: &EntityAddrVec) -> Result<(), ConnError> {
    match addrs.0.first() {
        Some(a) if a.ty != AddrType::None => Ok(()),
        _ => Err(PeerMisbehaved::NoPeerAddr.into()),
    }
}

/// AUTH_BAD_METHOD with what we allow; the peer may try again.
fn send_bad_method(
    core: &mut Core,
    codec: &mut Codec,
    log: &mut Transcripts,
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
    core.send_control(
        &mut codec.encoder,
        Some(&mut log.tx),
        Tag::AuthBadMethod,
        &frame_bytes(|o| bad.emit(o)),
    )
}

/// Answers one step of the auth server: AUTH_REPLY_MORE, AUTH_DONE (then
/// our signature), or a refusal.
fn auth_step(
    core: &mut Core,
    mut codec: Codec,
    mut log: Transcripts,
    peer_type: EntityType,
    step: Result<AuthServerStep, AuthError>,
    mode: ConMode,
    method: u32,
) -> Result<AcceptorStep, ConnError> {
    match step {
        Ok(AuthServerStep::More(auth_payload)) => {
            let more = AuthReplyMoreFrame { auth_payload };
            core.send_control(
                &mut codec.encoder,
                Some(&mut log.tx),
                Tag::AuthReplyMore,
                &frame_bytes(|o| more.emit(o)),
            )?;
            Ok(AcceptorStep::ExpectAuthRequestMore {
                codec,
                log,
                peer_type,
                mode,
            })
        }
        Ok(AuthServerStep::Done { outcome, payload }) => {
            let done = AuthDoneFrame {
                global_id: outcome.global_id,
                con_mode: mode as u32,
                auth_payload: payload,
            };
            core.send_control(
                &mut codec.encoder,
                Some(&mut log.tx),
                Tag::AuthDone,
                &frame_bytes(|o| done.emit(o)),
            )?;
            // The acceptor stops recording right after writing AUTH_DONE (reference 7.3).
            let (authed, signed_tx) = finish_auth(core, codec, log, outcome, mode, Role::Acceptor)?;
            Ok(AcceptorStep::ExpectAuthSignature {
                authed,
                signed_tx,
                peer_type,
            })
        }
        Err(e) => {
            // Tell the peer it was refused, then close with the reason.
            let _ = send_bad_method(core, &mut codec, &mut log, method, -EACCES, &[], &[]);
            Err(e.into())
        }
    }
}
