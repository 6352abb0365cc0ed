//! An execution history (the `GetExecutionHistory` JSON, as the Step Functions API returns it)
//! read into what an auditor asks: which states ran, when, for how long, which attempts
//! failed and why, and the case file as it stood last.
//!
//! Pure: built from the events alone, so it is tested on recorded-shaped histories.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use cordon_core::{Approval, Classification, Containment, Failure, Incident, Notification};

/// What one execution did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    pub execution_arn: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`.
    pub status: String,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub steps: Vec<Step>,
    /// How the execution ended, when it failed (the `ExecutionFailed` error and cause).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_error: Option<ErrorInfo>,
    /// The state document as it stood last: the execution output when it ended, else the
    /// newest state input or output in the history.
    #[serde(skip)]
    pub case: Value,
}

/// One state the execution entered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub name: String,
    /// `Task`, `Pass`, `Choice`, `Succeed`, `Fail`, `Wait`, `Parallel`, `Map`.
    pub state_type: String,
    pub entered_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exited_at: Option<DateTime<Utc>>,
    /// Task attempts, in order (one per `TaskScheduled`); empty for other states.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    pub status: StepStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    /// Exited normally.
    Succeeded,
    /// Its task failed for good and a Catch moved on (the state exited after a failure).
    Caught,
    /// It ended the execution as failed (a Fail state, or an uncaught task failure).
    Failed,
    /// Still in it (e.g. waiting for a human decision).
    Running,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub scheduled_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// `arn:aws:states:::lambda:invoke` style resource (`resourceType:resource`).
    pub resource: String,
    /// Set when the attempt failed or timed out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// The timeout the task was scheduled with (`timeoutInSeconds`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorInfo {
    pub error: String,
    pub cause: String,
}

impl Step {
    pub fn duration_ms(&self) -> Option<i64> {
        self.exited_at
            .map(|x| (x - self.entered_at).num_milliseconds())
    }
    /// Attempts that failed before another one was made.
    pub fn retries(&self) -> usize {
        self.attempts.len().saturating_sub(1)
    }
}

/// An event's time: the JSON protocol sends epoch seconds (with a millisecond fraction).
pub fn event_time(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => {
            let ms = (n.as_f64()? * 1000.0).round() as i64;
            DateTime::from_timestamp_millis(ms)
        }
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        _ => None,
    }
}

fn details<'a>(e: &'a Value, key: &str) -> &'a Value {
    e.get(key).unwrap_or(&Value::Null)
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A payload carried as JSON text inside an event's details.
fn payload(v: &Value, key: &str) -> Option<Value> {
    v.get(key)
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok())
}

fn error_info(d: &Value) -> ErrorInfo {
    ErrorInfo {
        error: text(d, "error"),
        cause: text(d, "cause"),
    }
}

