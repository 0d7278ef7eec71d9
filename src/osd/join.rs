//! Creating (or finding again) the cluster identities of hosted OSDs.
//!
//! What `ceph-volume` and a booting `ceph-osd` do, for N endpoints at once:
//! - each endpoint *slot* gets a UUID and a cephx key that live in a small
//!   state file (`DIR/pollmsgr-osds.json`, mode 0600), so a restarted
//!   process presents the same UUIDs and keys and gets the same ids back;
//! - `osd new UUID [ID] -i {"cephx_secret": KEY}` (OSDMonitor
//!   `prepare_command_osd_new`) creates the id, or confirms it when the UUID
//!   already owns it (idempotent), and registers the key with the OSD profile
//!   caps (`mon 'allow profile osd'`, `osd 'allow *'`);
//! - CRUSH placement like `osd_crush_update_on_start`: a host bucket named
//!   after the process under `root=default`, and
//!   `osd crush create-or-move osd.ID WEIGHT host=H root=default`.
//!
//! These run on the control thread with a blocking [`MonClient`]; nothing
//! here touches a reactor.

use std::path::{Path, PathBuf};

use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::OsdError;
use crate::auth::cephx::{CryptoKey, UTime};
use crate::monc::MonClient;
use crate::msg::{fsid_to_string, parse_fsid};

/// Name of the state file inside `--state-dir`.
pub const STATE_FILE: &str = "pollmsgr-osds.json";

/// One hosted OSD's identity, as kept in the state file.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OsdIdentity {
    /// Endpoint slot (0..N) in this process.
    pub slot: usize,
    /// The OSD id the mon assigned (`None` until `osd new` answered).
    pub id: Option<u32>,
    /// The OSD's UUID (`osd_fsid` in its superblock).
    pub uuid: String,
    /// The OSD's cephx key, base64 as in a keyring.
    pub key: String,
}

impl std::fmt::Debug for OsdIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OsdIdentity")
            .field("slot", &self.slot)
            .field("id", &self.id)
            .field("uuid", &self.uuid)
            .finish_non_exhaustive()
    }
}

impl OsdIdentity {
    /// The key, decoded.
    pub fn crypto_key(&self) -> Result<CryptoKey, OsdError> {
        CryptoKey::from_base64(&self.key)
            .map_err(|e| OsdError::State(format!("slot {}: {e}", self.slot)))
    }

    /// The UUID as 16 bytes.
    pub fn uuid_bytes(&self) -> Result<[u8; 16], OsdError> {
        parse_fsid(&self.uuid)
            .ok_or_else(|| OsdError::State(format!("slot {}: bad uuid {}", self.slot, self.uuid)))
    }
}

/// The state file: the cluster it belongs to and one identity per slot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JoinState {
    /// Cluster fsid the ids belong to.
    pub fsid: String,
    /// Identities by slot.
    pub osds: Vec<OsdIdentity>,
}

impl JoinState {
    /// Loads `dir/STATE_FILE`, or starts a fresh state for `fsid`; either way
    /// extends it to `n` slots with new UUIDs and keys. A state file that
    /// belongs to another cluster is an error (its ids mean nothing here).
    pub fn load_or_new(dir: &Path, fsid: [u8; 16], n: usize) -> Result<Self, OsdError> {
        let path = dir.join(STATE_FILE);
        let fsid_text = fsid_to_string(&fsid);
        let mut state = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let s: JoinState = serde_json::from_str(&text)
                    .map_err(|e| OsdError::State(format!("{}: {e}", path.display())))?;
                if s.fsid != fsid_text {
                    return Err(OsdError::State(format!(
                        "{} belongs to cluster {}, not {fsid_text}; use another --state-dir",
                        path.display(),
                        s.fsid
                    )));
                }
                s
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => JoinState {
                fsid: fsid_text,
                osds: Vec::new(),
            },
            Err(e) => return Err(OsdError::State(format!("{}: {e}", path.display()))),
        };
        let mut rng = rand::thread_rng();
        while state.osds.len() < n {
            let mut uuid = [0u8; 16];
            rng.fill_bytes(&mut uuid);
            uuid[6] = (uuid[6] & 0x0f) | 0x40; // version 4
            uuid[8] = (uuid[8] & 0x3f) | 0x80; // RFC 4122 variant
            let now = UTime::from_system(std::time::SystemTime::now());
            state.osds.push(OsdIdentity {
                slot: state.osds.len(),
                id: None,
                uuid: fsid_to_string(&uuid),
                key: CryptoKey::generate(&mut rng, now).to_base64().to_string(),
            });
        }
        Ok(state)
    }

    /// Writes the state to `dir/STATE_FILE` (0600: it holds keys), atomically.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, OsdError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::create_dir_all(dir)
            .map_err(|e| OsdError::State(format!("{}: {e}", dir.display())))?;
        let path = dir.join(STATE_FILE);
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| OsdError::State(format!("encode state: {e}")))?;
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| OsdError::State(format!("{}: {e}", path.display())))?;
        Ok(path)
    }
}

