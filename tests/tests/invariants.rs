//! ARCHITECTURE.md's dependency invariants, read from `cargo metadata`: the domain knows no AWS
//! SDK and does no I/O, only the function binaries know the Lambda runtime, and the engine and
//! the security logic know nothing of each other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

// The six Lambda function crates, the only ones that may know the Lambda runtime.
use cordon_aws::permissions::FUNCTIONS;
use cordon_tests::root;
use serde_json::Value;

const LAMBDA_RUNTIME: [&str; 2] = ["lambda_runtime", "lambda_http"];

/// Crates that do network I/O (or are the runtime that does it): none may be in the domain.
const NETWORK_IO: [&str; 8] = [
    "tokio", "mio", "socket2", "hyper", "h2", "reqwest", "axum", "tower",
];

/// The domain and the security logic around it, which know nothing of the engine.
const SECURITY: [&str; 2] = ["cordon-core", "cordon-aws"];

struct Metadata {
    /// Workspace package name -> its declared dependencies (package name, kind: `normal`,
    /// `dev` or `build`).
    declared: BTreeMap<String, Vec<(String, String)>>,
    /// Workspace package name -> its targets (name, kinds, source path).
    targets: BTreeMap<String, Vec<(String, Vec<String>, String)>>,
    /// Package id -> (package name, ids of its normal dependencies), as resolved for the host.
    resolved: BTreeMap<String, (String, Vec<String>)>,
    /// Package name -> package id, for the workspace's packages.
    ids: BTreeMap<String, String>,
}

