//! CRUSH placement against the real thing: maps built by `crushtool --build`
//! and compiled by `crushtool -c` from generated text are decoded with
//! `CrushMap::parse` and every mapping `crushtool --test --show-mappings`
//! prints (5,000 inputs per rule and replica count) must equal ours.
//!
//! The cases cover every bucket algorithm (uniform, list, tree, straw,
//! straw2) at several levels, replicated (firstn) and erasure-style (indep)
//! rules, chooseleaf and choose, multi-step rules, per-rule tunable steps,
//! device classes (shadow trees), choose_args weight sets and ids
//! (including the fallback to the default choose_args), the legacy,
//! bobtail, firefly and jewel tunable profiles, non-uniform weights and
//! device reweights (`--weight`), and x hashed with a pool id. Object-name
//! hashes are checked against `osdmaptool`.
//!
//! Needs only the `crushtool` and `osdmaptool` binaries, no daemons; each
//! test says so and passes if they are absent.

use std::path::{Path, PathBuf};
use std::process::Command;

use pollmsgr::osdmap::crush::{CrushMap, CRUSH_ITEM_NONE};
use pollmsgr::osdmap::hash::{ceph_str_hash_rjenkins, crush_hash32_2};

const MIN_X: u32 = 0;
const MAX_X: u32 = 4999;

fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A temporary directory of our own, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "pollmsgr-crush-oracle-{tag}-{}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// One `crushtool --test` run: a rule, a replica count, device reweights
/// (`--weight osd w`) and optionally a pool id that x is hashed with.
struct Run<'a> {
    rule: i32,
    num_rep: usize,
    reweights: &'a [(i32, f32)],
    pool_id: Option<u32>,
}

/// Runs crushtool's mapping test and compares every line with `do_rule`.
/// Returns how many mappings were compared.
fn compare(crushtool: &Path, bin: &Path, map: &CrushMap, run_: &Run<'_>) -> usize {
    let mut cmd = Command::new(crushtool);
    cmd.arg("-i")
        .arg(bin)
        .args(["--test", "--show-mappings"])
        .args(["--rule", &run_.rule.to_string()])
        .args(["--num-rep", &run_.num_rep.to_string()])
        .args(["--min-x", &MIN_X.to_string(), "--max-x", &MAX_X.to_string()]);
    for (osd, w) in run_.reweights {
        cmd.args(["--weight", &osd.to_string(), &w.to_string()]);
    }
    if let Some(pool) = run_.pool_id {
        cmd.args(["--pool-id", &pool.to_string()]);
    }
    let stdout = run(&mut cmd);

    // CrushTester::test's weight vector: reweights as it scales them,
    // 0x10000 for devices in some bucket, 0 for the rest.
    let weights: Vec<u32> = (0..map.max_devices())
        .map(|o| {
            if let Some((_, w)) = run_.reweights.iter().rev().find(|(d, _)| *d == o) {
                ((w * 65536.0) as i32).clamp(0, 0x10000) as u32
            } else if map.buckets().any(|b| b.items.contains(&o)) {
                0x10000
            } else {
                0
            }
        })
        .collect();

    let mut compared = 0;
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("CRUSH rule ") else {
            continue;
        };
        // "R x X [a,b,c]"
        let mut parts = rest.splitn(4, ' ');
        let rule: i32 = parts.next().unwrap().parse().unwrap();
        assert_eq!(parts.next(), Some("x"));
        let x: u32 = parts.next().unwrap().parse().unwrap();
        let list = parts.next().unwrap();
        let want: Vec<i32> = list
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        let real_x = match run_.pool_id {
            Some(pool) => crush_hash32_2(x, pool),
            None => x,
        };
        let got = map.do_rule(rule, real_x, run_.num_rep, &weights, 0);
        assert_eq!(
            got,
            want,
            "{}: rule {rule} x {x} num_rep {} reweights {:?} pool {:?}",
            bin.display(),
            run_.num_rep,
            run_.reweights,
            run_.pool_id
        );
        compared += 1;
    }
    assert_eq!(
        compared,
        (MAX_X - MIN_X + 1) as usize,
        "crushtool printed too few mappings:\n{stdout}"
    );
    compared
}

