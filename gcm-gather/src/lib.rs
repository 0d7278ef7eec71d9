//! AES-128-GCM in pieces, in one pass, over AWS-LC's streaming `EVP_CIPHER`
//! interface (the same AVX-512/AES-NI kernels as its AEAD interface, which
//! takes a chunk whole, in at most two pieces):
//!
//! * [`GatherSealer`] seals plaintext given in pieces into a separate
//!   buffer. A secure frame's chunk is `head | payload | tail` with the
//!   payload held by reference; sealing it from there straight into the
//!   transport's send buffer fuses the copy into the encryption pass.
//! * [`StreamOpener`] decrypts a chunk as its pieces arrive, out of the
//!   transport's receive buffer into the message's buffer, and checks the
//!   tag at the end: the copy out of the transport is the decryption pass,
//!   where gathering the chunk first took a copy and then a pass in place.

use std::os::raw::{c_int, c_void};
use std::ptr;
use std::sync::Mutex;

use aws_lc_sys as sys;

/// AES-128 key length.
pub const AES128_KEY_LEN: usize = 16;
/// GCM nonce length (the default 96-bit IV).
pub const NONCE_LEN: usize = 12;
/// GCM tag length.
pub const TAG_LEN: usize = 16;

/// An `EVP_CIPHER_CTX` keyed once for AES-128-GCM.
struct Ctx(*mut sys::EVP_CIPHER_CTX);

// SAFETY: the context is owned here alone and used only under the mutex
// in `GatherSealer`, one call at a time.
unsafe impl Send for Ctx {}

/// Which way a context runs.
#[derive(Clone, Copy)]
enum Direction {
    Seal,
    Open,
}

impl Ctx {
    /// A new context keyed with `key` for AES-128-GCM in `dir`, with no IV
    /// yet (each chunk sets its own); `None` if AWS-LC refuses.
    fn keyed(key: &[u8; AES128_KEY_LEN], dir: Direction) -> Option<Ctx> {
        // SAFETY: a fresh context (freed by Drop if keying fails), a static
        // cipher, a 16-byte key, no engine and no IV.
        unsafe {
            let raw = sys::EVP_CIPHER_CTX_new();
            if raw.is_null() {
                return None;
            }
            let ctx = Ctx(raw);
            let init = match dir {
                Direction::Seal => sys::EVP_EncryptInit_ex,
                Direction::Open => sys::EVP_DecryptInit_ex,
            };
            let ok = init(
                ctx.0,
                sys::EVP_aes_128_gcm(),
                ptr::null_mut(),
                key.as_ptr(),
                ptr::null(),
            );
            (ok == 1).then_some(ctx)
        }
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        // SAFETY: allocated by EVP_CIPHER_CTX_new, freed once; frees the key schedule too.
        unsafe { sys::EVP_CIPHER_CTX_free(self.0) }
    }
}

/// Seals gathered plaintext pieces with one key; each call takes its own nonce.
pub struct GatherSealer {
    ctx: Mutex<Ctx>,
}

impl std::fmt::Debug for GatherSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GatherSealer(aws-lc EVP_aes_128_gcm)")
    }
}

impl GatherSealer {
    /// Expands `key`; `None` if AWS-LC refuses (out of memory).
    pub fn new(key: &[u8; AES128_KEY_LEN]) -> Option<Self> {
        Ctx::keyed(key, Direction::Seal).map(|ctx| GatherSealer {
            ctx: Mutex::new(ctx),
        })
    }

