//! Secure-mode session ciphers: key and nonce setup from the connection
//! secret, and the per-direction nonce schedule (msgr2 reference section 4).

use std::fmt;
use std::sync::{Arc, OnceLock};

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use zeroize::Zeroizing;

use super::gcm::{Aes128GcmImpl, DefaultAes128Gcm, AES128_KEY_LEN, NONCE_LEN, TAG_LEN};
use super::CryptoError;
use gcm_gather::{GatherSealer, StreamOpener};

/// The shortest connection secret secure mode accepts: key (16) + two nonces
/// (12 + 12) (reference 4.1).
pub const CONNECTION_SECRET_MIN_LEN: usize = AES128_KEY_LEN + 2 * NONCE_LEN;

/// The connection secret authentication generates for secure mode, and the
/// longest one accepted: Ceph's `CEPH_MAX_CON_SECRET_LEN` (reference 4.1,
/// 8.5). Only its first [`CONNECTION_SECRET_MIN_LEN`] bytes key the session.
pub const CONNECTION_SECRET_LEN: usize = 64;

/// Which counter inside the 12-byte GCM nonce advances per chunk, and how it
/// ends (reference 4.2). The frame revision decides it (`proto::frame` maps
/// `wire::Revision` onto it), so crypto needs nothing from `wire`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NonceCounter {
    /// msgr2.0: the le32 at bytes 0..4 counts mod 2^32 as Ceph does; coming
    /// back to the initial nonce is refused. Keeps the raw AES key schedule
    /// for the rev0 preamble peek (reference 3.5).
    Le32At0,
    /// msgr2.1: the le64 at bytes 4..12 counts and never wraps (NIST SP
    /// 800-38D).
    Le64At4,
}

/// Which end of the TCP connection we are; decides which nonce is ours
/// (reference 4.1: the acceptor is "crossed").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We opened the TCP connection (client).
    Connector,
    /// We accepted it (server).
    Acceptor,
}

/// Builds the two directions' ciphers from the connection secret that
/// authentication produced (reference 4.1):
/// key = `secret[0..16)`, connector rx nonce = `secret[16..28)`,
/// connector tx nonce = `secret[28..40)`, acceptor swapped.
///
/// The nonce counter follows `counter` (reference 4.2): msgr2.1 counts the
/// le64 at bytes 4..12, msgr2.0 the le32 at bytes 0..4.
pub fn session_ciphers(
    connection_secret: &[u8],
    role: Role,
    counter: NonceCounter,
) -> Result<(TxCipher, RxCipher), CryptoError> {
    const NONCE_A: usize = AES128_KEY_LEN;
    const NONCE_B: usize = NONCE_A + NONCE_LEN;
    let (Some(key), Some(nonce_a), Some(nonce_b)) = (
        connection_secret.get(..AES128_KEY_LEN),
        connection_secret.get(NONCE_A..NONCE_B),
        connection_secret.get(NONCE_B..CONNECTION_SECRET_MIN_LEN),
    ) else {
        return Err(CryptoError::BadSecretLength {
            len: connection_secret.len(),
        });
    };
    let mut k = Zeroizing::new([0u8; AES128_KEY_LEN]);
    k.copy_from_slice(key);
    let mut a = [0u8; NONCE_LEN];
    a.copy_from_slice(nonce_a);
    let mut b = [0u8; NONCE_LEN];
    b.copy_from_slice(nonce_b);
    let (rx, tx) = match role {
        Role::Connector => (a, b),
        Role::Acceptor => (b, a),
    };
    let tx = TxCipher {
        gcm: Sealer(Arc::new(SealKey {
            aead: DefaultAes128Gcm::new(&k),
            key: k.clone(),
            gather: OnceLock::new(),
        })),
        nonce: NonceSeq::new(tx, counter),
    };
    let rx = RxCipher {
        gcm: DefaultAes128Gcm::new(&k),
        nonce: NonceSeq::new(rx, counter),
        ctr: match counter {
            NonceCounter::Le32At0 => Some(aes::Aes128::new(&(*k).into())),
            NonceCounter::Le64At4 => None,
        },
        key: k.clone(),
        stream: None,
    };
    Ok((tx, rx))
}

/// One direction's nonce sequence (reference 4.2).
#[derive(Clone)]
struct NonceSeq {
    current: Zeroizing<[u8; NONCE_LEN]>,
    initial: Zeroizing<[u8; NONCE_LEN]>,
    counter: NonceCounter,
    /// Set once the next value would repeat a nonce already used.
    exhausted: bool,
    /// Nonces consumed so far (for diagnostics; never printed with the nonce).
    used: u64,
}

