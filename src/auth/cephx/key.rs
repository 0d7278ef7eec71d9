//! cephx keys and keyring files (msgr2 reference 8.2; Ceph `src/auth/Crypto.cc`
//! `CryptoKey::encode`, `src/auth/KeyRing.cc`).
//!
//! A [`CryptoKey`] encodes as `le16 type (1 = AES) | utime created | le16 len |
//! secret`; a keyring's `key = AQ…==` is the base64 of exactly those 28 bytes
//! (the type bytes `01 00` are why keys start with "AQ").
//!
//! Secrets are zeroized on drop and never printed: `Debug` shows only the
//! creation time.

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::RngCore;
use zeroize::Zeroizing;

use super::{CephxError, UTime};
use crate::crypto::AES128_KEY_LEN;
use crate::wire::entity::AuthEntityName;
use crate::wire::{DecodeError, Put, Reader};

/// `CEPH_CRYPTO_AES`.
pub const CRYPTO_AES: u16 = 1;

/// A cephx AES-128 key with its creation time.
#[derive(Clone)]
pub struct CryptoKey {
    created: UTime,
    secret: Zeroizing<[u8; AES128_KEY_LEN]>,
}

impl CryptoKey {
    /// Length of the encoding: 2 + 8 + 2 + 16.
    pub const ENCODED_LEN: usize = 28;

    /// A key from raw secret bytes.
    pub fn new(secret: [u8; AES128_KEY_LEN], created: UTime) -> Self {
        CryptoKey {
            created,
            secret: Zeroizing::new(secret),
        }
    }

    /// A fresh random key (`KeyServer::generate_secret`).
    pub fn generate(rng: &mut dyn RngCore, created: UTime) -> Self {
        let mut secret = Zeroizing::new([0u8; AES128_KEY_LEN]);
        rng.fill_bytes(&mut secret[..]);
        CryptoKey { created, secret }
    }

    /// The raw 16-byte AES secret. Handle with care: never log it.
    pub fn secret(&self) -> &[u8; AES128_KEY_LEN] {
        &self.secret
    }

    /// When the key was created.
    pub fn created(&self) -> UTime {
        self.created
    }

    /// Decodes a key; only AES keys of 16 bytes are accepted.
    pub fn parse(r: &mut Reader<'_>) -> Result<CryptoKey, DecodeError> {
        let ty = r.u16_le()?;
        if ty != CRYPTO_AES {
            return Err(DecodeError::InvalidValue {
                what: "CryptoKey type",
                value: u64::from(ty),
            });
        }
        let created = UTime::parse(r)?;
        let len = r.u16_le()?;
        if usize::from(len) != AES128_KEY_LEN {
            return Err(DecodeError::InvalidValue {
                what: "CryptoKey length",
                value: u64::from(len),
            });
        }
        let mut secret = Zeroizing::new([0u8; AES128_KEY_LEN]);
        secret.copy_from_slice(r.take(AES128_KEY_LEN)?);
        Ok(CryptoKey { created, secret })
    }

    /// Encodes the key (28 bytes).
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u16_le(CRYPTO_AES);
        self.created.emit(out);
        out.put_u16_le(AES128_KEY_LEN as u16);
        out.put_slice(&self.secret[..]);
    }

    /// Parses a keyring value such as `AQBm...==` (base64 of the encoding).
    pub fn from_base64(s: &str) -> Result<CryptoKey, CephxError> {
        let raw = Zeroizing::new(
            STANDARD
                .decode(s.trim())
                .map_err(|_| CephxError::BadKey("not valid base64"))?,
        );
        let mut r = Reader::new(&raw, "CryptoKey");
        let key = CryptoKey::parse(&mut r).map_err(|_| CephxError::BadKey("bad key encoding"))?;
        r.expect_end()
            .map_err(|_| CephxError::BadKey("trailing bytes after key"))?;
        Ok(key)
    }

    /// The keyring form of this key (base64 of the encoding).
    pub fn to_base64(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new(Vec::with_capacity(Self::ENCODED_LEN));
        self.emit(&mut raw);
        Zeroizing::new(STANDARD.encode(&raw[..]))
    }
}

