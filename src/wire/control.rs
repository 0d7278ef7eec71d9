//! Payloads (segment 0) of the msgr2 control frames, tags 1–20 except
//! MESSAGE (msgr2 reference section 5; Ceph `src/msg/async/frames_v2.h`).
//!
//! Each frame is a `Repr` struct with `TAG`, `parse` (strict: the payload
//! must be consumed exactly), `buffer_len` and `emit`. `ControlFrame` (tests and
//! fuzzing only) dispatches on the tag.

use super::addr::{EntityAddr, EntityAddrVec};
use super::entity::EntityType;
use super::utime::UTime;
use super::{DecodeError, Put, Reader, Tag};

/// `CEPH_MSG_CONNECT_LOSSY`: bit 0 of the IDENT `flags` (reference 5).
pub const CONNECT_FLAG_LOSSY: u64 = 1;

/// Longest auth payload we accept in any AUTH_* frame.
pub const MAX_AUTH_PAYLOAD: usize = 64 * 1024;
/// Most entries we accept in a method or mode list.
pub const MAX_LIST: usize = 16;

macro_rules! control_frame {
    ($ty:ident, $tag:ident, $what:literal) => {
        impl $ty {
            /// The frame tag.
            pub const TAG: Tag = Tag::$tag;

            /// Parses a whole payload; trailing bytes are an error.
            pub fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
                let mut r = Reader::new(payload, $what);
                let v = Self::decode(&mut r)?;
                r.expect_end()?;
                Ok(v)
            }

            /// Encodes into a new buffer.
            pub fn to_vec(&self) -> Vec<u8> {
                let mut out = Vec::with_capacity(self.buffer_len());
                self.emit(&mut out);
                out
            }
        }
    };
}

/// HELLO (tag 1): the sender's entity type and the peer's address as the
/// sender sees it (reference 5, 7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloFrame {
    /// `CEPH_ENTITY_TYPE_*` of the sender (see `wire::entity::EntityType`).
    pub entity_type: u8,
    /// Connector: the address dialed; acceptor: the connector's socket address.
    pub peer_addr: EntityAddr,
}
control_frame!(HelloFrame, Hello, "HELLO");
impl HelloFrame {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(HelloFrame {
            entity_type: r.u8()?,
            peer_addr: EntityAddr::parse(r)?,
        })
    }
    /// The sender's entity type; an unknown one is a decode error.
    pub fn sender_type(&self) -> Result<EntityType, DecodeError> {
        EntityType::from_u8(self.entity_type).ok_or(DecodeError::InvalidValue {
            what: "HELLO entity type",
            value: u64::from(self.entity_type),
        })
    }
    /// Encoded size (36 for IPv4).
    pub fn buffer_len(&self) -> usize {
        1 + self.peer_addr.buffer_len()
    }
    /// Appends the payload.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(self.entity_type);
        self.peer_addr.emit(out);
    }
}

/// AUTH_REQUEST (tag 2, C→S).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequestFrame {
    /// `CEPH_AUTH_*` method (1 none, 2 cephx).
    pub method: u32,
    /// Connection modes in preference order (1 crc, 2 secure).
    pub preferred_modes: Vec<u32>,
    /// Method-specific payload (reference 8).
    pub auth_payload: Vec<u8>,
}
control_frame!(AuthRequestFrame, AuthRequest, "AUTH_REQUEST");
impl AuthRequestFrame {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(AuthRequestFrame {
            method: r.u32_le()?,
            preferred_modes: r.vec_u32_le(MAX_LIST)?,
            auth_payload: r.bytes_le32(MAX_AUTH_PAYLOAD)?.to_vec(),
        })
    }
    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        4 + 4 + 4 * self.preferred_modes.len() + 4 + self.auth_payload.len()
    }
    /// Appends the payload.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u32_le(self.method);
        out.put_vec_u32_le(&self.preferred_modes);
        out.put_bytes_le32(&self.auth_payload);
    }
}

/// AUTH_BAD_METHOD (tag 3, S→C).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthBadMethodFrame {
    /// The method the client tried.
    pub method: u32,
    /// Negative errno (−95 EOPNOTSUPP, −13 EACCES).
    pub result: i32,
    /// Methods the server allows.
    pub allowed_methods: Vec<u32>,
    /// Modes the server allows.
    pub allowed_modes: Vec<u32>,
}
control_frame!(AuthBadMethodFrame, AuthBadMethod, "AUTH_BAD_METHOD");
impl AuthBadMethodFrame {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(AuthBadMethodFrame {
            method: r.u32_le()?,
            result: r.i32_le()?,
            allowed_methods: r.vec_u32_le(MAX_LIST)?,
            allowed_modes: r.vec_u32_le(MAX_LIST)?,
        })
    }
    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        4 + 4 + 4 + 4 * self.allowed_methods.len() + 4 + 4 * self.allowed_modes.len()
    }
    /// Appends the payload.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u32_le(self.method);
        out.put_u32_le(self.result as u32);
        out.put_vec_u32_le(&self.allowed_methods);
        out.put_vec_u32_le(&self.allowed_modes);
    }
}