impl NonceSeq {
    fn new(nonce: [u8; NONCE_LEN], counter: NonceCounter) -> Self {
        NonceSeq {
            current: Zeroizing::new(nonce),
            initial: Zeroizing::new(nonce),
            counter,
            exhausted: false,
            used: 0,
        }
    }

    fn counter(&self) -> u64 {
        let c = &*self.current;
        match self.counter {
            NonceCounter::Le32At0 => u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            NonceCounter::Le64At4 => {
                u64::from_le_bytes([c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11]])
            }
        }
    }

    /// Overwrites the counter part of the current nonce (rev0: low 32 bits).
    fn set_counter(&mut self, v: u64) {
        match self.counter {
            NonceCounter::Le32At0 => self.current[0..4].copy_from_slice(&(v as u32).to_le_bytes()),
            NonceCounter::Le64At4 => self.current[4..12].copy_from_slice(&v.to_le_bytes()),
        }
    }

    /// Returns the current nonce and advances; `refuse_reuse` makes it fail
    /// (now and forever) instead of ever handing out a nonce twice.
    fn next(&mut self, refuse_reuse: bool) -> Result<[u8; NONCE_LEN], CryptoError> {
        if self.exhausted {
            return Err(CryptoError::NonceExhausted);
        }
        let out = *self.current;
        let wrapped = match self.counter {
            // rev0: le32 at bytes 0..4, mod 2^32 (reference 4.2). Wrapping is
            // not reuse by itself; reuse is coming back to the initial value.
            NonceCounter::Le32At0 => {
                let c = self.counter() as u32;
                self.set_counter(u64::from(c.wrapping_add(1)));
                false
            }
            // rev1: le64 at bytes 4..12 (NIST SP 800-38D): never let it wrap.
            NonceCounter::Le64At4 => {
                let (c, wrapped) = self.counter().overflowing_add(1);
                self.set_counter(c);
                wrapped
            }
        };
        if refuse_reuse && (wrapped || *self.current == *self.initial) {
            self.exhausted = true;
        }
        self.used = self.used.wrapping_add(1);
        Ok(out)
    }
}

/// The sending half of secure mode: seals chunks with consecutive nonces
/// (reference 3.5/3.6, 4.2). Refuses to ever reuse a nonce (CVE-2020-1759).
///
/// Key material is zeroized on drop (the key schedule inside the AEAD backend
/// is the backend's own); `Debug` prints no key or nonce bytes.
pub struct TxCipher {
    gcm: Sealer,
    nonce: NonceSeq,
}

/// A nonce taken from a [`TxCipher`]'s sequence for one chunk sealed later
/// (a frame's chunks may be sealed after frames queued behind it were, as
/// long as each uses the nonce reserved for it in wire order). A plain copy,
/// as the nonces the sequence hands out always were: zeroizing each of a
/// frame's two or three on drop measured about 1% of kernel-TCP 4 KiB x 32
/// secure (same-run A/B 0.971x with, 0.986x without).
pub struct ReservedNonce([u8; NONCE_LEN]);

impl fmt::Debug for ReservedNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReservedNonce(..)")
    }
}

/// The sending key, shared: seals with reserved nonces, so a chunk can be
/// sealed where it is written (the transport's send buffer) instead of where
/// it was queued. Clones share one key schedule.
#[derive(Clone)]
pub struct Sealer(Arc<SealKey>);

struct SealKey {
    aead: DefaultAes128Gcm,
    /// The key again, for `gather`'s own context.
    key: Zeroizing<[u8; AES128_KEY_LEN]>,
    /// For plaintext in pieces, set up at the first use (most sessions
    /// never send a chunk that needs it, and a context is about a KiB);
    /// `None` if AWS-LC could not set one up (then the pieces are copied
    /// and sealed in place).
    gather: OnceLock<Option<GatherSealer>>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Sealer")
            .field(&DefaultAes128Gcm::NAME)
            .finish()
    }
}

impl Sealer {
    /// Encrypts `buf` in place with `nonce` (no AAD) and returns the tag.
    pub fn seal_in_place(
        &self,
        nonce: &ReservedNonce,
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        self.0.aead.seal_in_place(&nonce.0, buf)
    }

