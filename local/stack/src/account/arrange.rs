//! Arranging what a scene needs before the attack: an instance role and running instances.

use super::{AccountView, CallError};

/// The trust policy of an instance role: EC2 may assume it.
const EC2_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// The tag EC2 Auto Scaling puts on the instances of a group.
const AUTO_SCALING_GROUP_TAG: &str = "aws:autoscaling:groupName";

impl AccountView {
    /// An instance role (trusted by EC2) in an instance profile of its own.
    pub async fn create_role_with_profile(
        &self,
        role: &str,
        profile: &str,
    ) -> Result<(), CallError> {
        self.iam
            .create_role()
            .role_name(role)
            .assume_role_policy_document(EC2_TRUST)
            .send()
            .await
            .map_err(|e| CallError::sdk("CreateRole", role, e))?;
        self.iam
            .create_instance_profile()
            .instance_profile_name(profile)
            .send()
            .await
            .map_err(|e| CallError::sdk("CreateInstanceProfile", profile, e))?;
        self.iam
            .add_role_to_instance_profile()
            .instance_profile_name(profile)
            .role_name(role)
            .send()
            .await
            .map_err(|e| CallError::sdk("AddRoleToInstanceProfile", profile, e))?;
        Ok(())
    }

    /// A running instance with `profile`, IMDSv1 allowed and this hop limit, tagged with a
    /// `Name` (and an Auto Scaling group, as EC2 Auto Scaling tags its instances); its id.
    pub async fn run_instance(
        &self,
        profile: &str,
        name: &str,
        auto_scaling_group: Option<&str>,
        hop_limit: i32,
    ) -> Result<String, CallError> {
        use aws_sdk_ec2::types::{
            HttpTokensState, IamInstanceProfileSpecification, InstanceMetadataEndpointState,
            InstanceMetadataOptionsRequest, InstanceType, ResourceType, Tag, TagSpecification,
        };
        let mut tags = TagSpecification::builder()
            .resource_type(ResourceType::Instance)
            .tags(Tag::builder().key("Name").value(name).build());
        if let Some(group) = auto_scaling_group {
            tags = tags.tags(
                Tag::builder()
                    .key(AUTO_SCALING_GROUP_TAG)
                    .value(group)
                    .build(),
            );
        }
        let out = self
            .ec2
            .run_instances()
            .image_id("ami-12c6146b")
            .instance_type(InstanceType::T3Medium)
            .min_count(1)
            .max_count(1)
            .iam_instance_profile(
                IamInstanceProfileSpecification::builder()
                    .name(profile)
                    .build(),
            )
            .metadata_options(
                InstanceMetadataOptionsRequest::builder()
                    .http_tokens(HttpTokensState::Optional)
                    .http_put_response_hop_limit(hop_limit)
                    .http_endpoint(InstanceMetadataEndpointState::Enabled)
                    .build(),
            )
            .tag_specifications(tags.build())
            .send()
            .await
            .map_err(|e| CallError::sdk("RunInstances", name, e))?;
        out.instances()
            .first()
            .and_then(|i| i.instance_id())
            .map(str::to_string)
            .ok_or_else(|| CallError::missing("RunInstances", name, "no instance started"))
    }
}
