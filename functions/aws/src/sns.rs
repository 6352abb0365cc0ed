//! [`Notifier`] with `aws-sdk-sns`.

use async_trait::async_trait;
use cordon_core::ports::{Notifier, OutgoingMessage, PortResult};
use cordon_core::{PortError, PortErrorKind};
use serde_json::json;

use crate::error::port_error;

/// SNS subjects are limited to 100 characters (and must not contain line breaks).
pub const MAX_SUBJECT_CHARS: usize = 100;

#[derive(Debug, Clone)]
pub struct AwsNotifier {
    sns: aws_sdk_sns::Client,
}

impl AwsNotifier {
    pub fn new(sns: aws_sdk_sns::Client) -> Self {
        Self { sns }
    }

    pub fn from_conf(config: &aws_config::SdkConfig) -> Self {
        Self::new(aws_sdk_sns::Client::new(config))
    }
}

/// A subject SNS accepts: one line, at most 100 characters (cut with an ellipsis).
pub fn sns_subject(subject: &str) -> String {
    let line: String = subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let line = line.trim();
    if line.chars().count() <= MAX_SUBJECT_CHARS {
        return line.to_string();
    }
    let mut cut: String = line.chars().take(MAX_SUBJECT_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// The `MessageStructure: json` body: text for people (`default`, `email`), the JSON form for
/// machine subscribers (`sqs`, `lambda`, `https`, `http`).
pub fn message_body(message: &OutgoingMessage) -> String {
    let machine = message.json.to_string();
    json!({
        "default": message.text,
        "email": message.text,
        "sqs": machine,
        "lambda": machine,
        "https": machine,
        "http": machine,
    })
    .to_string()
}

#[async_trait]
impl Notifier for AwsNotifier {
    async fn publish(&self, message: &OutgoingMessage) -> PortResult<String> {
        let subject = sns_subject(&message.subject);
        let op = self.sns.publish();
        let mut req = op
            .topic_arn(&message.topic_arn)
            .subject(&subject)
            .message_structure("json")
            .message(message_body(message));
        for (name, value) in &message.attributes {
            let attr = aws_sdk_sns::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| {
                    PortError::new(PortErrorKind::Invalid, "sns:Publish", e.to_string())
                })?;
            req = req.message_attributes(name, attr);
        }
        let out = req.send().await.map_err(|e| port_error("sns:Publish", e))?;
        let id = out.message_id().unwrap_or_default().to_string();
        tracing::info!(topic_arn = %message.topic_arn, message_id = %id, %subject, "published");
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_cut_to_100_characters_on_one_line() {
        assert_eq!(sns_subject("a\nb"), "a b");
        let long = "é".repeat(150);
        let cut = sns_subject(&long);
        assert_eq!(cut.chars().count(), 100);
        assert!(cut.ends_with('…'));
        assert_eq!(sns_subject(&"x".repeat(100)), "x".repeat(100));
    }
}
