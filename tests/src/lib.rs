//! Helpers for the workspace-wide checks in `tests/tests/`: reading the deployed files (the
//! ASL, the SAM template, the member-account template, the response policy) exactly as AWS
//! and the offline stack read them, and finding the tools `./dev setup` installs.
//!
//! The template is read with CloudFormation's short-form tags (`!Ref`, `!Sub`, `!GetAtt`, ...)
//! turned into their long form (`{"Ref": ..}`, `{"Fn::Sub": ..}`), so the checks see what
//! CloudFormation sees.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

/// The workspace root (this package lives at `tests/`).
pub fn root() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("..")
}

pub const ASL: &str = "statemachine/incident-response.asl.json";
pub const TEMPLATE: &str = "infra/template.yaml";
/// The member-account template of organization mode (plain CloudFormation, for a StackSet).
pub const MEMBER_TEMPLATE: &str = "infra/member.yaml";
pub const POLICY_EXAMPLE: &str = "infra/policy.example.json";

/// A tool `./dev setup` installs: `.venv/bin/NAME` or `node_modules/.bin/NAME`. A missing tool
/// is a failure with the command that installs it: these checks never skip.
pub fn tool(name: &str) -> PathBuf {
    let candidates = [
        root().join(".venv/bin").join(name),
        root().join("node_modules/.bin").join(name),
    ];
    candidates.iter().find(|p| p.exists()).cloned().unwrap_or_else(|| {
        panic!("{name} is not installed (looked in .venv/bin and node_modules/.bin): run `./dev setup`")
    })
}

pub fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

pub fn asl() -> Value {
    serde_json::from_str(&read(ASL)).unwrap_or_else(|e| panic!("{ASL} is not JSON: {e}"))
}

/// The SAM template as CloudFormation sees it (short-form tags in long form).
pub fn template() -> Value {
    template_at(TEMPLATE)
}

/// The member-account template as CloudFormation sees it.
pub fn member_template() -> Value {
    template_at(MEMBER_TEMPLATE)
}

/// A template of the repository as CloudFormation sees it (short-form tags in long form).
pub fn template_at(rel: &str) -> Value {
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}"));
    yaml_to_json(yaml)
}

fn yaml_to_json(v: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    other => serde_yaml::to_string(&other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                out.insert(key, yaml_to_json(v));
            }
            Value::Object(out)
        }
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = yaml_to_json(t.value);
            let (key, inner) = match name {
                "Ref" | "Condition" => (name.to_string(), inner),
                "GetAtt" => {
                    let inner = match inner {
                        Value::String(s) => {
                            let (a, b) = s.split_once('.').unwrap_or((&s, ""));
                            json!([a, b])
                        }
                        other => other,
                    };
                    ("Fn::GetAtt".to_string(), inner)
                }
                other => (format!("Fn::{other}"), inner),
            };
            json!({ key: inner })
        }
    }
}

/// The template's resources of one type, by logical id.
pub fn resources_of_type<'a>(template: &'a Value, ty: &str) -> BTreeMap<&'a str, &'a Value> {
    template["Resources"]
        .as_object()
        .expect("template has Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == ty)
        .map(|(k, r)| (k.as_str(), r))
        .collect()
}

/// A Lambda function of the template: its cargo-lambda binary (= crate) name and resources.
#[derive(Debug, Clone)]
pub struct FunctionResource {
    pub binary: String,
    pub logical_id: String,
    pub role_logical_id: String,
}

/// Every `AWS::Serverless::Function`, keyed by its cargo-lambda `Binary`.
pub fn functions(template: &Value) -> BTreeMap<String, FunctionResource> {
    resources_of_type(template, "AWS::Serverless::Function")
        .into_iter()
        .map(|(id, r)| {
            let binary = r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or_else(|| panic!("{id}: Metadata.BuildProperties.Binary missing"))
                .to_string();
            let role = r["Properties"]["Role"]["Fn::GetAtt"][0]
                .as_str()
                .unwrap_or_else(|| panic!("{id}: Role must be !GetAtt <its own role>.Arn"))
                .to_string();
            (
                binary.clone(),
                FunctionResource {
                    binary,
                    logical_id: id.to_string(),
                    role_logical_id: role,
                },
            )
        })
        .collect()
}

/// A role's inline policies. A policy under `Fn::If` counts with both branches (what the role
/// may have in some deployment); an `AWS::NoValue` branch is no policy.
pub fn role_policies(template: &Value, role: &str) -> Vec<Value> {
    template["Resources"][role]["Properties"]["Policies"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .flat_map(if_branches)
        .collect()
}

/// The `Allow` actions of one inline policy (by name) of a role; empty if the role has none.
pub fn role_policy_actions(template: &Value, role: &str, policy_name: &str) -> BTreeSet<String> {
    role_policies(template, role)
        .iter()
        .filter(|p| p["PolicyName"] == policy_name)
        .flat_map(|p| statements(&p["PolicyDocument"]))
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| string_or_list(&s["Action"]))
        .collect()
}

/// The names of a role's inline policies (conditional ones included).
pub fn role_policy_names(template: &Value, role: &str) -> Vec<String> {
    role_policies(template, role)
        .iter()
        .filter_map(|p| p["PolicyName"].as_str().map(str::to_string))
        .collect()
}

/// A policy document's statements. A statement under `Fn::If` counts with both branches (what
/// the policy may grant in some deployment); an `AWS::NoValue` branch is no statement.
pub fn statements(doc: &Value) -> Vec<Value> {
    let listed = match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        Value::Object(_) => vec![doc["Statement"].clone()],
        _ => vec![],
    };
    listed.into_iter().flat_map(if_branches).collect()
}

