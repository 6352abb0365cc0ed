//! Reads the EventBridge rules that start state machines out of a SAM template.
//!
//! Intrinsics are resolved the way CloudFormation resolves them, as far as that is
//! possible without a deployment:
//!
//! * `Ref` to a parameter is the parameter's value (the caller's override, else its
//!   `Default`) **as a string**, as in CloudFormation: a `Number` parameter is a string
//!   under `Ref`, so `{"numeric": [">=", !Ref Threshold]}` is refused by EventBridge and
//!   is refused here too (write the pattern as a JSON string under `!Sub`, as
//!   `infra/template.yaml` does). `List<…>`/`CommaDelimitedList` parameters are lists.
//! * Pseudo parameters (`AWS::StackName`, `AWS::Region`, `AWS::AccountId`,
//!   `AWS::Partition`, `AWS::URLSuffix`) have local defaults (`cordon`, `us-east-1`,
//!   `123456789012`, `aws`, `amazonaws.com`), overridable through the same map.
//!   `AWS::NoValue` removes the property.
//! * `Fn::Sub`, `Fn::Join`, `Fn::Select`, `Fn::Split`, `Fn::If` (with the template's
//!   `Conditions`: `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`, `Condition`),
//!   `Fn::FindInMap` and `Fn::Base64` are evaluated.
//! * `Ref` to an `AWS::Events::EventBus` of the template (and `Fn::GetAtt Bus.Name`) is
//!   its `Name` (a rule on a custom bus: `EventBusName: !Ref Bus`).
//! * `Ref` to an `AWS::SecurityHub::ActionTarget` (a Security Hub custom action) of the
//!   template, `Fn::GetAtt Target.ActionTargetArn` and `${Target}` / `${Target.ActionTargetArn}`
//!   in `Fn::Sub` are the ARN Security Hub gives it,
//!   `arn:<partition>:securityhub:<region>:<account>:action/custom/<Id>`, from the pseudo
//!   parameters (a custom-action rule: `resources: [!GetAtt Target.ActionTargetArn]`).
//! * Anything else that needs a deployed resource (`Ref` to a resource, `Fn::GetAtt`,
//!   `Fn::ImportValue`, …) is an error naming it, but only where a rule needs the value.
//!
//! A pattern given as a string (CloudFormation accepts `EventPattern` as JSON text) is
//! parsed as JSON after resolution.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use serde_yaml::Value as Yaml;

use crate::pattern::{Pattern, PatternError};

/// One EventBridge rule whose target is a state machine.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The event's key under the state machine's `Events` (SAM), or the logical id of
    /// the `AWS::Events::Rule` resource.
    pub name: String,
    /// The deployed rule name (`RuleName` / `Name`), resolved, if the template sets one.
    pub rule_name: Option<String>,
    /// Logical id of the target state machine.
    pub state_machine_logical_id: String,
    pub pattern: Pattern,
    /// The resolved pattern as JSON (what EventBridge receives).
    pub pattern_json: Value,
    /// False for `State: DISABLED` (or SAM's `Enabled: false`). [`crate::route`] skips
    /// disabled rules.
    pub enabled: bool,
    pub event_bus_name: Option<String>,
    pub input: Option<String>,
    pub input_path: Option<String>,
    /// `{"InputPathsMap": {...}, "InputTemplate": "..."}`, resolved.
    pub input_transformer: Option<Value>,
}

