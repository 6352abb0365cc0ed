//! Per-thread caches of parsed paths and intrinsic calls, so the string-taking entry points
//! (`query`, `payload_template`, `intrinsic`, `apply_result_path`, Choice rules) parse each
//! distinct text once per thread instead of on every call. Bounded: a cache that reaches
//! `LIMIT` entries is emptied (definitions are finite; this only guards against unbounded
//! growth with generated paths).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::intrinsic::{self as intr, Call};
use crate::path::{self as paths, Path};

const LIMIT: usize = 4096;

thread_local! {
    static PATHS: RefCell<HashMap<Box<str>, Rc<Path>>> = RefCell::new(HashMap::new());
    static CALLS: RefCell<HashMap<Box<str>, Rc<Call>>> = RefCell::new(HashMap::new());
}

fn cached<T>(
    map: &'static std::thread::LocalKey<RefCell<HashMap<Box<str>, Rc<T>>>>,
    key: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Rc<T>, String> {
    if let Some(hit) = map.with(|m| m.borrow().get(key).cloned()) {
        return Ok(hit);
    }
    let v = Rc::new(parse(key)?);
    map.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= LIMIT {
            m.clear();
        }
        m.insert(key.into(), v.clone());
    });
    Ok(v)
}

/// `path::parse`, cached.
pub fn path(p: &str) -> Result<Rc<Path>, String> {
    cached(&PATHS, p, paths::parse)
}

/// `intrinsic::parse`, cached (the text is expected trimmed).
pub fn intrinsic(e: &str) -> Result<Rc<Call>, String> {
    cached(&CALLS, e, intr::parse)
}
