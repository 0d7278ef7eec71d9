//! Reading `ceph.conf` the way Ceph 16.2 (Pacific) does.
//!
//! # File syntax
//!
//! As `ConfFile::parse_buffer` in Ceph's `src/common/ConfUtils.cc`:
//!
//! - `[name]` starts a section: `[global]`, `[osd]`, `[osd.3]`, `[client]`,
//!   `[client.admin]`, `[mon.a]`, ... Every setting belongs to a section; a
//!   heading that appears twice is one section whose later lines win.
//! - `key = value` sets an option. Everything after the first `=` is the value,
//!   with surrounding whitespace trimmed (`conf_line_t`); a value may be quoted
//!   with `"..."` or `'...'`, and is trimmed inside the quotes too.
//! - `#` and `;` start a comment, on a line of their own or after a setting
//!   or a section header.
//! - A backslash escapes the next character (`\#`, `\;`, `\"`, `\\`); a
//!   backslash at the end of a line continues the line on the next one.
//! - Option names are normalised (`ConfFile::normalize_key_name`): surrounding
//!   whitespace is dropped and each run of inner whitespace becomes `_`, so
//!   `mon host`, `mon  host` and `mon_host` are one option. Dashes also count
//!   as `_`, as Ceph's documentation promises ("Option names",
//!   `doc/rados/configuration/ceph-conf.rst`). Names are case-sensitive, as in
//!   Ceph.
//!
//! # Lookup
//!
//! An entity `type.id` reads an option from `[type.id]`, then `[type]`, then
//! `[global]`, the first that has it winning (`md_config_t::_get_my_sections`
//! and `_get_val_from_conf_file` in `src/common/config.cc`). Options nobody
//! asks for are ignored, whatever their name.
//!
//! # Metavariables
//!
//! String options expand `$var` and `${var}`, where `var` is made of `a-z`
//! and `_` (`md_config_t::_expand_meta`): `$cluster` (from the file name,
//! `ceph` for `ceph.conf`, see [`CephConf::load`]), `$type` (`osd`), `$id`
//! and `$num` (`3`), `$name` (`osd.3`), `$host` (only if set with
//! [`CephConf::with_host`]), `$pid`, `$data_dir` (`$osd_data` for an OSD,
//! `$mon_data`, `$mgr_data`, `$mds_data`), and the name of any other option,
//! which expands to that option's (expanded) value from the file or, for
//! `osd_data`, `mon_data`, `mgr_data`, `mds_data` and `run_dir`, its Ceph
//! default. Anything else is left as written; a reference loop stops at the
//! repeated option.
//!
//! # Typed options
//!
//! - `mon_host` ([`CephConf::mon_host`]): `MonMap::build_initial`,
//!   `init_with_ips` and `_add_ambiguous_addr` (`src/mon/MonMap.cc`) and
//!   `parse_ip_port_vec` (`src/common/ceph_argparse.cc`).
//! - `ms_*_mode` ([`CephConf::con_modes`]) and `auth_*_required`
//!   ([`CephConf::auth_methods`]): `AuthRegistry::_parse_mode_list`,
//!   `_parse_method_list` and `_refresh_config` (`src/auth/AuthRegistry.cc`),
//!   with the defaults of `src/common/options.cc`.
//! - `keyring` ([`CephConf::keyring`]): `ceph_resolve_file_search`
//!   (`src/common/config.cc`), with the defaults of `options.cc` and
//!   `common_preinit` (`src/common/common_init.cc`).
//! - `fsid`, `public_addr`, `cluster_addr`, and numbers or booleans through
//!   [`CephConf::get_parsed`] and [`CephConf::get_bool`].
//!
//! # Where this differs from Ceph
//!
//! Ceph warns and carries on where this module refuses: an unknown connection
//! mode or auth method, an empty mode or method list, and a `CEPH_CONF` that
//! names no existing file are errors here. It is more lenient where Ceph's
//! grammar is needlessly strict: indented section headers, blanks inside
//! `[ name ]`, `#`/`;` inside a quoted value, and a line continued inside
//! quotes are accepted. `mon_host` names are not resolved through DNS.
//! Numbers use Rust's `FromStr`, without Ceph's `K`/`M`/`G` suffixes.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use thiserror::Error;

use crate::auth::{METHOD_CEPHX, METHOD_NONE};
use crate::msg::parse_fsid;
use crate::wire::addr::{AddrType, EntityAddr, EntityAddrVec};
use crate::wire::entity::{AuthEntityName, EntityType};
use crate::wire::ConMode;

/// Largest configuration file accepted (Ceph allows 1 GiB; real files are a
/// few kilobytes).
pub const MAX_CONF_LEN: usize = 16 << 20;

/// Ceph's cluster name when nothing else names it.
pub const DEFAULT_CLUSTER: &str = "ceph";

/// `CEPH_MON_PORT_IANA`: the msgr2 monitor port.
pub const MON_PORT_MSGR2: u16 = 3300;

/// `CEPH_MON_PORT_LEGACY`: the msgr1 monitor port.
pub const MON_PORT_LEGACY: u16 = 6789;

/// Ceph's `keyring` default for entities without a data directory
/// (`src/common/options.cc`).
const DEFAULT_CLIENT_KEYRING: &str =
    "/etc/ceph/$cluster.$name.keyring,/etc/ceph/$cluster.keyring,/etc/ceph/keyring,/etc/ceph/keyring.bin";

/// Separators of Ceph's `get_str_list` (`src/common/str_list.cc`).
const STR_LIST_SEPARATORS: [char; 5] = [';', ',', '=', ' ', '\t'];

/// Deepest chain of `$option` references followed.
const MAX_EXPANSION_DEPTH: usize = 16;
/// Most `$option` expansions one value may take in all: options that each
/// reference the next several times would otherwise expand exponentially
/// (found by fuzzing: 16 levels of 4 references hang the parser).
const MAX_EXPANSIONS: usize = 256;

/// The state of one value's expansion: the options being expanded (to stop
/// reference loops) and the expansions left.
struct Expansion {
    stack: Vec<String>,
    left: usize,
}

/// What is wrong with the text of a configuration file line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SyntaxError {
    /// A line that is neither a setting, a section header, a comment nor blank.
    #[error("expected `name = value`, `[section]`, a comment or a blank line")]
    MissingEquals,
    /// `= value` with no option name.
    #[error("missing option name before `=`")]
    EmptyKey,
    /// A setting before the first section header.
    #[error("`{0}` is set before any [section]")]
    SettingOutsideSection(String),
    /// `[name` without the closing bracket.
    #[error("section header has no closing `]`")]
    UnterminatedSection,
    /// `[]`.
    #[error("empty section name")]
    EmptySectionName,
    /// Something other than a comment after a section header's `]`.
    #[error("unexpected text after the section header's `]`")]
    TextAfterSection,
    /// A quoted value whose closing quote never comes.
    #[error("quoted value has no closing {0}")]
    UnterminatedQuote(char),
    /// Something other than a comment after a quoted value.
    #[error("unexpected text after the closing quote")]
    TextAfterQuote,
    /// The file is not UTF-8 (Ceph's `check_utf8`).
    #[error("not valid UTF-8")]
    InvalidUtf8,
}

/// Why a configuration could not be read or an option not be used.
#[derive(Debug, Error)]
pub enum ConfError {
    /// The file could not be opened or read.
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The file is larger than [`MAX_CONF_LEN`].
    #[error("{}the configuration is {len} bytes, more than the {limit}-byte limit", place(.path, &None))]
    TooLarge {
        /// The file, if it was loaded from one.
        path: Option<PathBuf>,
        /// Its size.
        len: u64,
        /// [`MAX_CONF_LEN`].
        limit: usize,
    },
    /// A line of the file is malformed.
    #[error("{}{kind}", place_at(.path, .line))]
    Syntax {
        /// The file, if it was loaded from one.
        path: Option<PathBuf>,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        kind: SyntaxError,
    },
    /// An option that was read has a value it cannot have.
    #[error("{}bad value {value:?} for {key}: {reason}", place(.path, .line))]
    BadValue {
        /// The file, if the value came from one.
        path: Option<PathBuf>,
        /// 1-based line number of the setting, if the value came from a file.
        line: Option<usize>,
        /// The normalised option name.
        key: String,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `CEPH_CONF` names only files that do not exist.
    #[error("none of the files in CEPH_CONF exist: {}", join_paths(.searched))]
    NotFound {
        /// The files tried, in order.
        searched: Vec<PathBuf>,
    },
}

impl ConfError {
    /// The 1-based line number the error is about, if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfError::Syntax { line, .. } => Some(*line),
            ConfError::BadValue { line, .. } => *line,
            _ => None,
        }
    }

    fn bad_value(key: &str, value: &str, reason: String) -> ConfError {
        ConfError::BadValue {
            path: None,
            line: None,
            key: key.to_owned(),
            value: value.to_owned(),
            reason,
        }
    }
}

/// `path: line N: ` (or the parts known) in front of an error message.
fn place(path: &Option<PathBuf>, line: &Option<usize>) -> String {
    match (path, line) {
        (Some(p), Some(l)) => format!("{}: line {l}: ", p.display()),
        (Some(p), None) => format!("{}: ", p.display()),
        (None, Some(l)) => format!("line {l}: "),
        (None, None) => String::new(),
    }
}

fn place_at(path: &Option<PathBuf>, line: &usize) -> String {
    place(path, &Some(*line))
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One setting of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The option name, normalised (see [`normalize_key`]).
    pub key: String,
    /// The value: unquoted, escapes resolved, trimmed, metavariables *not*
    /// expanded.
    pub value: String,
    /// 1-based line number where the setting starts.
    pub line: usize,
}