/// `cargo metadata` for the workspace, resolved for the host platform (so that it needs no
/// package that only another platform uses, and no network once the workspace has been built).
fn metadata() -> Metadata {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(&rustc)
        .arg("-vV")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {rustc} -vV: {e}"));
    let version = String::from_utf8_lossy(&version.stdout);
    let host = version
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .unwrap_or_else(|| panic!("no host in `{rustc} -vV`:\n{version}"));
    let out = Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(["--filter-platform", host, "--manifest-path"])
        .arg(root().join("Cargo.toml"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cargo} metadata: {e}"));
    assert!(
        out.status.success(),
        "cargo metadata failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let members: BTreeSet<&str> = m["workspace_members"]
        .as_array()
        .expect("workspace_members")
        .iter()
        .map(|v| v.as_str().expect("member id"))
        .collect();
    let (mut declared, mut targets, mut ids) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    let mut names = BTreeMap::new();
    for p in m["packages"].as_array().expect("packages") {
        let (id, name) = (p["id"].as_str().unwrap(), p["name"].as_str().unwrap());
        names.insert(id.to_string(), name.to_string());
        if !members.contains(id) {
            continue;
        }
        ids.insert(name.to_string(), id.to_string());
        let deps = p["dependencies"].as_array().expect("dependencies").iter();
        let deps = deps.map(|d| {
            let kind = d["kind"].as_str().unwrap_or("normal");
            (d["name"].as_str().unwrap().to_string(), kind.to_string())
        });
        declared.insert(name.to_string(), deps.collect());
        let ts = p["targets"].as_array().expect("targets").iter().map(|t| {
            let kinds = t["kind"].as_array().unwrap().iter();
            (
                t["name"].as_str().unwrap().to_string(),
                kinds.map(|k| k.as_str().unwrap().to_string()).collect(),
                t["src_path"].as_str().unwrap().to_string(),
            )
        });
        targets.insert(name.to_string(), ts.collect());
    }
    let mut resolved = BTreeMap::new();
    for n in m["resolve"]["nodes"].as_array().expect("resolve.nodes") {
        let id = n["id"].as_str().unwrap().to_string();
        let normal = n["deps"].as_array().unwrap().iter().filter(|d| {
            d["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null())
        });
        let normal = normal.map(|d| d["pkg"].as_str().unwrap().to_string());
        resolved.insert(id.clone(), (names[&id].clone(), normal.collect()));
    }
    Metadata {
        declared,
        targets,
        resolved,
        ids,
    }
}

impl Metadata {
    fn declared(&self, package: &str) -> &[(String, String)] {
        self.declared
            .get(package)
            .unwrap_or_else(|| panic!("{package} is not a workspace package"))
    }

    /// Every package `package` needs to build (its normal dependencies, transitively), each
    /// with the path that brings it in (`a -> b -> c`).
    fn normal_closure(&self, package: &str) -> BTreeMap<String, String> {
        let start = &self.ids[package];
        let mut paths: BTreeMap<String, String> = BTreeMap::new();
        let mut todo = vec![(start.clone(), package.to_string())];
        let mut seen = BTreeSet::from([start.clone()]);
        while let Some((id, path)) = todo.pop() {
            for dep in &self.resolved[&id].1 {
                if seen.insert(dep.clone()) {
                    let name = &self.resolved[dep].0;
                    let path = format!("{path} -> {name}");
                    paths.entry(name.clone()).or_insert_with(|| path.clone());
                    todo.push((dep.clone(), path));
                }
            }
        }
        paths
    }
}

fn is_aws(name: &str) -> bool {
    name.starts_with("aws-") || name.starts_with("aws_")
}

#[test]
fn the_domain_knows_no_aws_sdk_lambda_runtime_or_network_io() {
    let m = metadata();
    let mut offending = Vec::new();
    for (dep, path) in m.normal_closure("cordon-core") {
        if is_aws(&dep)
            || LAMBDA_RUNTIME.contains(&dep.as_str())
            || NETWORK_IO.contains(&dep.as_str())
        {
            offending.push(format!("cordon-core depends on {dep} ({path})"));
        }
    }
    assert!(
        offending.is_empty(),
        "cordon-core knows no AWS SDK and does no I/O (ARCHITECTURE.md):\n{}",
        offending.join("\n")
    );
}

#[test]
fn only_the_function_binaries_know_the_lambda_runtime() {
    let m = metadata();
    let mut offending = Vec::new();
    for (package, deps) in &m.declared {
        for (dep, kind) in deps {
            if !LAMBDA_RUNTIME.contains(&dep.as_str()) || FUNCTIONS.contains(&package.as_str()) {
                continue;
            }
            // The one exception: the Lambda host's test function, a real lambda_runtime
            // function its tests run. A binary cannot have dependencies of its own, so the
            // package depends on lambda_runtime; its library must not use it.
            if package == "cordon-lambda-host" && dep == "lambda_runtime" && kind == "normal" {
                continue;
            }
            offending.push(format!("{package} depends on {dep} ({kind})"));
        }
    }
    assert!(
        offending.is_empty(),
        "only the function binaries ({}) know lambda_runtime / lambda_http (ARCHITECTURE.md):\n{}",
        FUNCTIONS.join(", "),
        offending.join("\n")
    );
    for f in FUNCTIONS {
        assert!(
            m.declared(f)
                .iter()
                .any(|(dep, kind)| LAMBDA_RUNTIME.contains(&dep.as_str()) && kind == "normal"),
            "{f} is a Lambda function but depends on neither lambda_runtime nor lambda_http"
        );
    }
}

/// The exception, exactly: `cordon-lambda-host`'s `cordon-test-function` binary uses
/// lambda_runtime; no other source of the package (its library, its tests) does.
#[test]
fn the_lambda_host_uses_lambda_runtime_only_in_its_test_function() {
    let m = metadata();
    let targets = &m.targets["cordon-lambda-host"];
    let (_, _, bin) = targets
        .iter()
        .find(|(name, kinds, _)| name == "cordon-test-function" && kinds == &["bin"])
        .expect("cordon-lambda-host has the cordon-test-function binary");
    let dirs: BTreeSet<&Path> = targets
        .iter()
        .map(|(_, _, src)| Path::new(src).parent().expect("a source has a directory"))
        .collect();
    let files: BTreeSet<PathBuf> = dirs.into_iter().flat_map(rust_files).collect();
    let offending: Vec<String> = files
        .iter()
        .filter(|f| f.as_path() != Path::new(bin))
        .filter(|f| uses_lambda_runtime(&std::fs::read_to_string(f).unwrap()))
        .map(|f| format!("cordon-lambda-host uses lambda_runtime in {}", f.display()))
        .collect();
    assert!(
        offending.is_empty(),
        "only cordon-lambda-host's cordon-test-function may use lambda_runtime:\n{}",
        offending.join("\n")
    );
}

/// Whether Rust source names the `lambda_runtime` crate outside comments.
fn uses_lambda_runtime(source: &str) -> bool {
    source
        .lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .any(|code| code.contains("lambda_runtime"))
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

#[test]
fn the_engine_and_the_security_logic_know_nothing_of_each_other() {
    let m = metadata();
    let mut offending = Vec::new();
    for (dep, kind) in m.declared("cordon-engine") {
        if SECURITY.contains(&dep.as_str()) {
            offending.push(format!("cordon-engine depends on {dep} ({kind})"));
        }
    }
    // Through another crate (a direct dependency is named above).
    for (dep, path) in m.normal_closure("cordon-engine") {
        if SECURITY.contains(&dep.as_str()) && path.matches(" -> ").count() > 1 {
            offending.push(format!("cordon-engine depends on {dep} ({path})"));
        }
    }
    for package in SECURITY.iter().chain(FUNCTIONS) {
        for (dep, path) in m.normal_closure(package) {
            if dep == "cordon-engine" {
                offending.push(format!("{package} depends on {dep} ({path})"));
            }
        }
    }
    offending.sort();
    offending.dedup();
    assert!(
        offending.is_empty(),
        "the engine knows nothing about security, the security logic nothing about the engine \
         (ARCHITECTURE.md):\n{}",
        offending.join("\n")
    );
}
