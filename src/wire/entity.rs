//! Entity types and names (msgr2 reference section 1.2; Ceph `src/include/msgr.h`
//! `CEPH_ENTITY_TYPE_*`, `src/msg/msg_types.h` `entity_name_t`, and
//! `src/common/entity_name.h` `EntityName`).

use std::fmt;
use std::str::FromStr;

use super::{DecodeError, Put, Reader};

/// Longest entity id (the part after the dot of "client.admin") accepted,
/// decoded or parsed from text (auth none and cephx use it too).
pub const MAX_ENTITY_ID_LEN: usize = 256;

/// `CEPH_ENTITY_TYPE_*` (reference 1.2, 13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum EntityType {
    /// `CEPH_ENTITY_TYPE_MON` = 0x01.
    Mon = 0x01,
    /// `CEPH_ENTITY_TYPE_MDS` = 0x02.
    Mds = 0x02,
    /// `CEPH_ENTITY_TYPE_OSD` = 0x04.
    Osd = 0x04,
    /// `CEPH_ENTITY_TYPE_CLIENT` = 0x08.
    Client = 0x08,
    /// `CEPH_ENTITY_TYPE_MGR` = 0x10.
    Mgr = 0x10,
    /// `CEPH_ENTITY_TYPE_AUTH` = 0x20.
    Auth = 0x20,
    /// `CEPH_ENTITY_TYPE_ANY` = 0xFF.
    Any = 0xFF,
}

impl EntityType {
    /// Every known type, in wire-value order.
    pub const ALL: [EntityType; 7] = [
        EntityType::Mon,
        EntityType::Mds,
        EntityType::Osd,
        EntityType::Client,
        EntityType::Mgr,
        EntityType::Auth,
        EntityType::Any,
    ];

    /// Maps a wire byte to a type; `None` for unknown values.
    pub fn from_u8(v: u8) -> Option<EntityType> {
        Self::ALL.into_iter().find(|t| *t as u8 == v)
    }

    /// Maps a `le32` wire value (as in `EntityName`) to a type.
    pub fn from_u32(v: u32) -> Option<EntityType> {
        u8::try_from(v).ok().and_then(Self::from_u8)
    }

    /// Decodes a type byte, failing with `InvalidValue` for unknown values.
    pub fn parse_u8(v: u8, what: &'static str) -> Result<EntityType, DecodeError> {
        Self::from_u8(v).ok_or(DecodeError::InvalidValue {
            what,
            value: u64::from(v),
        })
    }

    /// The type as a cephx service id (`CEPH_ENTITY_TYPE_*` as le32): service
    /// ids are single bits, so a set of services (`want_keys`) is their OR.
    pub const fn service_id(self) -> u32 {
        self as u32
    }

    /// Ceph's name of a cephx service id (`ceph_entity_type_name`);
    /// "unknown" for a value that is no entity type.
    pub fn service_name(service_id: u32) -> &'static str {
        Self::from_u32(service_id).map_or("unknown", EntityType::name)
    }

    /// Ceph's name for the type (`ceph_entity_type_name`): "mon", "osd", ...
    pub fn name(self) -> &'static str {
        match self {
            EntityType::Mon => "mon",
            EntityType::Mds => "mds",
            EntityType::Osd => "osd",
            EntityType::Client => "client",
            EntityType::Mgr => "mgr",
            EntityType::Auth => "auth",
            EntityType::Any => "any",
        }
    }
}

impl fmt::Display for EntityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error from parsing an entity type, name or address from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {input:?}")]
pub struct ParseNameError {
    /// What was being parsed ("entity type", "entity name", "address", ...).
    pub what: &'static str,
    /// The offending text.
    pub input: String,
}

impl ParseNameError {
    pub(crate) fn new(what: &'static str, input: &str) -> Self {
        ParseNameError {
            what,
            input: input.to_owned(),
        }
    }
}

impl FromStr for EntityType {
    type Err = ParseNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| ParseNameError::new("entity type", s))
    }
}

/// `entity_name_t`: u8 type + le64 num, 9 bytes (reference 1.2). `num` −1
/// (`u64::MAX`) means "unknown" (`entity_name_t::NEW`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityName {
    /// Entity type.
    pub ty: EntityType,
    /// Entity number: OSD id, mon rank, or a client's global_id.
    pub num: u64,
}

impl EntityName {
    /// Encoded size.
    pub const LEN: usize = 9;

    /// A name of type `ty` and number `num`.
    pub fn new(ty: EntityType, num: u64) -> Self {
        EntityName { ty, num }
    }

    /// Decodes 9 bytes from `r`.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let ty = EntityType::parse_u8(r.u8()?, "entity_name_t type")?;
        let num = r.u64_le()?;
        Ok(EntityName { ty, num })
    }

    /// Encoded size (always 9).
    pub fn buffer_len(&self) -> usize {
        Self::LEN
    }

    /// Appends the 9-byte encoding.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(self.ty as u8);
        out.put_u64_le(self.num);
    }
}

impl fmt::Display for EntityName {
    /// "osd.3"; an unknown number (−1) prints as "osd.?" like Ceph.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.num == u64::MAX {
            write!(f, "{}.?", self.ty)
        } else {
            write!(f, "{}.{}", self.ty, self.num)
        }
    }
}