/// Runs one mon command and returns its output; a negative result is an error
/// carrying the mon's text.
pub fn mon_command(
    mc: &mut MonClient,
    fsid: [u8; 16],
    cmd: &serde_json::Value,
    inbl: Vec<u8>,
) -> Result<Vec<u8>, OsdError> {
    let text = cmd.to_string();
    let ack = mc
        .command(fsid, &text, inbl)
        .map_err(|e| OsdError::Mon(format!("{text}: {e}")))?;
    if ack.r < 0 {
        return Err(OsdError::Refused {
            cmd: text,
            r: ack.r,
            rs: ack.rs,
        });
    }
    Ok(ack.outbl)
}

/// `osd new` for one slot: returns the id the mon gave (the same id again
/// when the UUID already owns one).
pub fn osd_new(mc: &mut MonClient, fsid: [u8; 16], osd: &OsdIdentity) -> Result<u32, OsdError> {
    let mut cmd = serde_json::json!({
        "prefix": "osd new",
        "uuid": osd.uuid,
        "format": "json",
    });
    if let Some(id) = osd.id {
        cmd["id"] = serde_json::json!(id);
    }
    let secrets = serde_json::json!({ "cephx_secret": osd.key }).to_string();
    let out = mon_command(mc, fsid, &cmd, secrets.into_bytes())?;
    parse_osd_new_output(&out).ok_or_else(|| {
        OsdError::Mon(format!(
            "osd new answered {:?}, not an OSD id",
            String::from_utf8_lossy(&out)
        ))
    })
}

/// `osd new`'s output: `{"osdid": N}` with `format=json`, or a bare number.
fn parse_osd_new_output(out: &[u8]) -> Option<u32> {
    let v: serde_json::Value = serde_json::from_slice(out).ok()?;
    let n = v.get("osdid").unwrap_or(&v).as_u64()?;
    u32::try_from(n).ok()
}

/// Puts `osd.ID` under host bucket `host` (created under `root=default` if
/// missing) with CRUSH weight `weight`, as a booting ceph-osd does.
pub fn crush_place(
    mc: &mut MonClient,
    fsid: [u8; 16],
    id: u32,
    host: &str,
    weight: f64,
) -> Result<(), OsdError> {
    mon_command(
        mc,
        fsid,
        &serde_json::json!({
            "prefix": "osd crush create-or-move",
            "id": id,
            "weight": weight,
            "args": [format!("host={host}"), "root=default"],
        }),
        Vec::new(),
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osd_new_output_forms() {
        assert_eq!(parse_osd_new_output(br#"{"osdid": 7}"#), Some(7));
        assert_eq!(parse_osd_new_output(b"12"), Some(12));
        assert_eq!(parse_osd_new_output(b"x"), None);
        assert_eq!(parse_osd_new_output(br#"{"osdid": -1}"#), None);
    }

    #[test]
    fn state_round_trip_and_growth() {
        let dir = std::env::temp_dir().join(format!("pollmsgr-join-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let fsid = [7u8; 16];
        let mut s = JoinState::load_or_new(&dir, fsid, 2).unwrap();
        assert_eq!(s.osds.len(), 2);
        assert_ne!(s.osds[0].uuid, s.osds[1].uuid);
        s.osds[0].id = Some(4);
        s.save(&dir).unwrap();
        let again = JoinState::load_or_new(&dir, fsid, 3).unwrap();
        assert_eq!(again.osds[..2], s.osds[..]);
        assert_eq!(again.osds[2].slot, 2);
        again.osds[0].crypto_key().unwrap();
        assert_eq!(again.osds[0].uuid_bytes().unwrap().len(), 16);
        let mode = std::fs::metadata(dir.join(STATE_FILE)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
        // Another cluster's state is refused.
        assert!(matches!(
            JoinState::load_or_new(&dir, [8u8; 16], 1),
            Err(OsdError::State(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