/// Compares the decoded map with `crushtool --dump -f json` of the same
/// file: devices (with classes), types, every bucket with its items and
/// weights, rules with masks and steps, tunables and choose_args.
fn assert_matches_dump(crushtool: &Path, bin: &Path, map: &CrushMap) {
    use serde_json::Value;
    let dump: Value = serde_json::from_str(&run(Command::new(crushtool)
        .arg("-i")
        .arg(bin)
        .args(["--dump", "-f", "json"])))
    .unwrap();
    let int = |v: &Value| v.as_i64().unwrap_or_else(|| panic!("not an int: {v}"));
    let what = bin.display();

    let devices = dump["devices"].as_array().unwrap();
    assert_eq!(
        devices.len() as i32,
        map.max_devices(),
        "{what}: max_devices"
    );
    for d in devices {
        let id = int(&d["id"]) as i32;
        let name = map
            .item_name(id)
            .map_or(format!("device{id}"), str::to_string);
        assert_eq!(
            d["name"].as_str(),
            Some(name.as_str()),
            "{what}: device {id}"
        );
        assert_eq!(
            d["class"].as_str(),
            map.device_class(id),
            "{what}: class of {id}"
        );
    }
    for t in dump["types"].as_array().unwrap() {
        let id = int(&t["type_id"]) as i32;
        let name = t["name"].as_str().unwrap();
        assert!(
            map.type_name(id) == Some(name) || (id == 0 && name == "device"),
            "{what}: type {id}"
        );
    }

    let alg_names = ["", "uniform", "list", "tree", "straw", "straw2"];
    let buckets = dump["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), map.buckets().count(), "{what}: buckets");
    for (b, ours) in buckets.iter().zip(map.buckets()) {
        let id = int(&b["id"]) as i32;
        assert_eq!(id, ours.id, "{what}: bucket order");
        assert_eq!(b["name"].as_str(), map.item_name(id), "{what}: {id} name");
        assert_eq!(
            int(&b["type_id"]),
            i64::from(ours.bucket_type),
            "{what}: {id}"
        );
        assert_eq!(
            int(&b["weight"]),
            i64::from(ours.weight),
            "{what}: {id} weight"
        );
        assert_eq!(
            b["alg"],
            alg_names[usize::from(ours.alg())],
            "{what}: {id} alg"
        );
        assert_eq!(b["hash"], "rjenkins1", "{what}: {id} hash");
        let items = b["items"].as_array().unwrap();
        assert_eq!(items.len(), ours.items.len(), "{what}: {id} size");
        for (pos, it) in items.iter().enumerate() {
            assert_eq!(
                int(&it["id"]) as i32,
                ours.items[pos],
                "{what}: {id}[{pos}]"
            );
            assert_eq!(
                int(&it["weight"]),
                i64::from(ours.item_weight(pos).unwrap() as i32),
                "{what}: {id}[{pos}] weight"
            );
        }
    }

    let op_names = [
        "noop",
        "take",
        "choose_firstn",
        "choose_indep",
        "emit",
        "",
        "chooseleaf_firstn",
        "chooseleaf_indep",
        "set_choose_tries",
        "set_chooseleaf_tries",
    ];
    let rules = dump["rules"].as_array().unwrap();
    assert_eq!(rules.len(), map.rules().count(), "{what}: rules");
    for (r, (id, ours)) in rules.iter().zip(map.rules()) {
        assert_eq!(int(&r["rule_id"]) as i32, id, "{what}: rule order");
        assert_eq!(
            r["rule_name"].as_str(),
            map.rule_name(id),
            "{what}: rule {id}"
        );
        assert_eq!(int(&r["ruleset"]), i64::from(ours.mask.ruleset));
        assert_eq!(int(&r["type"]), i64::from(ours.mask.rule_type));
        assert_eq!(int(&r["min_size"]), i64::from(ours.mask.min_size));
        assert_eq!(int(&r["max_size"]), i64::from(ours.mask.max_size));
        let steps = r["steps"].as_array().unwrap();
        assert_eq!(steps.len(), ours.steps.len(), "{what}: rule {id} steps");
        for (st, o) in steps.iter().zip(&ours.steps) {
            match st["op"].as_str() {
                None => {
                    assert_eq!(int(&st["opcode"]), i64::from(o.op), "{what}: {st}");
                    assert_eq!(int(&st["arg1"]), i64::from(o.arg1), "{what}: {st}");
                    assert_eq!(int(&st["arg2"]), i64::from(o.arg2), "{what}: {st}");
                }
                Some(op) => {
                    assert_eq!(op, op_names[o.op as usize], "{what}: {st}");
                    if op == "take" {
                        assert_eq!(int(&st["item"]), i64::from(o.arg1), "{what}: {st}");
                    } else if op != "emit" && op != "noop" {
                        assert_eq!(int(&st["num"]), i64::from(o.arg1), "{what}: {st}");
                    }
                    if op.starts_with("choose") {
                        assert_eq!(st["type"].as_str(), map.type_name(o.arg2), "{what}: {st}");
                    }
                }
            }
        }
    }

    let t = map.tunables();
    let tun = &dump["tunables"];
    for (name, ours) in [
        ("choose_local_tries", t.choose_local_tries),
        ("choose_local_fallback_tries", t.choose_local_fallback_tries),
        ("choose_total_tries", t.choose_total_tries),
        ("chooseleaf_descend_once", t.chooseleaf_descend_once),
        ("chooseleaf_vary_r", t.chooseleaf_vary_r.into()),
        ("chooseleaf_stable", t.chooseleaf_stable.into()),
        ("straw_calc_version", t.straw_calc_version.into()),
        ("allowed_bucket_algs", t.allowed_bucket_algs),
    ] {
        assert_eq!(int(&tun[name]), i64::from(ours), "{what}: tunable {name}");
    }

    let cas = dump["choose_args"].as_object().unwrap();
    assert_eq!(cas.len(), map.choose_args().len(), "{what}: choose_args");
    for (key, ours) in map.choose_args() {
        let theirs = cas[&key.to_string()].as_array().unwrap();
        assert_eq!(theirs.len(), ours.args.len(), "{what}: choose_args {key}");
        for (a, (slot, arg)) in theirs.iter().zip(&ours.args) {
            assert_eq!(int(&a["bucket_id"]), -1 - i64::from(*slot));
            let ws = a["weight_set"].as_array().map_or(&[][..], |v| &v[..]);
            assert_eq!(ws.len(), arg.weight_set.len(), "{what}: {key} {slot}");
            for (theirs, ours) in ws.iter().zip(&arg.weight_set) {
                let theirs: Vec<f64> = theirs
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|w| w.as_f64().unwrap())
                    .collect();
                let ours: Vec<f64> = ours
                    .iter()
                    .map(|&w| f64::from(w as f32 / 65536.0))
                    .collect();
                assert_eq!(theirs.len(), ours.len());
                for (x, y) in theirs.iter().zip(&ours) {
                    assert!(
                        (x - y).abs() <= 1e-6 * x.abs().max(1.0),
                        "{what}: {x} vs {y}"
                    );
                }
            }
            let ids: Vec<i32> = a["ids"]
                .as_array()
                .map_or(Vec::new(), |v| v.iter().map(|i| int(i) as i32).collect());
            assert_eq!(ids, arg.ids, "{what}: {key} {slot} ids");
        }
    }
}

