//! `cordon validate`: the files that get deployed, checked before they are: the SAM template
//! (it parses; its EventBridge patterns are ones EventBridge accepts), the state machine
//! definition (the local engine accepts it, as `CreateStateMachine` would, and every
//! `${...}` in it has a substitution in the template) and the response policy.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{Value, json};
use serde_yaml::Value as Yaml;

use crate::audit::style::Style;

pub const DEFAULT_TEMPLATE: &str = "infra/template.yaml";
pub const DEFAULT_ASL: &str = "statemachine/incident-response.asl.json";
pub const DEFAULT_POLICY: &str = "infra/policy.example.json";

#[derive(clap::Args)]
pub struct Args {
    /// The SAM template [default: infra/template.yaml, here or in a parent directory].
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// The state machine definition (ASL) [default: statemachine/incident-response.asl.json].
    #[arg(long, value_name = "FILE")]
    pub asl: Option<PathBuf>,
    /// A response policy (JSON) [default: infra/policy.example.json].
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

/// One check's result: `ok` with a summary, or the problems found (each names the file and
/// where in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub what: String,
    pub file: String,
    pub result: Result<String, Vec<String>>,
}

/// `default` in the current directory or the nearest parent that has it.
pub fn locate(given: Option<PathBuf>, default: &str) -> PathBuf {
    if let Some(p) = given {
        return p;
    }
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            let p = dir.join(default);
            if p.is_file() {
                return p;
            }
        }
    }
    PathBuf::from(default)
}

fn show(p: &Path) -> String {
    // Relative to the current directory when below it: messages never show machine paths
    // the user did not type.
    std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| p.to_path_buf())
        .display()
        .to_string()
}

