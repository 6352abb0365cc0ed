//! The engine's module graph has no cycle: every module uses only modules that do not use it
//! back, directly or through others, so a module can be read, changed and tested knowing only
//! what it depends on. Read from the sources: each `crate::…` and `super::…` path outside test
//! code is an edge to the module it names. The crate root only declares modules and re-exports
//! them, and is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let p = entry.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `interp/task.rs` → `interp::task`, `interp/mod.rs` → `interp`, `lib.rs` → ``.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file
        .strip_prefix(src)
        .expect("under src")
        .with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts.join("::")
}

/// The identifiers of a path that starts at `start` in `code` (`crate::a::b::{c, d}` gives
/// `[a, b]` and stops at the brace).
fn path_after(code: &str, start: usize) -> Vec<String> {
    let mut segs = Vec::new();
    let mut rest = &code[start..];
    loop {
        let n = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if n == 0 {
            break;
        }
        segs.push(rest[..n].to_string());
        match rest[n..].strip_prefix("::") {
            Some(r) => rest = r,
            None => break,
        }
    }
    segs
}

/// The longest module named by `segs` under `base`, if any.
fn resolve(modules: &BTreeSet<String>, base: &str, segs: &[String]) -> Option<String> {
    let mut best = None;
    let mut cur = base.to_string();
    for s in segs {
        cur = if cur.is_empty() {
            s.clone()
        } else {
            format!("{cur}::{s}")
        };
        if modules.contains(&cur) {
            best = Some(cur.clone());
        } else {
            break;
        }
    }
    best
}

fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let m = module_of(&src, f);
        if m.is_empty() {
            continue;
        }
        let text = std::fs::read_to_string(f).expect("read module");
        // Test code may use anything.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let code: String = code
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let parent = m.rsplit_once("::").map(|(p, _)| p).unwrap_or("");
        let deps = graph.entry(m.clone()).or_default();
        for (needle, base) in [("crate::", ""), ("super::", parent)] {
            for (i, _) in code.match_indices(needle) {
                if i > 0 && code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let segs = path_after(&code, i + needle.len());
                let target = resolve(&modules, base, &segs).unwrap_or_else(|| base.to_string());
                if !target.is_empty() && target != m {
                    deps.insert(target);
                }
            }
        }
    }
    graph
}

/// A cycle through `from`, if there is one (depth-first, colours: 1 on the path, 2 done).
fn find_cycle(
    graph: &BTreeMap<String, BTreeSet<String>>,
    from: &str,
    colour: &mut BTreeMap<String, u8>,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    colour.insert(from.to_string(), 1);
    path.push(from.to_string());
    for to in graph.get(from).into_iter().flatten() {
        match colour.get(to).copied().unwrap_or(0) {
            1 => {
                let start = path.iter().position(|p| p == to).expect("on the path");
                let mut cycle = path[start..].to_vec();
                cycle.push(to.clone());
                return Some(cycle);
            }
            0 => {
                if let Some(c) = find_cycle(graph, to, colour, path) {
                    return Some(c);
                }
            }
            _ => {}
        }
    }
    path.pop();
    colour.insert(from.to_string(), 2);
    None
}

#[test]
fn the_engine_module_graph_has_no_cycle() {
    let graph = edges();
    // The graph is read at all: the interpreter depends on the runtime and its phases.
    assert!(
        graph["interp::evaluate"].contains("interp::task"),
        "{graph:#?}"
    );
    assert!(graph["api"].contains("interp"), "{graph:#?}");
    let mut colour = BTreeMap::new();
    for m in graph.keys() {
        if colour.get(m).copied().unwrap_or(0) == 0
            && let Some(cycle) = find_cycle(&graph, m, &mut colour, &mut Vec::new())
        {
            panic!(
                "the engine's modules use each other in a cycle: {}\n(move what both need into a module of its own, or hand the dependency in as a parameter, as the fan-out gets the state loop)",
                cycle.join(" -> ")
            );
        }
    }
}

#[test]
fn a_cycle_is_found() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    graph.entry("c".into()).or_default().insert("a".into());
    let cycle = find_cycle(&graph, "a", &mut BTreeMap::new(), &mut Vec::new());
    assert_eq!(cycle.unwrap().join(" -> "), "a -> b -> c -> a");
}