/// Tunables as `tunable` lines of a text map.
#[derive(Clone, Copy)]
struct Profile {
    name: &'static str,
    local: u32,
    fallback: u32,
    total: u32,
    descend_once: u32,
    vary_r: u32,
    stable: u32,
}

const LEGACY: Profile = Profile {
    name: "legacy",
    local: 2,
    fallback: 5,
    total: 19,
    descend_once: 0,
    vary_r: 0,
    stable: 0,
};
const BOBTAIL: Profile = Profile {
    name: "bobtail",
    local: 0,
    fallback: 0,
    total: 50,
    descend_once: 1,
    vary_r: 0,
    stable: 0,
};
const FIREFLY: Profile = Profile {
    name: "firefly",
    vary_r: 1,
    ..BOBTAIL
};
const JEWEL: Profile = Profile {
    name: "jewel",
    vary_r: 1,
    stable: 1,
    ..BOBTAIL
};
const VARY_R_4: Profile = Profile {
    name: "vary_r_4",
    vary_r: 4,
    ..BOBTAIL
};

/// A level of the generated hierarchy, bottom-up after the hosts: its type
/// name, bucket algorithm and how many children each bucket groups (the
/// top level is one bucket named `default`).
struct Level {
    type_name: &'static str,
    alg: &'static str,
    fanout: usize,
}

