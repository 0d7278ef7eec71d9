//! The cephx wire structures, each with `parse` / `emit` (msgr2 reference
//! 8.3, 8.4; Ceph `src/auth/cephx/CephxProtocol.h`, `src/auth/Auth.h`).
//!
//! Most cephx structs start with a bare `u8 struct_v` (no compat byte, no
//! length). Decoders accept any version and read the fields that version
//! has, as Ceph's do. Every length read is limited.

use std::collections::BTreeMap;
use std::fmt;

use zeroize::Zeroizing;

use super::crypto::{
    dec_bl, decode_decrypt, enc_bl, encode_encrypt, encode_encrypt_vec, Bl, Emit, Parse,
};
use super::key::CryptoKey;
use super::{
    CephxError, UTime, MAX_CAPS_LEN, MAX_CONNECTION_SECRET_LEN, MAX_ENCRYPTED_LEN,
    MAX_ROTATING_SECRETS, MAX_TICKETS, MAX_TICKET_BLOB_LEN,
};
use crate::wire::entity::AuthEntityName;
use crate::wire::{DecodeError, Put, Reader};

/// Implements `Emit` / `Parse` by delegating to inherent `emit` / `parse`.
macro_rules! codec {
    ($($t:ty),*) => {$(
        impl Emit for $t {
            fn emit(&self, out: &mut Vec<u8>) {
                <$t>::emit(self, out)
            }
        }
        impl Parse for $t {
            fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                <$t>::parse(r)
            }
        }
    )*};
}

codec!(
    CephXServerChallenge,
    CephXRequestHeader,
    CephXResponseHeader,
    CephXTicketBlob,
    CephXAuthenticate,
    CephXChallengeBlob,
    CephXServiceTicketRequest,
    CephXServiceTicket,
    CephXAuthorize,
    CephXAuthorizeChallenge,
    CephXAuthorizeReply,
    AuthCapsInfo,
    AuthTicket,
    CephXServiceTicketInfo,
    ExpiringCryptoKey,
    RotatingSecrets,
    CryptoKey
);

/// The mon's first answer: `u8 1 | le64 server_challenge` (9 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CephXServerChallenge {
    /// Random, non-zero.
    pub server_challenge: u64,
}

impl CephXServerChallenge {
    /// Decodes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let _v = r.u8()?;
        Ok(CephXServerChallenge {
            server_challenge: r.u64_le()?,
        })
    }
    /// Encodes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(1);
        out.put_u64_le(self.server_challenge);
    }
}

/// `le16 request_type` before every cephx request after the challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CephXRequestHeader {
    /// One of `CEPHX_GET_*`.
    pub request_type: u16,
}

impl CephXRequestHeader {
    /// Decodes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CephXRequestHeader {
            request_type: r.u16_le()?,
        })
    }
    /// Encodes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u16_le(self.request_type);
    }
}

/// `le16 request_type | s32 status` before every cephx reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CephXResponseHeader {
    /// The request type answered.
    pub request_type: u16,
    /// 0 or a negative errno.
    pub status: i32,
}

impl CephXResponseHeader {
    /// Decodes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CephXResponseHeader {
            request_type: r.u16_le()?,
            status: r.i32_le()?,
        })
    }
    /// Encodes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u16_le(self.request_type);
        out.put_u32_le(self.status as u32);
    }
}

/// `u8 1 | le64 secret_id | bl blob`: a ticket, opaque to clients. The blob is
/// `enc_bl(service secret[secret_id], CephXServiceTicketInfo)`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CephXTicketBlob {
    /// Which rotating secret encrypted the blob (`u64::MAX`: the service's own key).
    pub secret_id: u64,
    /// The encrypted `CephXServiceTicketInfo`; empty for "no ticket".
    pub blob: Vec<u8>,
}

impl fmt::Debug for CephXTicketBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CephXTicketBlob")
            .field("secret_id", &self.secret_id)
            .field("blob_len", &self.blob.len())
            .finish()
    }
}