impl PartialEq for CryptoKey {
    /// Compares in time independent of where the secrets differ.
    fn eq(&self, other: &Self) -> bool {
        let diff = self
            .secret
            .iter()
            .zip(other.secret.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        diff == 0 && self.created == other.created
    }
}

impl Eq for CryptoKey {}

impl fmt::Debug for CryptoKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryptoKey")
            .field("created", &self.created)
            .field("secret", &format_args!("<redacted>"))
            .finish()
    }
}

/// One `[entity]` section of a keyring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringEntry {
    /// The entity, from the section header.
    pub name: AuthEntityName,
    /// Its key.
    pub key: CryptoKey,
    /// `caps <service> = "<caps>"` lines, by service name (`mon`, `osd`, ...).
    pub caps: BTreeMap<String, String>,
}

/// A parsed keyring: entity name → key and caps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keyring {
    entries: BTreeMap<AuthEntityName, KeyringEntry>,
}

/// A section being read: name, key, caps, header line number.
type Section = (
    AuthEntityName,
    Option<CryptoKey>,
    BTreeMap<String, String>,
    usize,
);

/// Longest keyring file accepted.
const MAX_KEYRING_LEN: usize = 1 << 20;

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Self {
        Keyring::default()
    }

    /// Parses a keyring file as written by `ceph-authtool`:
    ///
    /// ```text
    /// [client.admin]
    ///     key = AQ...==
    ///     caps mon = "allow *"
    /// ```
    ///
    /// Blank lines and lines starting with `#` or `;` are ignored, as are
    /// unknown settings (e.g. `auid`). Every section needs a `key`.
    pub fn parse(text: &str) -> Result<Keyring, CephxError> {
        if text.len() > MAX_KEYRING_LEN {
            return Err(CephxError::Keyring {
                line: 0,
                reason: format!("keyring longer than {MAX_KEYRING_LEN} bytes"),
            });
        }
        let mut ring = Keyring::new();
        // The section being read: its name, key, caps and header line.
        let mut cur: Option<Section> = None;
        let err = |line: usize, reason: String| CephxError::Keyring { line, reason };
        for (i, raw) in text.lines().enumerate() {
            let lineno = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let name = rest
                    .strip_suffix(']')
                    .ok_or_else(|| err(lineno, "unterminated section header".into()))?
                    .trim();
                let name = AuthEntityName::parse_keyring_name(name)
                    .ok_or_else(|| err(lineno, format!("bad entity name {name:?}")))?;
                if let Some(done) = cur.take() {
                    ring.finish_section(done)?;
                }
                cur = Some((name, None, BTreeMap::new(), lineno));
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| err(lineno, "expected `name = value`".into()))?;
            let Some(section) = cur.as_mut() else {
                return Err(err(lineno, "setting outside of a section".into()));
            };
            // Ceph's config parser treats runs of spaces, tabs and '_' alike.
            let k = k.split_whitespace().collect::<Vec<_>>().join(" ");
            let v = unquote(v.trim());
            if k == "key" {
                let key = CryptoKey::from_base64(v)
                    .map_err(|e| err(lineno, format!("bad key for {}: {e}", section.0)))?;
                section.1 = Some(key);
            } else if let Some(svc) = k.strip_prefix("caps ") {
                section.2.insert(svc.trim().to_owned(), v.to_owned());
            }
        }
        if let Some(done) = cur.take() {
            ring.finish_section(done)?;
        }
        Ok(ring)
    }

    fn finish_section(&mut self, (name, key, caps, line): Section) -> Result<(), CephxError> {
        let key = key.ok_or_else(|| CephxError::Keyring {
            line,
            reason: format!("section [{name}] has no key"),
        })?;
        self.insert(KeyringEntry { name, key, caps });
        Ok(())
    }

    /// Adds or replaces an entry.
    pub fn insert(&mut self, entry: KeyringEntry) {
        self.entries.insert(entry.name.clone(), entry);
    }

    /// Adds a key with no caps.
    pub fn add_key(&mut self, name: AuthEntityName, key: CryptoKey) {
        self.insert(KeyringEntry {
            name,
            key,
            caps: BTreeMap::new(),
        });
    }

    /// The key of `name`.
    pub fn get(&self, name: &AuthEntityName) -> Option<&CryptoKey> {
        self.entries.get(name).map(|e| &e.key)
    }

    /// The whole entry of `name`.
    pub fn entry(&self, name: &AuthEntityName) -> Option<&KeyringEntry> {
        self.entries.get(name)
    }

    /// The entity names held.
    pub fn names(&self) -> impl Iterator<Item = &AuthEntityName> {
        self.entries.keys()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the keyring is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Strips one pair of surrounding double quotes.
fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::entity::EntityType;

    /// Generated by `ceph-authtool --create-keyring ... --gen-key -n client.test
    /// --cap mon 'allow *' --cap osd 'allow rw'` and another `-n osd.3`.
    const AUTHTOOL_KEYRING: &str = include_str!("testdata/authtool.keyring");

    #[test]
    fn base64_key_round_trips() {
        let k = CryptoKey::new(
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
            UTime::new(1_700_000_000, 5),
        );
        let b = k.to_base64();
        assert!(b.starts_with("AQ"), "{}", &*b);
        assert_eq!(CryptoKey::from_base64(&b).expect("parse"), k);
        assert!(CryptoKey::from_base64("AQ==").is_err());
        assert!(CryptoKey::from_base64("not base64!").is_err());
    }

    #[test]
    fn parses_a_ceph_authtool_keyring() {
        let ring = Keyring::parse(AUTHTOOL_KEYRING).expect("keyring parses");
        assert_eq!(ring.len(), 2);
        let client = AuthEntityName::parse_str("client.test").expect("name");
        let entry = ring.entry(&client).expect("client.test present");
        assert_eq!(entry.caps.get("mon").map(String::as_str), Some("allow *"));
        assert_eq!(entry.caps.get("osd").map(String::as_str), Some("allow rw"));
        // Re-encoding gives back exactly the base64 from the file.
        let line = AUTHTOOL_KEYRING
            .lines()
            .find(|l| l.trim_start().starts_with("key"))
            .expect("key line");
        let b64 = line.split_once('=').map(|(_, v)| v.trim()).expect("value");
        let first = ring.names().next().expect("one name");
        assert_eq!(&*ring.get(first).expect("key").to_base64(), b64);
        assert!(ring
            .get(&AuthEntityName::parse_str("osd.3").expect("name"))
            .is_some());
    }

    #[test]
    fn keyring_whitespace_comments_and_errors() {
        let k = CryptoKey::new([7; 16], UTime::from_secs(1)).to_base64();
        let text = format!(
            "# comment\n; other comment\n\n  [ client.admin ]  \n\tkey   =  {}\n  caps   mon = \"allow *\"\n auid = 0\n",
            &*k
        );
        let ring = Keyring::parse(&text).expect("parses");
        let name = AuthEntityName::parse_str("client.admin").expect("name");
        assert_eq!(ring.get(&name).expect("key").secret(), &[7; 16]);
        assert!(Keyring::parse("[client.a]\ncaps mon = \"x\"\n").is_err());
        assert!(Keyring::parse("key = AQ\n").is_err());
        assert!(Keyring::parse("[client.a\n").is_err());
        assert!(Keyring::parse("[client.a]\nkey = ###\n").is_err());
        // The cluster keyring ceph-cluster.sh writes starts with the mons' `[mon.]`.
        let text = format!("[mon.]\n\tkey = {}\n[client.admin]\n\tkey = {}\n", &*k, &*k);
        let ring = Keyring::parse(&text).expect("[mon.] parses");
        assert!(ring
            .get(&AuthEntityName::new(EntityType::Mon, ""))
            .is_some());
        assert!(ring.get(&name).is_some());
        assert!(Keyring::parse("[osd.]\nkey = AQ\n").is_err());
    }

    #[test]
    fn debug_never_shows_secret_bytes() {
        let k = CryptoKey::new([0xab; 16], UTime::from_secs(1));
        let mut ring = Keyring::new();
        ring.add_key(AuthEntityName::new(EntityType::Client, "x"), k.clone());
        for s in [format!("{k:?}"), format!("{ring:?}")] {
            assert!(!s.contains("ab, ab") && !s.contains("171"), "{s}");
            assert!(!s.contains(&*k.to_base64()), "{s}");
        }
    }
}
