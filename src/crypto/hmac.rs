//! AUTH_SIGNATURE: HMAC-SHA256 over the pre-auth transcript (msgr2 reference 7.3).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The length of an AUTH_SIGNATURE payload (reference section 5, tag 7).
pub const SIGNATURE_LEN: usize = 32;

/// Signs the raw pre-auth bytes (reference 7.3, pitfall 11.4):
/// HMAC-SHA256 keyed with the auth session key, or 32 zero bytes when the key
/// is empty (auth none).
pub fn sign_transcript(session_key: &[u8], transcript: &[u8]) -> [u8; SIGNATURE_LEN] {
    if session_key.is_empty() {
        return [0u8; SIGNATURE_LEN];
    }
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(session_key) else {
        return [0u8; SIGNATURE_LEN];
    };
    mac.update(transcript);
    let mut out = [0u8; SIGNATURE_LEN];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// Checks a peer's AUTH_SIGNATURE against our transcript in constant time
/// (reference 7.3). A signature that is not exactly 32 bytes never matches.
pub fn verify_transcript(session_key: &[u8], transcript: &[u8], signature: &[u8]) -> bool {
    if signature.len() != SIGNATURE_LEN {
        return false;
    }
    let expected = sign_transcript(session_key, transcript);
    expected.ct_eq(signature).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_none_signs_with_zeros() {
        assert_eq!(sign_transcript(&[], b"anything"), [0u8; 32]);
        assert!(verify_transcript(&[], b"x", &[0u8; 32]));
        assert!(!verify_transcript(&[], b"x", &[1u8; 32]));
    }

    #[test]
    fn rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let sig = sign_transcript(b"Jefe", b"what do ya want for nothing?");
        let want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let hex: String = sig.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, want);
        assert!(verify_transcript(
            b"Jefe",
            b"what do ya want for nothing?",
            &sig
        ));
        let mut bad = sig;
        bad[31] ^= 1;
        assert!(!verify_transcript(
            b"Jefe",
            b"what do ya want for nothing?",
            &bad
        ));
        assert!(!verify_transcript(
            b"Jefe",
            b"what do ya want for nothing?",
            &sig[..31]
        ));
    }
}