impl CephXTicketBlob {
    /// Decodes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let _v = r.u8()?;
        Ok(CephXTicketBlob {
            secret_id: r.u64_le()?,
            blob: r.bytes_le32(MAX_TICKET_BLOB_LEN)?.to_vec(),
        })
    }
    /// Encodes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(1);
        out.put_u64_le(self.secret_id);
        out.put_bytes_le32(&self.blob);
    }
}

/// The client's answer to the mon's challenge (Ceph encodes struct_v 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CephXAuthenticate {
    /// The version decoded (3 when we encode).
    pub struct_v: u8,
    /// Random from the client.
    pub client_challenge: u64,
    /// The proof: [`key_proof`].
    pub key: u64,
    /// The AUTH ticket held from before (empty on a first authentication).
    pub old_ticket: CephXTicketBlob,
    /// Bitmask of extra service tickets wanted (v ≥ 2).
    pub other_keys: u32,
}

impl CephXAuthenticate {
    /// Decodes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let struct_v = r.u8()?;
        let client_challenge = r.u64_le()?;
        let key = r.u64_le()?;
        let old_ticket = CephXTicketBlob::parse(r)?;
        let other_keys = if struct_v >= 2 { r.u32_le()? } else { 0 };
        Ok(CephXAuthenticate {
            struct_v,
            client_challenge,
            key,
            old_ticket,
            other_keys,
        })
    }
    /// Encodes as struct_v 3 (whatever `struct_v` holds).
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(3);
        out.put_u64_le(self.client_challenge);
        out.put_u64_le(self.key);
        self.old_ticket.emit(out);
        out.put_u32_le(self.other_keys);
    }
    /// Whether a pre-v3 client may omit the old ticket on reconnect.
    pub fn old_ticket_may_be_omitted(&self) -> bool {
        self.struct_v < 3
    }
}

/// `le64 server_challenge | le64 client_challenge` (no version byte), the
/// plaintext of the client proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CephXChallengeBlob {
    /// From the server.
    pub server_challenge: u64,
    /// From the client.
    pub client_challenge: u64,
}

impl CephXChallengeBlob {
    /// Decodes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CephXChallengeBlob {
            server_challenge: r.u64_le()?,
            client_challenge: r.u64_le()?,
        })
    }
    /// Encodes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u64_le(self.server_challenge);
        out.put_u64_le(self.client_challenge);
    }
}

/// The client proof of reference 8.3 (`cephx_calc_client_server_challenge`):
/// XOR of every complete little-endian 8-byte word of `encode_encrypt(secret,
/// le64 server_challenge | le64 client_challenge)`, length prefix included.
pub fn key_proof(secret: &CryptoKey, server_challenge: u64, client_challenge: u64) -> u64 {
    let blob = CephXChallengeBlob {
        server_challenge,
        client_challenge,
    };
    let e = encode_encrypt_vec(secret, &blob);
    e.chunks_exact(8).fold(0u64, |k, w| {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        k ^ u64::from_le_bytes(b)
    })
}

/// `u8 1 | le32 keys`: which service tickets a renewal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CephXServiceTicketRequest {
    /// Bitmask of entity types.
    pub keys: u32,
}

impl CephXServiceTicketRequest {
    /// Decodes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let _v = r.u8()?;
        Ok(CephXServiceTicketRequest { keys: r.u32_le()? })
    }
    /// Encodes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(1);
        out.put_u32_le(self.keys);
    }
}

/// The part of a ticket reply the client can read: `u8 1 | CryptoKey
/// session_key | utime validity` (a duration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CephXServiceTicket {
    /// The session key shared with the service.
    pub session_key: CryptoKey,
    /// How long the ticket is valid.
    pub validity: UTime,
}

impl CephXServiceTicket {
    /// Decodes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let _v = r.u8()?;
        Ok(CephXServiceTicket {
            session_key: CryptoKey::parse(r)?,
            validity: UTime::parse(r)?,
        })
    }
    /// Encodes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(1);
        self.session_key.emit(out);
        self.validity.emit(out);
    }
}