    /// Encrypts the concatenation of `parts` into `out` (exactly as long)
    /// with `nonce` and no AAD, and returns the tag: the same bytes as
    /// copying the parts into `out` and sealing it in place. `None` if
    /// `out` has the wrong length (nothing is written then) or AWS-LC fails.
    pub fn seal_gather(
        &self,
        nonce: &[u8; NONCE_LEN],
        parts: &[&[u8]],
        out: &mut [u8],
    ) -> Option<[u8; TAG_LEN]> {
        let failed = None;
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total != out.len() || c_int::try_from(total).is_err() {
            return failed;
        }
        let ctx = self.ctx.lock().unwrap_or_else(|e| e.into_inner());
        let mut tag = [0u8; TAG_LEN];
        // SAFETY: the context is keyed for AES-128-GCM (12-byte default IV);
        // each update writes exactly its input's length (GCM is a stream
        // mode) at `out[at..]`, and the lengths sum to `out.len()`, checked
        // above; Final writes nothing for GCM; the tag buffer is 16 bytes.
        unsafe {
            let c = ctx.0;
            if sys::EVP_EncryptInit_ex(c, ptr::null(), ptr::null_mut(), ptr::null(), nonce.as_ptr())
                != 1
            {
                return failed;
            }
            let mut at = 0usize;
            for p in parts.iter().filter(|p| !p.is_empty()) {
                let mut written: c_int = 0;
                let ok = sys::EVP_EncryptUpdate(
                    c,
                    out.as_mut_ptr().add(at),
                    &mut written,
                    p.as_ptr(),
                    p.len() as c_int,
                );
                if ok != 1 || written as usize != p.len() {
                    return failed;
                }
                at += p.len();
            }
            let mut written: c_int = 0;
            if sys::EVP_EncryptFinal_ex(c, out.as_mut_ptr().add(at), &mut written) != 1
                || written != 0
            {
                return failed;
            }
            if sys::EVP_CIPHER_CTX_ctrl(
                c,
                sys::EVP_CTRL_GCM_GET_TAG,
                TAG_LEN as c_int,
                tag.as_mut_ptr().cast::<c_void>(),
            ) != 1
            {
                return failed;
            }
        }
        Some(tag)
    }
}

/// Decrypts one chunk at a time as it arrives in pieces; the caller must
/// not use the plaintext before [`StreamOpener::finish`] verified the tag.
pub struct StreamOpener {
    ctx: Ctx,
}

impl std::fmt::Debug for StreamOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamOpener(aws-lc EVP_aes_128_gcm)")
    }
}

impl StreamOpener {
    /// Expands `key`; `None` if AWS-LC refuses (out of memory).
    pub fn new(key: &[u8; AES128_KEY_LEN]) -> Option<Self> {
        Ctx::keyed(key, Direction::Open).map(|ctx| StreamOpener { ctx })
    }

    /// Starts a chunk with `nonce` (no AAD), dropping any chunk unfinished.
    pub fn start(&mut self, nonce: &[u8; NONCE_LEN]) -> bool {
        // SAFETY: the context is keyed for AES-128-GCM with the default
        // 12-byte IV; a new IV resets the GCM state.
        unsafe {
            sys::EVP_DecryptInit_ex(
                self.ctx.0,
                ptr::null(),
                ptr::null_mut(),
                ptr::null(),
                nonce.as_ptr(),
            ) == 1
        }
    }

    /// Decrypts the next `ciphertext` of the chunk and appends the
    /// plaintext to `out` (written into its spare capacity: no zeroing).
    pub fn decrypt_append(&mut self, ciphertext: &[u8], out: &mut Vec<u8>) -> bool {
        if ciphertext.is_empty() {
            return true;
        }
        let Ok(len) = c_int::try_from(ciphertext.len()) else {
            return false;
        };
        out.reserve(ciphertext.len());
        let at = out.len();
        let mut written: c_int = 0;
        // SAFETY: `reserve` made room for `ciphertext.len()` bytes past
        // `at`; GCM is a stream mode, so the update writes exactly as many
        // bytes as it reads (checked before they are exposed by set_len).
        unsafe {
            let ok = sys::EVP_DecryptUpdate(
                self.ctx.0,
                out.as_mut_ptr().add(at),
                &mut written,
                ciphertext.as_ptr(),
                len,
            );
            if ok != 1 || written != len {
                return false;
            }
            out.set_len(at + ciphertext.len());
        }
        true
    }

