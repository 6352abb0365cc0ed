//! The small part of `jsonpath_ng` the normalisation steps and `unverified_paths` use:
//! `$`, `.name`, `..name`, `.*`, `..*`, `[n]`, `[*]`, `['name']`. Matches come in
//! `jsonpath_ng`'s order (a node's own match before its descendants', pre-order), which decides
//! reference numbering.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Child(String),
    Descend(String),
    ChildAny,
    DescendAny,
    Index(i64),
    AnyIndex,
}

/// One step of a concrete location inside a document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Step {
    Key(String),
    Idx(usize),
}

#[derive(Debug, Clone)]
pub struct JsonPath {
    segs: Vec<Seg>,
}

impl JsonPath {
    pub fn parse(path: &str) -> Result<Self, String> {
        let p = path.trim();
        let rest = p
            .strip_prefix('$')
            .ok_or_else(|| format!("path must start with $: {path}"))?;
        let chars: Vec<char> = rest.chars().collect();
        let mut i = 0;
        let mut segs = Vec::new();
        let read_name = |i: &mut usize| -> String {
            let start = *i;
            while *i < chars.len() && chars[*i] != '.' && chars[*i] != '[' {
                *i += 1;
            }
            chars[start..*i].iter().collect()
        };
        while i < chars.len() {
            if chars[i] == '.' {
                let descend = i + 1 < chars.len() && chars[i + 1] == '.';
                i += if descend { 2 } else { 1 };
                if i < chars.len() && chars[i] == '[' {
                    // `..[0]`: treat as descend-any followed by the bracket
                    if descend {
                        segs.push(Seg::DescendAny);
                    }
                    continue;
                }
                let name = read_name(&mut i);
                let seg = match (descend, name.as_str()) {
                    (true, "*") => Seg::DescendAny,
                    (false, "*") => Seg::ChildAny,
                    (true, _) => Seg::Descend(name),
                    (false, _) => Seg::Child(name),
                };
                segs.push(seg);
            } else if chars[i] == '[' {
                let end = chars[i..]
                    .iter()
                    .position(|&c| c == ']')
                    .ok_or("unclosed [")?
                    + i;
                let inner: String = chars[i + 1..end].iter().collect();
                let inner = inner.trim();
                i = end + 1;
                if inner == "*" {
                    segs.push(Seg::AnyIndex);
                } else if let Ok(n) = inner.parse::<i64>() {
                    segs.push(Seg::Index(n));
                } else {
                    let name = inner.trim_matches(|c| c == '\'' || c == '"').to_string();
                    segs.push(Seg::Child(name));
                }
            } else {
                return Err(format!("unexpected character in path {path}"));
            }
        }
        Ok(Self { segs })
    }

    /// Concrete locations of every match, in `jsonpath_ng` order.
    pub fn find(&self, root: &Value) -> Vec<Vec<Step>> {
        let mut current: Vec<Vec<Step>> = vec![vec![]];
        for seg in &self.segs {
            let mut next = Vec::new();
            for loc in &current {
                let Some(node) = get(root, loc) else { continue };
                match seg {
                    Seg::Child(name) => {
                        if let Value::Object(m) = node
                            && m.contains_key(name)
                        {
                            next.push(with(loc, Step::Key(name.clone())));
                        }
                    }
                    Seg::ChildAny => children(node, loc, &mut next),
                    Seg::Index(n) => {
                        if let Value::Array(a) = node {
                            let idx = if *n < 0 { a.len() as i64 + n } else { *n };
                            if idx >= 0 && (idx as usize) < a.len() {
                                next.push(with(loc, Step::Idx(idx as usize)));
                            }
                        }
                    }
                    Seg::AnyIndex => {
                        if let Value::Array(a) = node {
                            for i in 0..a.len() {
                                next.push(with(loc, Step::Idx(i)));
                            }
                        }
                    }
                    Seg::Descend(name) => descend(
                        node,
                        loc,
                        &mut |n, l, out| {
                            if let Value::Object(m) = n
                                && m.contains_key(name)
                            {
                                out.push(with(l, Step::Key(name.clone())));
                            }
                        },
                        &mut next,
                    ),
                    Seg::DescendAny => {
                        descend(node, loc, &mut |n, l, out| children(n, l, out), &mut next)
                    }
                }
            }
            current = next;
        }
        current
    }

    /// Sets every existing match to `value` (like `jsonpath_ng`'s `update`: nothing is created;
    /// a match inside an earlier replaced match is gone).
    pub fn set(&self, root: &mut Value, value: &Value) -> usize {
        let mut n = 0;
        for loc in self.find(root) {
            if let Some(slot) = get_mut(root, &loc) {
                *slot = value.clone();
                n += 1;
            }
        }
        n
    }

