//! OSD capabilities as a cephx ticket carries them (`osd 'allow r'`,
//! `osd 'allow rw pool=rbd'`, `osd 'profile rbd pool=vms'`), and the check an
//! OSD applies to each op (Ceph `src/osd/OSDCap.cc`, `OSDCap::is_capable`).
//!
//! Grammar (the subset Ceph's docs describe, which is what `ceph auth` users
//! write):
//! ```text
//! caps   := grant ( [,;] grant )*
//! grant  := "allow" (spec | match)*  |  "profile" NAME match*
//! spec   := "*" | [rwx]+ | "class-read" | "class-write"
//! match  := "pool" ["="] NAME | "namespace" ["="] NS | "object_prefix" P
//! ```
//! Anything else makes the whole caps string unparseable, and unparseable
//! caps allow nothing (as a Ceph OSD refuses a session whose caps do not
//! parse). Profiles: `osd`, `mgr`, `mon` grant everything (daemons);
//! `rbd` grants rwx, `rbd-read-only` and `read-only` grant r.

use thiserror::Error;

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Need {
    /// Reads data or metadata.
    pub read: bool,
    /// Changes data or metadata.
    pub write: bool,
    /// Runs an object class method (`x`).
    pub exec: bool,
}

/// One `allow` grant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grant {
    read: bool,
    write: bool,
    exec: bool,
    pool: Option<String>,
    namespace: Option<String>,
    object_prefix: Option<String>,
}

impl Grant {
    fn all() -> Self {
        Grant {
            read: true,
            write: true,
            exec: true,
            ..Grant::default()
        }
    }

    fn matches(&self, pool: Option<&str>, namespace: &str, object: &str) -> bool {
        let pool_ok = match (&self.pool, pool) {
            (None, _) => true,
            (Some(want), Some(got)) => want == got,
            // A pool-scoped grant never matches a pool whose name we do not know.
            (Some(_), None) => false,
        };
        pool_ok
            && self.namespace.as_deref().is_none_or(|ns| ns == namespace)
            && self
                .object_prefix
                .as_deref()
                .is_none_or(|p| object.starts_with(p))
    }

    fn covers(&self, need: Need) -> bool {
        (!need.read || self.read) && (!need.write || self.write) && (!need.exec || self.exec)
    }
}

/// Why caps did not parse.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CapsError {
    /// A grant does not start with `allow` or `profile`.
    #[error("grant {grant:?}: expected 'allow' or 'profile'")]
    NoVerb {
        /// The grant text.
        grant: String,
    },
    /// A word that is neither a permission nor a match.
    #[error("grant {grant:?}: unknown word {word:?}")]
    UnknownWord {
        /// The grant text.
        grant: String,
        /// The word.
        word: String,
    },
    /// `pool`, `namespace` or `object_prefix` without a value.
    #[error("grant {grant:?}: {what} needs a value")]
    MissingValue {
        /// The grant text.
        grant: String,
        /// Which match.
        what: &'static str,
    },
}

/// Parsed OSD caps: a list of grants, any of which may allow an op.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OsdCaps {
    grants: Vec<Grant>,
}

impl OsdCaps {
    /// Caps that allow everything (a ticket with `allow_all`).
    pub fn allow_all() -> Self {
        OsdCaps {
            grants: vec![Grant::all()],
        }
    }

    /// Parses a caps string; an empty string allows nothing.
    pub fn parse(text: &str) -> Result<Self, CapsError> {
        let mut grants = Vec::new();
        for raw in text.split([',', ';']) {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            grants.push(parse_grant(raw)?);
        }
        Ok(OsdCaps { grants })
    }

    /// True if some grant covers `need` on `object` in `namespace` of the pool
    /// named `pool` (`None`: the pool's name is not known).
    pub fn allows(&self, pool: Option<&str>, namespace: &str, object: &str, need: Need) -> bool {
        self.grants
            .iter()
            .any(|g| g.matches(pool, namespace, object) && g.covers(need))
    }
}

