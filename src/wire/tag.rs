//! Frame tags and connection modes (msgr2 reference sections 5 and 4.1).

/// The tag byte of a msgr2 frame (reference section 5). Tags 21/22
/// (compression) are Quincy-only and are not spoken here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Tag {
    Hello = 1,
    AuthRequest = 2,
    AuthBadMethod = 3,
    AuthReplyMore = 4,
    AuthRequestMore = 5,
    AuthDone = 6,
    AuthSignature = 7,
    ClientIdent = 8,
    ServerIdent = 9,
    IdentMissingFeatures = 10,
    SessionReconnect = 11,
    SessionReset = 12,
    SessionRetry = 13,
    SessionRetryGlobal = 14,
    SessionReconnectOk = 15,
    Wait = 16,
    Message = 17,
    Keepalive2 = 18,
    Keepalive2Ack = 19,
    Ack = 20,
}

impl Tag {
    /// Maps a tag byte to a known tag; `None` for anything this side does not speak.
    pub fn from_u8(v: u8) -> Option<Tag> {
        use Tag::*;
        Some(match v {
            1 => Hello,
            2 => AuthRequest,
            3 => AuthBadMethod,
            4 => AuthReplyMore,
            5 => AuthRequestMore,
            6 => AuthDone,
            7 => AuthSignature,
            8 => ClientIdent,
            9 => ServerIdent,
            10 => IdentMissingFeatures,
            11 => SessionReconnect,
            12 => SessionReset,
            13 => SessionRetry,
            14 => SessionRetryGlobal,
            15 => SessionReconnectOk,
            16 => Wait,
            17 => Message,
            18 => Keepalive2,
            19 => Keepalive2Ack,
            20 => Ack,
            _ => return None,
        })
    }

    /// The tag's protocol name (`"AUTH_REQUEST"`), for errors and logs.
    pub fn name(self) -> &'static str {
        use Tag::*;
        match self {
            Hello => "HELLO",
            AuthRequest => "AUTH_REQUEST",
            AuthBadMethod => "AUTH_BAD_METHOD",
            AuthReplyMore => "AUTH_REPLY_MORE",
            AuthRequestMore => "AUTH_REQUEST_MORE",
            AuthDone => "AUTH_DONE",
            AuthSignature => "AUTH_SIGNATURE",
            ClientIdent => "CLIENT_IDENT",
            ServerIdent => "SERVER_IDENT",
            IdentMissingFeatures => "IDENT_MISSING_FEATURES",
            SessionReconnect => "SESSION_RECONNECT",
            SessionReset => "SESSION_RESET",
            SessionRetry => "SESSION_RETRY",
            SessionRetryGlobal => "SESSION_RETRY_GLOBAL",
            SessionReconnectOk => "SESSION_RECONNECT_OK",
            Wait => "WAIT",
            Message => "MESSAGE",
            Keepalive2 => "KEEPALIVE2",
            Keepalive2Ack => "KEEPALIVE2_ACK",
            Ack => "ACK",
        }
    }
}

/// A connection mode as carried in AUTH_REQUEST / AUTH_DONE (reference 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ConMode {
    /// `CEPH_CON_MODE_CRC`: CRC32-C integrity only.
    Crc = 1,
    /// `CEPH_CON_MODE_SECURE`: AES-128-GCM.
    Secure = 2,
}

impl ConMode {
    /// Maps a wire value to a mode; `None` for unknown values (0 is "unknown").
    pub fn from_u32(v: u32) -> Option<ConMode> {
        match v {
            1 => Some(ConMode::Crc),
            2 => Some(ConMode::Secure),
            _ => None,
        }
    }

    /// The lower-case name used in CLI flags and JSON output.
    pub fn name(self) -> &'static str {
        match self {
            ConMode::Crc => "crc",
            ConMode::Secure => "secure",
        }
    }
}

/// Which msgr2 frame revision a connection speaks (reference section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Revision {
    /// msgr2.0: rev0 frame formats, 32-bit GCM nonce counter.
    V2_0,
    /// msgr2.1: rev1 frame formats, 64-bit GCM nonce counter.
    V2_1,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tag_round_trips() {
        for v in 0u8..=255 {
            if let Some(t) = Tag::from_u8(v) {
                assert_eq!(t as u8, v);
            } else {
                assert!(v == 0 || v > 20);
            }
        }
    }
}
