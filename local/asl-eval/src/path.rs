//! JSONPath (Jayway flavour, as Step Functions uses it) and reference paths.

use serde_json::{Map, Value};

use crate::json::{compact, json_eq, num_cmp};

/// Which document a path starts from.
#[derive(Debug, Clone, PartialEq)]
pub enum Root {
    /// `$`: the state input.
    Input,
    /// `$$`: the context object.
    Context,
    /// `$name`: a variable.
    Variable(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    Child(String),
    Index(i64),
    Wildcard,
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Union(Vec<Seg>),
    Filter(Filter),
    /// `..` followed by a selector.
    Descendant(Box<Seg>),
    /// `.length()` (Jayway function).
    Length,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Exists(Operand),
    Cmp(Operand, CmpOp, Operand),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Regex,
    In,
    Nin,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// `@...` relative to the current node.
    Current(Vec<Seg>),
    /// `$...` relative to the root.
    Root(Vec<Seg>),
    Literal(Value),
    Regex(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub root: Root,
    pub segs: Vec<Seg>,
}

impl Path {
    /// A definite path (reference path) selects at most one node.
    pub fn is_definite(&self) -> bool {
        self.segs
            .iter()
            .all(|s| matches!(s, Seg::Child(_) | Seg::Index(_) | Seg::Length))
    }

    /// Jayway's normalised form, e.g. `$['a']['b'][0]`.
    pub fn normalized(&self) -> String {
        let mut s = match &self.root {
            Root::Input => "$".to_string(),
            Root::Context => "$$".to_string(),
            Root::Variable(v) => format!("${v}"),
        };
        for seg in &self.segs {
            s.push_str(&seg_norm(seg));
        }
        s
    }
}

fn seg_norm(seg: &Seg) -> String {
    match seg {
        Seg::Child(n) => format!("['{n}']"),
        Seg::Index(i) => format!("[{i}]"),
        Seg::Wildcard => "[*]".into(),
        Seg::Slice(a, b, _) => format!(
            "[{}:{}]",
            a.map(|x| x.to_string()).unwrap_or_default(),
            b.map(|x| x.to_string()).unwrap_or_default()
        ),
        Seg::Union(v) => {
            let parts: Vec<String> = v
                .iter()
                .map(|s| match s {
                    Seg::Child(n) => format!("'{n}'"),
                    Seg::Index(i) => i.to_string(),
                    o => seg_norm(o),
                })
                .collect();
            format!("[{}]", parts.join(","))
        }
        Seg::Filter(_) => "[?]".into(),
        Seg::Descendant(s) => format!("..{}", seg_norm(s)),
        Seg::Length => ".length()".into(),
    }
}

struct P<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
}

impl<'a> P<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn peek_at(&self, k: usize) -> Option<u8> {
        self.s.get(self.i + k).copied()
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!(
                "expected '{}' at position {} in '{}'",
                c as char, self.i, self.src
            ))
        }
    }
    fn ident(&mut self) -> String {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c == b'.'
                || c == b'['
                || c == b' '
                || c == b')'
                || c == b'='
                || c == b'<'
                || c == b'>'
                || c == b'!'
                || c == b'&'
                || c == b'|'
                || c == b','
                || c == b']'
            {
                break;
            }
            self.i += 1;
        }
        self.src[start..self.i].to_string()
    }
    fn quoted(&mut self) -> Result<String, String> {
        let q = self.peek().ok_or("unexpected end")?;
        self.i += 1;
        let mut out = String::new();
        loop {
            let rest = &self.src[self.i..];
            let mut chars = rest.chars();
            let c = chars
                .next()
                .ok_or_else(|| format!("unterminated string in '{}'", self.src))?;
            self.i += c.len_utf8();
            if c as u32 == q as u32 {
                return Ok(out);
            }
            if c == '\\' {
                let n = self.src[self.i..]
                    .chars()
                    .next()
                    .ok_or("unterminated escape")?;
                self.i += n.len_utf8();
                out.push(match n {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    o => o,
                });
            } else {
                out.push(c);
            }
        }
    }
    /// A quoted property name in brackets, as Jayway's `readBracketPropertyToken` reads it:
    /// a backslash keeps the next character from closing the name, and the text between the
    /// quotes is taken as written (Step Functions resolves `$['Test\\""Name"']` against the
    /// key `Test\\""Name"`).
    fn bracket_name(&mut self) -> Result<String, String> {
        let q = self.peek().ok_or("unexpected end")?;
        self.i += 1;
        let start = self.i;
        let mut esc = false;
        while let Some(c) = self.peek() {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == q {
                let name = self.src[start..self.i].to_string();
                self.i += 1;
                return Ok(name);
            }
            self.i += 1;
        }
        Err(format!("unterminated string in '{}'", self.src))
    }
    fn int(&mut self) -> Option<i64> {
        self.ws();
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        if self.i == start {
            return None;
        }
        let r = self.src[start..self.i].parse().ok();
        if r.is_none() {
            self.i = start;
        }
        r
    }

    fn segments(&mut self, in_filter: bool) -> Result<Vec<Seg>, String> {
        let mut segs = Vec::new();
        loop {
            match self.peek() {
                Some(b'.') if self.peek_at(1) == Some(b'.') => {
                    self.i += 2;
                    let inner = if self.peek() == Some(b'[') {
                        self.i += 1;
                        self.bracket()?
                    } else if self.eat(b'*') {
                        Seg::Wildcard
                    } else {
                        let n = self.ident();
                        if n.is_empty() {
                            return Err(format!("empty property after '..' in '{}'", self.src));
                        }
                        Seg::Child(n)
                    };
                    segs.push(Seg::Descendant(Box::new(inner)));
                }
                Some(b'.') => {
                    self.i += 1;
                    if self.eat(b'*') {
                        segs.push(Seg::Wildcard);
                    } else if self.src[self.i..].starts_with("length()") {
                        self.i += "length()".len();
                        segs.push(Seg::Length);
                    } else if self.peek() == Some(b'[') {
                        // Jayway accepts "$.['a']"
                        continue;
                    } else {
                        let n = self.ident();
                        if n.is_empty() {
                            return Err(format!("empty property name in '{}'", self.src));
                        }
                        if n == "length()" {
                            segs.push(Seg::Length);
                        } else {
                            segs.push(Seg::Child(n));
                        }
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    segs.push(self.bracket()?);
                }
                _ => break,
            }
            if in_filter {
                // filters stop at operators / whitespace, handled by the loop guard
            }
        }
        Ok(segs)
    }

    fn bracket(&mut self) -> Result<Seg, String> {
        self.ws();
        let seg = match self.peek() {
            Some(b'*') => {
                self.i += 1;
                Seg::Wildcard
            }
            Some(b'?') => {
                self.i += 1;
                self.expect(b'(')?;
                let f = self.filter_or()?;
                self.expect(b')')?;
                Seg::Filter(f)
            }
            Some(b'\'' | b'"') => {
                let mut names = vec![Seg::Child(self.bracket_name()?)];
                loop {
                    self.ws();
                    if !self.eat(b',') {
                        break;
                    }
                    self.ws();
                    names.push(Seg::Child(self.bracket_name()?));
                }
                if names.len() == 1 {
                    names.pop().expect("one")
                } else {
                    Seg::Union(names)
                }
            }
            _ => {
                let a = self.int();
                self.ws();
                if self.peek() == Some(b':') {
                    self.i += 1;
                    let b = self.int();
                    self.ws();
                    let c = if self.eat(b':') { self.int() } else { None };
                    Seg::Slice(a, b, c)
                } else if self.peek() == Some(b',') {
                    let mut v = vec![Seg::Index(a.ok_or("bad index")?)];
                    while self.eat(b',') {
                        v.push(Seg::Index(self.int().ok_or("bad index")?));
                        self.ws();
                    }
                    Seg::Union(v)
                } else {
                    Seg::Index(
                        a.ok_or_else(|| format!("invalid bracket expression in '{}'", self.src))?,
                    )
                }
            }
        };
        self.expect(b']')?;
        Ok(seg)
    }

    fn filter_or(&mut self) -> Result<Filter, String> {
        let mut l = self.filter_and()?;
        loop {
            self.ws();
            if self.peek() == Some(b'|') && self.peek_at(1) == Some(b'|') {
                self.i += 2;
                let r = self.filter_and()?;
                l = Filter::Or(Box::new(l), Box::new(r));
            } else {
                return Ok(l);
            }
        }
    }
    fn filter_and(&mut self) -> Result<Filter, String> {
        let mut l = self.filter_unary()?;
        loop {
            self.ws();
            if self.peek() == Some(b'&') && self.peek_at(1) == Some(b'&') {
                self.i += 2;
                let r = self.filter_unary()?;
                l = Filter::And(Box::new(l), Box::new(r));
            } else {
                return Ok(l);
            }
        }
    }
    fn filter_unary(&mut self) -> Result<Filter, String> {
        self.ws();
        if self.peek() == Some(b'!') && self.peek_at(1) != Some(b'=') {
            self.i += 1;
            return Ok(Filter::Not(Box::new(self.filter_unary()?)));
        }
        if self.peek() == Some(b'(') {
            self.i += 1;
            let f = self.filter_or()?;
            self.expect(b')')?;
            return Ok(f);
        }
        let l = self.operand()?;
        self.ws();
        let op = match (self.peek(), self.peek_at(1)) {
            (Some(b'='), Some(b'=')) => Some((CmpOp::Eq, 2)),
            (Some(b'!'), Some(b'=')) => Some((CmpOp::Ne, 2)),
            (Some(b'<'), Some(b'=')) => Some((CmpOp::Le, 2)),
            (Some(b'>'), Some(b'=')) => Some((CmpOp::Ge, 2)),
            (Some(b'<'), _) => Some((CmpOp::Lt, 1)),
            (Some(b'>'), _) => Some((CmpOp::Gt, 1)),
            (Some(b'='), Some(b'~')) => Some((CmpOp::Regex, 2)),
            _ => {
                let rest = &self.src[self.i..];
                if rest.starts_with("nin ") {
                    Some((CmpOp::Nin, 3))
                } else if rest.starts_with("in ") {
                    Some((CmpOp::In, 2))
                } else {
                    None
                }
            }
        };
        match op {
            None => Ok(Filter::Exists(l)),
            Some((op, n)) => {
                self.i += n;
                let r = self.operand()?;
                Ok(Filter::Cmp(l, op, r))
            }
        }
    }
    fn operand(&mut self) -> Result<Operand, String> {
        self.ws();
        match self.peek() {
            Some(b'@') => {
                self.i += 1;
                Ok(Operand::Current(self.segments(true)?))
            }
            Some(b'$') => {
                self.i += 1;
                Ok(Operand::Root(self.segments(true)?))
            }
            Some(b'\'' | b'"') => Ok(Operand::Literal(Value::String(self.quoted()?))),
            Some(b'/') => {
                self.i += 1;
                let start = self.i;
                while let Some(c) = self.peek() {
                    if c == b'\\' {
                        self.i += 2;
                        continue;
                    }
                    if c == b'/' {
                        break;
                    }
                    self.i += 1;
                }
                let re = self.src[start..self.i].to_string();
                self.expect(b'/')?;
                let mut flags = String::new();
                while let Some(c @ (b'i' | b'm' | b's')) = self.peek() {
                    flags.push(c as char);
                    self.i += 1;
                }
                Ok(Operand::Regex(if flags.is_empty() {
                    re
                } else {
                    format!("(?{flags}){re}")
                }))
            }
            Some(b'[') => {
                // literal JSON array
                let start = self.i;
                let mut depth = 0;
                while let Some(c) = self.peek() {
                    self.i += 1;
                    if c == b'[' {
                        depth += 1;
                    } else if c == b']' {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                }
                let txt = self.src[start..self.i].replace('\'', "\"");
                serde_json::from_str(&txt)
                    .map(Operand::Literal)
                    .map_err(|e| format!("invalid array literal in filter: {e}"))
            }
            _ => {
                let start = self.i;
                while let Some(c) = self.peek() {
                    if c.is_ascii_alphanumeric() || c == b'.' || c == b'-' || c == b'+' {
                        self.i += 1;
                    } else {
                        break;
                    }
                }
                let tok = &self.src[start..self.i];
                match tok {
                    "true" => Ok(Operand::Literal(Value::Bool(true))),
                    "false" => Ok(Operand::Literal(Value::Bool(false))),
                    "null" => Ok(Operand::Literal(Value::Null)),
                    _ => serde_json::from_str::<Value>(tok)
                        .ok()
                        .filter(Value::is_number)
                        .map(Operand::Literal)
                        .ok_or_else(|| format!("invalid filter operand '{tok}' in '{}'", self.src)),
                }
            }
        }
    }
}

/// Parses a JSONPath / reference path.
pub fn parse(path: &str) -> Result<Path, String> {
    let p = path.trim();
    let mut ps = P {
        s: p.as_bytes(),
        src: p,
        i: 0,
    };
    if !ps.eat(b'$') {
        return Err(format!("path '{path}' must start with '$'"));
    }
    let root = if ps.eat(b'$') {
        Root::Context
    } else if matches!(ps.peek(), Some(c) if c.is_ascii_alphabetic() || c == b'_') {
        let start = ps.i;
        while matches!(ps.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_') {
            ps.i += 1;
        }
        Root::Variable(p[start..ps.i].to_string())
    } else {
        Root::Input
    };
    let segs = ps.segments(false)?;
    if ps.i != p.len() {
        return Err(format!(
            "unexpected character at position {} in path '{path}'",
            ps.i
        ));
    }
    Ok(Path { root, segs })
}

/// Applies segments to a node list. Nodes are borrowed from the document until the end; only
/// the matches are cloned.
pub fn select<'v>(root: &'v Value, nodes: Vec<&'v Value>, segs: &[Seg]) -> Vec<Value> {
    use std::borrow::Cow;
    let mut cur: Vec<Cow<'v, Value>> = nodes.into_iter().map(Cow::Borrowed).collect();
    for seg in segs {
        let mut next: Vec<Cow<'v, Value>> = Vec::with_capacity(cur.len());
        for n in cur {
            match n {
                Cow::Borrowed(r) => apply(root, r, seg, &mut next),
                Cow::Owned(o) => {
                    // only `.length()` makes values; anything below one is copied out
                    let mut tmp = Vec::new();
                    apply(root, &o, seg, &mut tmp);
                    next.extend(tmp.into_iter().map(|c| Cow::Owned(c.into_owned())));
                }
            }
        }
        cur = next;
    }
    cur.into_iter().map(|c| c.into_owned()).collect()
}