/// One `[section]` as it appears in the file. A heading written twice gives
/// two `Section`s; lookups treat them as one, later lines winning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The heading between the brackets, e.g. `global` or `osd.3`.
    pub name: String,
    /// 1-based line number of the header.
    pub line: usize,
    /// The settings, in file order.
    pub entries: Vec<Entry>,
}

/// Which `ms_*_mode` option to read (see [`CephConf::con_modes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModeOption {
    /// `ms_cluster_mode`: a daemon connecting to another non-mon daemon.
    Cluster,
    /// `ms_service_mode`: a daemon accepting a client.
    Service,
    /// `ms_client_mode`: a client connecting to a non-mon daemon.
    Client,
    /// `ms_mon_cluster_mode`: any daemon connecting to a mon or mgr.
    MonCluster,
    /// `ms_mon_service_mode`: a mon or mgr accepting a non-mon peer.
    MonService,
    /// `ms_mon_client_mode`: a client connecting to a mon or mgr.
    MonClient,
}

impl ModeOption {
    /// All six options.
    pub const ALL: [ModeOption; 6] = [
        ModeOption::Cluster,
        ModeOption::Service,
        ModeOption::Client,
        ModeOption::MonCluster,
        ModeOption::MonService,
        ModeOption::MonClient,
    ];

    /// The option's name.
    pub fn key(self) -> &'static str {
        match self {
            ModeOption::Cluster => "ms_cluster_mode",
            ModeOption::Service => "ms_service_mode",
            ModeOption::Client => "ms_client_mode",
            ModeOption::MonCluster => "ms_mon_cluster_mode",
            ModeOption::MonService => "ms_mon_service_mode",
            ModeOption::MonClient => "ms_mon_client_mode",
        }
    }

    /// Ceph 16.2's default (`src/common/options.cc`): `crc secure` for the
    /// daemon options, `secure crc` for the mon ones.
    pub fn default_value(self) -> &'static str {
        match self {
            ModeOption::Cluster | ModeOption::Service | ModeOption::Client => "crc secure",
            ModeOption::MonCluster | ModeOption::MonService | ModeOption::MonClient => "secure crc",
        }
    }
}

/// Which `auth_*_required` option to read (see [`CephConf::auth_methods`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthOption {
    /// `auth_cluster_required`: between daemons.
    Cluster,
    /// `auth_service_required`: clients of a daemon must use one of these.
    Service,
    /// `auth_client_required`: what a client accepts from the cluster.
    Client,
}

impl AuthOption {
    /// The option's name.
    pub fn key(self) -> &'static str {
        match self {
            AuthOption::Cluster => "auth_cluster_required",
            AuthOption::Service => "auth_service_required",
            AuthOption::Client => "auth_client_required",
        }
    }

    /// Ceph 16.2's default (`src/common/options.cc`).
    pub fn default_value(self) -> &'static str {
        match self {
            AuthOption::Cluster | AuthOption::Service => "cephx",
            AuthOption::Client => "cephx, none",
        }
    }
}

/// A parsed `ceph.conf`: its sections in file order, plus the cluster name
/// and host name used for metavariables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CephConf {
    path: Option<PathBuf>,
    cluster: String,
    host: Option<String>,
    sections: Vec<Section>,
}

impl Default for CephConf {
    /// An empty configuration: every accessor gives Ceph's default.
    fn default() -> Self {
        CephConf {
            path: None,
            cluster: DEFAULT_CLUSTER.to_owned(),
            host: None,
            sections: Vec::new(),
        }
    }
}

impl CephConf {
    /// Parses the text of a configuration file (see the module doc for the
    /// syntax). The cluster name is `ceph`.
    pub fn parse(text: &str) -> Result<CephConf, ConfError> {
        parse_text(text, None)
    }