/// The values a (possibly `Fn::If`) statement or policy can be.
fn if_branches(s: Value) -> Vec<Value> {
    match s.get("Fn::If").and_then(Value::as_array) {
        Some(a) if a.len() == 3 => a[1..]
            .iter()
            .filter(|b| b["Ref"] != "AWS::NoValue")
            .cloned()
            .flat_map(if_branches)
            .collect(),
        _ => vec![s],
    }
}

/// The condition a statement is under, if it is an `Fn::If` with an `AWS::NoValue` branch:
/// `(condition name, the statement)`.
pub fn conditional_statement(s: &Value) -> Option<(&str, &Value)> {
    let a = s.get("Fn::If")?.as_array()?;
    let [cond, then, otherwise] = a.as_slice() else {
        return None;
    };
    (otherwise["Ref"] == "AWS::NoValue").then_some((cond.as_str()?, then))
}

/// The statements of a policy document as written (an `Fn::If` is one entry).
pub fn raw_statements(doc: &Value) -> Vec<Value> {
    match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        Value::Object(_) => vec![doc["Statement"].clone()],
        _ => vec![],
    }
}

pub fn string_or_list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    }
}

/// The EventBridge patterns of the state machine's `EventBridgeRule` events, by event name, as
/// deployed with the parameters' defaults (`!Sub` patterns are substituted).
pub fn event_patterns(template: &Value) -> BTreeMap<String, Value> {
    let machines = resources_of_type(template, "AWS::Serverless::StateMachine");
    let mut out = BTreeMap::new();
    for (_, sm) in machines {
        let Some(events) = sm["Properties"]["Events"].as_object() else {
            continue;
        };
        for (name, ev) in events {
            if ev["Type"] != "EventBridgeRule" {
                continue;
            }
            let pattern = resolve_pattern(template, name, &ev["Properties"]["Pattern"]);
            out.insert(name.clone(), pattern);
        }
    }
    out
}

/// The patterns of the template's `AWS::Events::Rule` resources, by logical id, as deployed
/// with the parameters' defaults (`!Sub` patterns are substituted).
pub fn rule_patterns(template: &Value) -> BTreeMap<String, Value> {
    resources_of_type(template, "AWS::Events::Rule")
        .into_iter()
        .filter_map(|(id, r)| {
            let pattern = &r["Properties"]["EventPattern"];
            (!pattern.is_null()).then(|| (id.to_string(), resolve_pattern(template, id, pattern)))
        })
        .collect()
}

/// A pattern as deployed with the parameters' defaults: an object as it is, or a JSON string
/// under `!Sub` with its `${Param}`s replaced by their defaults.
pub fn resolve_pattern(template: &Value, name: &str, pattern: &Value) -> Value {
    match pattern.get("Fn::Sub") {
        Some(Value::String(s)) => {
            let text = substitute_parameters(template, s);
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("pattern {name} is not JSON after !Sub: {e}\n{text}"))
        }
        Some(other) => panic!("pattern {name}: unsupported !Sub form {other}"),
        None => pattern.clone(),
    }
}

/// A pattern with its `!Sub` references kept by name (`${X}` becomes the string `"${X}"`):
/// two patterns are the same source of truth only if they use the same parameters.
pub fn pattern_as_written(name: &str, pattern: &Value) -> Value {
    match pattern.get("Fn::Sub") {
        Some(Value::String(s)) => {
            let re = regex::Regex::new(r"\$\{([A-Za-z0-9:]+)\}").unwrap();
            let text = re.replace_all(s, "\"$${$1}\"");
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("pattern {name} is not JSON: {e}\n{text}"))
        }
        Some(other) => panic!("pattern {name}: unsupported !Sub form {other}"),
        None => pattern.clone(),
    }
}

/// Replaces `${Param}` with the parameter's default value (numbers stay numbers in JSON).
pub fn substitute_parameters(template: &Value, text: &str) -> String {
    let re = regex::Regex::new(r"\$\{([A-Za-z0-9:]+)\}").unwrap();
    re.replace_all(text, |c: &regex::Captures| {
        let p = &template["Parameters"][&c[1]];
        match &p["Default"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => panic!("${{{}}} in a pattern has no parameter default", &c[1]),
        }
    })
    .into_owned()
}

