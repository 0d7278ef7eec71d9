//! `auth_none` (method 1): the client names itself, the server assigns a
//! global id; no keys, crc mode only (msgr2 reference section 8.1).

use zeroize::Zeroizing;

use super::{
    AuthClient, AuthError, AuthOutcome, AuthServer, AuthServerStep, AUTH_MODE_AUTHORIZER,
    AUTH_MODE_MON, METHOD_NONE,
};
use crate::wire::entity::MAX_ENTITY_ID_LEN;
use crate::wire::{ConMode, Put, Reader};

/// The connector side of auth none.
#[derive(Debug, Clone)]
pub struct NoneClient {
    entity_type: u32,
    entity_id: String,
    global_id: u64,
    toward_mon: bool,
}

impl NoneClient {
    /// A client named `entity_type.entity_id` (for example 8 and "admin"),
    /// authenticating toward a monitor (`toward_mon`) or a daemon, presenting
    /// `global_id` (0 asks a monitor for a new one).
    pub fn new(entity_type: u32, entity_id: &str, global_id: u64, toward_mon: bool) -> Self {
        NoneClient {
            entity_type,
            entity_id: entity_id.to_owned(),
            global_id,
            toward_mon,
        }
    }
}

fn empty_outcome(global_id: u64) -> AuthOutcome {
    AuthOutcome {
        global_id,
        session_key: Zeroizing::new(Vec::new()),
        connection_secret: Zeroizing::new(Vec::new()),
        peer: None,
    }
}

impl AuthClient for NoneClient {
    fn method_and_modes(&self) -> (u32, Vec<ConMode>) {
        (METHOD_NONE, vec![ConMode::Crc])
    }

    fn request(&mut self) -> Result<Vec<u8>, AuthError> {
        let mut out = Vec::with_capacity(32);
        out.put_u8(if self.toward_mon {
            AUTH_MODE_MON
        } else {
            AUTH_MODE_AUTHORIZER
        });
        out.put_u32_le(self.entity_type);
        out.put_bytes_le32(self.entity_id.as_bytes());
        out.put_u64_le(self.global_id);
        Ok(out)
    }

    fn handle_reply_more(&mut self, _payload: &[u8]) -> Result<Vec<u8>, AuthError> {
        Err(AuthError::UnexpectedStep(
            "AUTH_REPLY_MORE during auth none, which has no second round",
        ))
    }

    fn handle_bad_method(
        &mut self,
        _method: u32,
        result: i32,
        allowed_methods: &[u32],
        allowed_modes: &[u32],
    ) -> Result<(), AuthError> {
        // auth none has nothing else to offer; say what the server wanted.
        let _ = result;
        Err(AuthError::NoAcceptableMethod {
            methods: allowed_methods.to_vec(),
            modes: allowed_modes.to_vec(),
        })
    }

    fn handle_done(
        &mut self,
        global_id: u64,
        mode: ConMode,
        _payload: &[u8],
    ) -> Result<AuthOutcome, AuthError> {
        if mode != ConMode::Crc {
            return Err(AuthError::ModeNotOffered { got: mode as u32 });
        }
        self.global_id = global_id;
        Ok(empty_outcome(global_id))
    }

    /// auth none is crc only: any list that still allows crc keeps it.
    fn set_modes(&mut self, modes: Vec<ConMode>) -> bool {
        modes.contains(&ConMode::Crc)
    }
}

/// The acceptor side of auth none: accepts any named entity.
///
/// Global ids are handed out from `next_global_id` upward for requests that
/// present 0; a request presenting an id keeps it (as Ceph's daemons do).
#[derive(Debug, Clone)]
pub struct NoneServer {
    next_global_id: u64,
}

impl NoneServer {
    /// A server that assigns global ids starting at `first_global_id`.
    pub fn new(first_global_id: u64) -> Self {
        NoneServer {
            next_global_id: first_global_id,
        }
    }
}

impl AuthServer for NoneServer {
    fn allowed_methods(&self, _peer_type: u8) -> Vec<u32> {
        vec![METHOD_NONE]
    }

    fn allowed_modes(&self, _peer_type: u8, _method: u32) -> Vec<ConMode> {
        // auth none yields no key, so secure mode is impossible (reference 4.1).
        vec![ConMode::Crc]
    }

    fn handle_request(
        &mut self,
        _peer_type: u8,
        _method: u32,
        _mode: ConMode,
        payload: &[u8],
    ) -> Result<AuthServerStep, AuthError> {
        let mut r = Reader::new(payload, "auth none request");
        let auth_mode = r.u8()?;
        if auth_mode != AUTH_MODE_MON && auth_mode != AUTH_MODE_AUTHORIZER {
            return Err(AuthError::Decode(crate::wire::DecodeError::InvalidValue {
                what: "auth none request mode",
                value: u64::from(auth_mode),
            }));
        }
        let _entity_type = r.u32_le()?;
        let _entity_id = r.bytes_le32(MAX_ENTITY_ID_LEN)?;
        let mut global_id = r.u64_le()?;
        if global_id == 0 {
            global_id = self.next_global_id;
            self.next_global_id += 1;
        }
        Ok(AuthServerStep::Done {
            outcome: empty_outcome(global_id),
            payload: Vec::new(),
        })
    }

    fn handle_request_more(&mut self, _payload: &[u8]) -> Result<AuthServerStep, AuthError> {
        Err(AuthError::UnexpectedStep(
            "AUTH_REQUEST_MORE during auth none, which has no second round",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes_match_reference_layout() {
        let mut c = NoneClient::new(8, "admin", 0, true);
        let req = c.request().unwrap();
        let mut want = vec![10u8, 8, 0, 0, 0, 5, 0, 0, 0];
        want.extend_from_slice(b"admin");
        want.extend_from_slice(&[0; 8]);
        assert_eq!(req, want);
    }

    #[test]
    fn server_assigns_and_keeps_global_ids() {
        let mut s = NoneServer::new(4100);
        let mut fresh = NoneClient::new(8, "admin", 0, true);
        let mut known = NoneClient::new(4, "3", 77, false);
        let ids: Vec<u64> = [fresh.request().unwrap(), known.request().unwrap()]
            .iter()
            .map(|p| match s.handle_request(8, 1, ConMode::Crc, p).unwrap() {
                AuthServerStep::Done { outcome, .. } => outcome.global_id,
                AuthServerStep::More(_) => panic!("auth none has one round"),
            })
            .collect();
        assert_eq!(ids, vec![4100, 77]);
    }

    #[test]
    fn truncated_request_is_a_decode_error() {
        let mut s = NoneServer::new(1);
        let err = s
            .handle_request(8, 1, ConMode::Crc, &[10, 8, 0])
            .err()
            .expect("truncated request must fail");
        assert!(matches!(err, AuthError::Decode(_)));
    }
}