/// The single node a definite path selects, borrowed (`None` when absent or when the path
/// makes a value, e.g. `.length()`).
pub fn select_definite<'v>(root: &'v Value, segs: &[Seg]) -> Option<&'v Value> {
    let mut cur = root;
    for seg in segs {
        cur = match seg {
            Seg::Child(k) => cur.as_object()?.get(k)?,
            Seg::Index(i) => {
                let a = cur.as_array()?;
                let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                a.get(usize::try_from(idx).ok()?)?
            }
            _ => return None,
        };
    }
    Some(cur)
}

fn apply<'n>(root: &Value, n: &'n Value, seg: &Seg, out: &mut Vec<std::borrow::Cow<'n, Value>>) {
    use std::borrow::Cow::{Borrowed, Owned};
    match seg {
        Seg::Child(k) => {
            if let Some(v) = n.as_object().and_then(|o| o.get(k)) {
                out.push(Borrowed(v));
            }
        }
        Seg::Index(i) => {
            if let Some(a) = n.as_array() {
                let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                if let Some(v) = usize::try_from(idx).ok().and_then(|ix| a.get(ix)) {
                    out.push(Borrowed(v));
                }
            }
        }
        Seg::Wildcard => match n {
            Value::Array(a) => out.extend(a.iter().map(Borrowed)),
            Value::Object(o) => out.extend(o.values().map(Borrowed)),
            _ => {}
        },
        Seg::Slice(a, b, step) => {
            if let Some(arr) = n.as_array() {
                let len = arr.len() as i64;
                let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
                let start = a.map(norm).unwrap_or(0);
                let end = b.map(norm).unwrap_or(len);
                let step = step.unwrap_or(1).max(1);
                let mut i = start;
                while i < end {
                    out.push(Borrowed(&arr[i as usize]));
                    i += step;
                }
            }
        }
        Seg::Union(v) => {
            for s in v {
                apply(root, n, s, out);
            }
        }
        Seg::Filter(f) => match n {
            Value::Array(a) => {
                for v in a {
                    if eval_filter(root, v, f) {
                        out.push(Borrowed(v));
                    }
                }
            }
            Value::Object(o) => {
                for v in o.values() {
                    if eval_filter(root, v, f) {
                        out.push(Borrowed(v));
                    }
                }
            }
            _ => {}
        },
        Seg::Descendant(inner) => {
            descend(root, n, inner, out);
        }
        Seg::Length => match n {
            Value::Array(a) => out.push(Owned(Value::from(a.len()))),
            Value::Object(o) => out.push(Owned(Value::from(o.len()))),
            Value::String(s) => out.push(Owned(Value::from(s.chars().count()))),
            _ => {}
        },
    }
}