    /// Reads and parses `path`. As Ceph's `parse_config_files`, the cluster
    /// name is the file name up to `.conf` (`/etc/ceph/prod.conf` → `prod`),
    /// or `ceph` if the name has no `.conf`. Errors name the file.
    pub fn load(path: impl AsRef<Path>) -> Result<CephConf, ConfError> {
        let path = path.as_ref();
        let io_err = |source| ConfError::Io {
            path: path.to_owned(),
            source,
        };
        let file = fs::File::open(path).map_err(io_err)?;
        let mut bytes = Vec::new();
        file.take(MAX_CONF_LEN as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(io_err)?;
        if bytes.len() > MAX_CONF_LEN {
            return Err(ConfError::TooLarge {
                path: Some(path.to_owned()),
                len: bytes.len() as u64,
                limit: MAX_CONF_LEN,
            });
        }
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
                return Err(ConfError::Syntax {
                    path: Some(path.to_owned()),
                    line,
                    kind: SyntaxError::InvalidUtf8,
                });
            }
        };
        let mut conf = parse_text(&text, Some(path))?;
        conf.cluster = cluster_from_path(path);
        Ok(conf)
    }

    /// Finds and loads the configuration: `path` (the `-c` flag) if given,
    /// else the `CEPH_CONF` environment variable, else the first existing
    /// file of [`default_search_path`]. `Ok(None)` when no file was named
    /// and none of the defaults exists (or `CEPH_CONF` is empty). See
    /// [`CephConf::locate`].
    pub fn from_env_or(path: Option<&Path>) -> Result<Option<CephConf>, ConfError> {
        let env = std::env::var_os("CEPH_CONF");
        let home = std::env::var_os("HOME");
        match Self::locate(path, env.as_deref(), home.as_deref().map(Path::new))? {
            Some(p) => Self::load(p).map(Some),
            None => Ok(None),
        }
    }

    /// Which file [`CephConf::from_env_or`] reads, given the `-c` path, the
    /// value of `CEPH_CONF` and of `HOME` (passed in so that callers and
    /// tests need not touch the process environment):
    ///
    /// 1. `explicit`, whether or not it exists (loading it reports a missing
    ///    file).
    /// 2. Else, if `ceph_conf` is set: a list split at `;`, `,`, `=`, blanks
    ///    (Ceph's `get_str_list`); the first file that exists. An empty list
    ///    is `Ok(None)` (Ceph then reads no file); a list of missing files is
    ///    [`ConfError::NotFound`] (Ceph warns and carries on with defaults).
    /// 3. Else the first existing file of [`default_search_path`], or
    ///    `Ok(None)`.
    pub fn locate(
        explicit: Option<&Path>,
        ceph_conf: Option<&OsStr>,
        home: Option<&Path>,
    ) -> Result<Option<PathBuf>, ConfError> {
        locate_in(explicit, ceph_conf, &default_search_path(home))
    }

    /// Sets the cluster name `$cluster` expands to.
    pub fn with_cluster(mut self, cluster: impl Into<String>) -> Self {
        self.cluster = cluster.into();
        self
    }

    /// Sets the host name `$host` expands to (Ceph uses the short host name;
    /// without this, `$host` is left as written).
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The file this was loaded from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The cluster name (`$cluster`).
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// The sections in file order.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// The raw value of `key` for entity `name`: from `[type.id]`, else
    /// `[type]`, else `[global]`; within those, the last setting in the file
    /// wins. `key` is normalised, so `mon host`, `mon-host` and `mon_host`
    /// are the same. Metavariables are not expanded (see
    /// [`CephConf::get_expanded`]).
    pub fn get(&self, name: &AuthEntityName, key: &str) -> Option<&str> {
        self.entry(name, key).map(|e| e.value.as_str())
    }

    /// The raw value of `key` in section `section` alone.
    pub fn get_in(&self, section: &str, key: &str) -> Option<&str> {
        self.find(&[section], key).map(|e| e.value.as_str())
    }

    /// [`CephConf::get`] with metavariables expanded, as Ceph does for every
    /// string option.
    pub fn get_expanded(&self, name: &AuthEntityName, key: &str) -> Option<String> {
        let key = normalize_key(key);
        let raw = self.get(name, &key)?;
        Some(self.expand_as(name, raw, vec![key]))
    }

    /// Expands the metavariables of `value` for entity `name` (see the
    /// module doc).
    pub fn expand(&self, name: &AuthEntityName, value: &str) -> String {
        self.expand_as(name, value, Vec::new())
    }

    /// `key`'s value parsed with `FromStr`, e.g. `osd_beacon_report_interval`
    /// as a `u64`. `Ok(None)` if unset. No metavariable expansion (Ceph
    /// expands only string options) and no `K`/`M`/`G` suffixes.
    pub fn get_parsed<T>(&self, name: &AuthEntityName, key: &str) -> Result<Option<T>, ConfError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let Some(e) = self.entry(name, key) else {
            return Ok(None);
        };
        e.value
            .parse::<T>()
            .map(Some)
            .map_err(|err| self.bad(e, err.to_string()))
    }

    /// A boolean option as Ceph's `Option::parse_value` reads one: `true` or
    /// `false` in any case, or an integer (non-zero is true). `Ok(None)` if
    /// unset.
    pub fn get_bool(&self, name: &AuthEntityName, key: &str) -> Result<Option<bool>, ConfError> {
        let Some(e) = self.entry(name, key) else {
            return Ok(None);
        };
        let v = e.value.as_str();
        if v.eq_ignore_ascii_case("true") {
            Ok(Some(true))
        } else if v.eq_ignore_ascii_case("false") {
            Ok(Some(false))
        } else {
            v.parse::<i64>()
                .map(|n| Some(n != 0))
                .map_err(|_| self.bad(e, "expected true, false or an integer".into()))
        }
    }

    /// `fsid` as 16 bytes; `Ok(None)` if unset or empty.
    pub fn fsid(&self, name: &AuthEntityName) -> Result<Option<[u8; 16]>, ConfError> {
        let Some(e) = self.entry(name, "fsid") else {
            return Ok(None);
        };
        if e.value.is_empty() {
            return Ok(None);
        }
        parse_fsid(&e.value)
            .map(Some)
            .ok_or_else(|| self.bad(e, "expected a UUID".into()))
    }

    /// The monitors to contact, one address vector per monitor, msgr2
    /// address first (Ceph's `MonMap::build_initial`).
    ///
    /// From `mon_host` (see [`parse_mon_host`] for the forms) if it is set
    /// and not empty; otherwise from the `mon addr` of every `[mon.X]`
    /// section, read from `[mon.X]`, `[mon]`, `[global]`, in the order of
    /// the section names (`MonMap::init_with_config_file`). Empty if
    /// neither names a monitor (Ceph would then try DNS SRV records).
    pub fn mon_host(&self, name: &AuthEntityName) -> Result<Vec<EntityAddrVec>, ConfError> {
        if let Some(e) = self.entry(name, "mon_host") {
            let value = self.expand_as(name, &e.value, vec!["mon_host".into()]);
            if !value.trim().is_empty() {
                return mon_host_list(&value).map_err(|r| self.bad(e, r));
            }
        }
        let mut mons: Vec<&str> = self
            .sections
            .iter()
            .map(|s| s.name.as_str())
            .filter(|n| n.len() > 4 && n.starts_with("mon."))
            .collect();
        mons.sort_unstable();
        mons.dedup();
        let mut out: Vec<EntityAddrVec> = Vec::new();
        for section in mons {
            let Some(e) = self.find(&[section, "mon", "global"], "mon_addr") else {
                continue;
            };
            let mon = AuthEntityName::new(EntityType::Mon, &section[4..]);
            let value = self.expand_as(&mon, &e.value, vec!["mon_addr".into()]);
            let av = legacy_mon_addr(value.trim()).map_err(|r| self.bad(e, r))?;
            if !out.contains(&av) {
                out.push(av);
            }
        }
        Ok(out)
    }

    /// The connection modes of `which`, in order of preference; Ceph's
    /// default when unset. The value is a list of `crc` and `secure`
    /// separated by blanks, `,` or `;`.
    pub fn con_modes(
        &self,
        name: &AuthEntityName,
        which: ModeOption,
    ) -> Result<Vec<ConMode>, ConfError> {
        match self.entry(name, which.key()) {
            Some(e) => {
                let value = self.expand_as(name, &e.value, vec![which.key().into()]);
                mode_list(&value).map_err(|r| self.bad(e, r))
            }
            None => mode_list(which.default_value())
                .map_err(|r| ConfError::bad_value(which.key(), which.default_value(), r)),
        }
    }

    /// The auth methods of `which` as `CEPH_AUTH_*` codes
    /// ([`METHOD_CEPHX`], [`METHOD_NONE`]), in order; Ceph's default when
    /// unset. A non-empty `auth_supported` overrides all three options, as in
    /// Ceph's `AuthRegistry::_refresh_config`.
    pub fn auth_methods(
        &self,
        name: &AuthEntityName,
        which: AuthOption,
    ) -> Result<Vec<u32>, ConfError> {
        for key in ["auth_supported", which.key()] {
            if let Some(e) = self.entry(name, key) {
                let value = self.expand_as(name, &e.value, vec![key.into()]);
                if key == "auth_supported" && value.trim().is_empty() {
                    continue;
                }
                return method_list(&value).map_err(|r| self.bad(e, r));
            }
        }
        method_list(which.default_value())
            .map_err(|r| ConfError::bad_value(which.key(), which.default_value(), r))
    }

    /// `public_addr`: the IP to bind for clients, with a port or port 0
    /// (Ceph then picks one from `ms_bind_port_min..=ms_bind_port_max`).
    /// `Ok(None)` if unset or empty.
    pub fn public_addr(&self, name: &AuthEntityName) -> Result<Option<SocketAddr>, ConfError> {
        self.bind_addr(name, "public_addr")
    }

    /// `cluster_addr`: as [`CephConf::public_addr`], for the cluster network.
    pub fn cluster_addr(&self, name: &AuthEntityName) -> Result<Option<SocketAddr>, ConfError> {
        self.bind_addr(name, "cluster_addr")
    }

    /// The keyring files to try, in order, metavariables expanded: the
    /// `keyring` option split as Ceph's `get_str_list` splits, or Ceph's
    /// default for the entity's type (`$osd_data/keyring` for an OSD,
    /// `$mon_data`, `$mgr_data`, `$mds_data/keyring` for the other daemons,
    /// `/etc/ceph/$cluster.$name.keyring,/etc/ceph/$cluster.keyring,
    /// /etc/ceph/keyring,/etc/ceph/keyring.bin` for clients).
    pub fn keyring_paths(&self, name: &AuthEntityName) -> Vec<PathBuf> {
        let value = match self.get(name, "keyring") {
            Some(v) => v.to_owned(),
            None => default_keyring(name.ty).to_owned(),
        };
        let value = self.expand_as(name, &value, vec!["keyring".into()]);
        str_list(&value).map(PathBuf::from).collect()
    }

    /// The first of [`CephConf::keyring_paths`] that is an existing file
    /// (Ceph's `ceph_resolve_file_search`), if any.
    pub fn keyring(&self, name: &AuthEntityName) -> Option<PathBuf> {
        self.keyring_paths(name).into_iter().find(|p| p.is_file())
    }

    fn bind_addr(&self, name: &AuthEntityName, key: &str) -> Result<Option<SocketAddr>, ConfError> {
        let Some(e) = self.entry(name, key) else {
            return Ok(None);
        };
        if e.value.is_empty() {
            return Ok(None);
        }
        let a = parse_addr(&e.value).map_err(|r| self.bad(e, r))?;
        Ok(Some(SocketAddr::new(a.ip, a.port)))
    }

    /// The setting `name` reads for `key`.
    fn entry(&self, name: &AuthEntityName, key: &str) -> Option<&Entry> {
        let own = name.to_string();
        self.find(&[own.as_str(), name.ty.name(), "global"], key)
    }

    /// The last setting of `key` in the first of `sections` that has one.
    fn find(&self, sections: &[&str], key: &str) -> Option<&Entry> {
        let key = normalize_key(key);
        sections.iter().find_map(|want| {
            self.sections
                .iter()
                .rev()
                .filter(|s| s.name == *want)
                .find_map(|s| s.entries.iter().rev().find(|e| e.key == key))
        })
    }

    fn bad(&self, e: &Entry, reason: String) -> ConfError {
        ConfError::BadValue {
            path: self.path.clone(),
            line: Some(e.line),
            key: e.key.clone(),
            value: e.value.clone(),
            reason,
        }
    }

    /// Expands `value`; `stack` holds the options being expanded, to stop
    /// reference loops.
    fn expand_as(&self, name: &AuthEntityName, value: &str, stack: Vec<String>) -> String {
        let mut st = Expansion {
            stack,
            left: MAX_EXPANSIONS,
        };
        self.expand_inner(name, value, &mut st)
    }

    fn expand_inner(&self, name: &AuthEntityName, value: &str, stack: &mut Expansion) -> String {
        let is_var = |c: char| c.is_ascii_lowercase() || c == '_';
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            // `${var}` or `$var`; `consumed` counts the bytes after the `$`.
            let (var, consumed) = match after.strip_prefix('{') {
                Some(inner) => {
                    let end = inner.find(|c| !is_var(c)).unwrap_or(inner.len());
                    if end > 0 && inner[end..].starts_with('}') {
                        (&inner[..end], end + 2)
                    } else {
                        ("", 0)
                    }
                }
                None => {
                    let end = after.find(|c| !is_var(c)).unwrap_or(after.len());
                    (&after[..end], end)
                }
            };
            match (!var.is_empty())
                .then(|| self.metavariable(name, var, stack))
                .flatten()
            {
                Some(v) => out.push_str(&v),
                None => {
                    out.push('$');
                    out.push_str(&after[..consumed]);
                }
            }
            rest = &after[consumed..];
        }
        out.push_str(rest);
        out
    }

    /// The value of `$var`, or `None` to leave it as written.
    fn metavariable(
        &self,
        name: &AuthEntityName,
        var: &str,
        stack: &mut Expansion,
    ) -> Option<String> {
        match var {
            "cluster" => Some(self.cluster.clone()),
            "type" => Some(name.ty.name().to_owned()),
            "name" => Some(name.to_string()),
            "id" | "num" => Some(name.id.clone()),
            "host" => self.host.clone(),
            "pid" => Some(std::process::id().to_string()),
            "data_dir" => {
                let opt = data_dir_option(name.ty)?;
                self.option_value(name, opt, stack)
            }
            other => self.option_value(name, other, stack),
        }
    }

    /// The expanded value of option `opt` for `$opt`.
    fn option_value(
        &self,
        name: &AuthEntityName,
        opt: &str,
        stack: &mut Expansion,
    ) -> Option<String> {
        if stack.left == 0
            || stack.stack.len() >= MAX_EXPANSION_DEPTH
            || stack.stack.iter().any(|s| s == opt)
        {
            return None;
        }
        let raw = self.get(name, opt).or_else(|| builtin_default(opt))?;
        stack.left -= 1;
        stack.stack.push(opt.to_owned());
        let v = self.expand_inner(name, raw, stack);
        stack.stack.pop();
        Some(v)
    }
}

/// The files Ceph tries when neither `-c` nor `CEPH_CONF` names one
/// (`CEPH_CONF_FILE_DEFAULT` in `src/common/config.cc`, for cluster `ceph`,
/// without the daemon-only `$data_dir/config`): `/etc/ceph/ceph.conf`,
/// `$HOME/.ceph/ceph.conf` when `home` is known, and `ceph.conf` in the
/// current directory (where `vstart.sh` writes it).
pub fn default_search_path(home: Option<&Path>) -> Vec<PathBuf> {
    let file = format!("{DEFAULT_CLUSTER}.conf");
    let mut v = vec![Path::new("/etc/ceph").join(&file)];
    if let Some(h) = home {
        v.push(h.join(".ceph").join(&file));
    }
    v.push(PathBuf::from(file));
    v
}