/// A generated map: `hosts` host buckets of `host_alg` with
/// `osds_per_host` devices each, grouped by `levels`.
struct MapSpec {
    name: &'static str,
    profile: Profile,
    hosts: usize,
    osds_per_host: usize,
    host_alg: &'static str,
    levels: &'static [Level],
    classes: bool,
    /// choose_args block(s) to append, given the bucket ids by name.
    choose_args: fn(&Layout) -> String,
}

/// The generated layout: names and ids of what was made.
struct Layout {
    /// (name, id, item count) of every bucket.
    buckets: Vec<(String, i32, usize)>,
}

impl Layout {
    fn bucket(&self, name: &str) -> (i32, usize) {
        let b = self.buckets.iter().find(|b| b.0 == name).unwrap();
        (b.1, b.2)
    }
}

/// A deterministic spread of weights (multiples of 1/4, so crushtool's
/// text parsing is exact).
fn weight_of(i: usize, seed: usize) -> f64 {
    let h = (i * 2_654_435_761 + seed * 40_503) % 7;
    0.5 + h as f64 * 0.25
}

fn no_choose_args(_: &Layout) -> String {
    String::new()
}

fn map_text(spec: &MapSpec) -> (String, Layout, Vec<&'static str>) {
    let p = spec.profile;
    let mut t = format!(
        "tunable choose_local_tries {}\ntunable choose_local_fallback_tries {}\n\
         tunable choose_total_tries {}\ntunable chooseleaf_descend_once {}\n\
         tunable chooseleaf_vary_r {}\ntunable chooseleaf_stable {}\n\
         tunable straw_calc_version 1\ntunable allowed_bucket_algs 54\n",
        p.local, p.fallback, p.total, p.descend_once, p.vary_r, p.stable
    );
    let num_osds = spec.hosts * spec.osds_per_host;
    for o in 0..num_osds {
        let class = if spec.classes {
            if o % 3 == 0 {
                " class ssd"
            } else {
                " class hdd"
            }
        } else {
            ""
        };
        t += &format!("device {o} osd.{o}{class}\n");
    }
    let mut types = vec!["osd", "host"];
    types.extend(spec.levels.iter().map(|l| l.type_name));
    for (i, ty) in types.iter().enumerate() {
        t += &format!("type {i} {ty}\n");
    }
    let mut layout = Layout {
        buckets: Vec::new(),
    };
    let mut next_id = -1;
    let mut bucket = |t: &mut String,
                      layout: &mut Layout,
                      ty: &str,
                      name: String,
                      alg: &str,
                      items: &[(String, f64)]| {
        let id = next_id;
        next_id -= 1;
        *t += &format!("{ty} {name} {{\n\tid {id}\n\talg {alg}\n\thash 0\n");
        for (item, w) in items {
            *t += &format!("\titem {item} weight {w:.3}\n");
        }
        *t += "}\n";
        layout.buckets.push((name, id, items.len()));
    };
    // Hosts; a uniform bucket needs identical weights.
    let mut children: Vec<(String, f64)> = Vec::new();
    for h in 0..spec.hosts {
        let items: Vec<(String, f64)> = (0..spec.osds_per_host)
            .map(|k| {
                let o = h * spec.osds_per_host + k;
                let w = if spec.host_alg == "uniform" {
                    1.0
                } else {
                    weight_of(o, h)
                };
                (format!("osd.{o}"), w)
            })
            .collect();
        let total: f64 = items.iter().map(|i| i.1).sum();
        let name = format!("host{h}");
        bucket(
            &mut t,
            &mut layout,
            "host",
            name.clone(),
            spec.host_alg,
            &items,
        );
        children.push((name, total));
    }
    for (li, level) in spec.levels.iter().enumerate() {
        let top = li + 1 == spec.levels.len();
        let groups: Vec<Vec<(String, f64)>> = if top {
            vec![children.clone()]
        } else {
            children.chunks(level.fanout).map(|c| c.to_vec()).collect()
        };
        let mut next = Vec::new();
        for (g, mut items) in groups.into_iter().enumerate() {
            if level.alg == "uniform" {
                for it in &mut items {
                    it.1 = 1.0;
                }
            }
            let total: f64 = items.iter().map(|i| i.1).sum();
            let name = if top {
                "default".to_string()
            } else {
                format!("{}{g}", level.type_name)
            };
            bucket(
                &mut t,
                &mut layout,
                level.type_name,
                name.clone(),
                level.alg,
                &items,
            );
            next.push((name, total));
        }
        children = next;
    }

    // Rules: (text, kind) where kind tells which replica counts to test.
    let mut rules: Vec<(String, &'static str)> = vec![
        (
            "type replicated\n\tstep take default\n\tstep chooseleaf firstn 0 type host\n\tstep emit"
                .into(),
            "firstn",
        ),
        (
            "type erasure\n\tstep set_chooseleaf_tries 5\n\tstep set_choose_tries 100\n\
             \tstep take default\n\tstep chooseleaf indep 0 type host\n\tstep emit"
                .into(),
            "indep",
        ),
        (
            "type replicated\n\tstep take default\n\tstep choose firstn 0 type osd\n\tstep emit"
                .into(),
            "firstn",
        ),
        (
            "type erasure\n\tstep take default\n\tstep choose indep 0 type osd\n\tstep emit".into(),
            "indep",
        ),
        (
            "type replicated\n\tstep set_choose_local_tries 1\n\
             \tstep set_choose_local_fallback_tries 3\n\tstep set_chooseleaf_vary_r 2\n\
             \tstep set_chooseleaf_stable 0\n\tstep take default\n\
             \tstep chooseleaf firstn 0 type host\n\tstep emit"
                .into(),
            "firstn",
        ),
        (
            "type replicated\n\tstep take host0\n\tstep chooseleaf firstn 1 type osd\n\tstep emit\n\
             \tstep take default\n\tstep chooseleaf firstn -1 type host\n\tstep emit"
                .into(),
            "firstn",
        ),
    ];
    if let Some(level) = spec.levels.first().filter(|_| spec.levels.len() >= 2) {
        let ty = level.type_name;
        rules.push((
            format!(
                "type replicated\n\tstep take default\n\tstep choose firstn 2 type {ty}\n\
                 \tstep chooseleaf firstn 2 type host\n\tstep emit"
            ),
            "firstn",
        ));
        rules.push((
            format!(
                "type erasure\n\tstep set_choose_tries 100\n\tstep take default\n\
                 \tstep choose indep 2 type {ty}\n\tstep chooseleaf indep 2 type host\n\tstep emit"
            ),
            "indep",
        ));
    }
    if spec.classes {
        rules.push((
            "type replicated\n\tstep take default class ssd\n\
             \tstep chooseleaf firstn 0 type host\n\tstep emit"
                .into(),
            "firstn",
        ));
        rules.push((
            "type erasure\n\tstep set_chooseleaf_tries 5\n\tstep take default class hdd\n\
             \tstep chooseleaf indep 0 type host\n\tstep emit"
                .into(),
            "indep",
        ));
    }
    let mut kinds = Vec::new();
    for (i, (body, kind)) in rules.iter().enumerate() {
        // "type X" first, then the size range Pacific's compiler expects.
        let (ty, steps) = body.split_once('\n').unwrap();
        t += &format!("rule r{i} {{\n\tid {i}\n\t{ty}\n\tmin_size 1\n\tmax_size 10\n{steps}\n}}\n");
        kinds.push(*kind);
    }
    t += &(spec.choose_args)(&layout);
    (t, layout, kinds)
}

