//! EventBridge routing for cordon's offline mode.
//!
//! * [`Pattern`]: an EventBridge event pattern, validated and compiled once
//!   ([`Pattern::parse`]) and then matched against events ([`Pattern::matches`]).
//! * [`rules_from_template`]: the `EventBridgeRule` events of the SAM template's state
//!   machines (and `AWS::Events::Rule` resources targeting a state machine), with their
//!   patterns resolved the way CloudFormation resolves them.
//! * [`route`]: which enabled rules an event matches.

mod pattern;
mod template;

pub use pattern::{Pattern, PatternError};
pub use template::{
    Rule, TemplateError, rules_from_template, rules_from_template_with, rules_from_yaml,
};

use serde_json::Value;

/// The enabled rules whose pattern matches `event`, in template order.
pub fn route<'a>(rules: &'a [Rule], event: &Value) -> Vec<&'a Rule> {
    rules
        .iter()
        .filter(|r| r.enabled && r.pattern.matches(event))
        .collect()
}