    /// Removes every match: dict keys are popped, list elements dropped (after all matches
    /// were located, as LocalStack's skip-verification does with its placeholder).
    pub fn remove(&self, root: &mut Value) {
        const PLACEHOLDER: &str = "\u{0}__cordon_removed__\u{0}";
        let locs = self.find(root);
        let mut had_placeholder = false;
        for loc in locs {
            let Some((last, parent)) = loc.split_last() else {
                // `$` itself: nothing sensible to remove
                continue;
            };
            match (get_mut(root, parent), last) {
                (Some(Value::Object(m)), Step::Key(k)) => {
                    m.shift_remove(k);
                }
                (Some(Value::Array(a)), Step::Idx(i)) if *i < a.len() => {
                    a[*i] = Value::String(PLACEHOLDER.into());
                    had_placeholder = true;
                }
                _ => {}
            }
        }
        if had_placeholder {
            fn strip(v: &mut Value) {
                match v {
                    Value::Array(a) => {
                        a.retain(|x| x.as_str() != Some(PLACEHOLDER));
                        a.iter_mut().for_each(strip);
                    }
                    Value::Object(m) => m.values_mut().for_each(strip),
                    _ => {}
                }
            }
            strip(root);
        }
    }
}

fn with(loc: &[Step], step: Step) -> Vec<Step> {
    let mut v = loc.to_vec();
    v.push(step);
    v
}

fn children(node: &Value, loc: &[Step], out: &mut Vec<Vec<Step>>) {
    match node {
        Value::Object(m) => {
            for k in m.keys() {
                out.push(with(loc, Step::Key(k.clone())));
            }
        }
        Value::Array(a) => {
            for i in 0..a.len() {
                out.push(with(loc, Step::Idx(i)));
            }
        }
        _ => {}
    }
}

/// What a segment does at one node: push the locations it selects there.
type Select<'a> = dyn FnMut(&Value, &[Step], &mut Vec<Vec<Step>>) + 'a;

/// Applies `right` at `node` and then at each descendant, pre-order.
fn descend(node: &Value, loc: &[Step], right: &mut Select<'_>, out: &mut Vec<Vec<Step>>) {
    right(node, loc, out);
    match node {
        Value::Object(m) => {
            for (k, v) in m {
                descend(v, &with(loc, Step::Key(k.clone())), right, out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                descend(v, &with(loc, Step::Idx(i)), right, out);
            }
        }
        _ => {}
    }
}

pub fn get<'a>(root: &'a Value, loc: &[Step]) -> Option<&'a Value> {
    let mut cur = root;
    for s in loc {
        cur = match (s, cur) {
            (Step::Key(k), Value::Object(m)) => m.get(k)?,
            (Step::Idx(i), Value::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

pub fn get_mut<'a>(root: &'a mut Value, loc: &[Step]) -> Option<&'a mut Value> {
    let mut cur = root;
    for s in loc {
        cur = match (s, cur) {
            (Step::Key(k), Value::Object(m)) => m.get_mut(k)?,
            (Step::Idx(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// `$.events[3].stateEnteredEventDetails.input` style text of a location.
pub fn display(loc: &[Step]) -> String {
    let mut s = String::from("$");
    for step in loc {
        match step {
            Step::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Step::Idx(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn descendants_pre_order() {
        let doc = json!({"a": {"T": 1, "b": [{"T": 2}]}, "T": 3});
        let p = JsonPath::parse("$..T").unwrap();
        let vals: Vec<_> = p
            .find(&doc)
            .iter()
            .map(|l| get(&doc, l).unwrap().clone())
            .collect();
        assert_eq!(vals, vec![json!(3), json!(1), json!(2)]);
    }

    #[test]
    fn nested_paths_set_and_remove() {
        let mut doc = json!({"events": [
            {"x": {"SdkHttpMetadata": {"AllHttpHeaders": {"Date": ["d"]}, "HttpHeaders": {"Date": "d"}}}},
            {"previousEventId": 1}, {"previousEventId": 2}
        ]});
        JsonPath::parse("$..SdkHttpMetadata..Date")
            .unwrap()
            .set(&mut doc, &json!("date"));
        assert_eq!(
            doc["events"][0]["x"]["SdkHttpMetadata"]["HttpHeaders"]["Date"],
            json!("date")
        );
        assert_eq!(
            doc["events"][0]["x"]["SdkHttpMetadata"]["AllHttpHeaders"]["Date"],
            json!("date")
        );
        JsonPath::parse("$..events[2].previousEventId")
            .unwrap()
            .remove(&mut doc);
        assert_eq!(doc["events"][2], json!({}));
        JsonPath::parse("$..events[1]").unwrap().remove(&mut doc);
        assert_eq!(doc["events"].as_array().unwrap().len(), 2);
        JsonPath::parse("$..events..executionSucceededEventDetails.output.FunctionResult").unwrap();
    }
}