impl FromStr for EntityName {
    type Err = ParseNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseNameError::new("entity name", s);
        let (ty, num) = s.split_once('.').ok_or_else(err)?;
        let ty = ty.parse().map_err(|_| err())?;
        let num = if num == "?" {
            u64::MAX
        } else {
            num.parse().map_err(|_| err())?
        };
        Ok(EntityName { ty, num })
    }
}

/// Ceph's `EntityName` (`src/common/entity_name.h`), the auth identity such
/// as "client.admin": le32 type + string id (reference 1.2). Keyrings, cephx
/// tickets and auth none name entities with it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuthEntityName {
    /// Entity type.
    pub ty: EntityType,
    /// The id after the dot ("admin", "0", ...).
    pub id: String,
}

impl AuthEntityName {
    /// A name of type `ty` with id `id`.
    pub fn new(ty: EntityType, id: impl Into<String>) -> Self {
        AuthEntityName { ty, id: id.into() }
    }

    /// Parses `type.id` (see the [`FromStr`] impl); `None` if it is not one.
    pub fn parse_str(s: &str) -> Option<Self> {
        s.parse().ok()
    }

    /// Parses a keyring section name: like [`AuthEntityName::parse_str`] but
    /// an empty id is allowed, as Ceph's `EntityName::from_str` allows it (the
    /// monitors' shared key is `[mon.]`).
    pub fn parse_keyring_name(s: &str) -> Option<Self> {
        match s.strip_prefix("mon.") {
            Some("") => Some(AuthEntityName::new(EntityType::Mon, "")),
            _ => AuthEntityName::parse_str(s),
        }
    }

    /// Decodes `le32 type | string id`.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let raw = r.u32_le()?;
        let ty = EntityType::from_u32(raw).ok_or(DecodeError::InvalidValue {
            what: "EntityName type",
            value: u64::from(raw),
        })?;
        let id = r.string(MAX_ENTITY_ID_LEN)?.to_owned();
        Ok(AuthEntityName { ty, id })
    }

    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        8 + self.id.len()
    }

    /// Appends `le32 type | string id`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u32_le(u32::from(self.ty as u8));
        out.put_bytes_le32(self.id.as_bytes());
    }
}

impl fmt::Display for AuthEntityName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.ty, self.id)
    }
}

impl FromStr for AuthEntityName {
    type Err = ParseNameError;
    /// Parses `type.id`, e.g. `client.admin` or `osd.3`: a named type other
    /// than `any`, and a non-empty id of at most [`MAX_ENTITY_ID_LEN`] bytes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseNameError::new("auth entity name", s);
        let (ty, id) = s.split_once('.').ok_or_else(err)?;
        let ty = match ty.parse().map_err(|_| err())? {
            EntityType::Any => return Err(err()),
            ty => ty,
        };
        if id.is_empty() || id.len() > MAX_ENTITY_ID_LEN {
            return Err(err());
        }
        Ok(AuthEntityName {
            ty,
            id: id.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_round_trip() {
        for v in 0u8..=255 {
            if let Some(t) = EntityType::from_u8(v) {
                assert_eq!(t as u8, v);
                assert_eq!(t.name().parse::<EntityType>().unwrap(), t);
            }
        }
        assert_eq!(EntityType::from_u8(3), None);
        assert!("bogus".parse::<EntityType>().is_err());
    }

    #[test]
    fn entity_name_text_and_bytes() {
        let n: EntityName = "osd.3".parse().unwrap();
        assert_eq!(n, EntityName::new(EntityType::Osd, 3));
        assert_eq!(n.to_string(), "osd.3");
        let mut v = Vec::new();
        n.emit(&mut v);
        assert_eq!(v, [4, 3, 0, 0, 0, 0, 0, 0, 0]);
        let mut r = Reader::new(&v, "t");
        assert_eq!(EntityName::parse(&mut r).unwrap(), n);
        r.expect_end().unwrap();
        for cut in 0..v.len() {
            assert!(EntityName::parse(&mut Reader::new(&v[..cut], "t")).is_err());
        }
        assert!(EntityName::parse(&mut Reader::new(&[3, 0, 0, 0, 0, 0, 0, 0, 0], "t")).is_err());
        assert!("osd".parse::<EntityName>().is_err());
        assert!("osd.x".parse::<EntityName>().is_err());
        let unknown: EntityName = "client.?".parse().unwrap();
        assert_eq!(unknown.num, u64::MAX);
        assert_eq!(unknown.to_string(), "client.?");
    }

    #[test]
    fn auth_entity_name_matches_reference_example() {
        let n: AuthEntityName = "client.admin".parse().unwrap();
        assert_eq!(n.to_string(), "client.admin");
        let mut v = Vec::new();
        n.emit(&mut v);
        assert_eq!(v, b"\x08\x00\x00\x00\x05\x00\x00\x00admin");
        assert_eq!(n.buffer_len(), v.len());
        let mut r = Reader::new(&v, "t");
        assert_eq!(AuthEntityName::parse(&mut r).unwrap(), n);
        r.expect_end().unwrap();
        for cut in 0..v.len() {
            assert!(AuthEntityName::parse(&mut Reader::new(&v[..cut], "t")).is_err());
        }
    }
}