/// Weight sets for the root (two positions) and host0, ids for host1.
fn weight_sets(layout: &Layout, key: i64) -> String {
    let (root, root_n) = layout.bucket("default");
    let (h0, h0_n) = layout.bucket("host0");
    let (h1, h1_n) = layout.bucket("host1");
    let ws = |n: usize, seed: usize| {
        (0..n)
            .map(|i| format!("{:.3}", weight_of(i, seed) * 2.0))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let ids = (0..h1_n)
        .map(|i| (-100 - i as i32).to_string())
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "choose_args {key} {{\n  {{\n    bucket_id {root}\n    weight_set [\n      [ {} ]\n      [ {} ]\n    ]\n  }}\n\
         \x20 {{\n    bucket_id {h0}\n    weight_set [\n      [ {} ]\n    ]\n  }}\n\
         \x20 {{\n    bucket_id {h1}\n    ids [ {ids} ]\n  }}\n}}\n",
        ws(root_n, 1),
        ws(root_n, 2),
        ws(h0_n, 3),
    )
}

fn choose_args_0(layout: &Layout) -> String {
    weight_sets(layout, 0)
}

/// A key crushtool never uses: becomes -1 (the default) after patching.
const PATCH_KEY: i64 = 12_345_678;

fn choose_args_default(layout: &Layout) -> String {
    weight_sets(layout, PATCH_KEY)
}