fn parse_grant(raw: &str) -> Result<Grant, CapsError> {
    // `pool=x` and `pool x` are the same: split '=' into its own token.
    let spaced = raw.replace('=', " = ");
    let mut words = spaced.split_whitespace().peekable();
    let mut g = Grant::default();
    let err_word = |w: &str| CapsError::UnknownWord {
        grant: raw.to_owned(),
        word: w.to_owned(),
    };
    match words.next() {
        Some("allow") => {}
        Some("profile") => {
            let name = words.next().ok_or_else(|| CapsError::MissingValue {
                grant: raw.to_owned(),
                what: "profile",
            })?;
            match name {
                "osd" | "mgr" | "mon" | "rbd" => g = Grant::all(),
                "rbd-read-only" | "read-only" => g.read = true,
                other => return Err(err_word(other)),
            }
        }
        _ => {
            return Err(CapsError::NoVerb {
                grant: raw.to_owned(),
            })
        }
    }
    while let Some(w) = words.next() {
        let mut value = |what: &'static str| -> Result<String, CapsError> {
            if words.peek() == Some(&"=") {
                words.next();
            }
            words
                .next()
                .map(|v| v.trim_matches(['"', '\'']).to_owned())
                .ok_or_else(|| CapsError::MissingValue {
                    grant: raw.to_owned(),
                    what,
                })
        };
        match w {
            "pool" => g.pool = Some(value("pool")?),
            "namespace" => g.namespace = Some(value("namespace")?),
            "object_prefix" => g.object_prefix = Some(value("object_prefix")?),
            "*" => {
                g.read = true;
                g.write = true;
                g.exec = true;
            }
            "class-read" | "class-write" => g.exec = true,
            spec if !spec.is_empty() && spec.chars().all(|c| matches!(c, 'r' | 'w' | 'x')) => {
                g.read |= spec.contains('r');
                g.write |= spec.contains('w');
                g.exec |= spec.contains('x');
            }
            other => return Err(err_word(other)),
        }
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Need = Need {
        read: true,
        write: false,
        exec: false,
    };
    const W: Need = Need {
        read: false,
        write: true,
        exec: false,
    };

    #[test]
    fn read_only_refuses_writes() {
        let c = OsdCaps::parse("allow r").unwrap();
        assert!(c.allows(Some("p"), "", "o", R));
        assert!(!c.allows(Some("p"), "", "o", W));
    }

    #[test]
    fn pool_scoped_grants() {
        let c = OsdCaps::parse("allow rw pool=data, allow r pool logs").unwrap();
        assert!(c.allows(Some("data"), "", "o", W));
        assert!(c.allows(Some("logs"), "", "o", R));
        assert!(!c.allows(Some("logs"), "", "o", W));
        assert!(!c.allows(Some("other"), "", "o", R));
        assert!(
            !c.allows(None, "", "o", R),
            "unknown pool names match no scoped grant"
        );
    }

    #[test]
    fn namespace_prefix_star_profiles() {
        let c =
            OsdCaps::parse("allow rw namespace=ns1 object_prefix rbd_; allow *  pool=x").unwrap();
        assert!(c.allows(Some("a"), "ns1", "rbd_data", W));
        assert!(!c.allows(Some("a"), "ns2", "rbd_data", W));
        assert!(!c.allows(Some("a"), "ns1", "other", W));
        assert!(c.allows(Some("x"), "any", "thing", W));
        assert!(OsdCaps::parse("profile osd")
            .unwrap()
            .allows(None, "", "o", W));
        let ro = OsdCaps::parse("profile rbd-read-only pool=vms").unwrap();
        assert!(ro.allows(Some("vms"), "", "o", R) && !ro.allows(Some("vms"), "", "o", W));
        assert!(OsdCaps::allow_all().allows(None, "", "", W));
        assert!(!OsdCaps::parse("").unwrap().allows(None, "", "", R));
    }

    #[test]
    fn malformed_caps_are_errors() {
        assert!(matches!(
            OsdCaps::parse("permit r"),
            Err(CapsError::NoVerb { .. })
        ));
        assert!(matches!(
            OsdCaps::parse("allow rz"),
            Err(CapsError::UnknownWord { .. })
        ));
        assert!(matches!(
            OsdCaps::parse("allow r pool="),
            Err(CapsError::MissingValue { .. })
        ));
        assert!(matches!(
            OsdCaps::parse("profile nope"),
            Err(CapsError::UnknownWord { .. })
        ));
    }
}
