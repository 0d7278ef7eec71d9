//! `ceph tell osd.N ...`: the commands a hosted OSD answers (MCommand →
//! MCommandReply), and the command descriptions the `ceph` CLI fetches first
//! (`get_command_descriptions`) to validate what the user typed.
//!
//! The CLI (`src/ceph.in`, `src/pybind/ceph_argparse.py` `parse_funcsig`)
//! reads each description's `sig`: plain strings are literal words, objects
//! are typed arguments (`CephChoices`, `CephString`, ...). Outputs follow a
//! real Pacific ceph-osd's where one exists (`version`, `status`).

use serde_json::{json, Value};

/// The Ceph release whose formats we speak (what `version` reports).
pub const CEPH_VERSION: &str = "16.2.15";

/// What `status` and `messenger status` report about one endpoint.
#[derive(Debug, Clone, Default)]
pub struct OsdStatus {
    /// Cluster fsid.
    pub cluster_fsid: String,
    /// This OSD's UUID.
    pub osd_fsid: String,
    /// Our id.
    pub whoami: u64,
    /// Newest osdmap epoch this endpoint knows.
    pub newest_map: u32,
    /// Our messenger counters, as JSON.
    pub messenger: Value,
}

/// The descriptions of the commands [`run`] answers.
pub fn descriptions() -> Value {
    let format = json!({
        "name": "format", "type": "CephChoices",
        "strings": "json|json-pretty|plain", "req": "false"
    });
    let cmds = [
        (vec![json!("version")], "report version of OSD"),
        (vec![json!("status")], "high-level status of OSD"),
        (
            vec![json!("messenger"), json!("status")],
            "pollmsgr: sessions per peer type, modes, bytes and errors",
        ),
        (
            vec![json!("get_command_descriptions")],
            "list commands descriptions",
        ),
    ];
    let mut out = serde_json::Map::new();
    for (i, (mut sig, help)) in cmds.into_iter().enumerate() {
        sig.push(format.clone());
        out.insert(
            format!("cmd{i:03}"),
            json!({ "sig": sig, "help": help, "module": "osd", "perm": "r", "flags": 0 }),
        );
    }
    Value::Object(out)
}

/// The reply to one command: result, status text, output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandReply {
    /// 0 or a negative errno.
    pub r: i32,
    /// Status text (`rs`).
    pub rs: String,
    /// Output bytes.
    pub out: Vec<u8>,
}

/// Runs the command in `cmd` (the MCommand's strings, concatenated: the CLI
/// sends one JSON object). Unknown commands get `-EINVAL` with a message, as
/// a real OSD answers them.
pub fn run(cmd: &[String], status: &OsdStatus) -> CommandReply {
    let text = cmd.concat();
    let parsed: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            return error(
                crate::wire::errno::EINVAL,
                format!("command is not JSON: {e}"),
            )
        }
    };
    let prefix = parsed.get("prefix").and_then(Value::as_str).unwrap_or("");
    let out = match prefix {
        "get_command_descriptions" => descriptions(),
        "version" => json!({
            "version": CEPH_VERSION,
            "release": "pacific",
            "release_type": "stable",
            "messenger": "pollmsgr",
        }),
        "status" => json!({
            "cluster_fsid": status.cluster_fsid,
            "osd_fsid": status.osd_fsid,
            "whoami": status.whoami,
            "state": "active",
            "oldest_map": status.newest_map.min(1),
            "newest_map": status.newest_map,
            "num_pgs": 0,
        }),
        "messenger status" => status.messenger.clone(),
        other => {
            return error(
                crate::wire::errno::EINVAL,
                format!("unrecognized command '{other}'"),
            )
        }
    };
    let pretty = prefix == "get_command_descriptions"
        || parsed.get("format").and_then(Value::as_str) != Some("json");
    let bytes = if pretty {
        serde_json::to_vec_pretty(&out)
    } else {
        serde_json::to_vec(&out)
    };
    CommandReply {
        r: 0,
        rs: String::new(),
        out: bytes.unwrap_or_default(),
    }
}

fn error(errno: i32, rs: String) -> CommandReply {
    CommandReply {
        r: -errno,
        rs,
        out: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(s: &str) -> Vec<String> {
        vec![s.to_owned()]
    }

    #[test]
    fn version_status_and_unknown() {
        let st = OsdStatus {
            whoami: 3,
            newest_map: 9,
            messenger: json!({"sessions": 1}),
            ..OsdStatus::default()
        };
        let v = run(&cmd(r#"{"prefix": "version"}"#), &st);
        assert_eq!(v.r, 0);
        let j: Value = serde_json::from_slice(&v.out).unwrap();
        assert_eq!(j["version"], CEPH_VERSION);
        let s = run(&cmd(r#"{"prefix": "status", "format": "json"}"#), &st);
        let j: Value = serde_json::from_slice(&s.out).unwrap();
        assert_eq!(
            (j["whoami"].as_u64(), j["newest_map"].as_u64()),
            (Some(3), Some(9))
        );
        let m = run(&cmd(r#"{"prefix": "messenger status"}"#), &st);
        assert_eq!(
            serde_json::from_slice::<Value>(&m.out).unwrap(),
            st.messenger
        );
        let u = run(&cmd(r#"{"prefix": "bogus"}"#), &st);
        assert_eq!(u.r, -crate::wire::errno::EINVAL);
        assert!(u.rs.contains("bogus"));
        assert_eq!(run(&cmd("{"), &st).r, -crate::wire::errno::EINVAL);
    }

    #[test]
    fn descriptions_have_signatures() {
        let d = descriptions();
        let sigs: Vec<&Value> = d.as_object().unwrap().values().map(|c| &c["sig"]).collect();
        assert!(sigs.iter().any(|s| s[0] == "version"));
        assert!(sigs
            .iter()
            .all(|s| s.as_array().is_some_and(|a| !a.is_empty())));
    }
}
