//! AES-128-GCM backends for secure mode (msgr2 reference section 4.1):
//! 16-byte key, 12-byte nonce, 16-byte tag, no AAD, in place.

use super::CryptoError;

/// GCM tag length (reference 4.1).
pub const TAG_LEN: usize = 16;
/// GCM nonce length (reference 4.1).
pub const NONCE_LEN: usize = 12;
/// One AES-128 key (reference 4.1): the secure-mode GCM key, and the
/// length of cephx's AES-128-CBC keys.
pub const AES128_KEY_LEN: usize = 16;

/// One AES-128-GCM backend. Each candidate implements this so the
/// micro-benchmark can compare them; [`super::TxCipher`] / [`super::RxCipher`]
/// use [`DefaultAes128Gcm`]. Implementations must not print key material in `Debug`.
pub trait Aes128GcmImpl: Send + Sized {
    /// A short name for benchmark output.
    const NAME: &'static str;
    /// Expands `key` (reference 4.1: `connection_secret[0..16)`).
    fn new(key: &[u8; AES128_KEY_LEN]) -> Self;
    /// Encrypts `buf` in place with no AAD and returns the tag.
    /// Fails ([`CryptoError::SealFailed`]) only for chunks beyond GCM's length limit.
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError>;
    /// Verifies `tag` and decrypts `buf` in place (no AAD). On failure
    /// ([`CryptoError::BadTag`]) the contents of `buf` are unspecified.
    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError>;

    /// Verifies `tag` over `ciphertext` and decrypts it into `out` (same
    /// length) in one pass. The default copies, then opens in place; backends
    /// with an out-of-place API override it to save the copy.
    fn open_to(
        &self,
        nonce: &[u8; NONCE_LEN],
        ciphertext: &[u8],
        tag: &[u8; TAG_LEN],
        out: &mut [u8],
    ) -> Result<(), CryptoError> {
        if out.len() != ciphertext.len() {
            return Err(CryptoError::BadTag);
        }
        out.copy_from_slice(ciphertext);
        self.open_in_place(nonce, out, tag)
    }
}

/// *ring*'s AES-GCM (BoringSSL-derived AES-NI/PCLMUL/VAES-AVX2 assembly).
#[cfg(feature = "gcm-ring")]
pub struct RingGcm(ring::aead::LessSafeKey);

#[cfg(feature = "gcm-ring")]
impl std::fmt::Debug for RingGcm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RingGcm(<key>)")
    }
}

#[cfg(feature = "gcm-ring")]
impl Aes128GcmImpl for RingGcm {
    const NAME: &'static str = "ring";

    fn new(key: &[u8; AES128_KEY_LEN]) -> Self {
        // ring only rejects keys of the wrong length, and ours is fixed at 16.
        let unbound = ring::aead::UnboundKey::new(&ring::aead::AES_128_GCM, key)
            .unwrap_or_else(|_| unreachable!("AES-128 key is 16 bytes"));
        RingGcm(ring::aead::LessSafeKey::new(unbound))
    }

    #[inline]
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let nonce = ring::aead::Nonce::assume_unique_for_key(*nonce);
        let tag = self
            .0
            .seal_in_place_separate_tag(nonce, ring::aead::Aad::empty(), &mut *buf)
            .map_err(|_| CryptoError::SealFailed { len: buf.len() })?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    #[inline]
    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        let nonce = ring::aead::Nonce::assume_unique_for_key(*nonce);
        self.0
            .open_in_place_separate_tag(
                nonce,
                ring::aead::Aad::empty(),
                ring::aead::Tag::from(*tag),
                buf,
                0..,
            )
            .map(|_| ())
            .map_err(|_| CryptoError::BadTag)
    }
}

/// RustCrypto's `aes-gcm` (portable Rust with AES-NI/CLMUL intrinsics).
#[cfg(feature = "gcm-rustcrypto")]
pub struct RustCryptoGcm(aes_gcm::Aes128Gcm);

#[cfg(feature = "gcm-rustcrypto")]
impl std::fmt::Debug for RustCryptoGcm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RustCryptoGcm(<key>)")
    }
}

#[cfg(feature = "gcm-rustcrypto")]
impl Aes128GcmImpl for RustCryptoGcm {
    const NAME: &'static str = "aes-gcm";

    fn new(key: &[u8; AES128_KEY_LEN]) -> Self {
        use aes_gcm::KeyInit;
        RustCryptoGcm(aes_gcm::Aes128Gcm::new(&(*key).into()))
    }