#[derive(Debug)]
pub enum TemplateError {
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    Yaml(String),
    /// The template's shape is not what CloudFormation requires (`at` says where).
    Invalid {
        at: String,
        message: String,
    },
    /// An intrinsic that cannot be resolved offline (`at` says where).
    Unresolvable {
        at: String,
        intrinsic: String,
        reason: String,
    },
    /// A rule's pattern is one EventBridge would refuse.
    Pattern {
        rule: String,
        error: PatternError,
        hint: Option<String>,
    },
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Io { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            TemplateError::Yaml(e) => write!(f, "template is not valid YAML: {e}"),
            TemplateError::Invalid { at, message } => write!(f, "{at}: {message}"),
            TemplateError::Unresolvable {
                at,
                intrinsic,
                reason,
            } => write!(f, "{at}: cannot resolve {intrinsic}: {reason}"),
            TemplateError::Pattern { rule, error, hint } => {
                write!(f, "rule {rule}: {error}")?;
                if let Some(h) = hint {
                    write!(f, " ({h})")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for TemplateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TemplateError::Io { error, .. } => Some(error),
            TemplateError::Pattern { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// The rules of the template at `path`, with parameter defaults.
pub fn rules_from_template(path: &Path) -> Result<Vec<Rule>, TemplateError> {
    rules_from_template_with(path, &HashMap::new())
}

/// The rules of the template at `path`; `parameters` overrides parameter values (and
/// pseudo parameters such as `AWS::StackName`).
pub fn rules_from_template_with(
    path: &Path,
    parameters: &HashMap<String, Value>,
) -> Result<Vec<Rule>, TemplateError> {
    let text = std::fs::read_to_string(path).map_err(|error| TemplateError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    rules_from_yaml(&text, parameters)
}

/// The rules of a template given as YAML (or JSON) text.
pub fn rules_from_yaml(
    text: &str,
    parameters: &HashMap<String, Value>,
) -> Result<Vec<Rule>, TemplateError> {
    let doc: Yaml = serde_yaml::from_str(text).map_err(|e| TemplateError::Yaml(e.to_string()))?;
    let ctx = Ctx::new(&doc, parameters)?;
    let resources = match doc.get("Resources") {
        Some(Yaml::Mapping(m)) => m,
        Some(_) => return Err(invalid("Resources", "must be a mapping")),
        None => return Err(invalid("Resources", "missing")),
    };
    let mut rules = Vec::new();
    for (id, res) in resources {
        let id = key_string(id);
        let ty = res.get("Type").and_then(Yaml::as_str).unwrap_or("");
        if !ctx.resource_enabled(&id, res)? {
            continue;
        }
        match ty {
            "AWS::Serverless::StateMachine" => sam_rules(&ctx, &id, res, &mut rules)?,
            "AWS::Events::Rule" => events_rule(&ctx, &id, res, &mut rules)?,
            _ => {}
        }
    }
    Ok(rules)
}

fn invalid(at: impl Into<String>, message: impl Into<String>) -> TemplateError {
    TemplateError::Invalid {
        at: at.into(),
        message: message.into(),
    }
}

fn key_string(k: &Yaml) -> String {
    match k {
        Yaml::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

fn sam_rules(ctx: &Ctx, id: &str, res: &Yaml, out: &mut Vec<Rule>) -> Result<(), TemplateError> {
    let Some(events) = res.get("Properties").and_then(|p| p.get("Events")) else {
        return Ok(());
    };
    let Yaml::Mapping(events) = events else {
        return Err(invalid(
            format!("Resources.{id}.Properties.Events"),
            "must be a mapping",
        ));
    };
    for (name, event) in events {
        let name = key_string(name);
        let at = format!("Resources.{id}.Properties.Events.{name}");
        if event.get("Type").and_then(Yaml::as_str) != Some("EventBridgeRule") {
            continue;
        }
        let props = event
            .get("Properties")
            .ok_or_else(|| invalid(&at, "Properties missing"))?;
        let pattern_src = props
            .get("Pattern")
            .ok_or_else(|| invalid(format!("{at}.Properties"), "Pattern missing"))?;
        let state = ctx.opt_string(props.get("State"), &format!("{at}.Properties.State"))?;
        let enabled_flag = match props.get("Enabled") {
            Some(v) => ctx.resolve(v, &format!("{at}.Properties.Enabled"))?,
            None => None,
        };
        let enabled = state.as_deref() != Some("DISABLED")
            && !matches!(enabled_flag, Some(Value::Bool(false)))
            && !matches!(enabled_flag, Some(Value::String(ref s)) if s.eq_ignore_ascii_case("false"));
        let (pattern_json, pattern) =
            ctx.pattern(pattern_src, &format!("{at}.Properties.Pattern"), &name)?;
        out.push(Rule {
            rule_name: ctx
                .opt_string(props.get("RuleName"), &format!("{at}.Properties.RuleName"))?,
            name,
            state_machine_logical_id: id.to_string(),
            pattern,
            pattern_json,
            enabled,
            event_bus_name: ctx.opt_string(
                props.get("EventBusName"),
                &format!("{at}.Properties.EventBusName"),
            )?,
            input: ctx.opt_string(props.get("Input"), &format!("{at}.Properties.Input"))?,
            input_path: ctx.opt_string(
                props.get("InputPath"),
                &format!("{at}.Properties.InputPath"),
            )?,
            input_transformer: match props.get("InputTransformer") {
                Some(v) => ctx.resolve(v, &format!("{at}.Properties.InputTransformer"))?,
                None => None,
            },
        });
    }
    Ok(())
}

fn events_rule(ctx: &Ctx, id: &str, res: &Yaml, out: &mut Vec<Rule>) -> Result<(), TemplateError> {
    let at = format!("Resources.{id}.Properties");
    let Some(props) = res.get("Properties") else {
        return Ok(());
    };
    let Some(pattern_src) = props.get("EventPattern") else {
        return Ok(()); // a schedule rule
    };
    let Some(Yaml::Sequence(targets)) = props.get("Targets") else {
        return Ok(());
    };
    let mut pattern: Option<(Value, Pattern)> = None;
    for (i, target) in targets.iter().enumerate() {
        let tat = format!("{at}.Targets.{i}");
        let Some(sm) = target.get("Arn").and_then(|a| ctx.state_machine_ref(a)) else {
            continue;
        };
        if pattern.is_none() {
            pattern = Some(ctx.pattern(pattern_src, &format!("{at}.EventPattern"), id)?);
        }
        let (pattern_json, compiled) = pattern.clone().unwrap();
        let state = ctx.opt_string(props.get("State"), &format!("{at}.State"))?;
        out.push(Rule {
            name: id.to_string(),
            rule_name: ctx.opt_string(props.get("Name"), &format!("{at}.Name"))?,
            state_machine_logical_id: sm,
            pattern: compiled,
            pattern_json,
            enabled: state.as_deref() != Some("DISABLED"),
            event_bus_name: ctx
                .opt_string(props.get("EventBusName"), &format!("{at}.EventBusName"))?,
            input: ctx.opt_string(target.get("Input"), &format!("{tat}.Input"))?,
            input_path: ctx.opt_string(target.get("InputPath"), &format!("{tat}.InputPath"))?,
            input_transformer: match target.get("InputTransformer") {
                Some(v) => ctx.resolve(v, &format!("{tat}.InputTransformer"))?,
                None => None,
            },
        });
    }
    Ok(())
}

// ------------------------------------------------------------------ resolution

#[derive(Clone)]
struct Param {
    ty: String,
    value: Option<Value>,
}

struct Ctx<'a> {
    params: HashMap<String, Param>,
    pseudo: HashMap<String, String>,
    resources: Option<&'a serde_yaml::Mapping>,
    conditions: Option<&'a serde_yaml::Mapping>,
    mappings: Option<&'a Yaml>,
    /// Number parameters referenced with `Ref` while resolving the current value.
    number_refs: std::cell::RefCell<Vec<String>>,
}

const PSEUDO_DEFAULTS: &[(&str, &str)] = &[
    ("AWS::StackName", "cordon"),
    ("AWS::Region", "us-east-1"),
    ("AWS::AccountId", "123456789012"),
    ("AWS::Partition", "aws"),
    ("AWS::URLSuffix", "amazonaws.com"),
];

/// A parameter value as CloudFormation hands it to `Ref`: text.
fn param_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(param_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn yaml_to_json_plain(y: &Yaml) -> Value {
    match y {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        }
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(s) => Value::Array(s.iter().map(yaml_to_json_plain).collect()),
        Yaml::Mapping(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (key_string(k), yaml_to_json_plain(v)))
                .collect(),
        ),
        Yaml::Tagged(t) => yaml_to_json_plain(&t.value),
    }
}

/// The intrinsic a YAML node is, if any: its full name (`Ref`, `Fn::Sub`, …) and argument.
fn intrinsic(y: &Yaml) -> Option<(String, &Yaml)> {
    match y {
        Yaml::Tagged(t) => {
            let tag = t.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let name = match tag {
                "Ref" | "Condition" => tag.to_string(),
                other => format!("Fn::{other}"),
            };
            Some((name, &t.value))
        }
        Yaml::Mapping(m) if m.len() == 1 => {
            let (k, v) = m.iter().next()?;
            let k = k.as_str()?;
            (k == "Ref" || k == "Condition" || k.starts_with("Fn::")).then(|| (k.to_string(), v))
        }
        _ => None,
    }
}

impl<'a> Ctx<'a> {
    fn new(doc: &'a Yaml, overrides: &HashMap<String, Value>) -> Result<Self, TemplateError> {
        let mut params = HashMap::new();
        if let Some(Yaml::Mapping(m)) = doc.get("Parameters") {
            for (name, decl) in m {
                let name = key_string(name);
                let ty = decl
                    .get("Type")
                    .and_then(Yaml::as_str)
                    .unwrap_or("String")
                    .to_string();
                let value = overrides
                    .get(&name)
                    .cloned()
                    .or_else(|| decl.get("Default").map(yaml_to_json_plain));
                if let Some(v) = &value {
                    check_param(&name, &ty, decl, v)?;
                }
                params.insert(name, Param { ty, value });
            }
        }
        let mut pseudo: HashMap<String, String> = PSEUDO_DEFAULTS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, v) in overrides {
            if k.starts_with("AWS::") {
                pseudo.insert(k.clone(), param_text(v));
            } else if !params.contains_key(k) {
                return Err(invalid(
                    format!("Parameters.{k}"),
                    "override given for a parameter the template does not declare",
                ));
            }
        }
        Ok(Ctx {
            params,
            pseudo,
            resources: doc.get("Resources").and_then(Yaml::as_mapping),
            conditions: doc.get("Conditions").and_then(Yaml::as_mapping),
            mappings: doc.get("Mappings"),
            number_refs: Default::default(),
        })
    }

    fn resource_enabled(&self, id: &str, res: &Yaml) -> Result<bool, TemplateError> {
        match res.get("Condition").and_then(Yaml::as_str) {
            Some(c) => self.condition(c, &format!("Resources.{id}.Condition"), 0),
            None => Ok(true),
        }
    }

    fn condition(&self, name: &str, at: &str, depth: usize) -> Result<bool, TemplateError> {
        let def = self
            .conditions
            .and_then(|c| c.get(name))
            .ok_or_else(|| invalid(at, format!("unknown condition {name}")))?;
        if depth > 50 {
            return Err(invalid(at, format!("condition {name} is circular")));
        }
        match self.eval(def, &format!("Conditions.{name}"), depth + 1)? {
            Some(Value::Bool(b)) => Ok(b),
            _ => Err(invalid(
                format!("Conditions.{name}"),
                "a condition must evaluate to true or false",
            )),
        }
    }

    /// Resolves `y`; `None` means `AWS::NoValue` (the property is absent).
    fn resolve(&self, y: &Yaml, at: &str) -> Result<Option<Value>, TemplateError> {
        self.eval(y, at, 0)
    }

    fn opt_string(&self, y: Option<&Yaml>, at: &str) -> Result<Option<String>, TemplateError> {
        let Some(y) = y else { return Ok(None) };
        Ok(match self.resolve(y, at)? {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            Some(other) => return Err(invalid(at, format!("expected a string, found {other}"))),
        })
    }

    fn pattern(&self, y: &Yaml, at: &str, rule: &str) -> Result<(Value, Pattern), TemplateError> {
        self.number_refs.borrow_mut().clear();
        let value = self
            .resolve(y, at)?
            .ok_or_else(|| invalid(at, "pattern is AWS::NoValue"))?;
        let value = match value {
            Value::String(text) => serde_json::from_str(&text)
                .map_err(|e| invalid(at, format!("pattern string is not valid JSON: {e}")))?,
            other => other,
        };
        let pattern = Pattern::parse(&value).map_err(|error| {
            let refs = self.number_refs.borrow();
            let hint = (!refs.is_empty()).then(|| {
                format!(
                    "Ref to Number parameter {} gives a string in CloudFormation; write the pattern as a JSON string with !Sub to get a number",
                    refs.join(", ")
                )
            });
            TemplateError::Pattern {
                rule: rule.to_string(),
                error,
                hint,
            }
        })?;
        Ok((value, pattern))
    }

    /// The state machine a target `Arn` refers to (`!Ref Sm`, `!GetAtt Sm.Arn`).
    fn state_machine_ref(&self, arn: &Yaml) -> Option<String> {
        let (name, arg) = intrinsic(arn)?;
        let id = match name.as_str() {
            "Ref" => arg.as_str()?.to_string(),
            "Fn::GetAtt" => match arg {
                Yaml::String(s) => s.split_once('.')?.0.to_string(),
                Yaml::Sequence(s) => s.first()?.as_str()?.to_string(),
                _ => return None,
            },
            _ => return None,
        };
        let ty = self.resources?.get(&id)?.get("Type")?.as_str()?;
        matches!(
            ty,
            "AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine"
        )
        .then_some(id)
    }

    fn unresolvable(
        &self,
        at: &str,
        intrinsic: String,
        reason: impl Into<String>,
    ) -> TemplateError {
        TemplateError::Unresolvable {
            at: at.to_string(),
            intrinsic,
            reason: reason.into(),
        }
    }

    fn ref_value(&self, name: &str, at: &str) -> Result<Option<Value>, TemplateError> {
        if name == "AWS::NoValue" {
            return Ok(None);
        }
        if let Some(v) = self.pseudo.get(name) {
            return Ok(Some(Value::String(v.clone())));
        }
        if let Some(p) = self.params.get(name) {
            let Some(v) = &p.value else {
                return Err(self.unresolvable(
                    at,
                    format!("!Ref {name}"),
                    "the parameter has no Default and no value was given",
                ));
            };
            if p.ty == "Number" {
                self.number_refs.borrow_mut().push(name.to_string());
            }
            if p.ty.starts_with("List<") || p.ty == "CommaDelimitedList" {
                let items: Vec<Value> = match v {
                    Value::Array(a) => a.iter().map(|x| Value::String(param_text(x))).collect(),
                    other => param_text(other)
                        .split(',')
                        .map(|s| Value::String(s.trim().to_string()))
                        .collect(),
                };
                return Ok(Some(Value::Array(items)));
            }
            return Ok(Some(Value::String(param_text(v))));
        }
        if let Some(name_value) = self.event_bus_name(name, at)? {
            return Ok(Some(name_value));
        }
        if let Some(arn) = self.action_target_arn(name, at)? {
            return Ok(Some(arn));
        }
        if self.resources.is_some_and(|r| r.contains_key(name)) {
            return Err(self.unresolvable(
                at,
                format!("!Ref {name}"),
                "it refers to a resource, which only exists once deployed",
            ));
        }
        Err(self.unresolvable(
            at,
            format!("!Ref {name}"),
            "no parameter, pseudo parameter or resource has that name",
        ))
    }

    /// `Ref` to an `AWS::Events::EventBus` of the template is the bus's name, known before
    /// deployment when the template sets `Name` (a rule's `EventBusName: !Ref Bus`).
    fn event_bus_name(&self, id: &str, at: &str) -> Result<Option<Value>, TemplateError> {
        let Some(res) = self.resources.and_then(|r| r.get(id)) else {
            return Ok(None);
        };
        if res.get("Type").and_then(Yaml::as_str) != Some("AWS::Events::EventBus") {
            return Ok(None);
        }
        let Some(name) = res.get("Properties").and_then(|p| p.get("Name")) else {
            return Ok(None);
        };
        self.eval(name, &format!("{at} (Resources.{id}.Properties.Name)"), 1)
    }

    /// `Ref` to an `AWS::SecurityHub::ActionTarget` of the template is the ARN Security Hub
    /// gives a custom action, known before deployment from its `Id` and the pseudo parameters.
    fn action_target_arn(&self, id: &str, at: &str) -> Result<Option<Value>, TemplateError> {
        let Some(res) = self.resources.and_then(|r| r.get(id)) else {
            return Ok(None);
        };
        if res.get("Type").and_then(Yaml::as_str) != Some("AWS::SecurityHub::ActionTarget") {
            return Ok(None);
        }
        let Some(target_id) = res.get("Properties").and_then(|p| p.get("Id")) else {
            return Err(invalid(
                format!("Resources.{id}.Properties"),
                "an ActionTarget needs an Id",
            ));
        };
        let target_id = match self.eval(
            target_id,
            &format!("{at} (Resources.{id}.Properties.Id)"),
            1,
        )? {
            Some(v) => param_text(&v),
            None => return Ok(None),
        };
        let pseudo = |k: &str| self.pseudo.get(k).cloned().unwrap_or_default();
        Ok(Some(Value::String(format!(
            "arn:{}:securityhub:{}:{}:action/custom/{target_id}",
            pseudo("AWS::Partition"),
            pseudo("AWS::Region"),
            pseudo("AWS::AccountId"),
        ))))
    }

    fn sub(
        &self,
        template: &str,
        vars: &Map<String, Value>,
        at: &str,
    ) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            if let Some(lit) = after.strip_prefix('!') {
                // `${!Literal}` is the literal text `${Literal}`.
                out.push_str("${");
                rest = lit;
                continue;
            }
            let Some(end) = after.find('}') else {
                return Err(invalid(
                    at,
                    format!("unterminated ${{ in !Sub {template:?}"),
                ));
            };
            let var = after[..end].trim();
            let action_target = var
                .strip_suffix(".ActionTargetArn")
                .map(|t| self.action_target_arn(t, at))
                .transpose()?
                .flatten();
            if let Some(v) = vars.get(var) {
                out.push_str(&param_text(v));
            } else if let Some(arn) = action_target {
                out.push_str(&param_text(&arn));
            } else if var.contains('.') && !var.starts_with("AWS::") {
                return Err(self.unresolvable(
                    at,
                    format!("${{{var}}} in !Sub"),
                    "attributes of resources only exist once deployed",
                ));
            } else {
                match self.ref_value(var, at) {
                    Ok(Some(v)) => out.push_str(&param_text(&v)),
                    Ok(None) => {}
                    Err(TemplateError::Unresolvable { reason, .. }) => {
                        return Err(self.unresolvable(at, format!("${{{var}}} in !Sub"), reason));
                    }
                    Err(e) => return Err(e),
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn eval(&self, y: &Yaml, at: &str, depth: usize) -> Result<Option<Value>, TemplateError> {
        if depth > 100 {
            return Err(invalid(at, "nested too deeply"));
        }
        if let Some((name, arg)) = intrinsic(y) {
            return self.eval_intrinsic(&name, arg, at, depth);
        }
        Ok(Some(match y {
            Yaml::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    if let Some(v) = self.eval(item, &format!("{at}.{i}"), depth + 1)? {
                        out.push(v);
                    }
                }
                Value::Array(out)
            }
            Yaml::Mapping(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    let k = key_string(k);
                    if let Some(v) = self.eval(v, &format!("{at}.{k}"), depth + 1)? {
                        out.insert(k, v);
                    }
                }
                Value::Object(out)
            }
            Yaml::Tagged(t) => {
                return Err(invalid(at, format!("unknown tag {}", t.tag)));
            }
            scalar => yaml_to_json_plain(scalar),
        }))
    }

    fn eval_list(
        &self,
        arg: &Yaml,
        at: &str,
        depth: usize,
        name: &str,
    ) -> Result<Vec<Value>, TemplateError> {
        match self.eval(arg, at, depth + 1)? {
            Some(Value::Array(a)) => Ok(a),
            _ => Err(invalid(at, format!("{name} takes a list"))),
        }
    }

    fn eval_intrinsic(
        &self,
        name: &str,
        arg: &Yaml,
        at: &str,
        depth: usize,
    ) -> Result<Option<Value>, TemplateError> {
        let str_arg = || arg.as_str().map(str::to_string);
        match name {
            "Ref" => {
                let target = str_arg().ok_or_else(|| invalid(at, "Ref takes a name"))?;
                self.ref_value(&target, at)
            }
            "Condition" => {
                let c = str_arg().ok_or_else(|| invalid(at, "Condition takes a name"))?;
                Ok(Some(Value::Bool(self.condition(&c, at, depth)?)))
            }
            "Fn::Sub" => {
                let (template, vars) = match arg {
                    Yaml::Sequence(s) if s.len() == 2 => {
                        let t = s[0]
                            .as_str()
                            .ok_or_else(|| invalid(at, "Fn::Sub takes a string"))?;
                        let vars = match self.eval(&s[1], at, depth + 1)? {
                            Some(Value::Object(m)) => m,
                            _ => return Err(invalid(at, "Fn::Sub variables must be a mapping")),
                        };
                        (t.to_string(), vars)
                    }
                    Yaml::String(s) => (s.clone(), Map::new()),
                    _ => return Err(invalid(at, "Fn::Sub takes a string or [string, mapping]")),
                };
                Ok(Some(Value::String(self.sub(&template, &vars, at)?)))
            }
            "Fn::Join" => {
                let a = self.eval_list(arg, at, depth, name)?;
                let [Value::String(sep), Value::Array(items)] = a.as_slice() else {
                    return Err(invalid(at, "Fn::Join takes [delimiter, [values]]"));
                };
                let parts: Vec<String> = items.iter().map(param_text).collect();
                Ok(Some(Value::String(parts.join(sep))))
            }
            "Fn::Split" => {
                let a = self.eval_list(arg, at, depth, name)?;
                let [Value::String(sep), Value::String(s)] = a.as_slice() else {
                    return Err(invalid(at, "Fn::Split takes [delimiter, string]"));
                };
                Ok(Some(Value::Array(
                    s.split(sep.as_str())
                        .map(|p| Value::String(p.into()))
                        .collect(),
                )))
            }
            "Fn::Select" => {
                let a = self.eval_list(arg, at, depth, name)?;
                let (Some(idx), Some(Value::Array(items))) = (a.first(), a.get(1)) else {
                    return Err(invalid(at, "Fn::Select takes [index, [values]]"));
                };
                let i: usize = param_text(idx)
                    .parse()
                    .map_err(|_| invalid(at, "Fn::Select index must be an integer"))?;
                items
                    .get(i)
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| invalid(at, "Fn::Select index out of range"))
            }
            "Fn::If" => {
                let Yaml::Sequence(s) = arg else {
                    return Err(invalid(at, "Fn::If takes [condition, then, else]"));
                };
                let [c, then, otherwise] = s.as_slice() else {
                    return Err(invalid(at, "Fn::If takes [condition, then, else]"));
                };
                let c = c
                    .as_str()
                    .ok_or_else(|| invalid(at, "Fn::If condition must be a name"))?;
                if self.condition(c, at, depth)? {
                    self.eval(then, at, depth + 1)
                } else {
                    self.eval(otherwise, at, depth + 1)
                }
            }
            "Fn::Equals" => {
                let a = self.eval_list(arg, at, depth, name)?;
                let [x, y] = a.as_slice() else {
                    return Err(invalid(at, "Fn::Equals takes two values"));
                };
                Ok(Some(Value::Bool(param_text(x) == param_text(y))))
            }
            "Fn::Not" | "Fn::And" | "Fn::Or" => {
                let a = self.eval_list(arg, at, depth, name)?;
                let bools: Option<Vec<bool>> = a.iter().map(Value::as_bool).collect();
                let bools = bools.ok_or_else(|| invalid(at, format!("{name} takes conditions")))?;
                let v = match name {
                    "Fn::Not" if bools.len() == 1 => !bools[0],
                    "Fn::Not" => return Err(invalid(at, "Fn::Not takes one condition")),
                    "Fn::And" => bools.iter().all(|b| *b),
                    _ => bools.iter().any(|b| *b),
                };
                Ok(Some(Value::Bool(v)))
            }
            "Fn::FindInMap" => {
                let a = self.eval_list(arg, at, depth, name)?;
                let keys: Vec<String> = a.iter().map(param_text).collect();
                let [m, k1, k2] = keys.as_slice() else {
                    return Err(invalid(at, "Fn::FindInMap takes [map, key, key]"));
                };
                let v = self
                    .mappings
                    .and_then(|ms| ms.get(m.as_str()))
                    .and_then(|mm| mm.get(k1.as_str()))
                    .and_then(|mk| mk.get(k2.as_str()))
                    .ok_or_else(|| {
                        self.unresolvable(
                            at,
                            format!("!FindInMap [{m}, {k1}, {k2}]"),
                            "no such mapping entry",
                        )
                    })?;
                Ok(Some(yaml_to_json_plain(v)))
            }
            "Fn::GetAtt" => {
                let target = match arg {
                    Yaml::String(s) => s.clone(),
                    Yaml::Sequence(s) => s
                        .iter()
                        .filter_map(Yaml::as_str)
                        .collect::<Vec<_>>()
                        .join("."),
                    _ => String::new(),
                };
                if let Some(bus) = target.strip_suffix(".Name")
                    && let Some(name) = self.event_bus_name(bus, at)?
                {
                    return Ok(Some(name));
                }
                if let Some(action) = target.strip_suffix(".ActionTargetArn")
                    && let Some(arn) = self.action_target_arn(action, at)?
                {
                    return Ok(Some(arn));
                }
                Err(self.unresolvable(
                    at,
                    format!("!GetAtt {target}"),
                    "attributes of resources only exist once deployed",
                ))
            }
            other => Err(self.unresolvable(
                at,
                format!("!{}", other.trim_start_matches("Fn::")),
                "not supported offline",
            )),
        }
    }
}

fn check_param(name: &str, ty: &str, decl: &Yaml, v: &Value) -> Result<(), TemplateError> {
    let at = format!("Parameters.{name}");
    let text = param_text(v);
    if ty == "Number" {
        let x: f64 = text
            .trim()
            .parse()
            .map_err(|_| invalid(&at, format!("value {text:?} is not a number")))?;
        if let Some(min) = decl.get("MinValue").and_then(Yaml::as_f64)
            && x < min
        {
            return Err(invalid(
                &at,
                format!("value {text} is below MinValue {min}"),
            ));
        }
        if let Some(max) = decl.get("MaxValue").and_then(Yaml::as_f64)
            && x > max
        {
            return Err(invalid(
                &at,
                format!("value {text} is above MaxValue {max}"),
            ));
        }
    }
    if let Some(Yaml::Sequence(allowed)) = decl.get("AllowedValues") {
        let ok = allowed
            .iter()
            .any(|a| param_text(&yaml_to_json_plain(a)) == text);
        if !ok {
            return Err(invalid(
                &at,
                format!("value {text:?} is not one of AllowedValues"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Resources:
  Contain:
    Type: AWS::SecurityHub::ActionTarget
    Properties: { Name: Contain, Description: d, Id: CordonContain }
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Events:
        ByGetAtt:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [aws.securityhub]
              resources: [!GetAtt Contain.ActionTargetArn]
        ByRef:
          Type: EventBridgeRule
          Properties:
            Pattern:
              resources: [!Ref Contain]
        BySub:
          Type: EventBridgeRule
          Properties:
            Pattern: !Sub '{"resources": ["${Contain.ActionTargetArn}"]}'
        ByLongForm:
          Type: EventBridgeRule
          Properties:
            Pattern:
              resources: [{ "Fn::GetAtt": [Contain, ActionTargetArn] }]
"#;

    #[test]
    fn a_custom_action_is_named_by_the_arn_security_hub_gives_it() {
        let rules = rules_from_yaml(TEMPLATE, &HashMap::new()).unwrap();
        assert_eq!(rules.len(), 4);
        for r in &rules {
            assert_eq!(
                r.pattern_json["resources"],
                serde_json::json!([
                    "arn:aws:securityhub:us-east-1:123456789012:action/custom/CordonContain"
                ]),
                "{}",
                r.name
            );
        }
        // In the deployment's account and region.
        let overrides = HashMap::from([
            ("AWS::Region".to_string(), Value::from("eu-west-1")),
            ("AWS::AccountId".to_string(), Value::from("210987654321")),
        ]);
        let rules = rules_from_yaml(TEMPLATE, &overrides).unwrap();
        assert_eq!(
            rules[0].pattern_json["resources"][0],
            "arn:aws:securityhub:eu-west-1:210987654321:action/custom/CordonContain"
        );
    }

    #[test]
    fn another_attribute_of_a_custom_action_still_needs_a_deployment() {
        let text = TEMPLATE.replace("Contain.ActionTargetArn]", "Contain.Name]");
        let err = rules_from_yaml(&text, &HashMap::new()).unwrap_err();
        assert!(
            matches!(&err, TemplateError::Unresolvable { intrinsic, .. } if intrinsic == "!GetAtt Contain.Name"),
            "{err}"
        );
    }
}
