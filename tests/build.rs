//! `cordon_aws::permissions::actions_for` is written by the functions' side of the project;
//! the per-function IAM check compiles in as soon as that module exists (cfg
//! `cordon_permissions`), so this package builds before and after it lands.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(cordon_permissions)");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions/aws/src");
    println!("cargo::rerun-if-changed={}", src.display());
    let has_module = src.join("permissions.rs").exists() || src.join("permissions/mod.rs").exists();
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
    if has_module && lib.contains("pub mod permissions") {
        println!("cargo::rustc-cfg=cordon_permissions");
    }
}