/// A template value as CloudFormation computes it for the given parameter and pseudo-parameter
/// values (`"AWS::Region"` -> `"us-east-1"`, ...): `Ref`, `Fn::Sub` (string form),
/// `Fn::Join`, `Fn::Split` and `Fn::Select`, enough to check the ARNs the policies build.
/// Panics on anything else, or on a name it is not given.
pub fn evaluate(v: &Value, values: &BTreeMap<&str, &str>) -> Value {
    let name = |n: &str| -> String {
        values
            .get(n)
            .unwrap_or_else(|| panic!("no value given for {n}"))
            .to_string()
    };
    let Some((f, arg)) = v
        .as_object()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.iter().next())
    else {
        return match v {
            Value::Array(a) => Value::Array(a.iter().map(|x| evaluate(x, values)).collect()),
            other => other.clone(),
        };
    };
    let list = |x: &Value| -> Vec<Value> {
        match evaluate(x, values) {
            Value::Array(a) => a,
            other => panic!("{f}: not a list: {other}"),
        }
    };
    let text = |x: &Value| -> String {
        match evaluate(x, values) {
            Value::String(s) => s,
            other => panic!("{f}: not a string: {other}"),
        }
    };
    match (f.as_str(), arg) {
        ("Ref", Value::String(n)) => Value::String(name(n)),
        ("Fn::Sub", Value::String(s)) => {
            let re = regex::Regex::new(r"\$\{([A-Za-z0-9:]+)\}").unwrap();
            Value::String(
                re.replace_all(s, |c: &regex::Captures| name(&c[1]))
                    .into_owned(),
            )
        }
        ("Fn::Join", Value::Array(a)) if a.len() == 2 => {
            let sep = a[0].as_str().expect("Fn::Join: a literal delimiter");
            let parts: Vec<String> = list(&a[1]).iter().map(&text).collect();
            Value::String(parts.join(sep))
        }
        ("Fn::Split", Value::Array(a)) if a.len() == 2 => {
            let sep = a[0].as_str().expect("Fn::Split: a literal delimiter");
            Value::Array(text(&a[1]).split(sep).map(|p| json!(p)).collect())
        }
        ("Fn::Select", Value::Array(a)) if a.len() == 2 => {
            let i: usize = match &a[0] {
                Value::Number(n) => n.as_u64().unwrap() as usize,
                Value::String(s) => s.parse().unwrap(),
                other => panic!("Fn::Select index {other}"),
            };
            list(&a[1])[i].clone()
        }
        _ => panic!("cannot evaluate {v}"),
    }
}

/// Every `${Name}` definition substitution the ASL uses.
pub fn asl_substitutions(asl_text: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"\$\{([A-Za-z0-9_]+)\}").unwrap();
    re.captures_iter(asl_text)
        .map(|c| c[1].to_string())
        .collect()
}

/// An SDK call found in `functions/aws/src`: `self.<client>.<operation>(`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SdkCall {
    pub file: String,
    pub client: String,
    pub operation: String,
    /// The IAM action it needs, e.g. `iam:AttachUserPolicy`, `states:SendTaskSuccess`.
    pub action: String,
}

/// The IAM service prefix of each SDK client field name the adapters use.
pub const CLIENT_PREFIXES: &[(&str, &str)] = &[
    ("iam", "iam"),
    ("ec2", "ec2"),
    ("sns", "sns"),
    ("securityhub", "securityhub"),
    ("sfn", "states"),
    ("sts", "sts"),
    ("organizations", "organizations"),
    ("ssm", "ssm"),
];

/// Scans Rust sources for `self.<client>.<operation>(` with a known client field name.
pub fn sdk_calls(dir: &Path) -> Vec<SdkCall> {
    let clients = CLIENT_PREFIXES
        .iter()
        .map(|(c, _)| *c)
        .collect::<Vec<_>>()
        .join("|");
    let re = regex::Regex::new(&format!(
        r"self\s*\.\s*({clients})\s*\.\s*([a-z][a-z0-9_]*)\s*\("
    ))
    .unwrap();
    let mut out = Vec::new();
    for file in rust_files(dir) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for c in re.captures_iter(&text) {
            let prefix = CLIENT_PREFIXES
                .iter()
                .find(|(k, _)| *k == &c[1])
                .map(|(_, p)| *p)
                .unwrap();
            out.push(SdkCall {
                file: file
                    .strip_prefix(root())
                    .unwrap_or(&file)
                    .display()
                    .to_string(),
                client: c[1].to_string(),
                operation: c[2].to_string(),
                action: format!("{prefix}:{}", pascal(&c[2])),
            });
        }
    }
    out.sort();
    out.dedup();
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// `attach_user_policy` → `AttachUserPolicy`. IAM action names are case-insensitive, so
/// `list_mfa_devices` → `ListMfaDevices` still names `iam:ListMFADevices`: compare with
/// [`action_key`].
pub fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut cs = w.chars();
            cs.next()
                .map(|f| f.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// How IAM compares action names: case-insensitively.
pub fn action_key(action: &str) -> String {
    action.to_ascii_lowercase()
}

/// The crates under `functions/` that are Lambda functions (everything but the libraries).
pub fn function_crates() -> BTreeSet<String> {
    std::fs::read_dir(root().join("functions"))
        .expect("functions/ exists")
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "core" && n != "aws")
        .collect()
}