    /// Encrypts the concatenation of `parts` into `out` (exactly as long)
    /// with `nonce` and returns the tag, reading each part once: the copy
    /// is the encryption pass.
    pub fn seal_gather(
        &self,
        nonce: &ReservedNonce,
        parts: &[&[u8]],
        out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let key = &self.0.key;
        if let Some(g) = self.0.gather.get_or_init(|| GatherSealer::new(key)) {
            return g
                .seal_gather(&nonce.0, parts, out)
                .ok_or(CryptoError::SealFailed { len: out.len() });
        }
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total != out.len() {
            return Err(CryptoError::SealFailed { len: out.len() });
        }
        let mut at = 0;
        for p in parts {
            out[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        self.seal_in_place(nonce, out)
    }
}

impl fmt::Debug for TxCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TxCipher")
            .field("aead", &DefaultAes128Gcm::NAME)
            .field("nonce_counter", &self.nonce.counter)
            .field("nonces_used", &self.nonce.used)
            .field("exhausted", &self.nonce.exhausted)
            .finish_non_exhaustive()
    }
}

impl TxCipher {
    /// The nonce schedule this cipher follows.
    pub fn nonce_counter(&self) -> NonceCounter {
        self.nonce.counter
    }

    /// Encrypts `buf` in place with the next nonce (no AAD) and returns the
    /// 16-byte tag. Consumes exactly one nonce (reference 4.2). Fails with
    /// [`CryptoError::NonceExhausted`] instead of reusing a nonce.
    pub fn seal_in_place(&mut self, buf: &mut [u8]) -> Result<[u8; TAG_LEN], CryptoError> {
        let nonce = self.reserve()?;
        self.gcm.seal_in_place(&nonce, buf)
    }

    /// Takes the next nonce for a chunk sealed later with
    /// [`TxCipher::sealer`] (or [`TxCipher::seal_reserved`]). Chunks must go
    /// on the wire in the order their nonces were reserved. Fails with
    /// [`CryptoError::NonceExhausted`] instead of reusing a nonce.
    pub fn reserve(&mut self) -> Result<ReservedNonce, CryptoError> {
        self.nonce.next(true).map(ReservedNonce)
    }

    /// Seals `buf` in place with a nonce from [`TxCipher::reserve`].
    pub fn seal_reserved(
        &self,
        nonce: &ReservedNonce,
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        self.gcm.seal_in_place(nonce, buf)
    }

    /// The key, shared, for sealing reserved chunks elsewhere.
    pub fn sealer(&self) -> Sealer {
        self.gcm.clone()
    }

    /// Test hook: sets the counter part of the *current* nonce (rev0: the
    /// le32 at bytes 0..4, low 32 bits of `v`; rev1: the le64 at bytes 4..12),
    /// keeping the initial nonce, so tests can start near the wrap point.
    #[doc(hidden)]
    #[cfg(any(test, feature = "test-support"))]
    pub fn set_counter_for_test(&mut self, v: u64) {
        self.nonce.set_counter(v);
    }

    /// Test hook: the counter part of the current nonce.
    #[doc(hidden)]
    #[cfg(any(test, feature = "test-support"))]
    pub fn counter_for_test(&self) -> u64 {
        self.nonce.counter()
    }
}

/// The receiving half of secure mode: opens chunks with consecutive nonces
/// (reference 3.5/3.6, 4.2). Key material is zeroized on drop; `Debug` prints
/// no key or nonce bytes.
pub struct RxCipher {
    gcm: DefaultAes128Gcm,
    nonce: NonceSeq,
    /// Raw AES for the msgr2.0 preamble CTR peek (reference 3.5); rev0 only.
    ctr: Option<aes::Aes128>,
    /// The key again, for `stream`.
    key: Zeroizing<[u8; AES128_KEY_LEN]>,
    /// Decrypts a chunk that arrives in pieces; set up at the first such
    /// chunk (about a KiB, which most idle sessions never need).
    stream: Option<StreamOpener>,
}

impl fmt::Debug for RxCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RxCipher")
            .field("aead", &DefaultAes128Gcm::NAME)
            .field("nonce_counter", &self.nonce.counter)
            .field("nonces_used", &self.nonce.used)
            .finish_non_exhaustive()
    }
}

impl RxCipher {
    /// The nonce schedule this cipher follows.
    pub fn nonce_counter(&self) -> NonceCounter {
        self.nonce.counter
    }

    /// Verifies `tag` and decrypts `buf` in place with the next nonce.
    /// Consumes exactly one nonce (reference 4.2); a failure ends the connection.
    pub fn open_in_place(
        &mut self,
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        let nonce = self.nonce.next(false)?;
        self.gcm.open_in_place(&nonce, buf, tag)
    }