fn choose_args_unused(layout: &Layout) -> String {
    weight_sets(layout, 7)
}

/// Replaces the encoded choose_args key PATCH_KEY with -1, which the text
/// syntax cannot express.
fn patch_default_key(bin: &[u8]) -> Vec<u8> {
    let needle = PATCH_KEY.to_le_bytes();
    let at = bin
        .windows(8)
        .position(|w| w == needle)
        .expect("choose_args key in the compiled map");
    let mut out = bin.to_vec();
    out[at..at + 8].copy_from_slice(&(-1i64).to_le_bytes());
    out
}

const REWEIGHTS: &[(i32, f32)] = &[(1, 0.5), (3, 0.0), (5, 0.25), (8, 0.75), (10, 0.0)];

/// Compiles a generated map and compares every rule with and without
/// reweights. Returns mappings compared.
fn check_spec(crushtool: &Path, spec: &MapSpec, patch_default: bool) -> usize {
    let dir = TempDir::new(spec.name);
    let (text, _, kinds) = map_text(spec);
    let txt = dir.path("map.txt");
    let bin = dir.path("map.bin");
    std::fs::write(&txt, &text).unwrap();
    run(Command::new(crushtool)
        .arg("-c")
        .arg(&txt)
        .arg("-o")
        .arg(&bin));
    if patch_default {
        let patched = patch_default_key(&std::fs::read(&bin).unwrap());
        std::fs::write(&bin, patched).unwrap();
        let dump = run(Command::new(crushtool).arg("-d").arg(&bin));
        // The decompiler prints the key as unsigned.
        assert!(
            dump.contains("choose_args 18446744073709551615 {"),
            "{dump}"
        );
    }
    let map = CrushMap::parse(&std::fs::read(&bin).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}\n{text}", spec.name));
    assert_matches_dump(crushtool, &bin, &map);
    let mut compared = 0;
    for (rule, kind) in kinds.iter().enumerate() {
        let reps: &[usize] = if *kind == "indep" { &[4, 6] } else { &[3, 5] };
        for (i, &num_rep) in reps.iter().enumerate() {
            let reweights: &[(i32, f32)] = if i == 0 { &[] } else { REWEIGHTS };
            compared += compare(
                crushtool,
                &bin,
                &map,
                &Run {
                    rule: rule as i32,
                    num_rep,
                    reweights,
                    pool_id: None,
                },
            );
        }
    }
    compared
}

fn crushtool_or_skip(test: &str) -> Option<PathBuf> {
    let t = tool("crushtool");
    if t.is_none() {
        eprintln!("{test}: SKIPPED, crushtool is not installed (apt install ceph-base)");
    }
    t
}

const RACKS_STRAW2: &[Level] = &[
    Level {
        type_name: "rack",
        alg: "straw2",
        fanout: 3,
    },
    Level {
        type_name: "root",
        alg: "straw2",
        fanout: 0,
    },
];

/// Compiles and checks one generated map (see [`MapSpec`]).
fn check_case(
    test: &str,
    profile: Profile,
    host_alg: &'static str,
    levels: &'static [Level],
    classes: bool,
    choose_args: fn(&Layout) -> String,
    patch_default: bool,
) {
    let Some(crushtool) = crushtool_or_skip(test) else {
        return;
    };
    let spec = MapSpec {
        name: profile.name,
        profile,
        hosts: if classes { 5 } else { 6 },
        osds_per_host: if classes { 3 } else { 4 },
        host_alg,
        levels,
        classes,
        choose_args,
    };
    let n = check_spec(&crushtool, &spec, patch_default);
    eprintln!("{test}: {n} mappings match crushtool");
}