macro_rules! auth_payload_frame {
    ($ty:ident, $tag:ident, $what:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $ty {
            /// Method-specific payload (reference 8).
            pub auth_payload: Vec<u8>,
        }
        control_frame!($ty, $tag, $what);
        impl $ty {
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok($ty {
                    auth_payload: r.bytes_le32(MAX_AUTH_PAYLOAD)?.to_vec(),
                })
            }
            /// Encoded size.
            pub fn buffer_len(&self) -> usize {
                4 + self.auth_payload.len()
            }
            /// Appends the payload.
            pub fn emit(&self, out: &mut Vec<u8>) {
                out.put_bytes_le32(&self.auth_payload);
            }
        }
    };
}

auth_payload_frame!(
    AuthReplyMoreFrame,
    AuthReplyMore,
    "AUTH_REPLY_MORE",
    "AUTH_REPLY_MORE (tag 4, S→C): a challenge or further auth data."
);
auth_payload_frame!(
    AuthRequestMoreFrame,
    AuthRequestMore,
    "AUTH_REQUEST_MORE",
    "AUTH_REQUEST_MORE (tag 5, C→S): the answer to AUTH_REPLY_MORE."
);

/// AUTH_DONE (tag 6, S→C); sent in crc format even when secure follows
/// (reference 4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthDoneFrame {
    /// The client's global id.
    pub global_id: u64,
    /// The chosen connection mode.
    pub con_mode: u32,
    /// Method-specific payload (empty for auth none).
    pub auth_payload: Vec<u8>,
}
control_frame!(AuthDoneFrame, AuthDone, "AUTH_DONE");
impl AuthDoneFrame {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(AuthDoneFrame {
            global_id: r.u64_le()?,
            con_mode: r.u32_le()?,
            auth_payload: r.bytes_le32(MAX_AUTH_PAYLOAD)?.to_vec(),
        })
    }
    /// Encoded size (16 with an empty payload).
    pub fn buffer_len(&self) -> usize {
        8 + 4 + 4 + self.auth_payload.len()
    }
    /// Appends the payload.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u64_le(self.global_id);
        out.put_u32_le(self.con_mode);
        out.put_bytes_le32(&self.auth_payload);
    }
}

/// AUTH_SIGNATURE (tag 7): HMAC-SHA256 over the peer's pre-auth bytes, or
/// 32 zero bytes for auth none (reference 7.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSignatureFrame {
    /// The raw 32-byte signature (no length prefix).
    pub signature: [u8; 32],
}
control_frame!(AuthSignatureFrame, AuthSignature, "AUTH_SIGNATURE");
impl AuthSignatureFrame {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(AuthSignatureFrame {
            signature: r.array()?,
        })
    }
    /// Always 32.
    pub fn buffer_len(&self) -> usize {
        32
    }
    /// Appends the payload.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_slice(&self.signature);
    }
}

/// CLIENT_IDENT (tag 8, C→S): start a new session (reference 5, 7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentFrame {
    /// The client's own addresses.
    pub addrs: EntityAddrVec,
    /// The server address dialed; must match one of the server's exactly.
    pub target_addr: EntityAddr,
    /// Entity number (−1 when not yet known).
    pub gid: i64,
    /// The client messenger's global_seq for this connection.
    pub global_seq: u64,
    /// Classic `CEPH_FEATURE_*` bits supported (`wire::features`).
    pub supported_features: u64,
    /// Classic feature bits required of the server.
    pub required_features: u64,
    /// [`CONNECT_FLAG_LOSSY`] if the client's policy is lossy.
    pub flags: u64,
    /// Random non-zero session cookie (0 if lossy).
    pub client_cookie: u64,
}
control_frame!(ClientIdentFrame, ClientIdent, "CLIENT_IDENT");
impl ClientIdentFrame {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ClientIdentFrame {
            addrs: EntityAddrVec::parse(r)?,
            target_addr: EntityAddr::parse(r)?,
            gid: r.i64_le()?,
            global_seq: r.u64_le()?,
            supported_features: r.u64_le()?,
            required_features: r.u64_le()?,
            flags: r.u64_le()?,
            client_cookie: r.u64_le()?,
        })
    }
    /// Encoded size (123 with one IPv4 address).
    pub fn buffer_len(&self) -> usize {
        self.addrs.buffer_len() + self.target_addr.buffer_len() + 6 * 8
    }
    /// Appends the payload.
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.addrs.emit(out);
        self.target_addr.emit(out);
        out.put_u64_le(self.gid as u64);
        out.put_u64_le(self.global_seq);
        out.put_u64_le(self.supported_features);
        out.put_u64_le(self.required_features);
        out.put_u64_le(self.flags);
        out.put_u64_le(self.client_cookie);
    }
}

