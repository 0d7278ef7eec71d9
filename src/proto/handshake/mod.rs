//! The msgr2 handshake, from the banner to READY (msgr2 reference sections
//! 2, 5, 7 and 9), split as crimson splits `ProtocolV2`: one state enum per
//! role ([`connector::ConnectorStep`], [`acceptor::AcceptorStep`]) whose
//! variants carry what that step has: the pre-auth transcripts until
//! AUTH_DONE, then the auth outcome and the negotiated mode. The last step
//! hands its frame codec to the READY part ([`super::io::Io`]).

pub(super) mod acceptor;
pub(super) mod connector;

use super::connection::Core;
use super::error::ConnError;
use super::frame::{Frame, FrameDecoder, FrameEncoder};
use crate::auth::AuthOutcome;
use crate::crypto::{self, Role};
use crate::wire::banner::BannerRepr;
use crate::wire::control::AuthSignatureFrame;
use crate::wire::{ConMode, Tag};

/// The frame codec of one transport, built once the banners are exchanged.
pub(super) struct Codec {
    pub(super) encoder: FrameEncoder,
    pub(super) decoder: FrameDecoder,
}

/// The pre-auth transcripts, recorded from the banner until AUTH_DONE
/// (reference 7.3): the bytes received and the bytes sent.
#[derive(Default)]
pub(super) struct Transcripts {
    pub(super) rx: Vec<u8>,
    pub(super) tx: Vec<u8>,
}

impl Transcripts {
    /// Bytes held in both transcripts.
    pub(super) fn len(&self) -> usize {
        self.rx.len() + self.tx.len()
    }
}

/// What a handshake has from AUTH_DONE on.
pub(super) struct Authed {
    pub(super) codec: Codec,
    pub(super) auth: AuthOutcome,
    pub(super) mode: ConMode,
}

/// What the common code asks of a handshake step, whatever the role.
pub(super) trait Step {
    /// What the step expects next, for logs, tests and errors.
    fn name(&self) -> &'static str;
    /// True before the peer's banner has been read.
    fn expects_banner(&self) -> bool;
    /// True while the acceptor waits for the messenger's session decision
    /// (no input is parsed meanwhile).
    fn awaits_decision(&self) -> bool {
        false
    }
    /// The codec, once the banners are exchanged.
    fn codec(&self) -> Option<&Codec>;
    /// The codec and the transcripts (while recorded), to decode input.
    fn parts(&mut self) -> (Option<&mut Codec>, Option<&mut Transcripts>);
    /// The transcripts, while recorded.
    fn transcripts(&self) -> Option<&Transcripts>;
    /// The negotiated mode, from AUTH_DONE on.
    fn mode(&self) -> Option<ConMode>;
}

/// Input for a handshake step: the peer's banner or a frame.
pub(super) enum Input<'a> {
    Banner(&'a [u8]),
    Frame(Tag, Frame),
}

/// Checks the peer's banner and builds the codec of the negotiated revision.
pub(super) fn exchange_banners(core: &Core, raw: &[u8]) -> Result<Codec, ConnError> {
    let (peer, _) = BannerRepr::parse(raw)?;
    let ours = BannerRepr {
        supported: core.config.msgr2_supported,
        required: core.config.msgr2_required,
    };
    let revision = ours.negotiate(&peer)?;
    Ok(Codec {
        encoder: FrameEncoder::new(revision),
        decoder: FrameDecoder::new(revision, core.config.frame_limits),
    })
}

/// AUTH_DONE was read (connector) or written (acceptor): recording stops,
/// the mode's ciphers are installed, and our AUTH_SIGNATURE over the
/// received transcript is sent. Returns the authenticated state and the
/// sent transcript the peer's signature must match (reference 7.3, 4.3).
pub(super) fn finish_auth(
    core: &mut Core,
    mut codec: Codec,
    log: Transcripts,
    auth: AuthOutcome,
    mode: ConMode,
    role: Role,
) -> Result<(Authed, Vec<u8>), ConnError> {
    if mode == ConMode::Secure {
        let revision = codec.encoder.revision();
        let (tx, rx) = crypto::session_ciphers(&auth.connection_secret, role, revision.into())?;
        codec.encoder.set_cipher(tx);
        codec.decoder.set_cipher(rx);
    }
    let signature = crypto::hmac::sign_transcript(&auth.session_key, &log.rx);
    let sig = AuthSignatureFrame { signature };
    core.send_control(
        &mut codec.encoder,
        None,
        Tag::AuthSignature,
        &frame_bytes(|o| sig.emit(o)),
    )?;
    Ok((Authed { codec, auth, mode }, log.tx))
}

/// Checks the peer's AUTH_SIGNATURE against the transcript we sent.
pub(super) fn check_signature(
    authed: &Authed,
    signed_tx: &[u8],
    sig: &AuthSignatureFrame,
) -> Result<(), ConnError> {
    if !crypto::hmac::verify_transcript(&authed.auth.session_key, signed_tx, &sig.signature) {
        return Err(super::error::PeerMisbehaved::BadSignature.into());
    }
    Ok(())
}

/// Fails once a pre-auth transcript passed its cap.
pub(super) fn check_pre_auth(len: usize, limit: usize) -> Result<(), ConnError> {
    if len > limit {
        return Err(ConnError::PreAuthTooLarge { limit });
    }
    Ok(())
}

/// Encodes with `f` into a fresh buffer.
pub(super) fn frame_bytes(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    f(&mut out);
    out
}