/// [`CephConf::locate`] with the default search list given.
fn locate_in(
    explicit: Option<&Path>,
    ceph_conf: Option<&OsStr>,
    defaults: &[PathBuf],
) -> Result<Option<PathBuf>, ConfError> {
    if let Some(p) = explicit {
        return Ok(Some(p.to_owned()));
    }
    if let Some(env) = ceph_conf {
        let searched: Vec<PathBuf> = match env.to_str() {
            Some(s) => str_list(s).map(PathBuf::from).collect(),
            None => vec![PathBuf::from(env)],
        };
        if searched.is_empty() {
            return Ok(None);
        }
        return match searched.iter().find(|p| p.exists()) {
            Some(p) => Ok(Some(p.clone())),
            None => Err(ConfError::NotFound { searched }),
        };
    }
    Ok(defaults.iter().find(|p| p.exists()).cloned())
}

/// Ceph's cluster name for a configuration file: the file name up to
/// `.conf`, else `ceph`.
fn cluster_from_path(path: &Path) -> String {
    path.file_name()
        .and_then(OsStr::to_str)
        .and_then(|n| n.find(".conf").map(|i| &n[..i]))
        .filter(|c| !c.is_empty())
        .unwrap_or(DEFAULT_CLUSTER)
        .to_owned()
}

/// Normalises an option name as Ceph's `ConfFile::normalize_key_name`:
/// trims it and turns each inner run of whitespace into one `_`; dashes
/// become `_` too. `"  mon   host "` and `"mon-host"` give `mon_host`.
pub fn normalize_key(key: &str) -> String {
    key.split_whitespace()
        .collect::<Vec<_>>()
        .join("_")
        .replace('-', "_")
}

/// Ceph's `get_str_list`: the non-empty pieces between `;`, `,`, `=`, space
/// and tab.
fn str_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(STR_LIST_SEPARATORS).filter(|p| !p.is_empty())
}

/// The option naming an entity type's data directory (`data_dir_option`,
/// set by each daemon's `main`).
fn data_dir_option(ty: EntityType) -> Option<&'static str> {
    match ty {
        EntityType::Osd => Some("osd_data"),
        EntityType::Mon => Some("mon_data"),
        EntityType::Mgr => Some("mgr_data"),
        EntityType::Mds => Some("mds_data"),
        _ => None,
    }
}

/// Ceph's defaults of the options `$references` commonly reach.
fn builtin_default(opt: &str) -> Option<&'static str> {
    match opt {
        "osd_data" => Some("/var/lib/ceph/osd/$cluster-$id"),
        "mon_data" => Some("/var/lib/ceph/mon/$cluster-$id"),
        "mgr_data" => Some("/var/lib/ceph/mgr/$cluster-$id"),
        "mds_data" => Some("/var/lib/ceph/mds/$cluster-$id"),
        "run_dir" => Some("/var/run/ceph"),
        _ => None,
    }
}

/// The `keyring` default for an entity type: daemons look in their data
/// directory (`common_preinit` for OSDs and MDSs, `ceph_mon.cc` and
/// `ceph_mgr.cc` for the others), clients in `/etc/ceph`.
fn default_keyring(ty: EntityType) -> &'static str {
    match ty {
        EntityType::Osd => "$osd_data/keyring",
        EntityType::Mon => "$mon_data/keyring",
        EntityType::Mgr => "$mgr_data/keyring",
        EntityType::Mds => "$mds_data/keyring",
        _ => DEFAULT_CLIENT_KEYRING,
    }
}

/// Parses a connection mode list (`AuthRegistry::_parse_mode_list`).
fn mode_list(value: &str) -> Result<Vec<ConMode>, String> {
    let mut modes = Vec::new();
    for word in str_list(value) {
        let mode = match word {
            "crc" => ConMode::Crc,
            "secure" => ConMode::Secure,
            _ => {
                return Err(format!(
                    "unknown connection mode {word:?} (expected crc or secure)"
                ))
            }
        };
        if !modes.contains(&mode) {
            modes.push(mode);
        }
    }
    if modes.is_empty() {
        return Err("no connection modes listed".into());
    }
    Ok(modes)
}

/// Parses an auth method list (`AuthRegistry::_parse_method_list`).
fn method_list(value: &str) -> Result<Vec<u32>, String> {
    let mut methods = Vec::new();
    for word in str_list(value) {
        let method = match word {
            "cephx" => METHOD_CEPHX,
            "none" => METHOD_NONE,
            "gss" => return Err("auth method gss is not supported by pollmsgr".into()),
            _ => {
                return Err(format!(
                    "unknown auth method {word:?} (expected cephx or none)"
                ))
            }
        };
        if !methods.contains(&method) {
            methods.push(method);
        }
    }
    if methods.is_empty() {
        return Err("no auth methods listed".into());
    }
    Ok(methods)
}

/// Parses a `mon_host` value (also the `-m` flag) into one address vector
/// per monitor, as Ceph's `MonMap::init_with_ips`:
///
/// - Monitors are separated by blanks, `;` or `,`.
/// - `v2:IP[:PORT]` and `v1:IP[:PORT]` are one address of that protocol;
///   the port defaults to 3300 for v2 and 6789 for v1.
/// - An address without prefix (or with `any:`) is ambiguous: port 3300
///   means v2, port 6789 means v1, no port means both `v2:IP:3300` and
///   `v1:IP:6789`, and any other port both protocols on that port. Ceph
///   makes those two separate monmap entries (`noname-a`, `noname-a-legacy`);
///   here they are one vector, v2 first.
/// - `[addr,addr,...]` is one monitor's vector, taken as written (an
///   address without prefix is v2 there, as in `entity_addrvec_t::parse`);
///   a vector of one address is treated as that address.
/// - IPv6 addresses go in brackets when they have a port: `[::1]:3300`,
///   `[v2:[::1]:3300,v1:[::1]:6789]`. A `/nonce` suffix is allowed.
///
/// Host names are refused: Ceph resolves them through DNS, pollmsgr does not.
/// Repeated monitors are kept once. The error is a
/// [`ConfError::BadValue`] without file position.
pub fn parse_mon_host(value: &str) -> Result<Vec<EntityAddrVec>, ConfError> {
    mon_host_list(value).map_err(|r| ConfError::bad_value("mon_host", value, r))
}

fn mon_host_list(value: &str) -> Result<Vec<EntityAddrVec>, String> {
    let mut out: Vec<EntityAddrVec> = Vec::new();
    let items = value
        .split(|c: char| c == ';' || c.is_whitespace())
        .filter(|s| !s.is_empty());
    for item in items {
        let elems = split_top_level(item)?;
        let last = elems.len() - 1;
        for (i, elem) in elems.into_iter().enumerate() {
            if elem.is_empty() {
                if i == last {
                    continue; // a trailing comma
                }
                return Err(format!("empty monitor address in {item:?}"));
            }
            let av = mon_entry(elem)?;
            if !out.contains(&av) {
                out.push(av);
            }
        }
    }
    if out.is_empty() {
        return Err("no monitor addresses".into());
    }
    Ok(out)
}

/// Splits at the commas outside brackets.
fn split_top_level(s: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced `]` in {s:?}"))?;
            }
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced `[` in {s:?}"));
    }
    parts.push(&s[start..]);
    Ok(parts)
}

/// One monitor of `mon_host`: an address or a bracketed address vector.
fn mon_entry(elem: &str) -> Result<EntityAddrVec, String> {
    if let Ok(a) = parse_addr(elem) {
        return Ok(ambiguous_mon_addr(a));
    }
    let Some(inner) = elem.strip_prefix('[').and_then(|r| r.strip_suffix(']')) else {
        return Err(addr_error(elem));
    };
    let mut addrs = Vec::new();
    for part in split_top_level(inner)? {
        let mut a = parse_addr(part.trim())?;
        a.ty = match a.ty {
            None => Some(AddrType::Msgr2),
            Some(AddrType::Any) => {
                return Err(format!(
                    "{part:?}: any: is not allowed inside an address vector"
                ));
            }
            t => t,
        };
        addrs.push(a);
    }
    match addrs.as_slice() {
        [] => Err(format!("empty address vector {elem:?}")),
        [one] => Ok(ambiguous_mon_addr(*one)),
        _ => Ok(EntityAddrVec(
            addrs
                .iter()
                .map(|a| a.to_entity_addr(a.default_port()))
                .collect(),
        )),
    }
}

/// A monitor address from `mon_host`, resolved as Ceph's
/// `MonMap::_add_ambiguous_addr` (not for mkfs).
fn ambiguous_mon_addr(a: ParsedAddr) -> EntityAddrVec {
    let at = |ty, port| EntityAddr::new(ty, SocketAddr::new(a.ip, port), a.nonce);
    let v = match a.ty {
        Some(t @ (AddrType::Legacy | AddrType::Msgr2)) => vec![at(t, a.port_or(t))],
        _ => match a.port {
            MON_PORT_LEGACY => vec![at(AddrType::Legacy, MON_PORT_LEGACY)],
            MON_PORT_MSGR2 => vec![at(AddrType::Msgr2, MON_PORT_MSGR2)],
            0 => vec![
                at(AddrType::Msgr2, MON_PORT_MSGR2),
                at(AddrType::Legacy, MON_PORT_LEGACY),
            ],
            p => vec![at(AddrType::Msgr2, p), at(AddrType::Legacy, p)],
        },
    };
    EntityAddrVec(v)
}