/// One ticket of a [`CephXServiceTicketReply`], still encrypted.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceTicketReplyEntry {
    /// The service (entity type) the ticket is for.
    pub service_id: u32,
    /// `enc_bl(K, CephXServiceTicket)` (the bufferlist's contents).
    pub enc_service_ticket: Vec<u8>,
    /// Whether `ticket` is encrypted with the old AUTH session key.
    pub ticket_enc: bool,
    /// Either the encoded `CephXTicketBlob` (`ticket_enc` false) or
    /// `enc_bl(old session key, bl(CephXTicketBlob))`.
    pub ticket: Vec<u8>,
}

impl fmt::Debug for ServiceTicketReplyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceTicketReplyEntry")
            .field("service_id", &self.service_id)
            .field("ticket_enc", &self.ticket_enc)
            .field("ticket_len", &self.ticket.len())
            .finish()
    }
}

/// A ticket as the client keeps it, decrypted from a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedServiceTicket {
    /// The service.
    pub service_id: u32,
    /// Session key and validity.
    pub service_ticket: CephXServiceTicket,
    /// The opaque ticket to present to the service.
    pub ticket: CephXTicketBlob,
}

/// What the issuer needs to mint one ticket of a reply.
#[derive(Debug, Clone)]
pub struct TicketGrant {
    /// The service.
    pub service_id: u32,
    /// Session key and validity, encrypted to the client.
    pub service_ticket: CephXServiceTicket,
    /// The ticket itself (its blob already encrypted with the service secret).
    pub ticket: CephXTicketBlob,
}

/// `u8 1 | le32 count | count × (le32 service_id | u8 1 |
/// encode_encrypt(K, CephXServiceTicket) | u8 ticket_enc | ticket)`
/// (`cephx_build_service_ticket_reply`, reference 8.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CephXServiceTicketReply {
    /// The tickets, still encrypted.
    pub entries: Vec<ServiceTicketReplyEntry>,
}

impl CephXServiceTicketReply {
    /// Decodes (without decrypting).
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let _v = r.u8()?;
        // Each entry is at least 4 + 1 + 4 + 1 + 4 bytes.
        let count = r.count_le32(MAX_TICKETS, 14)?;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let service_id = r.u32_le()?;
            let _ticket_v = r.u8()?;
            let enc_service_ticket = r.bytes_le32(MAX_ENCRYPTED_LEN)?.to_vec();
            let ticket_enc = r.u8()? != 0;
            let ticket = r.bytes_le32(MAX_ENCRYPTED_LEN)?.to_vec();
            entries.push(ServiceTicketReplyEntry {
                service_id,
                enc_service_ticket,
                ticket_enc,
                ticket,
            });
        }
        Ok(CephXServiceTicketReply { entries })
    }

    /// Encodes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(1);
        out.put_u32_le(self.entries.len() as u32);
        for e in &self.entries {
            out.put_u32_le(e.service_id);
            out.put_u8(1);
            out.put_bytes_le32(&e.enc_service_ticket);
            out.put_u8(u8::from(e.ticket_enc));
            out.put_bytes_le32(&e.ticket);
        }
    }

    /// Builds a reply: each grant's `CephXServiceTicket` encrypted with
    /// `principal_key`, and its ticket encrypted with `ticket_enc_key` if given
    /// (global_id reclaim with a valid old ticket).
    pub fn build(
        principal_key: &CryptoKey,
        grants: &[TicketGrant],
        ticket_enc_key: Option<&CryptoKey>,
    ) -> Self {
        let entries = grants
            .iter()
            .map(|g| {
                let mut ticket_bl = Vec::new();
                g.ticket.emit(&mut ticket_bl);
                let ticket = match ticket_enc_key {
                    Some(k) => enc_bl(k, &Bl(ticket_bl)),
                    None => ticket_bl,
                };
                ServiceTicketReplyEntry {
                    service_id: g.service_id,
                    enc_service_ticket: enc_bl(principal_key, &g.service_ticket),
                    ticket_enc: ticket_enc_key.is_some(),
                    ticket,
                }
            })
            .collect();
        CephXServiceTicketReply { entries }
    }

    /// Decrypts every ticket (`CephXTicketManager::verify_service_ticket_reply`).
    ///
    /// `old_session_key(service_id)` gives the session key held before for that
    /// service; it decrypts tickets sent with `ticket_enc` set.
    pub fn decrypt(
        &self,
        principal_key: &CryptoKey,
        old_session_key: impl Fn(u32) -> Option<CryptoKey>,
    ) -> Result<Vec<DecodedServiceTicket>, CephxError> {
        self.entries
            .iter()
            .map(|e| {
                let service_ticket: CephXServiceTicket =
                    dec_bl(principal_key, &e.enc_service_ticket)?;
                let ticket = if e.ticket_enc {
                    let k = old_session_key(e.service_id).ok_or(CephxError::Cipher(
                        "ticket encrypted with an old session key we do not hold",
                    ))?;
                    let Bl(inner) = dec_bl(&k, &e.ticket)?;
                    CephXTicketBlob::parse(&mut Reader::new(&inner, "CephXTicketBlob"))?
                } else {
                    CephXTicketBlob::parse(&mut Reader::new(&e.ticket, "CephXTicketBlob"))?
                };
                Ok(DecodedServiceTicket {
                    service_id: e.service_id,
                    service_ticket,
                    ticket,
                })
            })
            .collect()
    }
}