impl Timeline {
    /// Read a history (events in any order; they are sorted by id). `status` comes from
    /// `ListExecutions`/`DescribeExecution` when known, else it is derived from the events.
    pub fn from_history(execution_arn: &str, events: &[Value]) -> Timeline {
        let mut events: Vec<&Value> = events.iter().collect();
        events.sort_by_key(|e| e.get("id").and_then(Value::as_u64).unwrap_or(0));
        let mut t = Timeline {
            execution_arn: execution_arn.to_string(),
            status: "RUNNING".into(),
            started_at: None,
            stopped_at: None,
            steps: Vec::new(),
            end_error: None,
            case: Value::Null,
        };
        for e in events {
            let kind = e.get("type").and_then(Value::as_str).unwrap_or_default();
            let at = e.get("timestamp").and_then(event_time).unwrap_or_default();
            let open = t.steps.iter_mut().rev().find(|s| s.exited_at.is_none());
            match kind {
                "ExecutionStarted" => {
                    t.started_at = Some(at);
                    if let Some(input) =
                        payload(details(e, "executionStartedEventDetails"), "input")
                    {
                        t.case = input;
                    }
                }
                "ExecutionSucceeded" => {
                    t.status = "SUCCEEDED".into();
                    t.stopped_at = Some(at);
                    if let Some(out) =
                        payload(details(e, "executionSucceededEventDetails"), "output")
                    {
                        t.case = out;
                    }
                }
                "ExecutionFailed" | "ExecutionAborted" | "ExecutionTimedOut" => {
                    t.status = match kind {
                        "ExecutionFailed" => "FAILED",
                        "ExecutionAborted" => "ABORTED",
                        _ => "TIMED_OUT",
                    }
                    .into();
                    t.stopped_at = Some(at);
                    let key = format!("{}EventDetails", lower_first(kind));
                    let info = error_info(details(e, &key));
                    if !info.error.is_empty() || !info.cause.is_empty() {
                        t.end_error = Some(info);
                    }
                    // The state that ended the execution failed with it.
                    if let Some(step) = t.steps.iter_mut().rev().find(|s| s.exited_at.is_none()) {
                        step.status = StepStatus::Failed;
                        step.exited_at = Some(at);
                    }
                }
                k if k.ends_with("StateEntered") => {
                    let d = details(e, "stateEnteredEventDetails");
                    if let Some(input) = payload(d, "input") {
                        t.case = input;
                    }
                    t.steps.push(Step {
                        name: text(d, "name"),
                        state_type: k.trim_end_matches("StateEntered").to_string(),
                        entered_at: at,
                        exited_at: None,
                        attempts: Vec::new(),
                        status: StepStatus::Running,
                    });
                }
                k if k.ends_with("StateExited") => {
                    let d = details(e, "stateExitedEventDetails");
                    if let Some(out) = payload(d, "output") {
                        t.case = out;
                    }
                    let name = text(d, "name");
                    if let Some(step) = t
                        .steps
                        .iter_mut()
                        .rev()
                        .find(|s| s.exited_at.is_none() && s.name == name)
                    {
                        step.exited_at = Some(at);
                        let last_failed = step.attempts.last().is_some_and(|a| a.error.is_some());
                        step.status = if last_failed {
                            StepStatus::Caught
                        } else {
                            StepStatus::Succeeded
                        };
                    }
                }
                "TaskScheduled" => {
                    let d = details(e, "taskScheduledEventDetails");
                    if let Some(step) = open {
                        step.attempts.push(Attempt {
                            scheduled_at: at,
                            ended_at: None,
                            resource: format!(
                                "{}:{}",
                                text(d, "resourceType"),
                                text(d, "resource")
                            ),
                            error: None,
                            timeout_seconds: d.get("timeoutInSeconds").and_then(Value::as_u64),
                        });
                    }
                }
                "TaskSucceeded" => {
                    if let Some(a) = open.and_then(|s| s.attempts.last_mut()) {
                        a.ended_at = Some(at);
                    }
                }
                "TaskFailed" | "TaskTimedOut" | "TaskStartFailed" | "TaskSubmitFailed" => {
                    let key = format!("{}EventDetails", lower_first(kind));
                    let info = error_info(details(e, &key));
                    if let Some(a) = open.and_then(|s| s.attempts.last_mut()) {
                        a.ended_at = Some(at);
                        a.error = Some(info);
                    }
                }
                _ => {}
            }
        }
        t
    }

    /// The status `ListExecutions` reported, when it is more authoritative than the events
    /// read (a history read while the execution was still running).
    pub fn with_status(mut self, status: Option<&str>) -> Timeline {
        if let Some(s) = status {
            self.status = s.to_string();
        }
        self
    }

    pub fn incident(&self) -> Option<Incident> {
        part(&self.case, "incident")
            .or_else(|| {
                // Histories of the earlier definition: Enrich parked {incident, enrichment}
                // under `incident` until a RecordEnrichment state spread it.
                self.case
                    .get("incident")
                    .and_then(|v| v.get("incident"))
                    .and_then(|v| serde_json::from_value(v.clone()).ok())
            })
            .or_else(|| {
                self.case
                    .get("event")
                    .and_then(|e| cordon_core::parse_event(e).ok())
            })
    }
    pub fn classification(&self) -> Option<Classification> {
        part(&self.case, "classification")
    }
    pub fn approval(&self) -> Option<Approval> {
        part(&self.case, "approval")
    }
    pub fn containment(&self) -> Option<Containment> {
        part(&self.case, "containment")
    }
    pub fn notification(&self) -> Option<Notification> {
        part(&self.case, "notification")
    }
    pub fn failure(&self) -> Option<Failure> {
        part(&self.case, "failure")
    }

    /// The approval task the execution is waiting on, if it is.
    pub fn waiting_approval(&self) -> Option<(&Step, &Attempt)> {
        if self.status != "RUNNING" {
            return None;
        }
        let step = self.steps.last()?;
        let attempt = step.attempts.last()?;
        (step.exited_at.is_none()
            && attempt.ended_at.is_none()
            && attempt.resource.ends_with(".waitForTaskToken"))
        .then_some((step, attempt))
    }
}

fn part<T: serde::de::DeserializeOwned>(case: &Value, key: &str) -> Option<T> {
    case.get(key)
        .filter(|v| !v.is_null())
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
