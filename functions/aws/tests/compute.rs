//! `AwsCompute` and `AwsIam`'s instance lookups with the real SDK against moto (with cordon's
//! extension): the instance's IMDS options and its subnet's ACL entries, the instances running
//! on a role's instance profiles (pending and running ones, by profile ARN), IMDS options set
//! with the endpoint kept, and the instance profile swap and its release.

use aws_sdk_ec2::types::{
    HttpTokensState, IamInstanceProfileSpecification, InstanceMetadataEndpointState,
    InstanceMetadataOptionsRequest, ResourceType, Tag, TagSpecification,
};
use cordon_aws::{AwsCompute, AwsIam};
use cordon_core::PortErrorKind;
use cordon_core::ports::{Change, Compute, IamRead};
use cordon_moto::{ACCOUNT_ID, Moto};

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// A role and an instance profile of the same name carrying it; the profile's ARN.
async fn role_with_profile(iam: &aws_sdk_iam::Client, role: &str, profile: &str) -> String {
    if iam.get_role().role_name(role).send().await.is_err() {
        iam.create_role()
            .role_name(role)
            .assume_role_policy_document(TRUST)
            .send()
            .await
            .unwrap();
    }
    let created = iam
        .create_instance_profile()
        .instance_profile_name(profile)
        .send()
        .await
        .unwrap();
    iam.add_role_to_instance_profile()
        .instance_profile_name(profile)
        .role_name(role)
        .send()
        .await
        .unwrap();
    created.instance_profile().unwrap().arn().to_string()
}

/// Launch `count` instances with `profile` (if any) and `tags`: their ids.
async fn launch(
    ec2: &aws_sdk_ec2::Client,
    count: i32,
    profile: Option<&str>,
    tags: &[(&str, &str)],
) -> Vec<String> {
    let image = ec2.describe_images().send().await.unwrap();
    let image = image.images()[0].image_id().unwrap().to_string();
    let mut run = ec2
        .run_instances()
        .image_id(image)
        .min_count(count)
        .max_count(count)
        .metadata_options(
            InstanceMetadataOptionsRequest::builder()
                .http_tokens(HttpTokensState::Optional)
                .http_put_response_hop_limit(2)
                .http_endpoint(InstanceMetadataEndpointState::Disabled)
                .build(),
        );
    if let Some(arn) = profile {
        run = run.iam_instance_profile(IamInstanceProfileSpecification::builder().arn(arn).build());
    }
    if !tags.is_empty() {
        let mut spec = TagSpecification::builder().resource_type(ResourceType::Instance);
        for (k, v) in tags {
            spec = spec.tags(Tag::builder().key(*k).value(*v).build());
        }
        run = run.tag_specifications(spec.build());
    }
    let out = run.send().await.unwrap();
    out.instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_string())
        .collect()
}

/// The instance's profile ARN as DescribeInstances shows it.
async fn shown_profile(ec2: &aws_sdk_ec2::Client, id: &str) -> Option<String> {
    let out = ec2
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .unwrap();
    out.reservations()[0].instances()[0]
        .iam_instance_profile()
        .and_then(|p| p.arn())
        .map(str::to_string)
}

