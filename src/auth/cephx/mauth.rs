//! cephx after the handshake: the MAuth / MAuthReply message payloads and the
//! cephx requests they carry (rotating secrets for daemons, ticket renewal).
//! Pure functions; sending the messages is the messenger's job.
//!
//! Framing found in Ceph (`src/messages/MAuth.h`, `MAuthReply.h`,
//! `PaxosServiceMessage.h`):
//!
//! ```text
//! MAuth (CEPH_MSG_AUTH = 17) front:
//!   le64 paxos version | s16 deprecated_session_mon (-1) | le64 deprecated_session_mon_tid
//!   | le32 protocol (2 = cephx) | bl auth_payload | le32 monmap_epoch
//! MAuthReply (CEPH_MSG_AUTH_REPLY = 18) front:
//!   le32 protocol | s32 result | le64 global_id | bl result_bl | string result_msg
//! ```
//!
//! (Note the order in MAuthReply: `result_bl` comes before `result_msg`.)
//!
//! Requests (`CephxClientHandler::build_request` / `build_rotating_request`):
//! * rotating: `CephXRequestHeader(0x0400)`; reply `CephXResponseHeader |
//!   encode_encrypt(daemon key, RotatingSecrets)`.
//! * renewal: `CephXRequestHeader(0x0200) | authorizer built from the AUTH
//!   ticket (no challenge) | CephXServiceTicketRequest{keys}`; reply
//!   `CephXResponseHeader | CephXServiceTicketReply(AUTH session key)`.

use rand::RngCore;

use super::crypto::decode_decrypt;
use super::key::CryptoKey;
use super::tickets::{ServiceTicket, TicketStore};
use super::types::{
    CephXAuthorize, CephXAuthorizer, CephXRequestHeader, CephXResponseHeader,
    CephXServiceTicketReply, CephXServiceTicketRequest, RotatingSecrets,
};
use super::{
    CephxError, UTime, CEPHX_GET_PRINCIPAL_SESSION_KEY, CEPHX_GET_ROTATING_KEY, MAX_ENCRYPTED_LEN,
};
use crate::auth::METHOD_CEPHX;
use crate::wire::entity::EntityType;
use crate::wire::{DecodeError, Put, Reader};

/// `CEPH_MSG_AUTH`.
pub const CEPH_MSG_AUTH: u16 = 17;
/// `CEPH_MSG_AUTH_REPLY`.
pub const CEPH_MSG_AUTH_REPLY: u16 = 18;

/// Longest `result_msg` accepted.
const MAX_RESULT_MSG_LEN: usize = 4096;

/// The front of an MAuth message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MAuth {
    /// Paxos version (0).
    pub version: u64,
    /// Deprecated, −1.
    pub session_mon: i16,
    /// Deprecated, 0.
    pub session_mon_tid: u64,
    /// Auth protocol (2 = cephx).
    pub protocol: u32,
    /// The cephx request.
    pub auth_payload: Vec<u8>,
    /// The sender's monmap epoch.
    pub monmap_epoch: u32,
}

impl MAuth {
    /// A cephx MAuth carrying `auth_payload`.
    pub fn cephx(auth_payload: Vec<u8>, monmap_epoch: u32) -> Self {
        MAuth {
            version: 0,
            session_mon: -1,
            session_mon_tid: 0,
            protocol: METHOD_CEPHX,
            auth_payload,
            monmap_epoch,
        }
    }

    /// Decodes (a missing `monmap_epoch` reads as 0, as in Ceph).
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u64_le()?;
        let session_mon = i16::from_le_bytes(r.array()?);
        let session_mon_tid = r.u64_le()?;
        let protocol = r.u32_le()?;
        let auth_payload = r.bytes_le32(MAX_ENCRYPTED_LEN)?.to_vec();
        let monmap_epoch = if r.remaining() > 0 { r.u32_le()? } else { 0 };
        Ok(MAuth {
            version,
            session_mon,
            session_mon_tid,
            protocol,
            auth_payload,
            monmap_epoch,
        })
    }

    /// Encodes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u64_le(self.version);
        out.put_u16_le(self.session_mon as u16);
        out.put_u64_le(self.session_mon_tid);
        out.put_u32_le(self.protocol);
        out.put_bytes_le32(&self.auth_payload);
        out.put_u32_le(self.monmap_epoch);
    }
}

/// The front of an MAuthReply message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MAuthReply {
    /// Auth protocol.
    pub protocol: u32,
    /// 0 or a negative errno.
    pub result: i32,
    /// The global id (0: meaningless).
    pub global_id: u64,
    /// The cephx reply.
    pub result_bl: Vec<u8>,
    /// A message for humans.
    pub result_msg: String,
}

