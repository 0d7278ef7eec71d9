//! One secure-mode GCM chunk whose sealing waits until it is written: the
//! plaintext is `head | body | tail`, where `body` is a message payload held
//! by reference, and the nonce was reserved when the frame was encoded. A
//! transport with a send buffer (smoltcp's ring) takes it by copying the
//! plaintext into its free space and sealing it there, so the payload is
//! copied once and encrypted in place instead of being sealed into the
//! connection's buffer and copied again.

use bytes::Bytes;

use crate::crypto::{CryptoError, ReservedNonce, Sealer, TAG_LEN};

/// A GCM chunk queued unsealed (reference 3.5/3.6: one nonce per chunk).
#[derive(Debug)]
pub struct SealRun {
    sealer: Sealer,
    nonce: ReservedNonce,
    head: Vec<u8>,
    body: Bytes,
    tail: Vec<u8>,
}

impl SealRun {
    /// A chunk of plaintext `head | body | tail`, to be sealed with `nonce`.
    pub fn new(
        sealer: Sealer,
        nonce: ReservedNonce,
        head: Vec<u8>,
        body: Bytes,
        tail: Vec<u8>,
    ) -> Self {
        SealRun {
            sealer,
            nonce,
            head,
            body,
            tail,
        }
    }

    /// Bytes on the wire: the ciphertext and its tag.
    pub fn wire_len(&self) -> usize {
        self.head.len() + self.body.len() + self.tail.len() + TAG_LEN
    }

    /// Length of the payload held by reference.
    pub fn body_len(&self) -> usize {
        self.body.len()
    }

    /// Seals the chunk into `out`, which must be exactly
    /// [`SealRun::wire_len`] bytes long (ciphertext, then tag).
    pub fn seal_into(&self, out: &mut [u8]) -> Result<(), CryptoError> {
        let text_len = self.wire_len() - TAG_LEN;
        let (text, tag_out) = match out.split_at_mut_checked(text_len) {
            Some((text, tag_out)) if tag_out.len() == TAG_LEN => (text, tag_out),
            _ => return Err(CryptoError::SealFailed { len: out.len() }),
        };
        let tag =
            self.sealer
                .seal_gather(&self.nonce, &[&self.head, &self.body, &self.tail], text)?;
        tag_out.copy_from_slice(&tag);
        Ok(())
    }

    /// Seals the chunk into a new buffer (for transports without a send
    /// buffer to seal in, or a chunk that does not fit the free space).
    pub fn seal_to_vec(&self) -> Result<Vec<u8>, CryptoError> {
        let mut v = Vec::with_capacity(self.wire_len());
        v.extend_from_slice(&self.head);
        v.extend_from_slice(&self.body);
        v.extend_from_slice(&self.tail);
        let tag = self.sealer.seal_in_place(&self.nonce, &mut v)?;
        v.extend_from_slice(&tag);
        Ok(v)
    }
}