/// SERVER_IDENT (tag 9, S→C): the session is established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerIdentFrame {
    /// The server's addresses; must contain the client's target_addr.
    pub addrs: EntityAddrVec,
    /// Entity number of the server.
    pub gid: i64,
    /// The server messenger's global_seq.
    pub global_seq: u64,
    /// Classic feature bits supported.
    pub supported_features: u64,
    /// Classic feature bits required of the client.
    pub required_features: u64,
    /// [`CONNECT_FLAG_LOSSY`] if the session is lossy (the server decides).
    pub flags: u64,
    /// Random non-zero cookie (0 if lossy).
    pub server_cookie: u64,
}
control_frame!(ServerIdentFrame, ServerIdent, "SERVER_IDENT");
impl ServerIdentFrame {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ServerIdentFrame {
            addrs: EntityAddrVec::parse(r)?,
            gid: r.i64_le()?,
            global_seq: r.u64_le()?,
            supported_features: r.u64_le()?,
            required_features: r.u64_le()?,
            flags: r.u64_le()?,
            server_cookie: r.u64_le()?,
        })
    }
    /// Encoded size (88 with one IPv4 address).
    pub fn buffer_len(&self) -> usize {
        self.addrs.buffer_len() + 6 * 8
    }
    /// Appends the payload.
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.addrs.emit(out);
        out.put_u64_le(self.gid as u64);
        out.put_u64_le(self.global_seq);
        out.put_u64_le(self.supported_features);
        out.put_u64_le(self.required_features);
        out.put_u64_le(self.flags);
        out.put_u64_le(self.server_cookie);
    }
}

/// SESSION_RECONNECT (tag 11, C→S): resume a lossless session (reference 9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionReconnectFrame {
    /// The client's own addresses.
    pub addrs: EntityAddrVec,
    /// The session's client cookie.
    pub client_cookie: u64,
    /// The server cookie from SERVER_IDENT.
    pub server_cookie: u64,
    /// New global_seq for this connection.
    pub global_seq: u64,
    /// Reconnect attempt number of the session.
    pub connect_seq: u64,
    /// The client's in_seq (last message received).
    pub msg_seq: u64,
}
control_frame!(SessionReconnectFrame, SessionReconnect, "SESSION_RECONNECT");
impl SessionReconnectFrame {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SessionReconnectFrame {
            addrs: EntityAddrVec::parse(r)?,
            client_cookie: r.u64_le()?,
            server_cookie: r.u64_le()?,
            global_seq: r.u64_le()?,
            connect_seq: r.u64_le()?,
            msg_seq: r.u64_le()?,
        })
    }
    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        self.addrs.buffer_len() + 5 * 8
    }
    /// Appends the payload.
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.addrs.emit(out);
        out.put_u64_le(self.client_cookie);
        out.put_u64_le(self.server_cookie);
        out.put_u64_le(self.global_seq);
        out.put_u64_le(self.connect_seq);
        out.put_u64_le(self.msg_seq);
    }
}

/// SESSION_RESET (tag 12, S→C).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionResetFrame {
    /// Drop the whole session (the kernel requires true).
    pub full: bool,
}
control_frame!(SessionResetFrame, SessionReset, "SESSION_RESET");
impl SessionResetFrame {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SessionResetFrame { full: r.bool()? })
    }
    /// Always 1.
    pub fn buffer_len(&self) -> usize {
        1
    }
    /// Appends the payload.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(u8::from(self.full));
    }
}

macro_rules! u64_frame {
    ($ty:ident, $tag:ident, $what:literal, $field:ident, $doc:literal, $fdoc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $ty {
            #[doc = $fdoc]
            pub $field: u64,
        }
        control_frame!($ty, $tag, $what);
        impl $ty {
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok($ty {
                    $field: r.u64_le()?,
                })
            }
            /// Always 8.
            pub fn buffer_len(&self) -> usize {
                8
            }
            /// Appends the payload.
            pub fn emit(&self, out: &mut Vec<u8>) {
                out.put_u64_le(self.$field);
            }
        }
    };
}

