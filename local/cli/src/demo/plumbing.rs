//! What the story stands on: quiet logs, the alerts and approvals queues, the function URL,
//! and small text helpers.

use std::time::{Duration, Instant};

use cordon_stack::ASSERTED_CALLER_HEADER;
use serde_json::Value;

/// Function and stack logs would drown the story: only warnings, unless RUST_LOG says more.
pub(super) fn quiet_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,cordon_lambda_host::function=off")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// One message from a queue subscribed to a topic: (Subject, Message) of the SNS envelope.
/// Waits up to 15 s; deletes what it read.
pub(super) async fn read_queue(
    aws: &aws_config::SdkConfig,
    url: &str,
    what: &str,
) -> Option<(String, String)> {
    let sqs = aws_sdk_sqs::Client::new(aws);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(1)
            .wait_time_seconds(1)
            .send()
            .await
            .ok()?;
        if let Some(m) = out.messages().first() {
            if let Some(h) = m.receipt_handle() {
                let _ = sqs
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(h)
                    .send()
                    .await;
            }
            let body = m.body().unwrap_or_default();
            let env: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            let subject = env["Subject"]
                .as_str()
                .unwrap_or("(no subject)")
                .to_string();
            let message = env["Message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| body.to_string());
            return Some((subject, message));
        }
    }
    tracing::warn!(queue = url, "no {what} within 15 s");
    None
}

/// POST JSON to the local function URL with the asserted caller header (plain HTTP on
/// loopback).
pub(super) async fn post(url: &str, caller: &str, body: &str) -> Result<(u16, String), String> {
    let client = reqwest::Client::new();
    let r = client
        .post(url)
        .header("content-type", "application/json")
        .header(ASSERTED_CALLER_HEADER, caller)
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let text = r.text().await.map_err(|e| e.to_string())?;
    Ok((status, text))
}

/// The execution's output (the case file), from its DescribeExecution.
pub(super) fn output_of(done: &Value) -> Value {
    done["output"]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null)
}

pub(super) fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub(super) fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}