    /// Starts decrypting a chunk that arrives in pieces, consuming its nonce
    /// as [`RxCipher::open_in_place`] would: feed the ciphertext to
    /// [`RxCipher::stream_part`] as it comes, then the tag to
    /// [`RxCipher::stream_finish`]. `Ok(false)` (nothing consumed) if no
    /// streaming context could be set up: gather the chunk and open it whole.
    pub fn stream_start(&mut self) -> Result<bool, CryptoError> {
        if self.stream.is_none() {
            self.stream = StreamOpener::new(&self.key);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Ok(false);
        };
        let nonce = self.nonce.next(false)?;
        if !stream.start(&nonce) {
            return Err(CryptoError::OpenFailed { len: 0 });
        }
        Ok(true)
    }

    /// Decrypts the next piece of the chunk [`RxCipher::stream_start`]
    /// began and appends the plaintext to `out`, which must not be trusted
    /// before [`RxCipher::stream_finish`] succeeds.
    pub fn stream_part(&mut self, ciphertext: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if self
            .stream
            .as_mut()
            .is_some_and(|s| s.decrypt_append(ciphertext, out))
        {
            Ok(())
        } else {
            Err(CryptoError::OpenFailed {
                len: ciphertext.len(),
            })
        }
    }

    /// Verifies the streamed chunk's `tag` ([`CryptoError::BadTag`] if it
    /// does not match).
    pub fn stream_finish(&mut self, tag: &[u8; TAG_LEN]) -> Result<(), CryptoError> {
        if self.stream.as_mut().is_some_and(|s| s.finish(tag)) {
            Ok(())
        } else {
            Err(CryptoError::BadTag)
        }
    }

    /// Verifies `tag` over `ciphertext` and decrypts it into `out` (same
    /// length), fusing the copy out of the receive buffer with decryption.
    /// Consumes exactly one nonce, like [`RxCipher::open_in_place`].
    pub fn open_to(
        &mut self,
        ciphertext: &[u8],
        tag: &[u8; TAG_LEN],
        out: &mut [u8],
    ) -> Result<(), CryptoError> {
        let nonce = self.nonce.next(false)?;
        self.gcm.open_to(&nonce, ciphertext, tag, out)
    }

    /// Decrypts (without authenticating) the first 32 bytes of a msgr2.0
    /// secure frame, to learn its segment lengths (reference 3.5): AES-CTR with
    /// counter blocks `nonce || 00000002` and `nonce || 00000003`, the first
    /// GCM data counters. Does not consume the nonce; the caller must still
    /// run [`RxCipher::open_in_place`] over the whole frame before trusting it.
    pub fn peek_preamble_rev0(&self, ct: &[u8; 32]) -> [u8; 32] {
        let mut ks = [[0u8; 16]; 2];
        for (i, block) in ks.iter_mut().enumerate() {
            block[..NONCE_LEN].copy_from_slice(&*self.nonce.current);
            block[NONCE_LEN..].copy_from_slice(&(2 + i as u32).to_be_bytes());
        }
        let cipher = match &self.ctr {
            Some(c) => c.clone(),
            // A rev1 cipher never needs the peek; derive nothing and return
            // the ciphertext unchanged so the CRC check then fails loudly.
            None => return *ct,
        };
        for block in ks.iter_mut() {
            cipher.encrypt_block(block.into());
        }
        let mut out = *ct;
        for (i, b) in out.iter_mut().enumerate() {
            *b ^= ks[i / 16][i % 16];
        }
        out
    }