/// `u8 1 | u8 allow_all | bl caps`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthCapsInfo {
    /// Whether every operation is allowed.
    pub allow_all: bool,
    /// The caps, as Ceph encodes them (usually an encoded `string`).
    pub caps: Vec<u8>,
}

impl AuthCapsInfo {
    /// Decodes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let _v = r.u8()?;
        Ok(AuthCapsInfo {
            allow_all: r.u8()? != 0,
            caps: r.bytes_le32(MAX_CAPS_LEN)?.to_vec(),
        })
    }
    /// The caps as text: Ceph puts an encoded `string` in the bufferlist;
    /// anything that is not one reads as no caps (nothing allowed).
    pub fn text(&self) -> String {
        let mut r = Reader::new(&self.caps, "caps");
        match r.string(MAX_CAPS_LEN) {
            Ok(s) if r.remaining() == 0 => s.to_owned(),
            _ => String::new(),
        }
    }

    /// Encodes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(1);
        out.put_u8(u8::from(self.allow_all));
        out.put_bytes_le32(&self.caps);
    }
}

/// `CEPH_AUTH_UID_DEFAULT`, the auid every ticket carries.
pub const AUTH_UID_DEFAULT: u64 = u64::MAX;

/// `u8 2 | AuthEntityName | le64 global_id | le64 auid | utime created | utime
/// expires | AuthCapsInfo | le32 flags` (`Auth.h`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthTicket {
    /// Whose ticket.
    pub name: AuthEntityName,
    /// The holder's global id.
    pub global_id: u64,
    /// Legacy auid (v ≥ 2), −1.
    pub auid: u64,
    /// Issue time.
    pub created: UTime,
    /// Expiry time.
    pub expires: UTime,
    /// The holder's caps for the service.
    pub caps: AuthCapsInfo,
    /// Flags (unused, 0).
    pub flags: u32,
}

impl AuthTicket {
    /// Decodes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = r.u8()?;
        let name = AuthEntityName::parse(r)?;
        let global_id = r.u64_le()?;
        let auid = if v >= 2 {
            r.u64_le()?
        } else {
            AUTH_UID_DEFAULT
        };
        Ok(AuthTicket {
            name,
            global_id,
            auid,
            created: UTime::parse(r)?,
            expires: UTime::parse(r)?,
            caps: AuthCapsInfo::parse(r)?,
            flags: r.u32_le()?,
        })
    }
    /// Encodes (v2).
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(2);
        self.name.emit(out);
        out.put_u64_le(self.global_id);
        out.put_u64_le(self.auid);
        self.created.emit(out);
        self.expires.emit(out);
        self.caps.emit(out);
        out.put_u32_le(self.flags);
    }
}