    /// Checks the chunk's `tag`; false if it does not verify (the plaintext
    /// appended for this chunk must then be discarded).
    pub fn finish(&mut self, tag: &[u8; TAG_LEN]) -> bool {
        let mut tag = *tag;
        let mut written: c_int = 0;
        let mut end = [0u8; 1];
        // SAFETY: the tag buffer is 16 bytes; Final writes nothing for GCM
        // (given a valid pointer all the same).
        unsafe {
            sys::EVP_CIPHER_CTX_ctrl(
                self.ctx.0,
                sys::EVP_CTRL_GCM_SET_TAG,
                TAG_LEN as c_int,
                tag.as_mut_ptr().cast::<c_void>(),
            ) == 1
                && sys::EVP_DecryptFinal_ex(self.ctx.0, end.as_mut_ptr(), &mut written) == 1
                && written == 0
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};

    use super::*;

    /// `plain` sealed by aws-lc-rs's AEAD interface (the reference these
    /// tests hold the streaming contexts to): ciphertext and tag.
    fn reference_seal(
        key: &[u8; AES128_KEY_LEN],
        nonce: [u8; NONCE_LEN],
        plain: &[u8],
    ) -> (Vec<u8>, [u8; TAG_LEN]) {
        let aead = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, key).expect("key"));
        let mut ct = plain.to_vec();
        let tag = aead
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut ct)
            .expect("seal");
        (ct, tag.as_ref().try_into().expect("16 bytes"))
    }

    /// Gathered pieces of any sizes (block-aligned or not, empty ones too)
    /// seal to the bytes and tag of the AEAD interface sealing their
    /// concatenation in place, for several nonces with one context.
    #[test]
    fn gathered_seal_matches_the_aead_in_place() {
        let key = [0x3C; AES128_KEY_LEN];
        let gather = GatherSealer::new(&key).expect("context");
        let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        for (i, cuts) in [
            [0, 0, 70_000],
            [32, 65_568, 70_000],
            [5, 5, 9],
            [17, 40_001, 40_003],
            [0, 16, 16],
        ]
        .iter()
        .enumerate()
        {
            let mut nonce = [0u8; NONCE_LEN];
            nonce[0] = i as u8;
            let end = cuts[2];
            let parts = [
                &data[..cuts[0]],
                &data[cuts[0]..cuts[1]],
                &data[cuts[1]..end],
            ];
            let mut out = vec![0u8; end];
            let tag = gather.seal_gather(&nonce, &parts, &mut out).expect("seal");
            let tag: &[u8] = &tag;
            let (want, want_tag) = reference_seal(&key, nonce, &data[..end]);
            assert!(out == want, "cuts {cuts:?}: ciphertext differs");
            assert_eq!(tag, &want_tag[..], "cuts {cuts:?}");
        }
    }

    /// A chunk decrypted piece by piece (pieces of any size) gives back the
    /// plaintext the AEAD sealed and verifies its tag; a flipped bit in the
    /// ciphertext or the tag fails `finish`; one context serves many chunks.
    #[test]
    fn streamed_open_matches_the_aead_and_checks_the_tag() {
        let key = [0x77; AES128_KEY_LEN];
        let mut opener = StreamOpener::new(&key).expect("context");
        let plain: Vec<u8> = (0..66_000u32).map(|i| (i % 253) as u8).collect();
        for (n, pieces) in [vec![66_000], vec![1, 15, 16, 17, 65_951], vec![9000; 8]]
            .into_iter()
            .enumerate()
        {
            let nonce = [n as u8; NONCE_LEN];
            let len: usize = pieces.iter().sum::<usize>().min(plain.len());
            let (ct, tag) = reference_seal(&key, nonce, &plain[..len]);
            for flip in [None, Some(len / 2), Some(len + 3)] {
                let (mut ct, mut tag) = (ct.clone(), tag);
                match flip {
                    Some(i) if i < len => ct[i] ^= 1,
                    Some(i) => tag[i - len] ^= 1,
                    None => {}
                }
                assert!(opener.start(&nonce));
                let mut out = b"kept".to_vec();
                let mut at = 0;
                for p in &pieces {
                    let end = (at + p).min(len);
                    assert!(opener.decrypt_append(&ct[at..end], &mut out));
                    at = end;
                }
                assert_eq!(
                    opener.finish(&tag),
                    flip.is_none(),
                    "pieces {pieces:?} flip {flip:?}"
                );
                if flip.is_none() {
                    assert!(out[..4] == *b"kept" && out[4..] == plain[..len]);
                }
            }
        }
    }

    /// An output of the wrong length is refused before anything is written.
    #[test]
    fn wrong_output_length_is_refused() {
        let gather = GatherSealer::new(&[1; AES128_KEY_LEN]).expect("context");
        let mut out = [0u8; 10];
        assert_eq!(
            gather.seal_gather(&[0; NONCE_LEN], &[b"abc", b"defgh"], &mut out),
            None
        );
        assert_eq!(out, [0; 10]);
    }
}