u64_frame!(
    IdentMissingFeaturesFrame,
    IdentMissingFeatures,
    "IDENT_MISSING_FEATURES",
    features,
    "IDENT_MISSING_FEATURES (tag 10, S→C).",
    "Feature bits the server requires that the client lacks."
);
u64_frame!(
    SessionRetryFrame,
    SessionRetry,
    "SESSION_RETRY",
    connect_seq,
    "SESSION_RETRY (tag 13, S→C): retry with a higher connect_seq.",
    "The server's current connect_seq."
);
u64_frame!(
    SessionRetryGlobalFrame,
    SessionRetryGlobal,
    "SESSION_RETRY_GLOBAL",
    global_seq,
    "SESSION_RETRY_GLOBAL (tag 14, S→C): retry with a higher global_seq.",
    "The server's peer_global_seq."
);
u64_frame!(
    SessionReconnectOkFrame,
    SessionReconnectOk,
    "SESSION_RECONNECT_OK",
    msg_seq,
    "SESSION_RECONNECT_OK (tag 15, S→C).",
    "The server's in_seq."
);
u64_frame!(
    AckFrame,
    Ack,
    "ACK",
    seq,
    "ACK (tag 20): every message with seq ≤ `seq` was received.",
    "Highest sequence number received."
);

/// WAIT (tag 16, S→C): an empty payload (reference 9). Never send it to a
/// kernel client, which rejects empty control frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WaitFrame;
control_frame!(WaitFrame, Wait, "WAIT");
impl WaitFrame {
    fn decode(_r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(WaitFrame)
    }
    /// Always 0.
    pub fn buffer_len(&self) -> usize {
        0
    }
    /// Appends nothing.
    pub fn emit(&self, _out: &mut Vec<u8>) {}
}

/// KEEPALIVE2 (tag 18): the sender's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive2Frame {
    /// Sender's timestamp.
    pub stamp: UTime,
}
control_frame!(Keepalive2Frame, Keepalive2, "KEEPALIVE2");
impl Keepalive2Frame {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Keepalive2Frame {
            stamp: UTime::parse(r)?,
        })
    }
    /// Always 8.
    pub fn buffer_len(&self) -> usize {
        UTime::LEN
    }
    /// Appends the payload.
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.stamp.emit(out);
    }
}

/// KEEPALIVE2_ACK (tag 19): echoes the KEEPALIVE2 stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive2AckFrame {
    /// The stamp copied from the KEEPALIVE2 being answered.
    pub stamp: UTime,
}
control_frame!(Keepalive2AckFrame, Keepalive2Ack, "KEEPALIVE2_ACK");
impl Keepalive2AckFrame {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Keepalive2AckFrame {
            stamp: UTime::parse(r)?,
        })
    }
    /// Always 8.
    pub fn buffer_len(&self) -> usize {
        UTime::LEN
    }
    /// Appends the payload.
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.stamp.emit(out);
    }
}

/// Every control frame as one enum (fuzzing and tests dispatch on the tag
/// with it; the connection itself parses the one frame each state expects).
#[cfg(any(test, feature = "test-support"))]
pub use any::ControlFrame;

#[cfg(any(test, feature = "test-support"))]
mod any {
    use super::*;

    /// Any control frame, for dispatch on the tag. MESSAGE (17) is not a control
    /// frame and is rejected by [`ControlFrame::parse`].
    #[derive(Debug, Clone, PartialEq, Eq)]
    #[allow(missing_docs)]
    pub enum ControlFrame {
        Hello(HelloFrame),
        AuthRequest(AuthRequestFrame),
        AuthBadMethod(AuthBadMethodFrame),
        AuthReplyMore(AuthReplyMoreFrame),
        AuthRequestMore(AuthRequestMoreFrame),
        AuthDone(AuthDoneFrame),
        AuthSignature(AuthSignatureFrame),
        ClientIdent(ClientIdentFrame),
        ServerIdent(ServerIdentFrame),
        IdentMissingFeatures(IdentMissingFeaturesFrame),
        SessionReconnect(SessionReconnectFrame),
        SessionReset(SessionResetFrame),
        SessionRetry(SessionRetryFrame),
        SessionRetryGlobal(SessionRetryGlobalFrame),
        SessionReconnectOk(SessionReconnectOkFrame),
        Wait(WaitFrame),
        Keepalive2(Keepalive2Frame),
        Keepalive2Ack(Keepalive2AckFrame),
        Ack(AckFrame),
    }

    macro_rules! dispatch {
        ($self:expr, $f:ident => $e:expr) => {
            match $self {
                ControlFrame::Hello($f) => $e,
                ControlFrame::AuthRequest($f) => $e,
                ControlFrame::AuthBadMethod($f) => $e,
                ControlFrame::AuthReplyMore($f) => $e,
                ControlFrame::AuthRequestMore($f) => $e,
                ControlFrame::AuthDone($f) => $e,
                ControlFrame::AuthSignature($f) => $e,
                ControlFrame::ClientIdent($f) => $e,
                ControlFrame::ServerIdent($f) => $e,
                ControlFrame::IdentMissingFeatures($f) => $e,
                ControlFrame::SessionReconnect($f) => $e,
                ControlFrame::SessionReset($f) => $e,
                ControlFrame::SessionRetry($f) => $e,
                ControlFrame::SessionRetryGlobal($f) => $e,
                ControlFrame::SessionReconnectOk($f) => $e,
                ControlFrame::Wait($f) => $e,
                ControlFrame::Keepalive2($f) => $e,
                ControlFrame::Keepalive2Ack($f) => $e,
                ControlFrame::Ack($f) => $e,
            }
        };
    }