fn descend<'n>(
    root: &Value,
    n: &'n Value,
    inner: &Seg,
    out: &mut Vec<std::borrow::Cow<'n, Value>>,
) {
    apply(root, n, inner, out);
    match n {
        Value::Array(a) => a.iter().for_each(|v| descend(root, v, inner, out)),
        Value::Object(o) => o.values().for_each(|v| descend(root, v, inner, out)),
        _ => {}
    }
}

fn operand_values(root: &Value, cur: &Value, o: &Operand) -> Option<Vec<Value>> {
    match o {
        Operand::Current(segs) => Some(select(root, vec![cur], segs)),
        Operand::Root(segs) => Some(select(root, vec![root], segs)),
        Operand::Literal(v) => Some(vec![v.clone()]),
        Operand::Regex(_) => None,
    }
}

fn single(root: &Value, cur: &Value, o: &Operand) -> Option<Value> {
    let v = operand_values(root, cur, o)?;
    let definite = match o {
        Operand::Current(s) | Operand::Root(s) => s
            .iter()
            .all(|s| matches!(s, Seg::Child(_) | Seg::Index(_) | Seg::Length)),
        _ => true,
    };
    if definite {
        v.into_iter().next()
    } else {
        Some(Value::Array(v))
    }
}

fn eval_filter(root: &Value, cur: &Value, f: &Filter) -> bool {
    match f {
        Filter::Or(a, b) => eval_filter(root, cur, a) || eval_filter(root, cur, b),
        Filter::And(a, b) => eval_filter(root, cur, a) && eval_filter(root, cur, b),
        Filter::Not(a) => !eval_filter(root, cur, a),
        Filter::Exists(o) => match o {
            Operand::Literal(v) => !matches!(v, Value::Null | Value::Bool(false)),
            _ => operand_values(root, cur, o).is_some_and(|v| !v.is_empty()),
        },
        Filter::Cmp(l, op, r) => {
            let Some(lv) = single(root, cur, l) else {
                return false;
            };
            if *op == CmpOp::Regex {
                let Operand::Regex(re) = r else { return false };
                let Value::String(s) = &lv else { return false };
                return regex::Regex::new(re).is_ok_and(|re| re.is_match(s));
            }
            let Some(rv) = single(root, cur, r) else {
                return false;
            };
            match op {
                CmpOp::Eq => json_eq(&lv, &rv),
                CmpOp::Ne => !json_eq(&lv, &rv),
                CmpOp::In => rv
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| json_eq(x, &lv))),
                CmpOp::Nin => rv
                    .as_array()
                    .is_some_and(|a| !a.iter().any(|x| json_eq(x, &lv))),
                _ => {
                    let ord = match (&lv, &rv) {
                        (Value::Number(_), Value::Number(_)) => num_cmp(&lv, &rv),
                        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
                        _ => None,
                    };
                    let Some(ord) = ord else { return false };
                    match op {
                        CmpOp::Lt => ord.is_lt(),
                        CmpOp::Le => ord.is_le(),
                        CmpOp::Gt => ord.is_gt(),
                        CmpOp::Ge => ord.is_ge(),
                        _ => false,
                    }
                }
            }
        }
    }
}