/// A `[mon.X] mon addr`: one address, v1 unless prefixed, default port by
/// type (Ceph's `init_with_config_file` uses 6789 even for `v2:`).
fn legacy_mon_addr(value: &str) -> Result<EntityAddrVec, String> {
    let mut a = parse_addr(value)?;
    let ty = match a.ty {
        None | Some(AddrType::Any) => AddrType::Legacy,
        Some(t) => t,
    };
    a.ty = Some(ty);
    Ok(EntityAddrVec::single(a.to_entity_addr(a.port_or(ty))))
}

/// An address as written in the configuration.
#[derive(Debug, Clone, Copy)]
struct ParsedAddr {
    /// `v1:`, `v2:` or `any:`; `None` without prefix.
    ty: Option<AddrType>,
    ip: IpAddr,
    /// 0 when not given.
    port: u16,
    nonce: u32,
}

impl ParsedAddr {
    fn port_or(&self, ty: AddrType) -> u16 {
        match (self.port, ty) {
            (0, AddrType::Legacy) => MON_PORT_LEGACY,
            (0, _) => MON_PORT_MSGR2,
            (p, _) => p,
        }
    }

    fn default_port(&self) -> u16 {
        self.port_or(self.ty.unwrap_or(AddrType::Msgr2))
    }

    fn to_entity_addr(self, port: u16) -> EntityAddr {
        EntityAddr::new(
            self.ty.unwrap_or(AddrType::Msgr2),
            SocketAddr::new(self.ip, port),
            self.nonce,
        )
    }
}

fn addr_error(s: &str) -> String {
    format!(
        "{s:?} is not an address of the form [v1:|v2:]IP[:PORT][/NONCE] \
         (host names are not resolved)"
    )
}

/// Parses `[v1:|v2:|any:]IP[:PORT][/NONCE]`, IPv6 in brackets when it has a
/// port (Ceph's `entity_addr_t::parse`, without trailing text).
fn parse_addr(s: &str) -> Result<ParsedAddr, String> {
    let err = || addr_error(s);
    let (ty, rest) = [
        ("v1:", AddrType::Legacy),
        ("v2:", AddrType::Msgr2),
        ("any:", AddrType::Any),
    ]
    .into_iter()
    .find_map(|(p, t)| s.strip_prefix(p).map(|r| (Some(t), r)))
    .unwrap_or((None, s));
    let (sock, nonce) = match rest.rsplit_once('/') {
        Some((a, n)) => (a, n.parse::<u32>().map_err(|_| err())?),
        None => (rest, 0),
    };
    let port = |p: &str| {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        p.parse::<u16>()
            .map_err(|_| format!("port {p} of {s:?} is larger than 65535"))
    };
    let (ip, port) = if let Some(r) = sock.strip_prefix('[') {
        let (ip, after) = r.split_once(']').ok_or_else(err)?;
        let ip = ip.parse::<IpAddr>().map_err(|_| err())?;
        match after {
            "" => (ip, 0),
            _ => (ip, port(after.strip_prefix(':').ok_or_else(err)?)?),
        }
    } else if let Ok(ip) = sock.parse::<IpAddr>() {
        (ip, 0)
    } else {
        let (ip, p) = sock.rsplit_once(':').ok_or_else(err)?;
        (
            IpAddr::V4(ip.parse::<Ipv4Addr>().map_err(|_| err())?),
            port(p)?,
        )
    };
    Ok(ParsedAddr {
        ty,
        ip,
        port,
        nonce,
    })
}

/// What one logical line of the file holds.
#[derive(Debug, PartialEq, Eq)]
enum Item {
    Blank,
    Section(String),
    Setting(String, String),
}

/// Where the scanner is within a logical line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Only blanks so far.
    Start,
    /// Inside `[...`.
    SectionName,
    /// After the `]`.
    AfterSection,
    /// Reading the option name, before `=`.
    Key,
    /// After `=`, before the value's first character.
    ValueStart,
    /// In an unquoted value.
    Value,
    /// In a value quoted with `quote`, opened on line `line`.
    Quoted { quote: char, line: usize },
    /// After a quoted value's closing quote.
    AfterQuote,
}

/// A logical line being scanned: one physical line, or several joined by
/// trailing backslashes.
#[derive(Debug)]
struct LogicalLine {
    /// Where it starts.
    line: usize,
    state: State,
    /// The section name or the option name.
    head: String,
    value: String,
}

impl LogicalLine {
    fn new(line: usize) -> Self {
        LogicalLine {
            line,
            state: State::Start,
            head: String::new(),
            value: String::new(),
        }
    }

    /// Scans physical line `raw` (number `lineno`); `Ok(true)` if it ends
    /// with a continuation backslash.
    fn feed(&mut self, raw: &str, lineno: usize) -> Result<bool, SyntaxError> {
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            let (c, plain) = if c == '\\' {
                match chars.next() {
                    Some(n) => (n, false),
                    None => return Ok(true),
                }
            } else {
                (c, true)
            };
            let blank = plain && (c == ' ' || c == '\t');
            let quoted = matches!(self.state, State::Quoted { .. });
            if plain && !quoted && (c == '#' || c == ';') {
                return Ok(false); // a comment runs to the end of the physical line
            }
            match self.state {
                State::Start if blank => {}
                State::Start if plain && c == '[' => self.state = State::SectionName,
                State::Start if plain && c == '=' => self.state = State::ValueStart,
                State::Start => {
                    self.head.push(c);
                    self.state = State::Key;
                }
                State::SectionName => {
                    if plain && c == ']' {
                        self.state = State::AfterSection;
                    } else {
                        self.head.push(c);
                    }
                }
                State::AfterSection if !blank => return Err(SyntaxError::TextAfterSection),
                State::AfterQuote if !blank => return Err(SyntaxError::TextAfterQuote),
                State::AfterSection | State::AfterQuote => {}
                State::Key => {
                    if plain && c == '=' {
                        self.state = State::ValueStart;
                    } else {
                        self.head.push(c);
                    }
                }
                State::ValueStart if blank => {}
                State::ValueStart if plain && (c == '"' || c == '\'') => {
                    self.state = State::Quoted {
                        quote: c,
                        line: lineno,
                    };
                }
                State::ValueStart => {
                    self.value.push(c);
                    self.state = State::Value;
                }
                State::Value => self.value.push(c),
                State::Quoted { quote, .. } => {
                    if plain && c == quote {
                        self.state = State::AfterQuote;
                    } else {
                        self.value.push(c);
                    }
                }
            }
        }
        Ok(false)
    }

    /// The finished line, or the line number and error.
    fn finish(self) -> Result<Item, (usize, SyntaxError)> {
        let at = |kind| Err((self.line, kind));
        match self.state {
            State::Start => Ok(Item::Blank),
            State::SectionName => at(SyntaxError::UnterminatedSection),
            State::AfterSection => {
                let name = self.head.trim();
                if name.is_empty() {
                    return at(SyntaxError::EmptySectionName);
                }
                Ok(Item::Section(name.to_owned()))
            }
            State::Key => at(SyntaxError::MissingEquals),
            State::Quoted { quote, line } => Err((line, SyntaxError::UnterminatedQuote(quote))),
            State::ValueStart | State::Value | State::AfterQuote => {
                let key = normalize_key(&self.head);
                if key.is_empty() {
                    return at(SyntaxError::EmptyKey);
                }
                Ok(Item::Setting(key, self.value.trim().to_owned()))
            }
        }
    }
}