    impl ControlFrame {
        /// Parses the payload of a control frame with tag `tag`.
        pub fn parse(tag: Tag, payload: &[u8]) -> Result<Self, DecodeError> {
            use ControlFrame as C;
            Ok(match tag {
                Tag::Hello => C::Hello(HelloFrame::parse(payload)?),
                Tag::AuthRequest => C::AuthRequest(AuthRequestFrame::parse(payload)?),
                Tag::AuthBadMethod => C::AuthBadMethod(AuthBadMethodFrame::parse(payload)?),
                Tag::AuthReplyMore => C::AuthReplyMore(AuthReplyMoreFrame::parse(payload)?),
                Tag::AuthRequestMore => C::AuthRequestMore(AuthRequestMoreFrame::parse(payload)?),
                Tag::AuthDone => C::AuthDone(AuthDoneFrame::parse(payload)?),
                Tag::AuthSignature => C::AuthSignature(AuthSignatureFrame::parse(payload)?),
                Tag::ClientIdent => C::ClientIdent(ClientIdentFrame::parse(payload)?),
                Tag::ServerIdent => C::ServerIdent(ServerIdentFrame::parse(payload)?),
                Tag::IdentMissingFeatures => {
                    C::IdentMissingFeatures(IdentMissingFeaturesFrame::parse(payload)?)
                }
                Tag::SessionReconnect => {
                    C::SessionReconnect(SessionReconnectFrame::parse(payload)?)
                }
                Tag::SessionReset => C::SessionReset(SessionResetFrame::parse(payload)?),
                Tag::SessionRetry => C::SessionRetry(SessionRetryFrame::parse(payload)?),
                Tag::SessionRetryGlobal => {
                    C::SessionRetryGlobal(SessionRetryGlobalFrame::parse(payload)?)
                }
                Tag::SessionReconnectOk => {
                    C::SessionReconnectOk(SessionReconnectOkFrame::parse(payload)?)
                }
                Tag::Wait => C::Wait(WaitFrame::parse(payload)?),
                Tag::Keepalive2 => C::Keepalive2(Keepalive2Frame::parse(payload)?),
                Tag::Keepalive2Ack => C::Keepalive2Ack(Keepalive2AckFrame::parse(payload)?),
                Tag::Ack => C::Ack(AckFrame::parse(payload)?),
                Tag::Message => {
                    return Err(DecodeError::InvalidValue {
                        what: "control frame tag",
                        value: Tag::Message as u64,
                    })
                }
            })
        }

        /// The frame's tag.
        pub fn tag(&self) -> Tag {
            dispatch!(self, f => f.tag_of())
        }

        /// Encoded payload size.
        pub fn buffer_len(&self) -> usize {
            dispatch!(self, f => f.buffer_len())
        }

        /// Appends the payload.
        pub fn emit(&self, out: &mut Vec<u8>) {
            dispatch!(self, f => f.emit(out))
        }
    }

    /// Gives `dispatch!` access to each frame's `TAG`.
    trait TagOf {
        fn tag_of(&self) -> Tag;
    }
    macro_rules! tag_of {
        ($($ty:ident),*) => {
            $(impl TagOf for $ty { fn tag_of(&self) -> Tag { Self::TAG } })*
        };
    }
    tag_of!(
        HelloFrame,
        AuthRequestFrame,
        AuthBadMethodFrame,
        AuthReplyMoreFrame,
        AuthRequestMoreFrame,
        AuthDoneFrame,
        AuthSignatureFrame,
        ClientIdentFrame,
        ServerIdentFrame,
        IdentMissingFeaturesFrame,
        SessionReconnectFrame,
        SessionResetFrame,
        SessionRetryFrame,
        SessionRetryGlobalFrame,
        SessionReconnectOkFrame,
        WaitFrame,
        Keepalive2Frame,
        Keepalive2AckFrame,
        AckFrame
    );

