//! What the offline stack reads out of the SAM template: the functions (binary, name,
//! timeout, environment), the state machines (definition file, substitutions), the
//! quarantine policy document, the quarantine instance profile and its role, the Security Hub
//! custom actions and the EventBridge rules. One source of truth: the file that gets deployed.
//!
//! Only the intrinsics these properties use are resolved: `Ref` (parameters, pseudo
//! parameters and the resources the stack creates), `Fn::Sub` (string form) and
//! `Fn::GetAtt <Function>.Arn`. The rules are read by `cordon-events`, after this reader has
//! put in the values of the resources their patterns name (a custom action's ARN), which
//! only exist once created.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use serde_yaml::Value as Yaml;

use crate::StackError;

/// A `AWS::Serverless::Function` of the template.
#[derive(Debug, Clone)]
pub struct FunctionDef {
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary` (the cargo binary), else the logical id.
    pub binary: String,
    /// `FunctionName`, resolved.
    pub name: String,
    pub timeout: Duration,
    pub memory_mb: u32,
    /// Globals + the function's own, unresolved.
    env: BTreeMap<String, Yaml>,
    /// `LoggingConfig.LogFormat`.
    pub log_format: String,
    /// The function has a `FunctionUrlConfig` (the approve function).
    pub has_url: bool,
    /// `ReservedConcurrentExecutions`: the most invocations that run at once; beyond it
    /// Lambda throttles (`TooManyRequestsException`).
    pub reserved_concurrency: Option<usize>,
}

/// A `AWS::Serverless::StateMachine`.
#[derive(Debug, Clone)]
pub struct StateMachineDef {
    pub logical_id: String,
    pub name: String,
    pub definition_path: PathBuf,
    pub kind: String,
    substitutions: BTreeMap<String, Yaml>,
}

/// An `AWS::SecurityHub::ActionTarget` (a Security Hub custom action) of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionTargetDef {
    pub logical_id: String,
    pub name: String,
    pub description: String,
    /// `Id`: the last segment of the action's ARN.
    pub id: String,
}

impl ActionTargetDef {
    /// The ARN Security Hub gives this action in `account` and `region`.
    pub fn arn(&self, region: &str, account: &str) -> String {
        format!(
            "arn:aws:securityhub:{region}:{account}:action/custom/{}",
            self.id
        )
    }
}

/// The template's quarantine instance profile (`AWS::IAM::InstanceProfile`
/// `QuarantineInstanceProfile`) and the role it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceProfileDef {
    pub profile_name: String,
    pub role_name: String,
    pub role_description: String,
    /// The role's trust policy, as JSON text.
    pub trust_policy: String,
    /// The role's `ManagedPolicyArns`, resolved.
    pub managed_policy_arns: Vec<String>,
}

/// The parsed template with a resolver for the values the offline stack knows.
pub struct Template {
    doc: Yaml,
    dir: PathBuf,
    /// Values for `Ref`/`Fn::GetAtt` (logical id, or `Id.Attr`) and parameters.
    pub values: HashMap<String, String>,
}

impl Template {
    pub fn read(path: &Path) -> Result<Template, StackError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| StackError::Template(format!("cannot read {}: {e}", path.display())))?;
        let doc: Yaml = serde_yaml::from_str(&text)
            .map_err(|e| StackError::Template(format!("{}: {e}", path.display())))?;
        Ok(Template {
            doc,
            dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            values: HashMap::new(),
        })
    }

    fn resources(&self) -> impl Iterator<Item = (String, &Yaml)> {
        self.doc
            .get("Resources")
            .and_then(Yaml::as_mapping)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v)))
    }

    fn resources_of(&self, ty: &str) -> Vec<(String, &Yaml)> {
        self.resources()
            .filter(|(_, r)| r.get("Type").and_then(Yaml::as_str) == Some(ty))
            .collect()
    }

    /// The default of a template parameter.
    pub fn parameter_default(&self, name: &str) -> Option<String> {
        let v = self.doc.get("Parameters")?.get(name)?.get("Default")?;
        yaml_scalar(v)
    }

    /// The quarantine policy: (name, description, document as JSON text).
    pub fn quarantine_policy(&self) -> Result<(String, String, String), StackError> {
        let policies = self.resources_of("AWS::IAM::ManagedPolicy");
        let (id, res) = policies
            .iter()
            .find(|(id, _)| id == "QuarantinePolicy")
            .ok_or_else(|| StackError::Template("no QuarantinePolicy resource".into()))?;
        let props = res
            .get("Properties")
            .ok_or_else(|| StackError::Template(format!("{id}: no Properties")))?;
        let name = match props.get("ManagedPolicyName") {
            Some(v) => self.resolve(v, &format!("{id}.ManagedPolicyName"))?,
            None => format!("{}-{id}", self.stack_name()),
        };
        let description = match props.get("Description") {
            Some(v) => self.resolve(v, &format!("{id}.Description"))?,
            None => String::new(),
        };
        let doc = props
            .get("PolicyDocument")
            .ok_or_else(|| StackError::Template(format!("{id}: no PolicyDocument")))?;
        let json: Value = serde_json::to_value(doc)
            .map_err(|e| StackError::Template(format!("{id}.PolicyDocument: {e}")))?;
        Ok((name, description.trim().to_string(), json.to_string()))
    }

    /// The quarantine instance profile and its role; `None` when its name is empty (the
    /// template's condition `HasQuarantineInstanceProfile`: the deployment has none). Only a
    /// profile of one role, named by `!Ref`, is supported.
    pub fn quarantine_instance_profile(&self) -> Result<Option<InstanceProfileDef>, StackError> {
        const ID: &str = "QuarantineInstanceProfile";
        let err = |m: String| StackError::Template(format!("{ID}: {m}"));
        let profiles = self.resources_of("AWS::IAM::InstanceProfile");
        let (_, profile) = profiles
            .iter()
            .find(|(id, _)| id == ID)
            .ok_or_else(|| StackError::Template(format!("no {ID} resource")))?;
        let props = profile
            .get("Properties")
            .ok_or_else(|| err("no Properties".into()))?;
        let name = match props.get("InstanceProfileName") {
            Some(v) => self.resolve(v, &format!("{ID}.InstanceProfileName"))?,
            None => return Err(err("no InstanceProfileName".into())),
        };
        if name.trim().is_empty() {
            return Ok(None);
        }
        let roles = props
            .get("Roles")
            .and_then(Yaml::as_sequence)
            .ok_or_else(|| err("no Roles".into()))?;
        let [role_ref] = roles.as_slice() else {
            return Err(err(format!("{} roles: one is supported", roles.len())));
        };
        let role_id = ref_target(role_ref).ok_or_else(|| err("Roles: not a !Ref".into()))?;
        let (role_id, role) = self
            .resources_of("AWS::IAM::Role")
            .into_iter()
            .find(|(id, _)| id == &role_id)
            .ok_or_else(|| err(format!("no role {role_id}")))?;
        let role_props = role
            .get("Properties")
            .ok_or_else(|| StackError::Template(format!("{role_id}: no Properties")))?;
        let role_name = match role_props.get("RoleName") {
            Some(v) => self.resolve(v, &format!("{role_id}.RoleName"))?,
            None => format!("{}-{role_id}", self.stack_name()),
        };
        let role_description = match role_props.get("Description") {
            Some(v) => self.resolve(v, &format!("{role_id}.Description"))?,
            None => String::new(),
        };
        let trust = role_props.get("AssumeRolePolicyDocument").ok_or_else(|| {
            StackError::Template(format!("{role_id}: no AssumeRolePolicyDocument"))
        })?;
        let trust: Value = serde_json::to_value(trust).map_err(|e| {
            StackError::Template(format!("{role_id}.AssumeRolePolicyDocument: {e}"))
        })?;
        let managed_policy_arns = role_props
            .get("ManagedPolicyArns")
            .and_then(Yaml::as_sequence)
            .into_iter()
            .flatten()
            .map(|v| self.resolve(v, &format!("{role_id}.ManagedPolicyArns")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(InstanceProfileDef {
            profile_name: name,
            role_name,
            role_description: role_description.trim().to_string(),
            trust_policy: trust.to_string(),
            managed_policy_arns,
        }))
    }

    /// The Security Hub custom actions (`AWS::SecurityHub::ActionTarget`).
    pub fn action_targets(&self) -> Result<Vec<ActionTargetDef>, StackError> {
        let mut out = Vec::new();
        for (id, res) in self.resources_of("AWS::SecurityHub::ActionTarget") {
            let prop = |k: &str| -> Result<String, StackError> {
                let v = res
                    .get("Properties")
                    .and_then(|p| p.get(k))
                    .ok_or_else(|| StackError::Template(format!("{id}: no {k}")))?;
                Ok(self.resolve(v, &format!("{id}.{k}"))?.trim().to_string())
            };
            out.push(ActionTargetDef {
                name: prop("Name")?,
                description: prop("Description")?,
                id: prop("Id")?,
                logical_id: id,
            });
        }
        Ok(out)
    }

    /// Record that the custom action `target` exists with `arn`: `!Ref` and
    /// `!GetAtt ...ActionTargetArn` of it resolve to the ARN (in rule patterns too).
    pub fn set_action_target_arn(&mut self, target: &ActionTargetDef, arn: &str) {
        self.values
            .insert(target.logical_id.clone(), arn.to_string());
        self.values.insert(
            format!("{}.ActionTargetArn", target.logical_id),
            arn.to_string(),
        );
    }

    /// The EventBridge rules that start the state machines, with `parameters` (parameter and
    /// pseudo parameter overrides, as `cordon_events::rules_from_template_with` takes them).
    /// A pattern's `!Ref X`, `!GetAtt X.Attr` or `${X.Attr}` of a resource `X` of the template
    /// is that resource's value when this reader knows it ([`Template::values`], e.g. a custom
    /// action's ARN set by [`Template::set_action_target_arn`]); anything else is left to
    /// `cordon-events`, which refuses what only exists once deployed.
    pub fn rules(
        &self,
        parameters: &HashMap<String, Value>,
    ) -> Result<Vec<cordon_events::Rule>, StackError> {
        let mut doc = self.doc.clone();
        if let Some(Yaml::Mapping(resources)) = doc.get_mut("Resources") {
            let ids: Vec<String> = resources
                .keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect();
            for (_, res) in resources.iter_mut() {
                let ty = res
                    .get("Type")
                    .and_then(Yaml::as_str)
                    .unwrap_or_default()
                    .to_string();
                let Some(props) = res.get_mut("Properties") else {
                    continue;
                };
                match ty.as_str() {
                    "AWS::Serverless::StateMachine" => {
                        if let Some(Yaml::Mapping(events)) = props.get_mut("Events") {
                            for (_, ev) in events.iter_mut() {
                                if let Some(p) =
                                    ev.get_mut("Properties").and_then(|p| p.get_mut("Pattern"))
                                {
                                    self.put_resource_values(p, &ids);
                                }
                            }
                        }
                    }
                    "AWS::Events::Rule" => {
                        if let Some(p) = props.get_mut("EventPattern") {
                            self.put_resource_values(p, &ids);
                        }
                    }
                    _ => {}
                }
            }
        }
        let text = serde_yaml::to_string(&doc)
            .map_err(|e| StackError::Template(format!("re-reading the template: {e}")))?;
        cordon_events::rules_from_yaml(&text, parameters)
            .map_err(|e| StackError::Template(e.to_string()))
    }

    /// Replaces, in a pattern, the references to resources (of `ids`) whose value is known.
    fn put_resource_values(&self, y: &mut Yaml, ids: &[String]) {
        enum Change {
            /// The node becomes this string.
            Value(String),
            /// The `!Sub` text becomes this (it may still name parameters).
            Sub(String),
        }
        let known = |name: &str| -> Option<Change> {
            let resource = name.split('.').next().unwrap_or(name);
            if !ids.iter().any(|id| id == resource) {
                return None;
            }
            self.values.get(name).cloned().map(Change::Value)
        };
        let joined = |parts: &[Yaml]| -> String {
            parts
                .iter()
                .filter_map(Yaml::as_str)
                .collect::<Vec<_>>()
                .join(".")
        };
        let sub = |text: &str| -> Option<Change> {
            let replaced = self.sub_resource_values(text, ids);
            (replaced != text).then_some(Change::Sub(replaced))
        };
        let intrinsic = |name: &str, arg: &Yaml| -> Option<Change> {
            match (name, arg) {
                ("Ref", Yaml::String(n)) | ("GetAtt", Yaml::String(n)) => known(n),
                ("GetAtt", Yaml::Sequence(parts)) => known(&joined(parts)),
                ("Sub", Yaml::String(text)) => sub(text),
                _ => None,
            }
        };
        let change = match &*y {
            Yaml::Tagged(t) => intrinsic(t.tag.to_string().trim_start_matches('!'), &t.value),
            Yaml::Mapping(m) if m.len() == 1 => {
                let (k, v) = m.iter().next().unwrap();
                k.as_str()
                    .and_then(|k| intrinsic(k.strip_prefix("Fn::").unwrap_or(k), v))
            }
            _ => None,
        };
        match change {
            Some(Change::Value(v)) => *y = Yaml::String(v),
            Some(Change::Sub(text)) => match y {
                Yaml::Tagged(t) => t.value = Yaml::String(text),
                Yaml::Mapping(m) => {
                    if let Some((_, v)) = m.iter_mut().next() {
                        *v = Yaml::String(text);
                    }
                }
                _ => {}
            },
            None => match y {
                Yaml::Sequence(items) => items
                    .iter_mut()
                    .for_each(|i| self.put_resource_values(i, ids)),
                Yaml::Mapping(m) => m
                    .iter_mut()
                    .for_each(|(_, v)| self.put_resource_values(v, ids)),
                _ => {}
            },
        }
    }

    /// `${X}` / `${X.Attr}` of a resource of `ids` with a known value, replaced in `!Sub` text.
    fn sub_resource_values(&self, text: &str, ids: &[String]) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let Some(j) = after.find('}') else {
                out.push_str(&rest[i..]);
                return out;
            };
            let name = &after[..j];
            let resource = name.split('.').next().unwrap_or(name);
            match self.values.get(name) {
                Some(v) if ids.iter().any(|id| id == resource) => out.push_str(v),
                _ => out.push_str(&rest[i..i + 2 + j + 1]),
            }
            rest = &after[j + 1..];
        }
        out.push_str(rest);
        out
    }

    pub fn stack_name(&self) -> String {
        self.values
            .get("AWS::StackName")
            .cloned()
            .unwrap_or_else(|| "cordon".into())
    }

    pub fn functions(&self) -> Result<Vec<FunctionDef>, StackError> {
        let globals = self.doc.get("Globals").and_then(|g| g.get("Function"));
        let global = |k: &str| globals.and_then(|g| g.get(k));
        let mut out = Vec::new();
        for (id, res) in self.resources_of("AWS::Serverless::Function") {
            let props = res.get("Properties");
            let prop = |k: &str| props.and_then(|p| p.get(k)).or_else(|| global(k));
            let binary = res
                .get("Metadata")
                .and_then(|m| m.get("BuildProperties"))
                .and_then(|b| b.get("Binary"))
                .and_then(Yaml::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| id.clone());
            let name = match props.and_then(|p| p.get("FunctionName")) {
                Some(v) => self.resolve(v, &format!("{id}.FunctionName"))?,
                None => format!("{}-{binary}", self.stack_name()),
            };
            let timeout = prop("Timeout").and_then(Yaml::as_u64).unwrap_or(3);
            let memory_mb = prop("MemorySize").and_then(Yaml::as_u64).unwrap_or(128) as u32;
            let reserved_concurrency =
                match prop("ReservedConcurrentExecutions") {
                    None => None,
                    Some(v) => {
                        let what = format!("{id}.ReservedConcurrentExecutions");
                        let n = match v.as_u64() {
                            Some(n) => n.to_string(),
                            None => self.resolve(v, &what)?,
                        };
                        Some(n.trim().parse::<usize>().map_err(|_| {
                            StackError::Template(format!("{what}: not a count: {n}"))
                        })?)
                    }
                };
            let mut env = BTreeMap::new();
            for src in [
                global("Environment"),
                props.and_then(|p| p.get("Environment")),
            ]
            .into_iter()
            .flatten()
            {
                if let Some(vars) = src.get("Variables").and_then(Yaml::as_mapping) {
                    for (k, v) in vars {
                        if let Some(k) = k.as_str() {
                            env.insert(k.to_string(), v.clone());
                        }
                    }
                }
            }
            let log_format = prop("LoggingConfig")
                .and_then(|l| l.get("LogFormat"))
                .and_then(Yaml::as_str)
                .unwrap_or("Text")
                .to_string();
            out.push(FunctionDef {
                logical_id: id,
                binary,
                name,
                timeout: Duration::from_secs(timeout),
                memory_mb,
                env,
                log_format,
                has_url: props.and_then(|p| p.get("FunctionUrlConfig")).is_some(),
                reserved_concurrency,
            });
        }
        Ok(out)
    }

    /// A function's environment, resolved.
    pub fn function_env(&self, f: &FunctionDef) -> Result<BTreeMap<String, String>, StackError> {
        f.env
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    self.resolve(v, &format!("{}.Environment.{k}", f.logical_id))?,
                ))
            })
            .collect()
    }

    pub fn state_machines(&self) -> Result<Vec<StateMachineDef>, StackError> {
        let mut out = Vec::new();
        for (id, res) in self.resources_of("AWS::Serverless::StateMachine") {
            let props = res.get("Properties");
            let name = match props.and_then(|p| p.get("Name")) {
                Some(v) => self.resolve(v, &format!("{id}.Name"))?,
                None => format!("{}-{id}", self.stack_name()),
            };
            let uri = props
                .and_then(|p| p.get("DefinitionUri"))
                .and_then(Yaml::as_str)
                .ok_or_else(|| {
                    StackError::Template(format!(
                        "{id}: only DefinitionUri (a local file) is supported offline"
                    ))
                })?;
            let kind = props
                .and_then(|p| p.get("Type"))
                .and_then(Yaml::as_str)
                .unwrap_or("STANDARD")
                .to_string();
            let substitutions = props
                .and_then(|p| p.get("DefinitionSubstitutions"))
                .and_then(Yaml::as_mapping)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.clone())))
                        .collect()
                })
                .unwrap_or_default();
            out.push(StateMachineDef {
                logical_id: id,
                name,
                definition_path: self.dir.join(uri),
                kind,
                substitutions,
            });
        }
        Ok(out)
    }

    /// The definition with `${Key}` substitutions resolved.
    pub fn definition(&self, sm: &StateMachineDef) -> Result<String, StackError> {
        let mut text = std::fs::read_to_string(&sm.definition_path).map_err(|e| {
            StackError::Template(format!("cannot read {}: {e}", sm.definition_path.display()))
        })?;
        for (k, v) in &sm.substitutions {
            let value =
                self.resolve(v, &format!("{}.DefinitionSubstitutions.{k}", sm.logical_id))?;
            text = text.replace(&format!("${{{k}}}"), &value);
        }
        Ok(text)
    }

    /// Resolve a property value to a string.
    pub fn resolve(&self, v: &Yaml, at: &str) -> Result<String, StackError> {
        match v {
            Yaml::String(s) => Ok(s.clone()),
            Yaml::Number(n) => Ok(n.to_string()),
            Yaml::Bool(b) => Ok(b.to_string()),
            Yaml::Tagged(t) => {
                let tag = t.tag.to_string();
                let tag = tag.trim_start_matches('!');
                self.intrinsic(tag, &t.value, at)
            }
            Yaml::Mapping(m) if m.len() == 1 => {
                let (k, inner) = m.iter().next().unwrap();
                let k = k.as_str().unwrap_or_default();
                let tag = k.strip_prefix("Fn::").unwrap_or(k);
                self.intrinsic(tag, inner, at)
            }
            _ => Err(StackError::Template(format!(
                "{at}: unsupported value {v:?}"
            ))),
        }
    }

    fn intrinsic(&self, tag: &str, arg: &Yaml, at: &str) -> Result<String, StackError> {
        match tag {
            "Ref" => {
                let name = arg.as_str().unwrap_or_default();
                self.lookup(name)
                    .ok_or_else(|| StackError::Template(format!("{at}: cannot resolve Ref {name}")))
            }
            "GetAtt" => {
                let name = match arg {
                    Yaml::String(s) => s.clone(),
                    Yaml::Sequence(s) => s
                        .iter()
                        .filter_map(Yaml::as_str)
                        .collect::<Vec<_>>()
                        .join("."),
                    _ => String::new(),
                };
                self.values.get(&name).cloned().ok_or_else(|| {
                    StackError::Template(format!("{at}: cannot resolve GetAtt {name}"))
                })
            }
            "Sub" => {
                let text = match arg {
                    Yaml::String(s) => s.as_str(),
                    Yaml::Sequence(s) => s.first().and_then(Yaml::as_str).unwrap_or_default(),
                    _ => "",
                };
                let mut out = String::new();
                let mut rest = text;
                while let Some(i) = rest.find("${") {
                    out.push_str(&rest[..i]);
                    let after = &rest[i + 2..];
                    let Some(j) = after.find('}') else {
                        out.push_str(&rest[i..]);
                        rest = "";
                        break;
                    };
                    let name = &after[..j];
                    let value = self
                        .lookup(name)
                        .or_else(|| self.values.get(name).cloned())
                        .ok_or_else(|| {
                            StackError::Template(format!("{at}: cannot resolve ${{{name}}}"))
                        })?;
                    out.push_str(&value);
                    rest = &after[j + 1..];
                }
                out.push_str(rest);
                Ok(out)
            }
            _ => Err(StackError::Template(format!(
                "{at}: unsupported intrinsic {tag}"
            ))),
        }
    }

    fn lookup(&self, name: &str) -> Option<String> {
        if let Some(v) = self.values.get(name) {
            return Some(v.clone());
        }
        match name {
            "AWS::StackName" => Some(self.stack_name()),
            "AWS::Region" => Some(cordon_moto::REGION.into()),
            "AWS::AccountId" => Some(cordon_moto::ACCOUNT_ID.into()),
            "AWS::Partition" => Some("aws".into()),
            "AWS::URLSuffix" => Some("amazonaws.com".into()),
            _ => self.parameter_default(name),
        }
    }
}

/// The logical id a `!Ref X` (or `{Ref: X}`) names.
fn ref_target(v: &Yaml) -> Option<String> {
    match v {
        Yaml::Tagged(t) if t.tag == "Ref" => t.value.as_str().map(str::to_string),
        Yaml::Mapping(m) if m.len() == 1 => m.get("Ref").and_then(Yaml::as_str).map(str::to_string),
        _ => None,
    }
}

fn yaml_scalar(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Template {
        Template::read(&crate::find_root().unwrap().join("infra/template.yaml")).unwrap()
    }

    #[test]
    fn the_quarantine_instance_profile_is_read_from_the_template_and_empty_means_none() {
        let mut t = template();
        let q = t.quarantine_instance_profile().unwrap().unwrap();
        assert_eq!(q.profile_name, "cordon-quarantine-instance");
        assert_eq!(q.role_name, "cordon-quarantine-instance");
        assert_eq!(
            q.managed_policy_arns,
            ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]
        );
        let trust: Value = serde_json::from_str(&q.trust_policy).unwrap();
        assert_eq!(
            trust["Statement"][0]["Principal"]["Service"],
            "ec2.amazonaws.com"
        );
        assert!(q.role_description.contains("Session Manager"));

        t.values
            .insert("QuarantineInstanceProfileName".into(), "other".into());
        let q = t.quarantine_instance_profile().unwrap().unwrap();
        assert_eq!(
            (q.profile_name.as_str(), q.role_name.as_str()),
            ("other", "other")
        );
        t.values
            .insert("QuarantineInstanceProfileName".into(), String::new());
        assert_eq!(t.quarantine_instance_profile().unwrap(), None);
    }

    #[test]
    fn the_quarantine_function_gets_the_instance_profile_name_and_the_others_do_not() {
        let mut t = template();
        // What the stack creates before it resolves the environment.
        for id in ["AlertsTopic", "ApprovalsTopic", "QuarantinePolicy"] {
            t.values.insert(id.into(), format!("arn:aws:test:::{id}"));
        }
        for f in t.functions().unwrap() {
            let env = t.function_env(&f).unwrap();
            let name = env.get("CORDON_QUARANTINE_INSTANCE_PROFILE_NAME");
            if f.binary == "quarantine" {
                assert_eq!(name.map(String::as_str), Some("cordon-quarantine-instance"));
            } else {
                assert_eq!(name, None, "{}", f.binary);
            }
        }
    }
}