/// What a service decrypts out of a ticket blob: `u8 1 | AuthTicket |
/// CryptoKey session_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CephXServiceTicketInfo {
    /// The ticket.
    pub ticket: AuthTicket,
    /// The session key shared with the holder.
    pub session_key: CryptoKey,
}

impl CephXServiceTicketInfo {
    /// Decodes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let _v = r.u8()?;
        Ok(CephXServiceTicketInfo {
            ticket: AuthTicket::parse(r)?,
            session_key: CryptoKey::parse(r)?,
        })
    }
    /// Encodes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(1);
        self.ticket.emit(out);
        self.session_key.emit(out);
    }
}

/// `u8 2 | le64 nonce | u8 have_challenge | le64 server_challenge_plus_one`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CephXAuthorize {
    /// Random per authorizer.
    pub nonce: u64,
    /// Whether the next field answers a challenge (v ≥ 2).
    pub have_challenge: bool,
    /// The server's challenge + 1.
    pub server_challenge_plus_one: u64,
}

impl CephXAuthorize {
    /// Decodes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = r.u8()?;
        let nonce = r.u64_le()?;
        let (have_challenge, server_challenge_plus_one) = if v >= 2 {
            (r.u8()? != 0, r.u64_le()?)
        } else {
            (false, 0)
        };
        Ok(CephXAuthorize {
            nonce,
            have_challenge,
            server_challenge_plus_one,
        })
    }
    /// Encodes (v2).
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(2);
        out.put_u64_le(self.nonce);
        out.put_u8(u8::from(self.have_challenge));
        out.put_u64_le(self.server_challenge_plus_one);
    }
}

/// `u8 1 | le64 server_challenge`, sent `enc_bl`-wrapped with no outer length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CephXAuthorizeChallenge {
    /// Random from the service.
    pub server_challenge: u64,
}

impl CephXAuthorizeChallenge {
    /// Decodes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let _v = r.u8()?;
        Ok(CephXAuthorizeChallenge {
            server_challenge: r.u64_le()?,
        })
    }
    /// Encodes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(1);
        out.put_u64_le(self.server_challenge);
    }
}

/// `u8 v | le64 nonce_plus_one | [string connection_secret if v ≥ 2]`; v is 2
/// exactly when the secret is non-empty.
#[derive(Clone, PartialEq, Eq)]
pub struct CephXAuthorizeReply {
    /// The authorizer's nonce + 1.
    pub nonce_plus_one: u64,
    /// 64 bytes in secure mode, empty in crc mode.
    pub connection_secret: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for CephXAuthorizeReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CephXAuthorizeReply")
            .field("nonce_plus_one", &self.nonce_plus_one)
            .field(
                "connection_secret",
                &format_args!("<{} bytes>", self.connection_secret.len()),
            )
            .finish()
    }
}

impl CephXAuthorizeReply {
    /// Decodes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = r.u8()?;
        let nonce_plus_one = r.u64_le()?;
        let connection_secret = if v >= 2 {
            Zeroizing::new(r.bytes_le32(MAX_CONNECTION_SECRET_LEN)?.to_vec())
        } else {
            Zeroizing::new(Vec::new())
        };
        Ok(CephXAuthorizeReply {
            nonce_plus_one,
            connection_secret,
        })
    }
    /// Encodes (v2 with a secret, else v1).
    pub fn emit(&self, out: &mut Vec<u8>) {
        let v = if self.connection_secret.is_empty() {
            1
        } else {
            2
        };
        out.put_u8(v);
        out.put_u64_le(self.nonce_plus_one);
        if v >= 2 {
            out.put_bytes_le32(&self.connection_secret);
        }
    }
}