async fn sorted_ids(compute: &AwsCompute, profiles: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = compute
        .instances_using_profiles(profiles)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.instance_id)
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn instance_credentials_against_moto() {
    let moto = Moto::start().unwrap();
    let sdk = moto.sdk_config().await;
    let iam_client = aws_sdk_iam::Client::new(&sdk);
    let ec2_client = aws_sdk_ec2::Client::new(&sdk);
    let iam = AwsIam::new(iam_client.clone());
    let compute = AwsCompute::new(ec2_client.clone());

    // The web role is carried by two profiles; batch and quarantine have their own.
    let web = role_with_profile(&iam_client, "web", "web").await;
    let web_spot = role_with_profile(&iam_client, "web", "web-spot").await;
    let batch = role_with_profile(&iam_client, "batch", "batch").await;
    let quarantine = role_with_profile(
        &iam_client,
        "cordon-quarantine-instance",
        "cordon-quarantine-instance",
    )
    .await;
    assert_eq!(
        quarantine,
        cordon_aws::accounts::instance_profile_arn(
            "us-east-1",
            ACCOUNT_ID,
            "cordon-quarantine-instance"
        )
    );
    let mut profiles = iam.instance_profiles_for_role("web").await.unwrap();
    profiles.sort();
    assert_eq!(profiles, [web.clone(), web_spot.clone()]);
    assert!(
        iam.instance_profiles_for_role("gone")
            .await
            .unwrap()
            .is_empty()
    );

    // Two web instances launched together (an Auto Scaling group's), one on the spot
    // profile, one stopped, one batch, one without a profile.
    let asg = launch(
        &ec2_client,
        2,
        Some(&web),
        &[("Name", "web"), ("aws:autoscaling:groupName", "web-asg")],
    )
    .await;
    let spot = launch(&ec2_client, 1, Some(&web_spot), &[]).await;
    let stopped = launch(&ec2_client, 1, Some(&web), &[]).await;
    ec2_client
        .stop_instances()
        .instance_ids(&stopped[0])
        .send()
        .await
        .unwrap();
    let batch_instance = launch(&ec2_client, 1, Some(&batch), &[]).await;
    let bare = launch(&ec2_client, 1, None, &[]).await;

    let mut running_web = [asg.clone(), spot.clone()].concat();
    running_web.sort();
    assert_eq!(
        sorted_ids(&compute, &[web.clone(), web_spot.clone()]).await,
        running_web
    );
    let used = compute
        .instances_using_profiles(std::slice::from_ref(&web))
        .await
        .unwrap();
    assert_eq!(used.len(), 2, "{used:?}");
    for u in &used {
        assert!(asg.contains(&u.instance_id));
        assert_eq!(u.name.as_deref(), Some("web"));
        assert_eq!(u.auto_scaling_group.as_deref(), Some("web-asg"));
        assert_eq!(u.instance_profile_arn.as_deref(), Some(web.as_str()));
        assert!(matches!(u.state.as_deref(), Some("pending" | "running")));
    }

    // The compromised instance: IMDS options and the subnet's network ACL with its entries.
    let id = asg[0].clone();
    let facts = compute.instance(&id).await.unwrap().unwrap();
    assert_eq!(facts.instance_profile_arn.as_deref(), Some(web.as_str()));
    assert_eq!(facts.metadata_http_tokens.as_deref(), Some("optional"));
    assert_eq!(facts.metadata_hop_limit, Some(2));
    assert_eq!(facts.metadata_http_endpoint.as_deref(), Some("disabled"));
    let acl = facts.network_acl_id.clone().expect("the subnet's ACL");
    assert!(
        facts
            .network_acl_entries
            .iter()
            .any(|e| e.rule_number == 32767 && e.action == "deny"),
        "{:?}",
        facts.network_acl_entries
    );
    assert_eq!(
        compute
            .nacl_deny(&acl, "198.51.100.7/32", 90)
            .await
            .unwrap(),
        Change::Done
    );
    let facts = compute.instance(&id).await.unwrap().unwrap();
    let ours: Vec<(bool, &str, Option<&str>)> = facts
        .network_acl_entries
        .iter()
        .filter(|e| e.rule_number == 90)
        .map(|e| (e.egress, e.action.as_str(), e.cidr.as_deref()))
        .collect();
    assert_eq!(
        ours.len(),
        2,
        "ingress and egress: {:?}",
        facts.network_acl_entries
    );
    assert!(
        ours.iter()
            .all(|(_, action, cidr)| *action == "deny" && *cidr == Some("198.51.100.7/32"))
    );

    // IMDSv2 with hop limit 1, the endpoint left as it was; again: nothing to do.
    assert_eq!(
        compute
            .set_metadata_options(&id, "required", 1)
            .await
            .unwrap(),
        Change::Done
    );
    let facts = compute.instance(&id).await.unwrap().unwrap();
    assert_eq!(facts.metadata_http_tokens.as_deref(), Some("required"));
    assert_eq!(facts.metadata_hop_limit, Some(1));
    assert_eq!(facts.metadata_http_endpoint.as_deref(), Some("disabled"));
    assert_eq!(
        compute
            .set_metadata_options(&id, "required", 1)
            .await
            .unwrap(),
        Change::Already
    );
    let err = compute
        .set_metadata_options("i-00000000000000000", "required", 1)
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::NotFound, "{err}");

    // The swap: the quarantine profile in place of the role's, shown by DescribeInstances, and
    // the instance no longer counts among the role's.
    assert_eq!(
        compute
            .replace_instance_profile(&id, &web, &quarantine)
            .await
            .unwrap(),
        Change::Done
    );
    assert_eq!(
        shown_profile(&ec2_client, &id).await,
        Some(quarantine.clone())
    );
    assert_eq!(
        sorted_ids(&compute, std::slice::from_ref(&web)).await,
        [asg[1].clone()]
    );
    assert_eq!(
        sorted_ids(&compute, std::slice::from_ref(&quarantine)).await,
        std::slice::from_ref(&id)
    );
    assert_eq!(
        compute
            .replace_instance_profile(&id, &web, &quarantine)
            .await
            .unwrap(),
        Change::Already
    );

    // Someone else's profile is never overwritten; nor is an instance without one swapped.
    let err = compute
        .replace_instance_profile(&batch_instance[0], &web, &quarantine)
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Invalid);
    assert!(
        err.message
            .contains(&format!("has instance profile {batch}, not {web}")),
        "{}",
        err.message
    );
    assert_eq!(
        shown_profile(&ec2_client, &batch_instance[0]).await,
        Some(batch)
    );
    let err = compute
        .replace_instance_profile(&bare[0], &web, &quarantine)
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Invalid);
    assert!(
        err.message.contains("has no instance profile"),
        "{}",
        err.message
    );

    // Release: the role's profile back in place of the quarantine profile, once.
    assert_eq!(
        compute
            .replace_instance_profile(&id, &quarantine, &web)
            .await
            .unwrap(),
        Change::Done
    );
    assert_eq!(shown_profile(&ec2_client, &id).await, Some(web.clone()));
    assert_eq!(
        compute
            .replace_instance_profile(&id, &quarantine, &web)
            .await
            .unwrap(),
        Change::Already
    );
    assert_eq!(sorted_ids(&compute, std::slice::from_ref(&web)).await, {
        let mut a = asg.clone();
        a.sort();
        a
    });
}