pub fn run(args: Args) -> ExitCode {
    let template = locate(args.template, DEFAULT_TEMPLATE);
    let asl = locate(args.asl, DEFAULT_ASL);
    let policy = locate(args.policy, DEFAULT_POLICY);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cordon validate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let checks = rt.block_on(check_all(&template, &asl, &policy));
    let st = Style::for_stdout();
    let mut failed = false;
    for c in &checks {
        match &c.result {
            Ok(summary) => println!("{}  {} {}: {summary}", st.green("ok   "), c.what, c.file),
            Err(problems) => {
                failed = true;
                for p in problems {
                    println!("{}  {} {}: {p}", st.red("error"), c.what, c.file);
                }
            }
        }
    }
    if failed {
        let n: usize = checks
            .iter()
            .map(|c| c.result.as_ref().err().map_or(0, Vec::len))
            .sum();
        eprintln!("cordon validate: {n} problem(s) found");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

pub async fn check_all(template: &Path, asl: &Path, policy: &Path) -> Vec<Check> {
    let mut checks = Vec::new();
    let template_text = std::fs::read_to_string(template);
    let template_doc: Option<Yaml> = template_text
        .as_ref()
        .ok()
        .and_then(|t| serde_yaml::from_str(t).ok());

    // The template and its EventBridge patterns.
    checks.push(Check {
        what: "template".into(),
        file: show(template),
        result: match &template_text {
            Err(e) => Err(vec![format!("cannot read it: {e}")]),
            Ok(text) => match cordon_events::rules_from_yaml(text, &Default::default()) {
                Err(e) => Err(vec![e.to_string()]),
                Ok(rules) if rules.is_empty() => Err(vec![
                    "no EventBridge rule targets a state machine (nothing would start the response)"
                        .into(),
                ]),
                Ok(rules) => {
                    let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
                    Ok(format!(
                        "{} EventBridge rule(s) with valid patterns ({})",
                        rules.len(),
                        names.join(", ")
                    ))
                }
            },
        },
    });

    // The definition: its substitutions, then the engine's validation.
    let asl_text = std::fs::read_to_string(asl);
    checks.push(Check {
        what: "state machine".into(),
        file: show(asl),
        result: match &asl_text {
            Err(e) => Err(vec![format!("cannot read it: {e}")]),
            Ok(text) => check_definition(text, template_doc.as_ref(), &show(template), asl).await,
        },
    });

    // The policy file, and the template's default policy.
    checks.push(Check {
        what: "policy".into(),
        file: show(policy),
        result: match std::fs::read_to_string(policy) {
            Err(e) => Err(vec![format!("cannot read it: {e}")]),
            Ok(text) => check_policy(&text),
        },
    });
    if let Some(default) = template_doc
        .as_ref()
        .and_then(|d| d.get("Parameters"))
        .and_then(|p| p.get("ResponsePolicy"))
        .and_then(|p| p.get("Default"))
        .and_then(Yaml::as_str)
    {
        checks.push(Check {
            what: "policy".into(),
            file: format!("{} Parameters.ResponsePolicy.Default", show(template)),
            result: check_policy(default),
        });
    }
    checks
}

fn check_policy(text: &str) -> Result<String, Vec<String>> {
    match cordon_core::Policy::from_json(text) {
        Ok(p) => Ok(format!(
            "valid ({} approver pattern(s), approval timeout {}s, default {:?}{})",
            p.approval.approvers.len(),
            p.approval.timeout_seconds,
            p.approval.default,
            if p.dry_run { ", dry run" } else { "" }
        )
        .replace("Quarantine)", "quarantine)")
        .replace("Notify)", "notify)")),
        Err(e) => Err(vec![e.to_string()]),
    }
}

/// Every `${Name}` in the definition, with the JSON path of a string that uses it.
pub fn placeholders(v: &Value, path: &str, out: &mut BTreeMap<String, String>) {
    match v {
        Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${") {
                let after = &rest[start + 2..];
                let Some(end) = after.find('}') else { break };
                out.entry(after[..end].to_string())
                    .or_insert_with(|| path.to_string());
                rest = &after[end + 1..];
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                placeholders(x, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                placeholders(x, &p, out);
            }
        }
        _ => {}
    }
}

/// The state machines of the template whose `DefinitionUri` names `asl` (by file name), with
/// their substitution keys. All state machines when none names it.
fn substitutions(template: &Yaml, asl: &Path) -> Vec<(String, BTreeSet<String>)> {
    let file_name = asl.file_name().and_then(|f| f.to_str()).unwrap_or_default();
    let mut all = Vec::new();
    let mut matching = Vec::new();
    if let Some(resources) = template.get("Resources").and_then(Yaml::as_mapping) {
        for (id, r) in resources {
            if r.get("Type").and_then(Yaml::as_str) != Some("AWS::Serverless::StateMachine") {
                continue;
            }
            let id = id.as_str().unwrap_or_default().to_string();
            let props = r.get("Properties");
            let keys: BTreeSet<String> = props
                .and_then(|p| p.get("DefinitionSubstitutions"))
                .and_then(Yaml::as_mapping)
                .map(|m| {
                    m.keys()
                        .filter_map(|k| k.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let uri = props
                .and_then(|p| p.get("DefinitionUri"))
                .and_then(Yaml::as_str)
                .unwrap_or_default();
            if !file_name.is_empty() && uri.ends_with(file_name) {
                matching.push((id.clone(), keys.clone()));
            }
            all.push((id, keys));
        }
    }
    if matching.is_empty() { all } else { matching }
}

/// A value that stands in for a substitution: a function ARN for `...FunctionArn`, an ARN of
/// the right service where the name says which, else a plain word.
fn placeholder_value(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if lower.contains("function") {
        format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")
    } else if lower.contains("topic") {
        format!("arn:aws:sns:us-east-1:123456789012:{name}")
    } else if lower.contains("queue") {
        format!("https://sqs.us-east-1.amazonaws.com/123456789012/{name}")
    } else if lower.ends_with("arn") {
        format!("arn:aws:iam::123456789012:role/{name}")
    } else {
        name.to_string()
    }
}

async fn check_definition(
    text: &str,
    template: Option<&Yaml>,
    template_name: &str,
    asl: &Path,
) -> Result<String, Vec<String>> {
    let definition: Value = serde_json::from_str(text).map_err(|e| {
        vec![format!(
            "not JSON at line {}, column {}: {e}",
            e.line(),
            e.column()
        )]
    })?;
    let mut problems = Vec::new();
    let mut used = BTreeMap::new();
    placeholders(&definition, "", &mut used);
    match template {
        None => problems.push(format!(
            "cannot check its substitutions: {template_name} could not be read"
        )),
        Some(t) => {
            let machines = substitutions(t, asl);
            if machines.is_empty() {
                problems.push(format!(
                    "{template_name} has no AWS::Serverless::StateMachine whose DefinitionUri is this file"
                ));
            }
            for (id, keys) in &machines {
                for (name, path) in &used {
                    if !keys.contains(name) {
                        problems.push(format!(
                            "`${{{name}}}` (at {path}) has no substitution in {template_name} Resources.{id}.Properties.DefinitionSubstitutions"
                        ));
                    }
                }
            }
        }
    }

    // Substitute placeholders, then ask the engine, as CreateStateMachine would.
    let mut substituted = text.to_string();
    for name in used.keys() {
        substituted = substituted.replace(&format!("${{{name}}}"), &placeholder_value(name));
    }
    match validate_on_engine(&substituted).await {
        Ok(()) => {}
        Err(e) => problems.push(format!("the engine refuses it: {e}")),
    }
    if problems.is_empty() {
        let states = definition
            .get("States")
            .and_then(Value::as_object)
            .map_or(0, |s| s.len());
        Ok(format!(
            "{states} states, accepted by the engine; {} substitution(s) all defined in {template_name}",
            used.len()
        ))
    } else {
        Err(problems)
    }
}

/// A service integration that is never called: it only lets definitions that use the service
/// pass validation.
struct Unused;

#[async_trait::async_trait]
impl cordon_engine::ServiceIntegration for Unused {
    async fn call(
        &self,
        _request: cordon_engine::ServiceRequest,
    ) -> Result<Value, cordon_engine::TaskError> {
        Ok(Value::Null)
    }
}

/// Create the definition on an in-memory engine; the error is the engine's
/// (`InvalidDefinition: ...`), as `CreateStateMachine` would answer.
pub async fn validate_on_engine(definition: &str) -> Result<(), String> {
    let mut services: std::collections::HashMap<
        String,
        Arc<dyn cordon_engine::ServiceIntegration>,
    > = Default::default();
    for s in [
        "sns", "sqs", "events", "dynamodb", "states", "ecs", "batch", "glue", "s3", "aws-sdk",
    ] {
        services.insert(s.to_string(), Arc::new(Unused));
    }
    let engine = cordon_engine::Engine::start(cordon_engine::EngineConfig {
        lambda: Some(Arc::new(cordon_engine::InProcessLambdas::new())),
        services,
        ..Default::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    engine
        .call(
            "CreateStateMachine",
            json!({
                "name": "cordon-validate",
                "definition": definition,
                "roleArn": "arn:aws:iam::123456789012:role/cordon-validate",
            }),
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_with_their_path() {
        let v = json!({"States": {"A": {"Parameters": {"FunctionName": "${EnrichFunctionArn}"}},
                                   "B": {"Resource": "x:${One}:${Two}"}}});
        let mut out = BTreeMap::new();
        placeholders(&v, "", &mut out);
        assert_eq!(
            out.into_iter().collect::<Vec<_>>(),
            vec![
                (
                    "EnrichFunctionArn".to_string(),
                    "States.A.Parameters.FunctionName".to_string()
                ),
                ("One".to_string(), "States.B.Resource".to_string()),
                ("Two".to_string(), "States.B.Resource".to_string()),
            ]
        );
    }

    #[tokio::test]
    async fn the_engine_refuses_an_unknown_next_state() {
        let def = json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}});
        let err = validate_on_engine(&def.to_string()).await.unwrap_err();
        assert!(err.starts_with("InvalidDefinition"), "{err}");
        assert!(err.contains("Nowhere"), "{err}");
    }
}