/// The authorizer a client presents to a service (`CephXTicketHandler::
/// build_authorizer`, reference 8.4): `u8 1 | le64 global_id | le32
/// service_id | CephXTicketBlob | encode_encrypt(session_key, CephXAuthorize)`.
///
/// The leading `u8 1` doubles as `AUTH_MODE_AUTHORIZER` in AUTH_REQUEST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CephXAuthorizer {
    /// The holder's global id.
    pub global_id: u64,
    /// The service addressed.
    pub service_id: u32,
    /// The service ticket.
    pub ticket: CephXTicketBlob,
    /// `enc_bl(session_key, CephXAuthorize)` (the bufferlist's contents).
    pub enc_authorize: Vec<u8>,
}

impl CephXAuthorizer {
    /// Builds one, encrypting `msg` with the ticket's session key.
    pub fn build(
        global_id: u64,
        service_id: u32,
        ticket: CephXTicketBlob,
        session_key: &CryptoKey,
        msg: &CephXAuthorize,
    ) -> Self {
        CephXAuthorizer {
            global_id,
            service_id,
            ticket,
            enc_authorize: enc_bl(session_key, msg),
        }
    }

    /// Decodes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = r.u8()?;
        if v != 1 {
            return Err(DecodeError::InvalidValue {
                what: "cephx authorizer version",
                value: u64::from(v),
            });
        }
        Ok(CephXAuthorizer {
            global_id: r.u64_le()?,
            service_id: r.u32_le()?,
            ticket: CephXTicketBlob::parse(r)?,
            enc_authorize: r.bytes_le32(MAX_ENCRYPTED_LEN)?.to_vec(),
        })
    }

    /// Encodes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(1);
        out.put_u64_le(self.global_id);
        out.put_u32_le(self.service_id);
        self.ticket.emit(out);
        out.put_bytes_le32(&self.enc_authorize);
    }

    /// Encodes into a fresh buffer.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.emit(&mut v);
        v
    }

    /// Decrypts the `CephXAuthorize` with the ticket's session key.
    pub fn authorize(&self, session_key: &CryptoKey) -> Result<CephXAuthorize, CephxError> {
        let mut v = Vec::with_capacity(self.enc_authorize.len() + 4);
        v.put_bytes_le32(&self.enc_authorize);
        decode_decrypt(session_key, &mut Reader::new(&v, "CephXAuthorize"))
    }
}

/// `u8 1 | CryptoKey | utime expiration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringCryptoKey {
    /// The secret.
    pub key: CryptoKey,
    /// When it stops being current.
    pub expiration: UTime,
}

impl ExpiringCryptoKey {
    /// Decodes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let _v = r.u8()?;
        Ok(ExpiringCryptoKey {
            key: CryptoKey::parse(r)?,
            expiration: UTime::parse(r)?,
        })
    }
    /// Encodes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(1);
        self.key.emit(out);
        self.expiration.emit(out);
    }
}

/// `u8 1 | map<le64 secret_id, ExpiringCryptoKey> | le64 max_ver`: a
/// service's rotating secrets (previous, current, next).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotatingSecrets {
    /// By secret id.
    pub secrets: BTreeMap<u64, ExpiringCryptoKey>,
    /// The newest secret id.
    pub max_ver: u64,
}