    macro_rules! from_frame {
        ($($ty:ident => $v:ident),*) => {
            $(impl From<$ty> for ControlFrame { fn from(f: $ty) -> Self { ControlFrame::$v(f) } })*
        };
    }
    from_frame!(
        HelloFrame => Hello,
        AuthRequestFrame => AuthRequest,
        AuthBadMethodFrame => AuthBadMethod,
        AuthReplyMoreFrame => AuthReplyMore,
        AuthRequestMoreFrame => AuthRequestMore,
        AuthDoneFrame => AuthDone,
        AuthSignatureFrame => AuthSignature,
        ClientIdentFrame => ClientIdent,
        ServerIdentFrame => ServerIdent,
        IdentMissingFeaturesFrame => IdentMissingFeatures,
        SessionReconnectFrame => SessionReconnect,
        SessionResetFrame => SessionReset,
        SessionRetryFrame => SessionRetry,
        SessionRetryGlobalFrame => SessionRetryGlobal,
        SessionReconnectOkFrame => SessionReconnectOk,
        WaitFrame => Wait,
        Keepalive2Frame => Keepalive2,
        Keepalive2AckFrame => Keepalive2Ack,
        AckFrame => Ack
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::addr::AddrType;
    use crate::wire::features;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn v2(s: &str) -> EntityAddr {
        s.parse().unwrap()
    }

    /// One of every frame with realistic IPv4 contents.
    fn samples() -> Vec<ControlFrame> {
        let mon = v2("v2:127.0.0.1:3300/0");
        let me = EntityAddr {
            ty: AddrType::Any,
            nonce: 0x0102_0304,
            addr: Some("127.0.0.1:0".parse().unwrap()),
        };
        vec![
            HelloFrame {
                entity_type: 8,
                peer_addr: mon,
            }
            .into(),
            AuthRequestFrame {
                method: 1,
                preferred_modes: vec![2, 1],
                auth_payload: b"\x0a\x08\x00\x00\x00\x05\x00\x00\x00admin\0\0\0\0\0\0\0\0".to_vec(),
            }
            .into(),
            AuthBadMethodFrame {
                method: 1,
                result: -95,
                allowed_methods: vec![2],
                allowed_modes: vec![2, 1],
            }
            .into(),
            AuthReplyMoreFrame {
                auth_payload: vec![1; 9],
            }
            .into(),
            AuthRequestMoreFrame {
                auth_payload: vec![2; 40],
            }
            .into(),
            AuthDoneFrame {
                global_id: 4123,
                con_mode: 1,
                auth_payload: vec![],
            }
            .into(),
            AuthSignatureFrame { signature: [0; 32] }.into(),
            ClientIdentFrame {
                addrs: EntityAddrVec::single(me),
                target_addr: mon,
                gid: -1,
                global_seq: 1,
                supported_features: features::PACIFIC_SUPPORTED,
                required_features: features::REQUIRED_DEFAULT,
                flags: CONNECT_FLAG_LOSSY,
                client_cookie: 0,
            }
            .into(),
            ServerIdentFrame {
                addrs: EntityAddrVec::single(mon),
                gid: 0,
                global_seq: 7,
                supported_features: features::PACIFIC_SUPPORTED,
                required_features: 0x0c01_0200_0204_0000,
                flags: CONNECT_FLAG_LOSSY,
                server_cookie: 0,
            }
            .into(),
            IdentMissingFeaturesFrame { features: 1 << 59 }.into(),
            SessionReconnectFrame {
                addrs: EntityAddrVec::single(me),
                client_cookie: 1,
                server_cookie: 2,
                global_seq: 3,
                connect_seq: 4,
                msg_seq: 5,
            }
            .into(),
            SessionResetFrame { full: true }.into(),
            SessionRetryFrame { connect_seq: 9 }.into(),
            SessionRetryGlobalFrame { global_seq: 10 }.into(),
            SessionReconnectOkFrame { msg_seq: 11 }.into(),
            WaitFrame.into(),
            Keepalive2Frame {
                stamp: UTime::new(1, 2),
            }
            .into(),
            Keepalive2AckFrame {
                stamp: UTime::new(1, 2),
            }
            .into(),
            AckFrame { seq: 12 }.into(),
        ]
    }

    fn enc(f: &ControlFrame) -> Vec<u8> {
        let mut out = Vec::new();
        f.emit(&mut out);
        assert_eq!(out.len(), f.buffer_len(), "{:?}", f.tag());
        out
    }

    #[test]
    fn observed_sizes() {
        let s = samples();
        let size = |t: Tag| enc(s.iter().find(|f| f.tag() == t).unwrap()).len();
        assert_eq!(size(Tag::Hello), 36);
        assert_eq!(size(Tag::AuthDone), 16);
        assert_eq!(size(Tag::AuthSignature), 32);
        assert_eq!(size(Tag::ClientIdent), 123);
        assert_eq!(size(Tag::ServerIdent), 88);
        assert_eq!(size(Tag::Keepalive2), 8);
        assert_eq!(size(Tag::Keepalive2Ack), 8);
        assert_eq!(size(Tag::Wait), 0);
    }

    #[test]
    fn every_tag_covered_and_round_trips() {
        let s = samples();
        for t in 1..=20u8 {
            let tag = Tag::from_u8(t).unwrap();
            if tag == Tag::Message {
                assert!(ControlFrame::parse(tag, &[]).is_err());
                continue;
            }
            let f = s.iter().find(|f| f.tag() == tag).expect("sample per tag");
            let bytes = enc(f);
            assert_eq!(&ControlFrame::parse(tag, &bytes).unwrap(), f);
        }
    }

    #[test]
    fn every_truncation_and_trailing_byte_is_rejected() {
        for f in samples() {
            let bytes = enc(&f);
            for cut in 0..bytes.len() {
                assert!(
                    ControlFrame::parse(f.tag(), &bytes[..cut]).is_err(),
                    "{:?} cut at {cut}",
                    f.tag()
                );
            }
            let mut long = bytes.clone();
            long.push(0);
            assert!(
                matches!(
                    ControlFrame::parse(f.tag(), &long),
                    Err(DecodeError::Trailing { trailing: 1, .. })
                ),
                "{:?}",
                f.tag()
            );
        }
    }

    #[test]
    fn keepalive_matches_vector() {
        // reference 3.9: KEEPALIVE2 payload utime {sec=1, nsec=2}
        let k = Keepalive2Frame::parse(&[1, 0, 0, 0, 2, 0, 0, 0]).unwrap();
        assert_eq!(k.stamp, UTime::new(1, 2));
        assert_eq!(Keepalive2Frame::TAG, Tag::Keepalive2);
    }

    #[test]
    fn limits_are_enforced() {
        let mut p = Vec::new();
        p.put_u32_le(1);
        p.put_u32_le(17);
        p.extend_from_slice(&[0u8; 17 * 4 + 4]);
        assert!(matches!(
            AuthRequestFrame::parse(&p),
            Err(DecodeError::TooLong { .. })
        ));
        let mut p = Vec::new();
        p.put_u32_le(MAX_AUTH_PAYLOAD as u32 + 1);
        assert!(matches!(
            AuthReplyMoreFrame::parse(&p),
            Err(DecodeError::TooLong { .. })
        ));
    }

    /// Control payloads captured (strace) between Pacific 16.2.15 `ceph osd
    /// dump` and a 16.2.15 mon with auth none, crc mode: each decodes and
    /// re-encodes byte for byte.
    #[test]
    fn pacific_capture_round_trips() {
        let hex = crate::wire::hex;
        let cases: [(Tag, &str); 7] = [
            (Tag::Hello, "080101011c00000002000000000000001000000002009c407f004d010000000000000000"),
            (Tag::Hello, "010101011c0000000200000000000000100000000200946e7f0000010000000000000000"),
            (Tag::AuthRequest, "010000000100000001000000160000000a080000000500000061646d696e0000000000000000"),
            (Tag::AuthDone, "16100000000000000100000000000000"),
            (Tag::AuthSignature, "0000000000000000000000000000000000000000000000000000000000000000"),
            (Tag::ClientIdent, "02010000000101011c0000000300000096fbde7a10000000020000007f00000100000000000000000101011c00000002000000000000001000000002009c407f004d010000000000000000ffffffffffffffff0100000000000000fffffdffbdcf013f001000000000000801000000000000000000000000000000"),
            (Tag::ServerIdent, "02020000000101011c00000002000000000000001000000002009c407f004d0100000000000000000101011c0000000100000000000000100000000200a9e17f004d01000000000000000000000000000000001600000000000000fffffdffbdcf013f000004020002010c01000000000000000000000000000000"),
        ];
        for (tag, h) in cases {
            let bytes = hex(h);
            let f = ControlFrame::parse(tag, &bytes).unwrap();
            assert_eq!(enc(&f), bytes, "{tag:?}");
        }
        let ci = ClientIdentFrame::parse(&hex(cases[5].1)).unwrap();
        assert_eq!(ci.target_addr.to_string(), "v2:127.0.77.1:40000/0");
        assert_eq!(ci.addrs.0[0].ty, AddrType::Any);
        assert_eq!(ci.gid, -1);
        assert_eq!(ci.supported_features, features::PACIFIC_SUPPORTED);
        assert_eq!(
            ci.required_features,
            features::MSG_ADDR2 | features::OSDREPLYMUX
        );
        assert_eq!(ci.flags, CONNECT_FLAG_LOSSY);
        let si = ServerIdentFrame::parse(&hex(cases[6].1)).unwrap();
        assert_eq!(
            si.addrs.to_string(),
            "[v2:127.0.77.1:40000/0,v1:127.0.77.1:43489/0]"
        );
        assert_eq!(si.required_features, 0x0c01_0200_0204_0000);
        assert_eq!((si.flags, si.server_cookie), (CONNECT_FLAG_LOSSY, 0));
        let ad = AuthDoneFrame::parse(&hex(cases[3].1)).unwrap();
        assert_eq!((ad.global_id, ad.con_mode), (0x1016, 1));
        let ar = AuthRequestFrame::parse(&hex(cases[2].1)).unwrap();
        assert_eq!((ar.method, ar.preferred_modes.as_slice()), (1, &[1u32][..]));
    }

    fn arb_addrvec() -> impl Strategy<Value = EntityAddrVec> {
        vec(crate::wire::addr::tests::arb_addr(), 0..3).prop_map(EntityAddrVec)
    }

    fn arb_frame() -> impl Strategy<Value = ControlFrame> {
        let bytes = || vec(any::<u8>(), 0..64);
        let list = || vec(any::<u32>(), 0..=MAX_LIST);
        let ut = || (any::<u32>(), any::<u32>()).prop_map(|(s, n)| UTime::new(s, n));
        prop_oneof![
            (any::<u8>(), crate::wire::addr::tests::arb_addr()).prop_map(
                |(entity_type, peer_addr)| {
                    HelloFrame {
                        entity_type,
                        peer_addr,
                    }
                    .into()
                }
            ),
            (any::<u32>(), list(), bytes()).prop_map(|(method, preferred_modes, auth_payload)| {
                AuthRequestFrame {
                    method,
                    preferred_modes,
                    auth_payload,
                }
                .into()
            }),
            (any::<u32>(), any::<i32>(), list(), list()).prop_map(|(method, result, m, o)| {
                AuthBadMethodFrame {
                    method,
                    result,
                    allowed_methods: m,
                    allowed_modes: o,
                }
                .into()
            }),
            bytes().prop_map(|auth_payload| AuthReplyMoreFrame { auth_payload }.into()),
            bytes().prop_map(|auth_payload| AuthRequestMoreFrame { auth_payload }.into()),
            (any::<u64>(), any::<u32>(), bytes()).prop_map(
                |(global_id, con_mode, auth_payload)| {
                    AuthDoneFrame {
                        global_id,
                        con_mode,
                        auth_payload,
                    }
                    .into()
                }
            ),
            any::<[u8; 32]>().prop_map(|signature| AuthSignatureFrame { signature }.into()),
            (
                arb_addrvec(),
                crate::wire::addr::tests::arb_addr(),
                any::<i64>(),
                any::<[u64; 5]>()
            )
                .prop_map(|(addrs, target_addr, gid, n)| ClientIdentFrame {
                    addrs,
                    target_addr,
                    gid,
                    global_seq: n[0],
                    supported_features: n[1],
                    required_features: n[2],
                    flags: n[3],
                    client_cookie: n[4],
                }
                .into()),
            (arb_addrvec(), any::<i64>(), any::<[u64; 5]>()).prop_map(|(addrs, gid, n)| {
                ServerIdentFrame {
                    addrs,
                    gid,
                    global_seq: n[0],
                    supported_features: n[1],
                    required_features: n[2],
                    flags: n[3],
                    server_cookie: n[4],
                }
                .into()
            }),
            any::<u64>().prop_map(|features| IdentMissingFeaturesFrame { features }.into()),
            (arb_addrvec(), any::<[u64; 5]>()).prop_map(|(addrs, n)| SessionReconnectFrame {
                addrs,
                client_cookie: n[0],
                server_cookie: n[1],
                global_seq: n[2],
                connect_seq: n[3],
                msg_seq: n[4],
            }
            .into()),
            any::<bool>().prop_map(|full| SessionResetFrame { full }.into()),
            any::<u64>().prop_map(|connect_seq| SessionRetryFrame { connect_seq }.into()),
            any::<u64>().prop_map(|global_seq| SessionRetryGlobalFrame { global_seq }.into()),
            any::<u64>().prop_map(|msg_seq| SessionReconnectOkFrame { msg_seq }.into()),
            Just(WaitFrame.into()),
            ut().prop_map(|stamp| Keepalive2Frame { stamp }.into()),
            ut().prop_map(|stamp| Keepalive2AckFrame { stamp }.into()),
            any::<u64>().prop_map(|seq| AckFrame { seq }.into()),
        ]
    }

    proptest! {
        #[test]
        fn frames_round_trip(f in arb_frame()) {
            let bytes = enc(&f);
            prop_assert_eq!(ControlFrame::parse(f.tag(), &bytes).unwrap(), f);
        }

        #[test]
        fn parse_never_panics(t in 1u8..=20, bytes in vec(any::<u8>(), 0..160)) {
            let tag = Tag::from_u8(t).unwrap();
            let _ = ControlFrame::parse(tag, &bytes);
        }
    }
}