impl MAuthReply {
    /// Decodes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(MAuthReply {
            protocol: r.u32_le()?,
            result: r.i32_le()?,
            global_id: r.u64_le()?,
            result_bl: r.bytes_le32(MAX_ENCRYPTED_LEN)?.to_vec(),
            result_msg: r.string(MAX_RESULT_MSG_LEN)?.to_owned(),
        })
    }

    /// Encodes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u32_le(self.protocol);
        out.put_u32_le(self.result as u32);
        out.put_u64_le(self.global_id);
        out.put_bytes_le32(&self.result_bl);
        out.put_bytes_le32(self.result_msg.as_bytes());
    }
}

/// The `auth_payload` asking for this daemon's rotating service secrets.
pub fn build_rotating_key_request() -> Vec<u8> {
    let mut out = Vec::with_capacity(2);
    CephXRequestHeader {
        request_type: CEPHX_GET_ROTATING_KEY,
    }
    .emit(&mut out);
    out
}

fn response_header(r: &mut Reader<'_>, want: u16, what: &'static str) -> Result<(), CephxError> {
    let hdr = CephXResponseHeader::parse(r)?;
    if hdr.request_type != want {
        return Err(DecodeError::InvalidValue {
            what: "cephx response request_type",
            value: u64::from(hdr.request_type),
        }
        .into());
    }
    if hdr.status < 0 {
        return Err(CephxError::Status {
            status: hdr.status,
            what,
        });
    }
    Ok(())
}

/// Decodes a `CEPHX_GET_ROTATING_KEY` reply (`result_bl`) with the daemon's
/// own key. Feed the result to [`super::RotatingKeys::set`] under the
/// daemon's entity type.
pub fn handle_rotating_key_reply(
    daemon_key: &CryptoKey,
    result_bl: &[u8],
) -> Result<RotatingSecrets, CephxError> {
    let mut r = Reader::new(result_bl, "cephx rotating key reply");
    response_header(&mut r, CEPHX_GET_ROTATING_KEY, "get_rotating_key")?;
    decode_decrypt(daemon_key, &mut r)
}

/// The `auth_payload` renewing (or fetching) the service tickets in `keys`,
/// authenticated with the stored AUTH ticket.
pub fn build_ticket_renewal_request(
    store: &TicketStore,
    keys: u32,
    rng: &mut dyn RngCore,
    now: UTime,
) -> Result<Vec<u8>, CephxError> {
    let auth = store
        .valid(EntityType::Auth.service_id(), now)
        .ok_or(CephxError::NoTicket("auth"))?;
    let mut out = Vec::with_capacity(256);
    CephXRequestHeader {
        request_type: CEPHX_GET_PRINCIPAL_SESSION_KEY,
    }
    .emit(&mut out);
    CephXAuthorizer::build(
        store.global_id(),
        EntityType::Auth.service_id(),
        auth.ticket.clone(),
        &auth.session_key,
        &CephXAuthorize {
            nonce: rng.next_u64(),
            have_challenge: false,
            server_challenge_plus_one: 0,
        },
    )
    .emit(&mut out);
    CephXServiceTicketRequest { keys }.emit(&mut out);
    Ok(out)
}

/// Handles a `CEPHX_GET_PRINCIPAL_SESSION_KEY` reply: decrypts the tickets
/// with the AUTH session key and stores them. Returns the bitmask of
/// services renewed.
pub fn handle_ticket_renewal_reply(
    store: &TicketStore,
    result_bl: &[u8],
    now: UTime,
) -> Result<u32, CephxError> {
    let auth = store
        .get(EntityType::Auth.service_id())
        .ok_or(CephxError::NoTicket("auth"))?;
    let mut r = Reader::new(result_bl, "cephx ticket renewal reply");
    let hdr = CephXResponseHeader::parse(&mut r)?;
    if hdr.request_type != CEPHX_GET_PRINCIPAL_SESSION_KEY {
        return Err(DecodeError::InvalidValue {
            what: "cephx response request_type",
            value: u64::from(hdr.request_type),
        }
        .into());
    }
    // A negative status can still come with the tickets that were found.
    let reply = CephXServiceTicketReply::parse(&mut r)?;
    if reply.entries.is_empty() && hdr.status < 0 {
        return Err(CephxError::Status {
            status: hdr.status,
            what: "get_principal_session_key",
        });
    }
    let mut renewed = 0;
    for t in reply.decrypt(&auth.session_key, |_| None)? {
        renewed |= t.service_id;
        store.insert(ServiceTicket::from_decoded(t, now));
    }
    Ok(renewed)
}