impl RotatingSecrets {
    /// Decodes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let _v = r.u8()?;
        // 8 (id) + 1 + 28 + 8 per entry.
        let count = r.count_le32(MAX_ROTATING_SECRETS, 45)?;
        let mut secrets = BTreeMap::new();
        for _ in 0..count {
            let id = r.u64_le()?;
            secrets.insert(id, ExpiringCryptoKey::parse(r)?);
        }
        Ok(RotatingSecrets {
            secrets,
            max_ver: r.u64_le()?,
        })
    }
    /// Encodes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(1);
        out.put_u32_le(self.secrets.len() as u32);
        for (id, k) in &self.secrets {
            out.put_u64_le(*id);
            k.emit(out);
        }
        out.put_u64_le(self.max_ver);
    }

    /// Adds a secret as the newest (`RotatingSecrets::add`), keeping at most 3.
    pub fn add(&mut self, key: ExpiringCryptoKey) -> u64 {
        self.max_ver += 1;
        self.secrets.insert(self.max_ver, key);
        while self.secrets.len() > 3 {
            self.secrets.pop_first();
        }
        self.max_ver
    }

    /// The current secret: the second oldest, or the only one (`current()`).
    pub fn current(&self) -> Option<(u64, &ExpiringCryptoKey)> {
        let mut it = self.secrets.iter();
        let first = it.next();
        it.next().or(first).map(|(id, k)| (*id, k))
    }
}

