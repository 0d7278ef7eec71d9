//! cephx symmetric crypto (msgr2 reference 8.2, 8.3; Ceph `src/auth/Crypto.cc`
//! `CryptoAESKeyHandler`, `src/auth/cephx/CephxProtocol.h` encode/decrypt
//! templates, `CephxProtocol.cc` `cephx_calc_client_server_challenge`).
//!
//! * AES-128-CBC, fixed IV `"cephsageyudagreg"`, PKCS#7 padding always added.
//! * [`enc_bl`]`(key, T)` = AES(`u8 1 | le64 AUTH_ENC_MAGIC | encode(T)`), raw
//!   ciphertext; [`dec_bl`] checks the magic.
//! * [`encode_encrypt`] = `le32 len | enc_bl`, i.e. a bufferlist; [`decode_decrypt`]
//!   reads one.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use zeroize::Zeroizing;

use super::key::CryptoKey;
use super::{CephxError, AUTH_ENC_MAGIC, MAX_ENCRYPTED_LEN};
use crate::wire::{DecodeError, Put, Reader};

/// The fixed CBC IV every cephx encryption uses.
pub const CEPHX_IV: [u8; 16] = *b"cephsageyudagreg";

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

/// A cephx structure that can be encoded.
pub trait Emit {
    /// Appends the Ceph encoding of `self`.
    fn emit(&self, out: &mut Vec<u8>);
}

/// A cephx structure that can be decoded.
pub trait Parse: Sized {
    /// Decodes one value; trailing bytes are left for the caller.
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// AES-128-CBC encrypts `plain` with Ceph's IV and PKCS#7 padding.
pub fn aes_cbc_encrypt(key: &CryptoKey, plain: &[u8]) -> Vec<u8> {
    Aes128CbcEnc::new(key.secret().into(), (&CEPHX_IV).into()).encrypt_padded_vec::<Pkcs7>(plain)
}

/// AES-128-CBC decrypts `ct`; fails on a length that is not a non-zero multiple
/// of 16 or on bad padding (which is what a wrong key usually yields).
pub fn aes_cbc_decrypt(key: &CryptoKey, ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, CephxError> {
    if ct.is_empty() || !ct.len().is_multiple_of(16) {
        return Err(CephxError::Cipher(
            "ciphertext length is not a non-zero multiple of 16",
        ));
    }
    Aes128CbcDec::new(key.secret().into(), (&CEPHX_IV).into())
        .decrypt_padded_vec::<Pkcs7>(ct)
        .map(Zeroizing::new)
        .map_err(|_| CephxError::Cipher("bad PKCS#7 padding (wrong key?)"))
}

/// `encode_encrypt_enc_bl`: raw ciphertext of `u8 1 | le64 magic | encode(t)`.
pub fn enc_bl<T: Emit + ?Sized>(key: &CryptoKey, t: &T) -> Vec<u8> {
    let mut plain = Zeroizing::new(Vec::with_capacity(64));
    plain.put_u8(1);
    plain.put_u64_le(AUTH_ENC_MAGIC);
    t.emit(&mut plain);
    aes_cbc_encrypt(key, &plain)
}

/// `decode_decrypt_enc_bl`: decrypts raw ciphertext, checks the magic, decodes `T`.
///
/// Like Ceph, bytes after `T` inside the envelope are ignored (newer encoders
/// may append fields).
pub fn dec_bl<T: Parse>(key: &CryptoKey, ct: &[u8]) -> Result<T, CephxError> {
    let plain = aes_cbc_decrypt(key, ct)?;
    let mut r = Reader::new(&plain, "cephx encrypted envelope");
    let _struct_v = r.u8()?;
    let magic = r.u64_le()?;
    if magic != AUTH_ENC_MAGIC {
        return Err(CephxError::BadMagic { got: magic });
    }
    Ok(T::parse(&mut r)?)
}

/// `encode_encrypt`: `le32 len | enc_bl(key, t)` appended to `out`.
pub fn encode_encrypt<T: Emit + ?Sized>(key: &CryptoKey, t: &T, out: &mut Vec<u8>) {
    out.put_bytes_le32(&enc_bl(key, t));
}

/// `encode_encrypt` into a fresh buffer.
pub fn encode_encrypt_vec<T: Emit + ?Sized>(key: &CryptoKey, t: &T) -> Vec<u8> {
    let mut out = Vec::new();
    encode_encrypt(key, t, &mut out);
    out
}

/// `decode_decrypt`: reads a bufferlist from `r` and [`dec_bl`]s it.
pub fn decode_decrypt<T: Parse>(key: &CryptoKey, r: &mut Reader<'_>) -> Result<T, CephxError> {
    let ct = r.bytes_le32(MAX_ENCRYPTED_LEN)?;
    dec_bl(key, ct)
}

/// A `string` / bufferlist holding secret bytes (e.g. a connection secret),
/// zeroized on drop. Decoding accepts at most
/// [`MAX_CONNECTION_SECRET_LEN`](super::MAX_CONNECTION_SECRET_LEN) bytes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretBytes(pub Zeroizing<Vec<u8>>);

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes(<{} bytes>)", self.0.len())
    }
}

