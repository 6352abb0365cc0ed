//! Task states: the resource a task names, its input (`Parameters`/`Arguments`, timeouts,
//! heartbeat, task token), and the dispatch to the kind of task that runs it.

use std::borrow::Cow;
use std::sync::atomic::Ordering;

use cordon_asl_eval::{self as eval};
use serde_json::{Map, Value};

use super::data::{StateCtx, TaskCall, context, jsonata_scope, number, path_scope};
use super::fail::Fail;
use super::lambda;
use super::replay::{JournaledEntropy, Run, Thread};
use super::service::{self, Service};
use crate::dispatch::IntegrationPattern;
use crate::model::{NumberField, TaskSpec};
use crate::runtime::Inner;

pub(crate) enum Resource {
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME`
    LegacyLambda,
    /// `arn:aws:states:::service:action[.pattern]`
    Service {
        service: String,
        action: String,
        short: String,
        pattern: IntegrationPattern,
    },
}

pub(crate) fn parse_resource(r: &str) -> Option<Resource> {
    let mut parts = [""; 6];
    let mut n = 0;
    for (i, p) in r.splitn(6, ':').enumerate() {
        parts[i] = p;
        n = i + 1;
    }
    if n < 6 || parts[0] != "arn" {
        return None;
    }
    if parts[2] == "lambda" && parts[5].starts_with("function:") {
        return Some(Resource::LegacyLambda);
    }
    if parts[2] == "states" && parts[3].is_empty() && parts[4].is_empty() {
        let (service, rest) = parts[5].split_once(':')?;
        let (action, pattern) = if let Some(a) = rest.strip_suffix(".waitForTaskToken") {
            (a, IntegrationPattern::WaitForTaskToken)
        } else if let Some((a, _)) = rest.split_once(".sync") {
            (a, IntegrationPattern::Sync)
        } else {
            (rest, IntegrationPattern::RequestResponse)
        };
        return Some(Resource::Service {
            service: service.to_string(),
            action: action.to_string(),
            short: rest.to_string(),
            pattern,
        });
    }
    None
}

pub(crate) fn can_dispatch(inner: &Inner, r: &str) -> bool {
    match parse_resource(r) {
        Some(Resource::LegacyLambda) => inner.lambda.is_some(),
        Some(Resource::Service {
            service,
            action,
            pattern,
            ..
        }) => {
            if service == "lambda" {
                inner.lambda.is_some() && action == "invoke" && pattern != IntegrationPattern::Sync
            } else if service == "aws-sdk" {
                // AWS accepts any SDK integration; without one configured it fails when run.
                true
            } else {
                inner.services.contains_key(&service)
            }
        }
        None => false,
    }
}

/// Task tokens: `AAAA` + 64 hex digits.
pub(crate) fn token_well_formed(t: &str) -> bool {
    t.len() == 68 && t.starts_with("AAAA") && t[4..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Run a Task: evaluate its input, dispatch, wait, and report through history events.
pub(super) async fn run_task(
    run: &Run,
    cx: &StateCtx<'_>,
    spec: &TaskSpec,
    input: &Value,
    vars: &Map<String, Value>,
    th: &mut Thread,
    jsonata_states: Option<&Value>,
) -> Result<Value, Fail> {
    let st = cx.st;
    let res = parse_resource(&spec.resource).ok_or_else(|| {
        Fail::new(
            "States.Runtime",
            format!("Unsupported resource {}", spec.resource),
        )
    })?;
    let wait_token = matches!(
        &res,
        Resource::Service {
            pattern: IntegrationPattern::WaitForTaskToken,
            ..
        }
    );
    let token = if wait_token {
        let n = th.vseq.fetch_add(1, Ordering::Relaxed);
        let v = run.value(format!("{}:v{}", th.prefix, n), || {
            Value::String(format!(
                "AAAA{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ))
        });
        v.as_str().map(str::to_string)
    } else {
        None
    };
    let (params, timeout, heartbeat) = {
        // Scoped: the context must not live across the wait below.
        let ctx = if cx.st.uses_context {
            context(run, cx, token.as_deref())
        } else {
            Value::Null
        };
        let entropy = JournaledEntropy { run, th };
        let (params, [timeout_field, heartbeat_field]) = match jsonata_states {
            Some(states) => {
                let mut states = states.clone();
                states["context"] = ctx.clone();
                let scope = jsonata_scope(&states, vars, &entropy);
                let p = match &st.arguments {
                    Some(a) => Cow::Owned(
                        eval::jsonata_template(a, &scope, "Arguments").map_err(|e| cx.fail(e))?,
                    ),
                    None => Cow::Borrowed(input),
                };
                (p, ["TimeoutSeconds", "HeartbeatSeconds"])
            }
            None => {
                let scope = path_scope(input, &ctx, vars, &entropy);
                let p = match &st.parameters {
                    Some(p) => Cow::Owned(
                        eval::payload_template(p, &scope, "Parameters").map_err(|e| cx.fail(e))?,
                    ),
                    None => Cow::Borrowed(input),
                };
                (p, ["TimeoutSecondsPath", "HeartbeatSecondsPath"])
            }
        };
        let seconds = |n: &Option<NumberField>, field| {
            n.as_ref()
                .map(|n| number(n, cx, input, &ctx, vars, &entropy, field))
                .transpose()
        };
        let t = seconds(&spec.timeout, timeout_field)?;
        let h = seconds(&spec.heartbeat, heartbeat_field)?;
        (params, t.map(|x| x as i64), h.map(|x| x as i64))
    };
    let call = TaskCall {
        params,
        token,
        timeout,
        heartbeat,
    };
    match res {
        Resource::LegacyLambda => lambda::run_function(run, th, spec, call).await,
        Resource::Service {
            service,
            action,
            short,
            pattern,
        } => {
            let target = Service {
                service,
                action,
                short,
                pattern,
            };
            service::run_service_task(run, th, st, spec, target, call).await
        }
    }
}