const ROOT_ONLY_TREE: &[Level] = &[Level {
    type_name: "root",
    alg: "tree",
    fanout: 0,
}];
const ROOT_ONLY_UNIFORM: &[Level] = &[Level {
    type_name: "root",
    alg: "uniform",
    fanout: 0,
}];
const RACKS_LIST_ROOT_UNIFORM: &[Level] = &[
    Level {
        type_name: "rack",
        alg: "list",
        fanout: 2,
    },
    Level {
        type_name: "root",
        alg: "uniform",
        fanout: 0,
    },
];
const RACKS_TREE_ROOT_STRAW: &[Level] = &[
    Level {
        type_name: "rack",
        alg: "tree",
        fanout: 3,
    },
    Level {
        type_name: "root",
        alg: "straw",
        fanout: 0,
    },
];
const RACKS_STRAW_ROOT_LIST: &[Level] = &[
    Level {
        type_name: "rack",
        alg: "straw",
        fanout: 2,
    },
    Level {
        type_name: "root",
        alg: "list",
        fanout: 0,
    },
];

/// One test per generated map, so they run in parallel.
macro_rules! oracle_cases {
    ($($test:ident: $profile:expr, $host_alg:expr, $levels:expr, $classes:expr, $choose_args:expr, $patch:expr;)*) => {
        $(
            #[test]
            fn $test() {
                check_case(
                    stringify!($test),
                    $profile,
                    $host_alg,
                    $levels,
                    $classes,
                    $choose_args,
                    $patch,
                );
            }
        )*
    };
}

oracle_cases! {
    straw2_jewel_matches_crushtool: JEWEL, "straw2", RACKS_STRAW2, false, no_choose_args, false;
    straw2_firefly_matches_crushtool: FIREFLY, "straw2", RACKS_STRAW2, false, no_choose_args, false;
    straw2_legacy_matches_crushtool: LEGACY, "straw2", RACKS_STRAW2, false, no_choose_args, false;
    straw2_vary_r_4_matches_crushtool: VARY_R_4, "straw2", RACKS_STRAW2, false, no_choose_args, false;
    uniform_under_list_bobtail_matches_crushtool:
        BOBTAIL, "uniform", RACKS_LIST_ROOT_UNIFORM, false, no_choose_args, false;
    uniform_legacy_matches_crushtool:
        LEGACY, "uniform", ROOT_ONLY_UNIFORM, false, no_choose_args, false;
    list_under_tree_jewel_matches_crushtool:
        JEWEL, "list", RACKS_TREE_ROOT_STRAW, false, no_choose_args, false;
    tree_firefly_matches_crushtool: FIREFLY, "tree", ROOT_ONLY_TREE, false, no_choose_args, false;
    straw_legacy_matches_crushtool:
        LEGACY, "straw", RACKS_STRAW_ROOT_LIST, false, no_choose_args, false;
    device_classes_match_crushtool: JEWEL, "straw2", RACKS_STRAW2, true, no_choose_args, false;
    choose_args_of_pool_0_match_crushtool:
        JEWEL, "straw2", RACKS_STRAW2, true, choose_args_0, false;
    default_choose_args_match_crushtool:
        JEWEL, "straw2", RACKS_STRAW2, true, choose_args_default, true;
    other_pools_choose_args_are_not_used_like_crushtool:
        JEWEL, "straw2", RACKS_STRAW2, true, choose_args_unused, false;
}

/// `crushtool --build` maps (straw2 by default, other algorithms per layer)
/// with tunables set by `--set-*`, reweights, and x hashed with a pool id.
#[test]
fn built_maps_match_crushtool() {
    let Some(crushtool) = crushtool_or_skip("built_maps_match_crushtool") else {
        return;
    };
    let dir = TempDir::new("build");
    let builds: &[(&str, &[&str])] = &[
        (
            "straw2",
            &[
                "host", "straw2", "4", "rack", "straw2", "3", "root", "straw2", "0",
            ],
        ),
        (
            "mixed",
            &[
                "host", "list", "3", "rack", "tree", "2", "root", "straw", "0",
            ],
        ),
        ("uniform", &["host", "uniform", "5", "root", "straw2", "0"]),
    ];
    let tunables: &[(&str, &[&str])] = &[
        ("default", &[]),
        (
            "legacy",
            &[
                "--set-choose-local-tries",
                "2",
                "--set-choose-local-fallback-tries",
                "5",
                "--set-choose-total-tries",
                "19",
                "--set-chooseleaf-descend-once",
                "0",
                "--set-chooseleaf-vary-r",
                "0",
                "--set-chooseleaf-stable",
                "0",
            ],
        ),
        (
            "hammer",
            &[
                "--set-chooseleaf-vary-r",
                "1",
                "--set-chooseleaf-stable",
                "0",
            ],
        ),
    ];
    let mut n = 0;
    for (bname, layers) in builds {
        for (tname, flags) in tunables {
            let bin = dir.path(&format!("{bname}-{tname}.bin"));
            run(Command::new(&crushtool)
                .args(["--build", "--num_osds", "24"])
                .args(*layers)
                .args(*flags)
                .arg("-o")
                .arg(&bin));
            let map = CrushMap::parse(&std::fs::read(&bin).unwrap()).unwrap();
            assert_eq!(map.max_devices(), 24);
            assert_matches_dump(&crushtool, &bin, &map);
            for (num_rep, reweights, pool_id) in [
                (3, &[][..], None),
                (2, REWEIGHTS, Some(5)),
                (7, REWEIGHTS, None),
            ] {
                n += compare(
                    &crushtool,
                    &bin,
                    &map,
                    &Run {
                        rule: 0,
                        num_rep,
                        reweights,
                        pool_id,
                    },
                );
            }
        }
    }
    eprintln!("{n} mappings match");
}