/// Appends `encode_encrypt(key, t)`; re-exported for callers building payloads.
pub fn put_encrypted<T: Emit + ?Sized>(out: &mut Vec<u8>, key: &CryptoKey, t: &T) {
    encode_encrypt(key, t, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::cephx::crypto::tests::{hex, key_00_0f};
    use crate::wire::entity::EntityType;

    #[test]
    fn challenge_blob_and_key_proof_vectors() {
        let blob = CephXChallengeBlob {
            server_challenge: 0x1111_1111_1111_1111,
            client_challenge: 0x2222_2222_2222_2222,
        };
        assert_eq!(
            encode_encrypt_vec(&key_00_0f(), &blob),
            hex("2000000077617a081dd08fa7523553463d10431c3debce6895aa1ecabdfd7cd3af088554")
        );
        assert_eq!(
            key_proof(&key_00_0f(), 0x1111_1111_1111_1111, 0x2222_2222_2222_2222),
            0xf59b_42a5_71d2_6a95
        );
    }

    fn rt<T: Emit + Parse + PartialEq + fmt::Debug>(t: &T) -> Vec<u8> {
        let mut v = Vec::new();
        t.emit(&mut v);
        let mut r = Reader::new(&v, "rt");
        let back = T::parse(&mut r).expect("parses");
        r.expect_end().expect("consumes all");
        assert_eq!(&back, t);
        // Every strict prefix fails cleanly.
        for n in 0..v.len() {
            let _ = T::parse(&mut Reader::new(&v[..n], "prefix"));
        }
        v
    }

    fn key(b: u8) -> CryptoKey {
        CryptoKey::new([b; 16], UTime::new(100, 200))
    }

    #[test]
    fn golden_bytes_of_small_structs() {
        assert_eq!(
            rt(&CephXServerChallenge {
                server_challenge: 0x0102030405060708
            }),
            [1, 8, 7, 6, 5, 4, 3, 2, 1]
        );
        assert_eq!(
            rt(&CephXRequestHeader {
                request_type: 0x0100
            }),
            [0, 1]
        );
        assert_eq!(
            rt(&CephXResponseHeader {
                request_type: 0x0400,
                status: -13
            }),
            [0, 4, 0xf3, 0xff, 0xff, 0xff]
        );
        let auth = CephXAuthenticate {
            struct_v: 3,
            client_challenge: 2,
            key: 3,
            old_ticket: CephXTicketBlob::default(),
            other_keys: 0x15,
        };
        let v = rt(&auth);
        assert_eq!(v.len(), 1 + 8 + 8 + 13 + 4);
        assert_eq!(v[0], 3);
        assert_eq!(&v[v.len() - 4..], &[0x15, 0, 0, 0]);
        assert_eq!(
            rt(&CephXAuthorize {
                nonce: 1,
                have_challenge: true,
                server_challenge_plus_one: 2
            }),
            [2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(rt(&key(0)).len(), 28);
    }

    #[test]
    fn authorize_reply_version_follows_secret() {
        let v1 = rt(&CephXAuthorizeReply {
            nonce_plus_one: 5,
            connection_secret: Zeroizing::new(Vec::new()),
        });
        assert_eq!(v1, [1, 5, 0, 0, 0, 0, 0, 0, 0]);
        let v2 = rt(&CephXAuthorizeReply {
            nonce_plus_one: 5,
            connection_secret: Zeroizing::new(vec![1; 64]),
        });
        assert_eq!(v2[0], 2);
        assert_eq!(v2.len(), 9 + 4 + 64);
        let dbg = format!(
            "{:?}",
            CephXAuthorizeReply {
                nonce_plus_one: 5,
                connection_secret: Zeroizing::new(vec![0x5a; 64]),
            }
        );
        assert!(!dbg.contains("90"), "{dbg}");
    }

    #[test]
    fn ticket_info_rotating_secrets_round_trip() {
        let info = CephXServiceTicketInfo {
            ticket: AuthTicket {
                name: AuthEntityName::new(EntityType::Client, "admin"),
                global_id: 4100,
                auid: AUTH_UID_DEFAULT,
                created: UTime::from_secs(10),
                expires: UTime::from_secs(20),
                caps: AuthCapsInfo {
                    allow_all: false,
                    caps: b"\x07\0\0\0allow *".to_vec(),
                },
                flags: 0,
            },
            session_key: key(3),
        };
        rt(&info);
        let mut rs = RotatingSecrets::default();
        for i in 0..4 {
            rs.add(ExpiringCryptoKey {
                key: key(i),
                expiration: UTime::from_secs(u32::from(i)),
            });
        }
        assert_eq!(rs.secrets.len(), 3);
        assert_eq!(rs.current().map(|(id, _)| id), Some(3));
        rt(&rs);
        // A huge count with no bytes fails without allocating.
        let bad = [1u8, 0xff, 0xff, 0xff, 0x7f];
        assert!(RotatingSecrets::parse(&mut Reader::new(&bad, "rs")).is_err());
    }

    #[test]
    fn service_ticket_reply_build_and_decrypt() {
        let principal = key(1);
        let old = key(2);
        let grant = TicketGrant {
            service_id: 0x20,
            service_ticket: CephXServiceTicket {
                session_key: key(9),
                validity: UTime::from_secs(3600),
            },
            ticket: CephXTicketBlob {
                secret_id: 7,
                blob: vec![1, 2, 3],
            },
        };
        for enc in [None, Some(&old)] {
            let reply =
                CephXServiceTicketReply::build(&principal, std::slice::from_ref(&grant), enc);
            let mut v = Vec::new();
            reply.emit(&mut v);
            let parsed =
                CephXServiceTicketReply::parse(&mut Reader::new(&v, "reply")).expect("parse");
            assert_eq!(parsed, reply);
            let dec = parsed
                .decrypt(&principal, |_| Some(old.clone()))
                .expect("decrypt");
            assert_eq!(dec.len(), 1);
            assert_eq!(dec[0].ticket, grant.ticket);
            assert_eq!(dec[0].service_ticket, grant.service_ticket);
            // Wrong principal key fails.
            assert!(parsed.decrypt(&key(5), |_| Some(old.clone())).is_err());
        }
        // Encrypted ticket without an old key fails cleanly.
        let reply = CephXServiceTicketReply::build(&principal, &[grant], Some(&old));
        assert!(reply.decrypt(&principal, |_| None).is_err());
    }

    #[test]
    fn authorizer_round_trip() {
        let sk = key(4);
        let msg = CephXAuthorize {
            nonce: 77,
            have_challenge: false,
            server_challenge_plus_one: 0,
        };
        let a = CephXAuthorizer::build(
            4100,
            4,
            CephXTicketBlob {
                secret_id: 2,
                blob: vec![9; 40],
            },
            &sk,
            &msg,
        );
        let v = a.to_vec();
        assert_eq!(v[0], 1);
        let back = CephXAuthorizer::parse(&mut Reader::new(&v, "az")).expect("parse");
        assert_eq!(back, a);
        assert_eq!(back.authorize(&sk).expect("decrypt"), msg);
        assert!(back.authorize(&key(5)).is_err());
    }
}