fn parse_text(text: &str, path: Option<&Path>) -> Result<CephConf, ConfError> {
    let syntax = |line, kind| ConfError::Syntax {
        path: path.map(Path::to_path_buf),
        line,
        kind,
    };
    if text.len() > MAX_CONF_LEN {
        return Err(ConfError::TooLarge {
            path: path.map(Path::to_path_buf),
            len: text.len() as u64,
            limit: MAX_CONF_LEN,
        });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut sections: Vec<Section> = Vec::new();
    let mut apply = |line: usize, item: Item| -> Result<(), ConfError> {
        match item {
            Item::Blank => {}
            Item::Section(name) => sections.push(Section {
                name,
                line,
                entries: Vec::new(),
            }),
            Item::Setting(key, value) => match sections.last_mut() {
                Some(s) => s.entries.push(Entry { key, value, line }),
                None => return Err(syntax(line, SyntaxError::SettingOutsideSection(key))),
            },
        }
        Ok(())
    };
    let mut pending: Option<LogicalLine> = None;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let mut cur = pending.take().unwrap_or_else(|| LogicalLine::new(lineno));
        if cur.feed(raw, lineno).map_err(|k| syntax(lineno, k))? {
            pending = Some(cur);
            continue;
        }
        let start = cur.line;
        let item = cur.finish().map_err(|(l, k)| syntax(l, k))?;
        apply(start, item)?;
    }
    if let Some(cur) = pending {
        let start = cur.line;
        let item = cur.finish().map_err(|(l, k)| syntax(l, k))?;
        apply(start, item)?;
    }
    Ok(CephConf {
        path: path.map(Path::to_path_buf),
        cluster: DEFAULT_CLUSTER.to_owned(),
        host: None,
        sections,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> AuthEntityName {
        AuthEntityName::parse_str(s).expect("entity name")
    }

    fn addrs(av: &EntityAddrVec) -> String {
        av.to_string()
    }

    fn hosts(v: &[EntityAddrVec]) -> Vec<String> {
        v.iter().map(addrs).collect()
    }

    /// A scratch directory unique to this process and test.
    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pollmsgr-conf-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("create scratch dir");
        d
    }

    /// Shaped like the `ceph.conf` `vstart.sh` writes (trimmed), with a
    /// cephadm-style second `[global]` and a few extra forms.
    const VSTART_CONF: &str = r#"; generated by vstart.sh on Tue Jun  4 10:00:00 UTC 2024
[client.vstart.sh]
        num mon = 3
        num osd = 3

[global]
        fsid = 6c7ed9a1-3f2b-4c1e-9a0f-1234567890ab
        osd failsafe full ratio = .99
        mon_max_pg_per_osd = 1000
        run dir = /ceph/build/out
        ms bind msgr2 = true
        ms bind msgr1 = true
        auth cluster required = cephx
        auth service required = cephx
        auth client required = cephx
[client]
        keyring = /ceph/build/keyring
        log file = /ceph/build/out/$name.$pid.log
        ; needed for s3tests
        rgw crypt s3 kms encryption keys = testkey-1=YmluCmJvb3N0Cg== testkey-2=aWIKTWFrZQo=
[mgr]
        mgr data = /ceph/build/dev/mgr.$id
        mgr/telemetry/nag = false
[osd]
        log file = /ceph/build/out/$name.log
        chdir = ""
        osd data = /ceph/build/dev/osd$id
        osd beacon report interval = 5   # seconds
        ms-cluster-mode = secure
[mon]
        mon cluster log file = /ceph/build/out/cluster.mon.$id.log
        osd pool default erasure code profile = plugin=jerasure technique=reed_sol_van k=2 m=1
[mon.a]
        host = myhost
        mon data = /ceph/build/dev/mon.a
[global]
        mon host =  [v2:127.0.0.1:40000,v1:127.0.0.1:40001] [v2:127.0.0.1:40002,v1:127.0.0.1:40003]
[osd.0]
        host = myhost
        osd beacon report interval = 7
"#;

    /// A cephadm minimal config.
    const CEPHADM_CONF: &str = "# minimal ceph.conf for 5e9a8c2e-1234-11ee-8a7b-525400abcdef\n\
[global]\n\
\tfsid = 5e9a8c2e-1234-11ee-8a7b-525400abcdef\n\
\tmon_host = [v2:127.122.0.10:3300/0,v1:127.122.0.10:6789/0] [v2:127.122.0.11:3300/0,v1:127.122.0.11:6789/0]\n";

    #[test]
    fn parses_a_vstart_conf() {
        let conf = CephConf::parse(VSTART_CONF).expect("parses");
        let names: Vec<&str> = conf.sections().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "client.vstart.sh",
                "global",
                "client",
                "mgr",
                "osd",
                "mon",
                "mon.a",
                "global",
                "osd.0"
            ]
        );
        assert_eq!(conf.sections()[1].line, 6);
        let admin = name("client.admin");
        let osd1 = name("osd.1");
        assert_eq!(
            conf.fsid(&admin).expect("fsid").expect("set")[..2],
            [0x6c, 0x7e]
        );
        // `mon host` comes from the second [global]; spaces in the name.
        assert_eq!(
            hosts(&conf.mon_host(&admin).expect("mon_host")),
            [
                "[v2:127.0.0.1:40000/0,v1:127.0.0.1:40001/0]",
                "[v2:127.0.0.1:40002/0,v1:127.0.0.1:40003/0]"
            ]
        );
        // Values keep everything after the first `=`; quotes go.
        assert_eq!(
            conf.get(&admin, "rgw_crypt_s3_kms_encryption_keys"),
            Some("testkey-1=YmluCmJvb3N0Cg== testkey-2=aWIKTWFrZQo=")
        );
        assert_eq!(conf.get(&osd1, "chdir"), Some(""));
        assert_eq!(conf.get(&name("mgr.x"), "mgr/telemetry/nag"), Some("false"));
        assert_eq!(
            conf.get(&name("mon.a"), "osd pool default erasure code profile"),
            Some("plugin=jerasure technique=reed_sol_van k=2 m=1")
        );
        // Trailing comment, and [osd.0] over [osd].
        assert_eq!(
            conf.get_parsed::<u32>(&osd1, "osd_beacon_report_interval")
                .expect("number"),
            Some(5)
        );
        assert_eq!(
            conf.get_parsed::<u32>(&name("osd.0"), "osd_beacon_report_interval")
                .expect("number"),
            Some(7)
        );
        assert_eq!(
            conf.get_parsed::<f64>(&osd1, "osd failsafe full ratio")
                .expect("float"),
            Some(0.99)
        );
        assert_eq!(
            conf.get_bool(&osd1, "ms_bind_msgr1").expect("bool"),
            Some(true)
        );
        assert_eq!(
            conf.auth_methods(&admin, AuthOption::Client).expect("auth"),
            [METHOD_CEPHX]
        );
        assert_eq!(
            conf.keyring_paths(&admin),
            [PathBuf::from("/ceph/build/keyring")]
        );
        // [osd] osd data, with $id, makes the OSD's default keyring.
        assert_eq!(
            conf.keyring_paths(&name("osd.2")),
            [PathBuf::from("/ceph/build/dev/osd2/keyring")]
        );
        assert_eq!(
            conf.get_expanded(&name("osd.2"), "log file").as_deref(),
            Some("/ceph/build/out/osd.2.log")
        );
        // `ms-cluster-mode` with dashes, in [osd] only.
        assert_eq!(
            conf.con_modes(&osd1, ModeOption::Cluster).expect("modes"),
            [ConMode::Secure]
        );
        assert_eq!(
            conf.con_modes(&admin, ModeOption::Cluster).expect("modes"),
            [ConMode::Crc, ConMode::Secure]
        );
    }

    #[test]
    fn parses_a_cephadm_conf() {
        let conf = CephConf::parse(CEPHADM_CONF).expect("parses");
        let admin = name("client.admin");
        assert_eq!(
            hosts(&conf.mon_host(&admin).expect("mon_host")),
            [
                "[v2:127.122.0.10:3300/0,v1:127.122.0.10:6789/0]",
                "[v2:127.122.0.11:3300/0,v1:127.122.0.11:6789/0]"
            ]
        );
        let fsid = conf.fsid(&admin).expect("fsid").expect("set");
        assert_eq!(
            crate::msg::fsid_to_string(&fsid),
            "5e9a8c2e-1234-11ee-8a7b-525400abcdef"
        );
        assert_eq!(
            conf.keyring_paths(&admin),
            [
                "/etc/ceph/ceph.client.admin.keyring",
                "/etc/ceph/ceph.keyring",
                "/etc/ceph/keyring",
                "/etc/ceph/keyring.bin"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn precedence_and_name_normalisation() {
        let text = "\
[global]
  a = global
  b = global
  c = global
  Case = upper
[osd]
  a = osd
  b = osd
[osd.3]
  a = osd.3
[global]
  c = global-later
[client]
  a = client
[client.admin]
  a = admin
[osd]
  b = osd-later
";
        let conf = CephConf::parse(text).expect("parses");
        let osd3 = name("osd.3");
        let osd4 = name("osd.4");
        assert_eq!(conf.get(&osd3, "a"), Some("osd.3"));
        assert_eq!(conf.get(&osd4, "a"), Some("osd"));
        assert_eq!(conf.get(&osd3, "b"), Some("osd-later"));
        assert_eq!(conf.get(&osd3, "c"), Some("global-later"));
        assert_eq!(conf.get(&name("client.admin"), "a"), Some("admin"));
        assert_eq!(conf.get(&name("client.rgw"), "a"), Some("client"));
        assert_eq!(conf.get(&name("mon.a"), "a"), Some("global"));
        assert_eq!(conf.get(&name("mon.a"), "missing"), None);
        assert_eq!(conf.get_in("osd.3", "b"), None);
        // Case matters, as in Ceph.
        assert_eq!(conf.get(&osd3, "case"), None);
        assert_eq!(conf.get(&osd3, "Case"), Some("upper"));

        let conf = CephConf::parse("[global]\n mon \t  host = 1.2.3.4\n").expect("parses");
        let admin = name("client.admin");
        for key in ["mon_host", "mon host", " mon  host ", "mon-host"] {
            assert_eq!(conf.get(&admin, key), Some("1.2.3.4"), "{key}");
        }
        assert_eq!(
            normalize_key("  osd   pool-default size "),
            "osd_pool_default_size"
        );
    }

    #[test]
    fn comments_quotes_escapes_and_continuations() {
        let text = "\
# full-line comment
; another
[global] # after a header
\tplain = value   # trailing comment
\tsemi = value; trailing
\tdq = \" spaced # not a comment ; nor this \"  # but this is
\tinner = it's
\tescaped = a\\#b\\;c\\\\
\tlist = a, \\
\t       b, \\
\t       c
\tend = done
";
        let conf = CephConf::parse(text).expect("parses");
        let admin = name("client.admin");
        assert_eq!(conf.get(&admin, "plain"), Some("value"));
        assert_eq!(conf.get(&admin, "semi"), Some("value"));
        assert_eq!(
            conf.get(&admin, "dq"),
            Some("spaced # not a comment ; nor this")
        );
        assert_eq!(conf.get(&admin, "inner"), Some("it's"));
        assert_eq!(conf.get(&admin, "escaped"), Some("a#b;c\\"));
        assert_eq!(conf.get(&admin, "list"), Some("a, \t       b, \t       c"));
        let end = conf.sections()[0].entries.last().expect("entry");
        assert_eq!((end.key.as_str(), end.line), ("end", 12));
        // `'it''s'` is a quoted `it` followed by text.
        let err = CephConf::parse("[g]\nsq = 'it''s'\n").expect_err("text after quote");
        assert!(matches!(
            err,
            ConfError::Syntax {
                line: 2,
                kind: SyntaxError::TextAfterQuote,
                ..
            }
        ));
        let quoted = CephConf::parse("[g]\nq = \"say \\\"hi\\\"\"\n").expect("parses");
        assert_eq!(quoted.get_in("g", "q"), Some("say \"hi\""));
    }

    #[test]
    fn malformed_lines_name_their_line() {
        let cases: [(&str, usize, SyntaxError); 8] = [
            (
                "[global]\nfoo = 1\njust words\n",
                3,
                SyntaxError::MissingEquals,
            ),
            (
                "[global]\n\nx = \"open\n",
                3,
                SyntaxError::UnterminatedQuote('"'),
            ),
            (
                "[global]\nx = 'open\n",
                2,
                SyntaxError::UnterminatedQuote('\''),
            ),
            (
                "[global]\nok = 1\n[osd\nx = 1\n",
                3,
                SyntaxError::UnterminatedSection,
            ),
            (
                "# header\nfoo = bar\n[global]\n",
                2,
                SyntaxError::SettingOutsideSection("foo".into()),
            ),
            ("[global]\n = orphan\n", 2, SyntaxError::EmptyKey),
            ("[global] extra\n", 1, SyntaxError::TextAfterSection),
            ("[global]\n[ ]\n", 2, SyntaxError::EmptySectionName),
        ];
        for (text, want_line, want_kind) in cases {
            match CephConf::parse(text) {
                Err(ConfError::Syntax { path, line, kind }) => {
                    assert_eq!((line, &kind), (want_line, &want_kind), "{text:?}");
                    assert_eq!(path, None);
                    let msg = ConfError::Syntax { path, line, kind }.to_string();
                    assert!(msg.starts_with(&format!("line {want_line}: ")), "{msg}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        // A continued line reports errors at the line where they are.
        let err = CephConf::parse("[g]\na = 1 \\\n  2\nb = \"x\" \\\n  junk\n").expect_err("junk");
        assert_eq!(err.line(), Some(5));
        // An unterminated quote continued onto later lines names its opening line.
        let err = CephConf::parse("[g]\n\na = \"x \\\n  y\n").expect_err("open quote");
        assert_eq!(err.line(), Some(3));
    }

    #[test]
    fn bad_values_name_line_and_file() {
        let dir = scratch("bad-values");
        let path = dir.join("ceph.conf");
        fs::write(
            &path,
            "[global]\n\tfsid = not-a-uuid\n\tmon_host = v2:nonsense\n\tms_mon_client_mode = secure fast\n\
             \tauth_client_required = cephx gss\n\tpublic_addr = 127.10.0.1:70000\n\
             \tosd_beacon_report_interval = 10K\n\tms_bind_msgr1 = maybe\n",
        )
        .expect("write");
        let conf = CephConf::load(&path).expect("loads");
        let admin = name("client.admin");
        let checks: [(ConfError, usize, &str); 7] = [
            (conf.fsid(&admin).expect_err("fsid"), 2, "fsid"),
            (conf.mon_host(&admin).expect_err("mon_host"), 3, "mon_host"),
            (
                conf.con_modes(&admin, ModeOption::MonClient)
                    .expect_err("modes"),
                4,
                "ms_mon_client_mode",
            ),
            (
                conf.auth_methods(&admin, AuthOption::Client)
                    .expect_err("auth"),
                5,
                "auth_client_required",
            ),
            (
                conf.public_addr(&admin).expect_err("addr"),
                6,
                "public_addr",
            ),
            (
                conf.get_parsed::<u64>(&admin, "osd_beacon_report_interval")
                    .expect_err("number"),
                7,
                "osd_beacon_report_interval",
            ),
            (
                conf.get_bool(&admin, "ms_bind_msgr1").expect_err("bool"),
                8,
                "ms_bind_msgr1",
            ),
        ];
        for (err, line, key) in checks {
            assert_eq!(err.line(), Some(line), "{err}");
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!("{}: line {line}: bad value", path.display())),
                "{msg}"
            );
            assert!(msg.contains(key), "{msg}");
        }
        // Unknown options are simply ignored.
        assert_eq!(conf.get(&admin, "no_such_option"), None);
        // Syntax errors from a file name it too.
        fs::write(&path, "[global]\nbroken\n").expect("write");
        let msg = CephConf::load(&path).expect_err("broken").to_string();
        assert_eq!(
            msg,
            format!(
                "{}: line 2: expected `name = value`, `[section]`, a comment or a blank line",
                path.display()
            )
        );
        // Invalid UTF-8 is reported with its line.
        fs::write(&path, b"[global]\nx = 1\ny = \xff\n").expect("write");
        let err = CephConf::load(&path).expect_err("utf8");
        assert!(matches!(
            err,
            ConfError::Syntax {
                line: 3,
                kind: SyntaxError::InvalidUtf8,
                ..
            }
        ));
        let missing = CephConf::load(dir.join("missing.conf")).expect_err("missing");
        assert!(matches!(missing, ConfError::Io { .. }), "{missing}");
        assert!(missing.to_string().contains("missing.conf"), "{missing}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn mon_host_forms() {
        let cases: [(&str, &[&str]); 12] = [
            ("v2:127.0.0.1:3300", &["v2:127.0.0.1:3300/0"]),
            ("v1:127.0.0.1", &["v1:127.0.0.1:6789/0"]),
            ("v2:127.0.0.1", &["v2:127.0.0.1:3300/0"]),
            (
                "[v2:1.2.3.4:3300,v1:1.2.3.4:6789]",
                &["[v2:1.2.3.4:3300/0,v1:1.2.3.4:6789/0]"],
            ),
            ("1.2.3.4", &["[v2:1.2.3.4:3300/0,v1:1.2.3.4:6789/0]"]),
            ("1.2.3.4:6789", &["v1:1.2.3.4:6789/0"]),
            ("1.2.3.4:3300", &["v2:1.2.3.4:3300/0"]),
            ("1.2.3.4:7000", &["[v2:1.2.3.4:7000/0,v1:1.2.3.4:7000/0]"]),
            ("[1.2.3.4]", &["[v2:1.2.3.4:3300/0,v1:1.2.3.4:6789/0]"]),
            ("[v1:1.2.3.4]", &["v1:1.2.3.4:6789/0"]),
            ("[::1]:3300", &["v2:[::1]:3300/0"]),
            (
                "[v2:[::1]:3300,v1:[::1]:6789]",
                &["[v2:[::1]:3300/0,v1:[::1]:6789/0]"],
            ),
        ];
        for (text, want) in cases {
            let got = parse_mon_host(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(hosts(&got), want, "{text}");
        }
        // Several mons, separated by commas, spaces and semicolons, mixed forms.
        let got = parse_mon_host(
            "127.10.0.1, 127.10.0.2:6789;v2:127.10.0.3:3300 [v2:127.10.0.4:3300,v1:127.10.0.4:6789],127.10.0.5,",
        )
        .expect("parses");
        assert_eq!(
            hosts(&got),
            [
                "[v2:127.10.0.1:3300/0,v1:127.10.0.1:6789/0]",
                "v1:127.10.0.2:6789/0",
                "v2:127.10.0.3:3300/0",
                "[v2:127.10.0.4:3300/0,v1:127.10.0.4:6789/0]",
                "[v2:127.10.0.5:3300/0,v1:127.10.0.5:6789/0]",
            ]
        );
        // The msgr2 address of each mon is there to pick.
        assert_eq!(got.iter().filter(|av| av.msgr2().is_some()).count(), 4);
        // Two vectors separated by a comma, and a repeated mon kept once.
        let got = parse_mon_host("[v2:1.1.1.1:3300,v1:1.1.1.1:6789],[v2:2.2.2.2:3300,v1:2.2.2.2:6789] 1.1.1.1:3300 1.1.1.1:3300")
            .expect("parses");
        assert_eq!(got.len(), 3);
        for bad in [
            "v2:nonsense",
            "mon1.example.com",
            "[v2:1.2.3.4:3300,v1:1.2.3.4:6789",
            "1.2.3.4:99999",
            "1.2.3.4:",
            "1.2.3.4,,5.6.7.8",
            "[]",
            "[any:1.2.3.4:3300,v1:1.2.3.4:6789]",
            "",
        ] {
            let err = parse_mon_host(bad).expect_err(bad);
            assert!(
                matches!(err, ConfError::BadValue { line: None, .. }),
                "{err}"
            );
        }
    }

    #[test]
    fn mon_addr_sections_when_mon_host_is_unset() {
        let text = "\
[global]
  mon host =
[mon]
  mon addr = 127.10.0.9
[mon.b]
  mon addr = 127.10.0.2:6790
[mon.a]
  mon addr = v2:127.10.0.1
[mon.c]
";
        let conf = CephConf::parse(text).expect("parses");
        let got = conf.mon_host(&name("client.admin")).expect("mons");
        assert_eq!(
            hosts(&got),
            [
                "v2:127.10.0.1:3300/0",
                "v1:127.10.0.2:6790/0",
                "v1:127.10.0.9:6789/0"
            ]
        );
        assert!(CephConf::default()
            .mon_host(&name("client.admin"))
            .expect("empty")
            .is_empty());
        let err = CephConf::parse("[mon.a]\nmon addr = nowhere\n")
            .expect("parses")
            .mon_host(&name("client.admin"))
            .expect_err("bad addr");
        assert_eq!(err.line(), Some(2));
    }

    #[test]
    fn metavariables() {
        let text = "\
[global]
  keyring = /etc/ceph/$cluster.$name.keyring
  admin socket = $run_dir/$cluster-${name}.asok
  odd = $Cluster ${nope $ $$ ${} $unknown_opt $home end$
  loop_a = x$loop_b
  loop_b = y$loop_a
  host_file = /srv/$host/$type/$id/$num
[osd]
  osd data = /srv/$cluster/osd-$id
  data = $data_dir/current
";
        let conf = CephConf::parse(text).expect("parses");
        let admin = name("client.admin");
        let osd = name("osd.12");
        assert_eq!(
            conf.get_expanded(&admin, "keyring").as_deref(),
            Some("/etc/ceph/ceph.client.admin.keyring")
        );
        assert_eq!(
            conf.get_expanded(&osd, "admin_socket").as_deref(),
            Some("/var/run/ceph/ceph-osd.12.asok")
        );
        assert_eq!(
            conf.get_expanded(&admin, "odd").as_deref(),
            Some("$Cluster ${nope $ $$ ${} $unknown_opt $home end$")
        );
        // A reference loop stops at the repeated option.
        assert_eq!(
            conf.get_expanded(&admin, "loop_a").as_deref(),
            Some("xy$loop_a")
        );
        assert_eq!(
            conf.get_expanded(&osd, "host_file").as_deref(),
            Some("/srv/$host/osd/12/12")
        );
        let conf = conf.with_cluster("prod").with_host("node1");
        assert_eq!(
            conf.get_expanded(&osd, "host_file").as_deref(),
            Some("/srv/node1/osd/12/12")
        );
        assert_eq!(
            conf.get_expanded(&osd, "data").as_deref(),
            Some("/srv/prod/osd-12/current")
        );
        // [global] keyring applies to the OSD too.
        assert_eq!(
            conf.keyring_paths(&osd),
            [PathBuf::from("/etc/ceph/prod.osd.12.keyring")]
        );
        // A client has no data directory.
        assert_eq!(
            conf.expand(&admin, "$data_dir/current"),
            "$data_dir/current"
        );
        // Ceph's daemon defaults.
        let empty = CephConf::default();
        assert_eq!(
            empty.keyring_paths(&name("mon.a")),
            [PathBuf::from("/var/lib/ceph/mon/ceph-a/keyring")]
        );
        assert_eq!(
            empty.keyring_paths(&name("osd.0")),
            [PathBuf::from("/var/lib/ceph/osd/ceph-0/keyring")]
        );
        assert_eq!(empty.expand(&admin, "$pid"), std::process::id().to_string());
    }

    #[test]
    fn connection_modes_and_auth_methods() {
        let admin = name("client.admin");
        let empty = CephConf::default();
        use ConMode::{Crc, Secure};
        for which in ModeOption::ALL {
            let want = match which {
                ModeOption::MonCluster | ModeOption::MonService | ModeOption::MonClient => {
                    [Secure, Crc]
                }
                _ => [Crc, Secure],
            };
            assert_eq!(
                empty.con_modes(&admin, which).expect("default"),
                want,
                "{which:?}"
            );
        }
        let text = "\
[global]
  ms_cluster_mode = secure crc
  ms service mode = crc,secure
  ms_client_mode = secure
  ms_mon_cluster_mode = crc\tsecure
  ms_mon_service_mode = crc
  ms_mon_client_mode = \"secure, crc\"
";
        let conf = CephConf::parse(text).expect("parses");
        let got: Vec<Vec<ConMode>> = ModeOption::ALL
            .iter()
            .map(|&w| conf.con_modes(&admin, w).expect("modes"))
            .collect();
        assert_eq!(
            got,
            [
                vec![Secure, Crc],
                vec![Crc, Secure],
                vec![Secure],
                vec![Crc, Secure],
                vec![Crc],
                vec![Secure, Crc],
            ]
        );
        // `;` starts a comment, so this is just crc (as in Ceph).
        let semi = CephConf::parse("[global]\nms_client_mode = crc; secure\n").expect("parses");
        assert_eq!(
            semi.con_modes(&admin, ModeOption::Client).expect("modes"),
            [Crc]
        );
        let err = CephConf::parse("[global]\nms_client_mode = \"\"\n")
            .expect("parses")
            .con_modes(&admin, ModeOption::Client)
            .expect_err("empty");
        assert_eq!(err.line(), Some(2));

        assert_eq!(
            empty
                .auth_methods(&admin, AuthOption::Client)
                .expect("default"),
            [METHOD_CEPHX, METHOD_NONE]
        );
        assert_eq!(
            empty
                .auth_methods(&admin, AuthOption::Cluster)
                .expect("default"),
            [METHOD_CEPHX]
        );
        let conf = CephConf::parse(
            "[global]\nauth_cluster_required = none\nauth_service_required = none, cephx\n",
        )
        .expect("parses");
        assert_eq!(
            conf.auth_methods(&admin, AuthOption::Cluster)
                .expect("auth"),
            [METHOD_NONE]
        );
        assert_eq!(
            conf.auth_methods(&admin, AuthOption::Service)
                .expect("auth"),
            [METHOD_NONE, METHOD_CEPHX]
        );
        let conf =
            CephConf::parse("[global]\nauth supported = none\nauth_client_required = cephx\n")
                .expect("parses");
        assert_eq!(
            conf.auth_methods(&admin, AuthOption::Client).expect("auth"),
            [METHOD_NONE]
        );
    }

    #[test]
    fn addresses_and_fsid() {
        let text = "\
[global]
  fsid = 6c7ed9a13f2b4c1e9a0f1234567890ab
  public addr = 127.10.1.5
[osd.1]
  public_addr = v2:127.10.1.6:6800/0
  cluster addr = [fd00::1]:6801
[osd.2]
  public_addr =
";
        let conf = CephConf::parse(text).expect("parses");
        let osd1 = name("osd.1");
        assert_eq!(
            conf.public_addr(&name("osd.0")).expect("addr"),
            Some("127.10.1.5:0".parse().expect("sockaddr"))
        );
        assert_eq!(
            conf.public_addr(&osd1).expect("addr"),
            Some("127.10.1.6:6800".parse().expect("sockaddr"))
        );
        assert_eq!(
            conf.cluster_addr(&osd1).expect("addr"),
            Some("[fd00::1]:6801".parse().expect("sockaddr"))
        );
        assert_eq!(conf.cluster_addr(&name("osd.0")).expect("addr"), None);
        assert_eq!(conf.public_addr(&name("osd.2")).expect("addr"), None);
        assert_eq!(conf.fsid(&osd1).expect("fsid").expect("set")[15], 0xab);
    }

    #[test]
    fn locating_the_file() {
        let dir = scratch("locate");
        let a = dir.join("a.conf");
        let b = dir.join("prod.conf");
        fs::write(&b, "[global]\nkeyring = /k/$cluster.keyring\n").expect("write");
        let missing = dir.join("missing.conf");
        let defaults = [missing.clone(), b.clone()];
        let env_list = format!("{}, {};", a.display(), b.display());
        // -c wins even if missing.
        assert_eq!(
            locate_in(Some(&a), Some(OsStr::new(&env_list)), &defaults).expect("explicit"),
            Some(a.clone())
        );
        // CEPH_CONF: the first existing file of the list.
        assert_eq!(
            locate_in(None, Some(OsStr::new(&env_list)), &defaults).expect("env"),
            Some(b.clone())
        );
        // CEPH_CONF naming nothing that exists is an error; empty means none.
        let err = locate_in(None, Some(a.as_os_str()), &defaults).expect_err("not found");
        assert!(
            matches!(&err, ConfError::NotFound { searched } if searched == std::slice::from_ref(&a))
        );
        assert_eq!(
            locate_in(None, Some(OsStr::new("")), &defaults).expect("empty"),
            None
        );
        // Neither: the first existing default, or none.
        assert_eq!(
            locate_in(None, None, &defaults).expect("default"),
            Some(b.clone())
        );
        assert_eq!(
            locate_in(None, None, std::slice::from_ref(&missing)).expect("none"),
            None
        );
        assert_eq!(
            default_search_path(Some(Path::new("/home/u"))),
            [
                "/etc/ceph/ceph.conf",
                "/home/u/.ceph/ceph.conf",
                "ceph.conf"
            ]
            .map(PathBuf::from)
        );
        // The cluster name comes from the file name.
        let conf = CephConf::load(&b).expect("loads");
        assert_eq!(conf.cluster(), "prod");
        assert_eq!(conf.path(), Some(b.as_path()));
        assert_eq!(
            conf.keyring_paths(&name("client.admin")),
            [PathBuf::from("/k/prod.keyring")]
        );
        assert_eq!(cluster_from_path(Path::new("/etc/ceph/config")), "ceph");
        assert_eq!(cluster_from_path(Path::new("/x/ceph.conf.bak")), "ceph");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn keyring_picks_the_first_existing_file() {
        let dir = scratch("keyring");
        let second = dir.join("second.keyring");
        fs::write(&second, "[client.admin]\n").expect("write");
        let text = format!(
            "[client]\nkeyring = {}/first.keyring, {}\n",
            dir.display(),
            second.display()
        );
        let conf = CephConf::parse(&text).expect("parses");
        let admin = name("client.admin");
        assert_eq!(conf.keyring_paths(&admin).len(), 2);
        assert_eq!(conf.keyring(&admin), Some(second));
        assert_eq!(conf.keyring(&name("osd.0")), None);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn references_that_fan_out_expand_in_bounded_time() {
        // 16 options, each referencing the next 4 times (found by fuzzing).
        let mut text = String::from("[global]\n");
        let names: Vec<String> = (0..17)
            .map(|i| format!("v{}", (b'a' + i) as char))
            .collect();
        for w in names.windows(2) {
            let r = format!("${}", w[1]);
            text.push_str(&format!("{} = {r}{r}{r}{r}\n", w[0]));
        }
        let conf = CephConf::parse(&text).unwrap();
        let name = AuthEntityName::parse_str("client.admin").unwrap();
        let t = std::time::Instant::now();
        let v = conf.get_expanded(&name, "va").unwrap();
        assert!(
            t.elapsed() < std::time::Duration::from_secs(1),
            "{:?}",
            t.elapsed()
        );
        assert!(v.len() < 1 << 20, "{}", v.len());
    }
}
