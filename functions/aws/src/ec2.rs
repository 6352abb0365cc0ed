//! [`Compute`] with `aws-sdk-ec2`: facts about the instance whose credentials leaked (its IMDS
//! options, its subnet's network ACL with the ACL's entries), the instances running on a set of
//! instance profiles, IMDS options, the instance profile swap and a network-ACL deny of the
//! remote address.

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, HttpTokensState, IamInstanceProfileAssociationState, IamInstanceProfileSpecification,
};
use cordon_core::ports::{Change, Compute, PortResult};
use cordon_core::{AclEntry, InstanceFacts, InstanceUse, PortError, PortErrorKind};

use crate::error::port_error;

/// The most values EC2 accepts in one filter: longer lists of profiles are asked in chunks.
const MAX_FILTER_VALUES: usize = 200;

/// The page size of the instance listing (EC2 allows 5 to 1000).
const INSTANCES_PAGE: i32 = 1000;

/// The tag EC2 Auto Scaling puts on the instances of a group.
const AUTO_SCALING_GROUP_TAG: &str = "aws:autoscaling:groupName";

fn tag<'a>(i: &'a aws_sdk_ec2::types::Instance, key: &str) -> Option<&'a str> {
    i.tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

fn acl_entry(e: &aws_sdk_ec2::types::NetworkAclEntry) -> Option<AclEntry> {
    Some(AclEntry {
        rule_number: e.rule_number()?,
        egress: e.egress().unwrap_or(false),
        action: e.rule_action()?.as_str().to_string(),
        cidr: e.cidr_block().map(str::to_string),
    })
}

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

    /// The network ACL of the subnet, with its entries.
    async fn subnet_network_acl(
        &self,
        subnet_id: &str,
    ) -> PortResult<Option<aws_sdk_ec2::types::NetworkAcl>> {
        let filter = Filter::builder()
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
            .find(|n| n.network_acl_id().is_some())
            .cloned())
    }

    /// The instance's current profile association (`associated`, or `associating` right after
    /// a replacement: a retried swap must find the profile it just put there).
    async fn profile_association(
        &self,
        instance_id: &str,
    ) -> PortResult<Option<aws_sdk_ec2::types::IamInstanceProfileAssociation>> {
        let op = self.ec2.describe_iam_instance_profile_associations();
        let associations = op
            .filters(
                Filter::builder()
                    .name("instance-id")
                    .values(instance_id)
                    .build(),
            )
            .filters(
                Filter::builder()
                    .name("state")
                    .values(IamInstanceProfileAssociationState::Associated.as_str())
                    .values(IamInstanceProfileAssociationState::Associating.as_str())
                    .build(),
            )
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| port_error("ec2:DescribeIamInstanceProfileAssociations", e))?;
        Ok(associations
            .into_iter()
            .find(|a| a.instance_id() == Some(instance_id)))
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
        let acl = match i.subnet_id() {
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
            metadata_hop_limit: meta.and_then(|m| m.http_put_response_hop_limit()),
            network_acl_id: acl
                .as_ref()
                .and_then(|a| a.network_acl_id())
                .map(str::to_string),
            network_acl_entries: acl
                .as_ref()
                .map(|a| a.entries().iter().filter_map(acl_entry).collect())
                .unwrap_or_default(),
        }))
    }

    async fn instances_using_profiles(
        &self,
        profile_arns: &[String],
    ) -> PortResult<Vec<InstanceUse>> {
        let mut used: Vec<InstanceUse> = Vec::new();
        for chunk in profile_arns.chunks(MAX_FILTER_VALUES) {
            let op = self.ec2.describe_instances();
            let pages = op
                .filters(
                    Filter::builder()
                        .name("iam-instance-profile.arn")
                        .set_values(Some(chunk.to_vec()))
                        .build(),
                )
                .filters(
                    Filter::builder()
                        .name("instance-state-name")
                        .values("pending")
                        .values("running")
                        .build(),
                )
                .max_results(INSTANCES_PAGE)
                .into_paginator()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| port_error("ec2:DescribeInstances", e))?;
            let instances = pages
                .iter()
                .flat_map(|p| p.reservations())
                .flat_map(|r| r.instances());
            for i in instances {
                let Some(id) = i.instance_id() else { continue };
                if used.iter().any(|u| u.instance_id == id) {
                    continue;
                }
                used.push(InstanceUse {
                    instance_id: id.to_string(),
                    state: i
                        .state()
                        .and_then(|s| s.name())
                        .map(|n| n.as_str().to_string()),
                    name: tag(i, "Name").map(str::to_string),
                    auto_scaling_group: tag(i, AUTO_SCALING_GROUP_TAG).map(str::to_string),
                    instance_profile_arn: i
                        .iam_instance_profile()
                        .and_then(|p| p.arn())
                        .map(str::to_string),
                });
            }
        }
        Ok(used)
    }

    async fn set_metadata_options(
        &self,
        instance_id: &str,
        http_tokens: &str,
        hop_limit: i32,
    ) -> PortResult<Change> {
        let Some(i) = self.describe(instance_id).await? else {
            return Err(PortError::new(
                PortErrorKind::NotFound,
                "ec2:ModifyInstanceMetadataOptions",
                format!("instance {instance_id} does not exist"),
            ));
        };
        let meta = i.metadata_options();
        let tokens = meta.and_then(|m| m.http_tokens()).map(|t| t.as_str());
        let hops = meta.and_then(|m| m.http_put_response_hop_limit());
        if tokens == Some(http_tokens) && hops == Some(hop_limit) {
            return Ok(Change::Already);
        }
        // The endpoint is sent as it is: an option left out may be reset (moto resets it to
        // its default), and the endpoint is not cordon's to change.
        let endpoint = meta.and_then(|m| m.http_endpoint()).cloned();
        let op = self.ec2.modify_instance_metadata_options();
        op.instance_id(instance_id)
            .http_tokens(HttpTokensState::from(http_tokens))
            .http_put_response_hop_limit(hop_limit)
            .set_http_endpoint(endpoint)
            .send()
            .await
            .map_err(|e| port_error("ec2:ModifyInstanceMetadataOptions", e))?;
        tracing::info!(
            instance_id,
            http_tokens,
            hop_limit,
            "set instance metadata options"
        );
        Ok(Change::Done)
    }

    async fn replace_instance_profile(
        &self,
        instance_id: &str,
        from_profile_arn: &str,
        to_profile_arn: &str,
    ) -> PortResult<Change> {
        const OP: &str = "ec2:ReplaceIamInstanceProfileAssociation";
        let association = self.profile_association(instance_id).await?;
        let current = association
            .as_ref()
            .and_then(|a| a.iam_instance_profile())
            .and_then(|p| p.arn());
        if current == Some(to_profile_arn) {
            return Ok(Change::Already);
        }
        let (Some(association), Some(current)) = (&association, current) else {
            return Err(PortError::new(
                PortErrorKind::Invalid,
                OP,
                format!(
                    "instance {instance_id} has no instance profile, not {from_profile_arn}: \
                     not replaced (changed since cordon looked)"
                ),
            ));
        };
        if current != from_profile_arn {
            // Someone else's profile: never overwrite it.
            return Err(PortError::new(
                PortErrorKind::Invalid,
                OP,
                format!(
                    "instance {instance_id} has instance profile {current}, not \
                     {from_profile_arn}: not replaced (changed since cordon looked)"
                ),
            ));
        }
        let association_id = association.association_id().unwrap_or_default();
        let op = self.ec2.replace_iam_instance_profile_association();
        op.association_id(association_id)
            .iam_instance_profile(
                IamInstanceProfileSpecification::builder()
                    .arn(to_profile_arn)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| port_error(OP, e))?;
        tracing::info!(
            instance_id,
            association_id,
            from_profile_arn,
            to_profile_arn,
            "replaced instance profile"
        );
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
