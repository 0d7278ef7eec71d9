//! Moving payloads in and out of the connection's [`Message`].

use super::MessagePayload;
use crate::proto::{Message, PRIO_DEFAULT};
use crate::wire::DecodeError;

/// Builds a [`Message`] carrying `payload`, with transaction id `tid`.
pub fn to_message<P: MessagePayload>(payload: &P, tid: u64) -> Message {
    let e = payload.encode();
    Message {
        ty: e.ty,
        tid,
        priority: PRIO_DEFAULT,
        version: e.version,
        compat_version: e.compat_version,
        data_off: 0,
        seq: 0,
        front: e.front.into(),
        middle: e.middle.into(),
        data: e.data.into(),
    }
}

/// Decodes the payload of a received message as `P`, checking its type and
/// compat version.
pub fn from_message<P: MessagePayload>(m: &Message) -> Result<P, DecodeError> {
    P::decode(
        m.ty,
        m.version,
        m.compat_version,
        &m.front,
        &m.middle,
        &m.data,
    )
}