/// Object-name hashes against osdmaptool (the low 30 bits are what its
/// pg_num 2^31 test map shows; see `osdmap::hash`'s unit tests).
#[test]
fn object_name_hashes_match_osdmaptool() {
    let Some(osdmaptool) = tool("osdmaptool") else {
        eprintln!("object_name_hashes_match_osdmaptool: SKIPPED, osdmaptool is not installed");
        return;
    };
    let dir = TempDir::new("osdmap");
    let om = dir.path("om");
    run(Command::new(&osdmaptool)
        .args([
            "--createsimple",
            "2",
            "--pg-bits",
            "30",
            "--with-default-pool",
        ])
        .arg(&om)
        .arg("--clobber"));
    let mut names: Vec<String> = (0..40).map(|i| format!("obj-{i}")).collect();
    names.extend((1..=24).map(|len| "abcdefghijklmnopqrstuvwxyz"[..len].to_string()));
    names.push("rbd_header.10226b8b4567".into());
    names.push("benchmark_data_host_1234_object987".into());
    for name in &names {
        let out = run(Command::new(&osdmaptool).arg(&om).args([
            "--test-map-object",
            name,
            "--pool",
            "1",
        ]));
        // " object 'NAME' -> 1.PG -> [...]"
        let pg = out
            .lines()
            .find_map(|l| l.split(" -> ").nth(1))
            .and_then(|pg| pg.strip_prefix("1."))
            .unwrap_or_else(|| panic!("no pg in {out}"));
        let want = u32::from_str_radix(pg, 16).unwrap();
        assert_eq!(
            ceph_str_hash_rjenkins(name.as_bytes()) & 0x3fff_ffff,
            want,
            "{name}"
        );
    }
}

/// Sanity of the comparison itself: an indep rule over too few hosts leaves
/// CRUSH_ITEM_NONE holes, which crushtool prints as 2147483647.
#[test]
fn indep_holes_are_item_none() {
    let Some(crushtool) = crushtool_or_skip("indep_holes_are_item_none") else {
        return;
    };
    let dir = TempDir::new("holes");
    let spec = MapSpec {
        name: "holes",
        profile: JEWEL,
        hosts: 3,
        osds_per_host: 2,
        host_alg: "straw2",
        levels: &[Level {
            type_name: "root",
            alg: "straw2",
            fanout: 0,
        }],
        classes: false,
        choose_args: no_choose_args,
    };
    let (text, _, _) = map_text(&spec);
    let txt = dir.path("map.txt");
    let bin = dir.path("map.bin");
    std::fs::write(&txt, text).unwrap();
    run(Command::new(&crushtool)
        .arg("-c")
        .arg(&txt)
        .arg("-o")
        .arg(&bin));
    let map = CrushMap::parse(&std::fs::read(&bin).unwrap()).unwrap();
    compare(
        &crushtool,
        &bin,
        &map,
        &Run {
            rule: 1,
            num_rep: 5,
            reweights: &[],
            pool_id: None,
        },
    );
    let out = map.do_rule(1, 7, 5, &[0x10000; 6], 0);
    assert_eq!(out.len(), 5);
    assert_eq!(out.iter().filter(|&&o| o == CRUSH_ITEM_NONE).count(), 2);
}