    #[inline]
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        use aes_gcm::AeadInOut;
        let tag = self
            .0
            .encrypt_inout_detached(&(*nonce).into(), &[], (&mut *buf).into())
            .map_err(|_| CryptoError::SealFailed { len: buf.len() })?;
        Ok(tag.into())
    }

    #[inline]
    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        use aes_gcm::AeadInOut;
        self.0
            .decrypt_inout_detached(&(*nonce).into(), &[], buf.into(), &(*tag).into())
            .map_err(|_| CryptoError::BadTag)
    }
}

/// aws-lc-rs's AES-GCM (AWS-LC assembly, with VAES-AVX512 where the CPU has it).
pub struct AwsLcGcm(aws_lc_rs::aead::LessSafeKey);

impl std::fmt::Debug for AwsLcGcm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AwsLcGcm(<key>)")
    }
}

impl Aes128GcmImpl for AwsLcGcm {
    const NAME: &'static str = "aws-lc-rs";

    fn new(key: &[u8; AES128_KEY_LEN]) -> Self {
        use aws_lc_rs::aead;
        let unbound = aead::UnboundKey::new(&aead::AES_128_GCM, key)
            .unwrap_or_else(|_| unreachable!("AES-128 key is 16 bytes"));
        AwsLcGcm(aead::LessSafeKey::new(unbound))
    }

    #[inline]
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        use aws_lc_rs::aead;
        let tag = self
            .0
            .seal_in_place_separate_tag(
                aead::Nonce::assume_unique_for_key(*nonce),
                aead::Aad::empty(),
                &mut *buf,
            )
            .map_err(|_| CryptoError::SealFailed { len: buf.len() })?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    #[inline]
    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        use aws_lc_rs::aead;
        self.0
            .open_in_place_separate_tag(
                aead::Nonce::assume_unique_for_key(*nonce),
                aead::Aad::empty(),
                tag,
                buf,
            )
            .map(|_| ())
            .map_err(|_| CryptoError::BadTag)
    }

    #[inline]
    fn open_to(
        &self,
        nonce: &[u8; NONCE_LEN],
        ciphertext: &[u8],
        tag: &[u8; TAG_LEN],
        out: &mut [u8],
    ) -> Result<(), CryptoError> {
        use aws_lc_rs::aead;
        if out.len() != ciphertext.len() {
            return Err(CryptoError::BadTag);
        }
        self.0
            .open_separate_gather(
                aead::Nonce::assume_unique_for_key(*nonce),
                aead::Aad::empty(),
                ciphertext,
                tag,
                out,
            )
            .map_err(|_| CryptoError::BadTag)
    }
}

/// The backend secure mode uses, chosen by `bench/src/bin/crypto.rs`.
pub type DefaultAes128Gcm = AwsLcGcm;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// NIST GCM test case 3 (AES-128, 64-byte plaintext, no AAD).
    pub(crate) fn nist_case3<G: Aes128GcmImpl>() {
        let key = hex("feffe9928665731c6d6a8f9467308308");
        let nonce = hex("cafebabefacedbaddecaf888");
        let pt = hex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
        );
        let ct = hex(
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
        );
        let tag = hex("4d5c2af327cd64a62cf35abd2ba6fab4");
        let key: [u8; 16] = key.try_into().unwrap();
        let nonce: [u8; 12] = nonce.try_into().unwrap();
        let g = G::new(&key);
        let mut buf = pt.clone();
        let t = g.seal_in_place(&nonce, &mut buf).unwrap();
        assert_eq!(buf, ct, "{}", G::NAME);
        assert_eq!(t.to_vec(), tag, "{}", G::NAME);
        let mut out = vec![0u8; ct.len()];
        g.open_to(&nonce, &buf, &t, &mut out).unwrap();
        assert_eq!(out, pt);
        g.open_in_place(&nonce, &mut buf, &t).unwrap();
        assert_eq!(buf, pt);
        let mut bad = t;
        bad[0] ^= 1;
        let mut buf = ct.clone();
        assert!(g.open_in_place(&nonce, &mut buf, &bad).is_err());
    }

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn aws_lc_nist() {
        nist_case3::<AwsLcGcm>();
    }

    #[cfg(feature = "gcm-ring")]
    #[test]
    fn ring_nist() {
        nist_case3::<RingGcm>();
    }

    #[cfg(feature = "gcm-rustcrypto")]
    #[test]
    fn rustcrypto_nist() {
        nist_case3::<RustCryptoGcm>();
    }
}
