//! The response policy from SSM Parameter Store: a document that outgrows a template
//! parameter (organization coverage, per-account overrides) and is versioned there.

/// `ssm:GetParameter` for the policy (String or SecureString with the AWS-managed key).
#[derive(Debug, Clone)]
pub struct AwsParameters {
    ssm: aws_sdk_ssm::Client,
}

impl AwsParameters {
    pub fn from_conf(config: &aws_config::SdkConfig) -> Self {
        Self {
            ssm: aws_sdk_ssm::Client::new(config),
        }
    }

    /// The parameter's value and version, or one line saying why not.
    pub async fn get(&self, name: &str) -> Result<(String, i64), String> {
        let op = self.ssm.get_parameter();
        let out = op
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| crate::error::port_error("ssm:GetParameter", e).to_string())?;
        let p = out
            .parameter()
            .ok_or_else(|| format!("ssm:GetParameter {name}: no parameter in the answer"))?;
        Ok((p.value().unwrap_or_default().to_string(), p.version()))
    }
}
