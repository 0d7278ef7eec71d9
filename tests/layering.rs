//! The library's layering, checked from its sources: `src/lib.rs` lists the
//! top-level modules bottom-up, and each module's library code may use only
//! modules listed before it (`crate::X` paths). Unit tests inside a module
//! (`#[cfg(test)] mod ...` and `*tests.rs` files) are not library code and
//! may reach further; so may the test-support `fuzzing` module.
//!
//! A failure names the file, the line and the arrow that points up.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Top-level modules in `src/lib.rs` order.
fn lib_order(src: &Path) -> Vec<String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("read src/lib.rs");
    lib.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l
                .strip_prefix("pub mod ")
                .or_else(|| l.strip_prefix("mod "))?;
            Some(rest.trim_end_matches(';').to_owned())
        })
        .collect()
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        out.push(path.to_owned());
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The library lines of a file: comments dropped, and nothing from the
/// first `#[cfg(test)]` item that is a module on.
fn library_lines(text: &str) -> Vec<(usize, &str)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim();
        if t == "#[cfg(test)]" {
            let next = lines[i + 1..]
                .iter()
                .map(|l| l.trim())
                .find(|l| !l.is_empty() && !l.starts_with("#["));
            if next.is_some_and(|n| n.starts_with("mod ") || n.starts_with("pub mod ")) {
                break;
            }
        }
        if !t.starts_with("//") {
            out.push((i + 1, lines[i]));
        }
        i += 1;
    }
    out
}

/// The top-level modules a line names as `crate::X`.
fn crate_paths(line: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let tail = &rest[at + "crate::".len()..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        if end > 0 {
            found.push(&tail[..end]);
        }
        rest = &tail[end..];
    }
    found
}

#[test]
fn module_arrows_point_only_down_the_lib_rs_order() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let order = lib_order(&src);
    assert!(order.len() >= 10, "lib.rs lists {order:?}");
    let rank: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let mut up = Vec::new();
    for (i, module) in order.iter().enumerate() {
        if module == "fuzzing" {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&src.join(module), &mut files);
        rust_files(&src.join(format!("{module}.rs")), &mut files);
        assert!(!files.is_empty(), "no sources for module {module}");
        for f in files {
            if f.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("tests.rs"))
            {
                continue;
            }
            let text = std::fs::read_to_string(&f).expect("read source");
            for (n, line) in library_lines(&text) {
                for target in crate_paths(line) {
                    match rank.get(target) {
                        Some(&j) if j > i => up.push(format!(
                            "{}:{n}: {module} -> {target} ({target} is listed after {module} in lib.rs)",
                            f.strip_prefix(&src).unwrap_or(&f).display()
                        )),
                        _ => {}
                    }
                }
            }
        }
    }
    assert!(
        up.is_empty(),
        "arrows that point up the layering:\n{}",
        up.join("\n")
    );
}

#[test]
fn the_checker_sees_arrows() {
    assert_eq!(
        crate_paths("use crate::wire::cursor::{crate::x};"),
        ["wire", "x"]
    );
    let text = "use crate::a::B;\n// crate::c in a comment\n#[cfg(test)]\nmod tests {\n    use crate::d;\n}\n";
    let lines: Vec<usize> = library_lines(text).iter().map(|(n, _)| *n).collect();
    assert_eq!(lines, [1]);
}