    /// Test hook: sets the counter part of the current nonce.
    #[doc(hidden)]
    #[cfg(any(test, feature = "test-support"))]
    pub fn set_counter_for_test(&mut self, v: u64) {
        self.nonce.set_counter(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Vec<u8> {
        (0u8..64).collect()
    }

    #[test]
    fn short_secret_is_rejected() {
        let err = session_ciphers(&[0u8; 39], Role::Connector, NonceCounter::Le64At4).unwrap_err();
        assert_eq!(err, CryptoError::BadSecretLength { len: 39 });
        assert!(session_ciphers(&[0u8; 40], Role::Connector, NonceCounter::Le64At4).is_ok());
    }

    #[test]
    fn connector_tx_pairs_with_acceptor_rx() {
        for counter in [NonceCounter::Le32At0, NonceCounter::Le64At4] {
            let (mut ctx, mut crx) = session_ciphers(&secret(), Role::Connector, counter).unwrap();
            let (mut atx, mut arx) = session_ciphers(&secret(), Role::Acceptor, counter).unwrap();
            for i in 0..5u8 {
                let mut m = vec![i; 37];
                let t = ctx.seal_in_place(&mut m).unwrap();
                arx.open_in_place(&mut m, &t).unwrap();
                assert_eq!(m, vec![i; 37]);
                let mut m = vec![i; 5];
                let t = atx.seal_in_place(&mut m).unwrap();
                crx.open_in_place(&mut m, &t).unwrap();
                assert_eq!(m, vec![i; 5]);
            }
            // Out of step (a skipped nonce) fails the tag.
            let mut m = vec![1u8; 16];
            let _ = ctx.seal_in_place(&mut m).unwrap();
            let t = ctx.seal_in_place(&mut m).unwrap();
            assert_eq!(arx.open_in_place(&mut m, &t), Err(CryptoError::BadTag));
        }
    }

    #[test]
    fn debug_prints_no_key_bytes() {
        let (tx, rx) =
            session_ciphers(&[0xAB; 64], Role::Connector, NonceCounter::Le32At0).unwrap();
        let s = format!("{tx:?} {rx:?}");
        assert!(
            !s.contains("171") && !s.to_lowercase().contains("ab, "),
            "{s}"
        );
    }

    #[test]
    fn rev1_counter_refuses_to_wrap() {
        let (mut tx, _) =
            session_ciphers(&secret(), Role::Connector, NonceCounter::Le64At4).unwrap();
        tx.set_counter_for_test(u64::MAX - 1);
        let mut b = [0u8; 16];
        tx.seal_in_place(&mut b).unwrap(); // uses MAX-1
        tx.seal_in_place(&mut b).unwrap(); // uses MAX; the next would wrap
        assert_eq!(tx.seal_in_place(&mut b), Err(CryptoError::NonceExhausted));
        assert_eq!(tx.seal_in_place(&mut b), Err(CryptoError::NonceExhausted));
    }

    #[test]
    fn rev0_counter_wraps_but_never_returns_to_initial() {
        // connector tx nonce = secret[28..40): le32 counter starts at 0x1f1e1d1c.
        let (mut tx, _) =
            session_ciphers(&secret(), Role::Connector, NonceCounter::Le32At0).unwrap();
        let initial = tx.counter_for_test();
        assert_eq!(initial, 0x1f1e_1d1c);
        tx.set_counter_for_test(0xFFFF_FFFE);
        let mut b = [0u8; 16];
        tx.seal_in_place(&mut b).unwrap(); // FFFFFFFE
        tx.seal_in_place(&mut b).unwrap(); // FFFFFFFF, wraps to 0 (mod 2^32 as Ceph)
        assert_eq!(tx.counter_for_test(), 0);
        tx.set_counter_for_test(initial - 2);
        tx.seal_in_place(&mut b).unwrap();
        tx.seal_in_place(&mut b).unwrap(); // the next would be the initial nonce again
        assert_eq!(tx.seal_in_place(&mut b), Err(CryptoError::NonceExhausted));
    }

    #[test]
    fn rev1_returning_to_initial_is_refused() {
        let (mut tx, _) =
            session_ciphers(&secret(), Role::Connector, NonceCounter::Le64At4).unwrap();
        let initial = tx.counter_for_test();
        tx.set_counter_for_test(initial.wrapping_sub(1));
        let mut b = [0u8; 3];
        tx.seal_in_place(&mut b).unwrap();
        assert_eq!(tx.seal_in_place(&mut b), Err(CryptoError::NonceExhausted));
    }

    #[test]
    fn rev0_peek_matches_gcm() {
        let (mut tx, rx) =
            session_ciphers(&secret(), Role::Acceptor, NonceCounter::Le32At0).unwrap();
        let (_, mut crx) =
            session_ciphers(&secret(), Role::Connector, NonceCounter::Le32At0).unwrap();
        let pt: Vec<u8> = (100u8..164).collect();
        let mut ct = pt.clone();
        let tag = tx.seal_in_place(&mut ct).unwrap();
        let head: [u8; 32] = ct[..32].try_into().unwrap();
        assert_eq!(crx.peek_preamble_rev0(&head).to_vec(), pt[..32].to_vec());
        // The peek did not consume the nonce.
        crx.open_in_place(&mut ct, &tag).unwrap();
        assert_eq!(ct, pt);
        drop(rx);
    }
}