/// Outcome of evaluating a parsed path.
pub enum Found {
    /// The path matched (a definite path's value, or the array of matches).
    Value(Value),
    /// A definite path found nothing.
    Missing,
    /// The variable does not exist.
    NoVariable(String),
}

pub fn eval(path: &Path, input: &Value, context: &Value, vars: &Map<String, Value>) -> Found {
    let root = match &path.root {
        Root::Input => input,
        Root::Context => context,
        Root::Variable(v) => match vars.get(v) {
            Some(x) => x,
            None => return Found::NoVariable(v.clone()),
        },
    };
    if path.is_definite() {
        if !path.segs.iter().any(|s| matches!(s, Seg::Length)) {
            return match select_definite(root, &path.segs) {
                Some(v) => Found::Value(v.clone()),
                None => Found::Missing,
            };
        }
        match select(root, vec![root], &path.segs).into_iter().next() {
            Some(v) => Found::Value(v),
            None => Found::Missing,
        }
    } else {
        let res = select(root, vec![root], &path.segs);
        Found::Value(Value::Array(res))
    }
}

/// The error cause AWS reports when a path finds nothing. `root` is the document the path
/// starts from (input, context or variable value); `input` is the state input AWS quotes.
pub fn missing_cause(
    path: &str,
    parsed: Option<&Path>,
    field: &str,
    root: &Value,
    input: &Value,
) -> String {
    match field {
        "InputPath"
        | "OutputPath"
        | "ItemsPath"
        | "TimeoutSecondsPath"
        | "HeartbeatSecondsPath" => {
            let Some(p) = parsed else {
                return format!("Invalid path '{path}' : No results for path: {path}");
            };
            // Jayway (which Step Functions runs) throws "Missing property in path" as soon as
            // a property that is not the last token is absent from an object; a missing last
            // property (or anything else) ends with "No results for path" on the whole path.
            if let Some(n) = missing_inner_property(p, root) {
                let prefix = Path {
                    root: p.root.clone(),
                    segs: p.segs[..=n].to_vec(),
                };
                return format!(
                    "Invalid path '{path}' : Missing property in path {}",
                    prefix.normalized()
                );
            }
            format!(
                "Invalid path '{path}' : No results for path: {}",
                p.normalized()
            )
        }
        _ => format!(
            "The JSONPath '{path}' specified for the field '{field}' could not be found in the input '{}'",
            compact(input)
        ),
    }
}

/// Index of the first non-last `Child` segment whose object lacks the property.
fn missing_inner_property(p: &Path, root: &Value) -> Option<usize> {
    let mut cur = root;
    let last = p.segs.len().checked_sub(1)?;
    for (i, seg) in p.segs.iter().enumerate() {
        match seg {
            Seg::Child(k) => {
                let o = cur.as_object()?;
                match o.get(k) {
                    Some(v) => cur = v,
                    None => return (i < last).then_some(i),
                }
            }
            Seg::Index(ix) => {
                let a = cur.as_array()?;
                let idx = if *ix < 0 { a.len() as i64 + ix } else { *ix };
                cur = a.get(usize::try_from(idx).ok()?)?;
            }
            _ => return None,
        }
    }
    None
}