impl Emit for SecretBytes {
    fn emit(&self, out: &mut Vec<u8>) {
        out.put_bytes_le32(&self.0);
    }
}

impl Parse for SecretBytes {
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let b = r.bytes_le32(super::MAX_CONNECTION_SECRET_LEN)?;
        Ok(SecretBytes(Zeroizing::new(b.to_vec())))
    }
}

/// Raw bytes encoded as a bufferlist (`le32 len | bytes`), e.g. an encoded
/// ticket blob inside an encrypted envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bl(pub Vec<u8>);

impl Emit for Bl {
    fn emit(&self, out: &mut Vec<u8>) {
        out.put_bytes_le32(&self.0);
    }
}

impl Parse for Bl {
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Bl(r.bytes_le32(MAX_ENCRYPTED_LEN)?.to_vec()))
    }
}

/// Plain bytes with no length prefix (for tests and raw vectors).
impl Emit for [u8] {
    fn emit(&self, out: &mut Vec<u8>) {
        out.put_slice(self);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::auth::cephx::UTime;

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    pub(crate) fn key_00_0f() -> CryptoKey {
        let mut s = [0u8; 16];
        for (i, b) in s.iter_mut().enumerate() {
            *b = i as u8;
        }
        CryptoKey::new(s, UTime::ZERO)
    }

    #[test]
    fn aes_cbc_vector() {
        let ct = aes_cbc_encrypt(&key_00_0f(), b"hello");
        assert_eq!(ct, hex("6bec40e9500a7693cf4cbe2cbb2fdd65"));
        assert_eq!(
            &aes_cbc_decrypt(&key_00_0f(), &ct).expect("dec")[..],
            b"hello"
        );
        // A full block still gets a whole block of padding.
        assert_eq!(aes_cbc_encrypt(&key_00_0f(), &[0u8; 16]).len(), 32);
    }

    #[test]
    fn envelope_round_trip_and_failures() {
        let k = key_00_0f();
        let secret = SecretBytes(Zeroizing::new(vec![9; 64]));
        let enc = encode_encrypt_vec(&k, &secret);
        let back: SecretBytes =
            decode_decrypt(&k, &mut Reader::new(&enc, "t")).expect("round trip");
        assert_eq!(back, secret);

        // Wrong key: padding or magic check fails, never a panic.
        let other = CryptoKey::new([1; 16], UTime::ZERO);
        assert!(decode_decrypt::<SecretBytes>(&other, &mut Reader::new(&enc, "t")).is_err());

        // Bad magic: a valid encryption of something else.
        let mut plain = vec![1u8];
        plain.extend_from_slice(&0x1234u64.to_le_bytes());
        plain.extend_from_slice(&[0, 0, 0, 0]);
        let ct = aes_cbc_encrypt(&k, &plain);
        assert!(matches!(
            dec_bl::<SecretBytes>(&k, &ct),
            Err(CephxError::BadMagic { got: 0x1234 })
        ));

        // Bad lengths.
        assert!(matches!(
            dec_bl::<SecretBytes>(&k, &[]),
            Err(CephxError::Cipher(_))
        ));
        assert!(matches!(
            dec_bl::<SecretBytes>(&k, &[0; 17]),
            Err(CephxError::Cipher(_))
        ));
        // Truncated envelope body decodes to an error.
        let ct = aes_cbc_encrypt(&k, &[1, 0x55]);
        assert!(dec_bl::<SecretBytes>(&k, &ct).is_err());
    }
}
