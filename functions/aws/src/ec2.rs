//! [`Compute`] with `aws-sdk-ec2`: facts about the instance whose credentials leaked, IMDSv2
//! enforcement and a network-ACL deny of the remote address.

use async_trait::async_trait;
use cordon_core::ports::{Change, Compute, PortResult};
use cordon_core::{InstanceFacts, PortError, PortErrorKind};

use crate::error::port_error;

#[derive(Debug, Clone)]
pub struct AwsCompute {
    ec2: aws_sdk_ec2::Client,
}

impl AwsCompute {
    pub fn new(ec2: aws_sdk_ec2::Client) -> Self {
        Self { ec2 }
    }

    pub fn from_conf(config: &aws_config::SdkConfig) -> Self {
        Self::new(aws_sdk_ec2::Client::new(config))
    }

    async fn describe(
        &self,
        instance_id: &str,
    ) -> PortResult<Option<aws_sdk_ec2::types::Instance>> {
        let op = self.ec2.describe_instances();
        match op
            .instance_ids(instance_id)
            .send()
            .await
            .map_err(|e| port_error("ec2:DescribeInstances", e))
        {
            Ok(out) => Ok(out
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .find(|i| i.instance_id() == Some(instance_id))
                .cloned()),
            Err(e) if e.kind == PortErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn subnet_network_acl(&self, subnet_id: &str) -> PortResult<Option<String>> {
        let filter = aws_sdk_ec2::types::Filter::builder()
            .name("association.subnet-id")
            .values(subnet_id)
            .build();
        let op = self.ec2.describe_network_acls();
        let out = op
            .filters(filter)
            .send()
            .await
            .map_err(|e| port_error("ec2:DescribeNetworkAcls", e))?;
        Ok(out
            .network_acls()
            .iter()
            .find_map(|n| n.network_acl_id().map(str::to_string)))
    }

    async fn acl_entries(
        &self,
        network_acl_id: &str,
    ) -> PortResult<Vec<aws_sdk_ec2::types::NetworkAclEntry>> {
        let op = self.ec2.describe_network_acls();
        let out = op
            .network_acl_ids(network_acl_id)
            .send()
            .await
            .map_err(|e| port_error("ec2:DescribeNetworkAcls", e))?;
        let acl = out
            .network_acls()
            .iter()
            .find(|n| n.network_acl_id() == Some(network_acl_id));
        match acl {
            Some(acl) => Ok(acl.entries().to_vec()),
            None => Err(PortError::new(
                PortErrorKind::NotFound,
                "ec2:DescribeNetworkAcls",
                format!("network ACL {network_acl_id} does not exist"),
            )),
        }
    }
}

#[async_trait]
impl Compute for AwsCompute {
    async fn instance(&self, instance_id: &str) -> PortResult<Option<InstanceFacts>> {
        let Some(i) = self.describe(instance_id).await? else {
            return Ok(None);
        };
        let network_acl_id = match i.subnet_id() {
            Some(subnet) => self.subnet_network_acl(subnet).await?,
            None => None,
        };
        let meta = i.metadata_options();
        Ok(Some(InstanceFacts {
            instance_id: instance_id.to_string(),
            state: i
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_string()),
            tags: i
                .tags()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_string(),
                        t.value().unwrap_or_default().to_string(),
                    ))
                })
                .collect(),
            instance_profile_arn: i
                .iam_instance_profile()
                .and_then(|p| p.arn())
                .map(str::to_string),
            vpc_id: i.vpc_id().map(str::to_string),
            subnet_id: i.subnet_id().map(str::to_string),
            public_ip: i.public_ip_address().map(str::to_string),
            private_ip: i.private_ip_address().map(str::to_string),
            metadata_http_tokens: meta
                .and_then(|m| m.http_tokens())
                .map(|t| t.as_str().to_string()),
            metadata_http_endpoint: meta
                .and_then(|m| m.http_endpoint())
                .map(|t| t.as_str().to_string()),
            network_acl_id,
        }))
    }

    async fn require_imds_v2(&self, instance_id: &str) -> PortResult<Change> {
        let Some(i) = self.describe(instance_id).await? else {
            return Err(PortError::new(
                PortErrorKind::NotFound,
                "ec2:ModifyInstanceMetadataOptions",
                format!("instance {instance_id} does not exist"),
            ));
        };
        let tokens = i.metadata_options().and_then(|m| m.http_tokens());
        if tokens == Some(&aws_sdk_ec2::types::HttpTokensState::Required) {
            return Ok(Change::Already);
        }
        let op = self.ec2.modify_instance_metadata_options();
        op.instance_id(instance_id)
            .http_tokens(aws_sdk_ec2::types::HttpTokensState::Required)
            .http_endpoint(aws_sdk_ec2::types::InstanceMetadataEndpointState::Enabled)
            .send()
            .await
            .map_err(|e| port_error("ec2:ModifyInstanceMetadataOptions", e))?;
        tracing::info!(instance_id, "required IMDSv2");
        Ok(Change::Done)
    }

    async fn nacl_deny(
        &self,
        network_acl_id: &str,
        cidr: &str,
        rule_number: i32,
    ) -> PortResult<Change> {
        let entries = self.acl_entries(network_acl_id).await?;
        let mut changed = false;
        for egress in [false, true] {
            let existing = entries
                .iter()
                .find(|e| e.rule_number() == Some(rule_number) && e.egress() == Some(egress));
            if let Some(existing) = existing {
                let same = existing.cidr_block() == Some(cidr)
                    && existing.rule_action() == Some(&aws_sdk_ec2::types::RuleAction::Deny);
                if same {
                    continue;
                }
                // Someone else's rule under our number: never overwrite it.
                return Err(PortError::new(
                    PortErrorKind::Invalid,
                    "ec2:CreateNetworkAclEntry",
                    format!(
                        "network ACL {network_acl_id} already has a different {} rule {rule_number}",
                        if egress { "egress" } else { "ingress" }
                    ),
                ));
            }
            let op = self.ec2.create_network_acl_entry();
            op.network_acl_id(network_acl_id)
                .rule_number(rule_number)
                .egress(egress)
                .protocol("-1")
                .rule_action(aws_sdk_ec2::types::RuleAction::Deny)
                .cidr_block(cidr)
                .send()
                .await
                .map_err(|e| port_error("ec2:CreateNetworkAclEntry", e))?;
            tracing::info!(
                network_acl_id,
                cidr,
                rule_number,
                egress,
                "added network ACL deny"
            );
            changed = true;
        }
        Ok(if changed {
            Change::Done
        } else {
            Change::Already
        })
    }

    async fn nacl_remove(&self, network_acl_id: &str, rule_number: i32) -> PortResult<Change> {
        let entries = self.acl_entries(network_acl_id).await?;
        let mut changed = false;
        for egress in [false, true] {
            if !entries
                .iter()
                .any(|e| e.rule_number() == Some(rule_number) && e.egress() == Some(egress))
            {
                continue;
            }
            let op = self.ec2.delete_network_acl_entry();
            let out = op
                .network_acl_id(network_acl_id)
                .rule_number(rule_number)
                .egress(egress)
                .send()
                .await;
            match out.map_err(|e| port_error("ec2:DeleteNetworkAclEntry", e)) {
                Ok(_) => {
                    tracing::info!(
                        network_acl_id,
                        rule_number,
                        egress,
                        "removed network ACL entry"
                    );
                    changed = true;
                }
                Err(e) if e.kind == PortErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(if changed {
            Change::Done
        } else {
            Change::Already
        })
    }
}
