//! The three scenes: what each arranges in moto, the attack it simulates, what it says, and
//! what it verifies afterwards (`checks`).

use serde_json::json;

use cordon_stack::DEFAULT_BUS;
use cordon_stack::account::{AccountView, instance_profile_arn};

use super::plumbing::{indent, output_of};
use super::{Demo, Missing, checks};
use crate::inject::{Caller, GdSubject, create_user_as, guardduty_event, simulate_create_user};

const EXFIL_TYPE: &str = "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS";
const EXFIL_ROLE: &str = "web-app-role";
const EXFIL_PROFILE: &str = "web-app";
/// The stack's quarantine instance profile (the template's default name).
const QUARANTINE_INSTANCE_PROFILE: &str = "cordon-quarantine-instance";
const EXFIL_SEVERITY: f64 = 5.0;
/// Scene (c): the user the attacker creates in the member account, a name a colleague in the
/// security account has too.
const MEMBER_USER: &str = "support2";
const MEMBER_ATTACKER: &str = "contractor-dev";
/// The web servers of scene (b): name and Auto Scaling group.
const WEB_SERVERS: [(&str, Option<&str>); 3] = [
    ("web-app-1", Some("web-app")),
    ("web-app-2", Some("web-app")),
    ("web-app-3", None),
];

impl Demo<'_> {
    /// Scene (a): a suspicious CreateUser, contained without asking anyone.
    pub(super) async fn scene_a(&self, user: &str) -> Result<(), Missing> {
        let st = self.st;
        let file = self.file();
        self.step("(a)", "an IAM user creates a suspicious user");
        println!(
            "{} ({}, long-term access key {}) calls iam:CreateUser {} through the IAM API,",
            file.attacker.user_name,
            file.attacker.arn,
            file.attacker.access_key_id,
            st.bold(user)
        );
        println!(
            "then attaches AdministratorAccess to it and creates an access key (persistence)."
        );
        let event = simulate_create_user(file, user, true)
            .await
            .map_err(|e| vec![format!("CreateUser in moto: {e}")])?;
        println!(
            "{}",
            st.dim("CloudTrail event (EventBridge envelope), built from that call:")
        );
        let d = &event["detail"];
        let summary = json!({
            "source": event["source"], "detail-type": event["detail-type"],
            "detail": {
                "eventID": d["eventID"], "eventTime": d["eventTime"], "eventName": d["eventName"],
                "userIdentity": d["userIdentity"], "sourceIPAddress": d["sourceIPAddress"],
                "userAgent": d["userAgent"], "requestParameters": d["requestParameters"],
                "responseElements": d["responseElements"], "requestID": d["requestID"],
            }
        });
        println!(
            "{}",
            indent(&serde_json::to_string_pretty(&summary).unwrap_or_default())
        );
        let (sent, m, _) = self
            .deliver(DEFAULT_BUS, &event, "the CreateUser event")
            .await?;
        let (done, contained_at) = self.follow(&m.execution_arn, sent, None).await?;
        let output = output_of(&done);
        self.show_verdict(&output);
        self.show_containment(&output);
        let mut missing = self
            .conclude(
                "(a)",
                &done,
                contained_at,
                "alert (read back from the alerts queue):",
                "",
            )
            .await;
        let home = AccountView::new(self.stack.aws_config());
        missing.extend(
            checks::user_quarantined("(a)", &home, &file.quarantine_policy_arn, user).await,
        );
        if missing.is_empty() {
            println!("{}", st.green(&format!("verified in IAM: {user} is quarantined (policy attached, tagged, keys inactive)")));
            Ok(())
        } else {
            Err(missing)
        }
    }

    /// Scene (b): a GuardDuty finding on an instance role shared by three web servers, contained
    /// once an approver says so.
    pub(super) async fn scene_b(&self) -> Result<(), Missing> {
        let st = self.st;
        self.step(
            "(b)",
            "a GuardDuty credential-exfiltration finding that needs approval",
        );
        let home = AccountView::new(self.stack.aws_config());
        // Three web servers run on the role: revoking its sessions would stop all three.
        let servers = web_servers(&home)
            .await
            .map_err(|e| vec![format!("(b) {e}")])?;
        let mut event = guardduty_event(
            self.stack.aws_config(),
            EXFIL_TYPE,
            EXFIL_SEVERITY,
            &GdSubject::Role(EXFIL_ROLE.into()),
            None,
        )
        .await
        .map_err(|e| vec![e])?;
        // The credentials leaked from the first of them.
        let leaked = servers[0].clone();
        event["detail"]["resource"]["instanceDetails"]["instanceId"] = json!(leaked);
        let principal = event["detail"]["resource"]["accessKeyDetails"]["principalId"]
            .as_str()
            .and_then(|p| p.split_once(':'))
            .map(|(role_id, _)| format!("{role_id}:{leaked}"));
        event["detail"]["resource"]["accessKeyDetails"]["principalId"] = json!(principal);
        println!(
            "{EXFIL_ROLE} runs 3 instances ({}; two in Auto Scaling group web-app); the credentials of {leaked} were used from 198.51.100.77",
            servers.join(", ")
        );
        println!(
            "GuardDuty: {} severity {} on instance role {} (finding {})",
            st.bold(EXFIL_TYPE),
            EXFIL_SEVERITY,
            EXFIL_ROLE,
            event["detail"]["id"].as_str().unwrap_or("")
        );
        let (sent, m, incident_id) = self
            .deliver(DEFAULT_BUS, &event, "the GuardDuty finding")
            .await?;
        let execution_arn = m.execution_arn.clone();
        let (done, contained_at) = self
            .follow(&execution_arn, sent, Some(&incident_id))
            .await?;
        let output = output_of(&done);
        self.show_verdict(&output);
        if let Some(a) = output.get("approval") {
            let how = if a["verified"] == true {
                "verified by AWS"
            } else {
                "identity locally asserted, not verified: offline"
            };
            println!(
                "{} {} by {} ({how})",
                st.bold("approval:"),
                st.status(a["decision"].as_str().unwrap_or("?")),
                a["approver"].as_str().unwrap_or("-"),
            );
        }
        self.show_containment(&output);
        let mut missing = self
            .conclude(
                "(b)",
                &done,
                contained_at,
                "alert:",
                " (including the human decision)",
            )
            .await;
        let quarantine_profile =
            instance_profile_arn(&self.file().account_id, QUARANTINE_INSTANCE_PROFILE);
        missing.extend(
            checks::instance_profiles("(b)", &home, &quarantine_profile, &leaked, &servers).await,
        );
        if output.get("containment").is_none() {
            missing.push("(b) nothing was contained (no containment in the case file)".to_string());
        } else {
            missing.extend(checks::role_sessions_revoked("(b)", &home, EXFIL_ROLE).await);
        }
        if missing.is_empty() {
            println!(
                "{}",
                st.green(&format!(
                    "verified in IAM and EC2: {EXFIL_ROLE}'s sessions issued before the approval are denied (the approver chose it); {leaked} has the quarantine instance profile; the two other servers are untouched"
                ))
            );
            Ok(())
        } else {
            Err(missing)
        }
    }

    /// Scene (c): the same attack in a member account, contained there through its responder
    /// role, while a same-named user in the security account stays as it was.
    pub(super) async fn scene_c(&self) -> Result<(), Missing> {
        use cordon_moto::organization::{ACCESS_ROLE, config_in_account};
        let st = self.st;
        let file = self.file();
        let Some(org) = &file.organization else {
            return Err(vec!["(c) the stack has no organization".into()]);
        };
        let member = &org.members[0];
        self.step(
            "(c)",
            &format!(
                "the same attack in member account {} ({}), answered from the security account {}",
                member.id, member.name, file.account_id
            ),
        );
        let fail = |what: &str, e: &dyn std::fmt::Display| vec![format!("(c) {what}: {e}")];
        // A colleague in the security account has the same user name.
        let here = AccountView::new(self.stack.aws_config());
        here.iam
            .create_user()
            .user_name(MEMBER_USER)
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key("Team")
                    .value("platform")
                    .build()
                    .map_err(|e| fail("tag", &e))?,
            )
            .send()
            .await
            .map_err(|e| {
                fail(
                    "CreateUser in the security account",
                    &aws_sdk_iam::error::DisplayErrorContext(e),
                )
            })?;
        let colleague = here
            .user_state(MEMBER_USER)
            .await
            .map_err(|e| vec![format!("(c) {e}")])?;
        // The attacker: a contractor with a long-term key in the member account.
        let admin = config_in_account(self.stack.aws_config(), &member.id, ACCESS_ROLE)
            .await
            .map_err(|e| fail("reaching the member account", &e))?;
        let member_view = AccountView::new(&admin);
        let member_iam = &member_view.iam;
        let created = member_iam
            .create_user()
            .user_name(MEMBER_ATTACKER)
            .send()
            .await
            .map_err(|e| {
                fail(
                    "CreateUser contractor",
                    &aws_sdk_iam::error::DisplayErrorContext(e),
                )
            })?;
        let created = created
            .user()
            .ok_or_else(|| fail("CreateUser", &"no user"))?;
        let key = member_iam
            .create_access_key()
            .user_name(MEMBER_ATTACKER)
            .send()
            .await
            .map_err(|e| {
                fail(
                    "CreateAccessKey",
                    &aws_sdk_iam::error::DisplayErrorContext(e),
                )
            })?;
        let key = key
            .access_key()
            .ok_or_else(|| fail("CreateAccessKey", &"no key"))?;
        let creds = aws_credential_types::Credentials::from_keys(
            key.access_key_id(),
            key.secret_access_key(),
            None,
        );
        let caller = Caller {
            config: admin
                .to_builder()
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(creds),
                )
                .build(),
            account: member.id.clone(),
            region: file.region.clone(),
            user: cordon_stack::Principal {
                user_name: MEMBER_ATTACKER.into(),
                arn: created.arn().to_string(),
                access_key_id: key.access_key_id().to_string(),
                secret_access_key: key.secret_access_key().to_string(),
            },
            principal_id: created.user_id().to_string(),
        };
        println!(
            "{} (long-term key, account {}) creates {} with AdministratorAccess and a key;",
            MEMBER_ATTACKER,
            member.id,
            st.bold(MEMBER_USER)
        );
        println!(
            "a colleague in the security account {} is also called {MEMBER_USER}.",
            file.account_id
        );
        let event = create_user_as(&caller, MEMBER_USER, true)
            .await
            .map_err(|e| fail("CreateUser in the member account", &e))?;
        println!(
            "the member's us-east-1 rule (infra/member.yaml) forwards the CloudTrail event to the bus {}",
            st.bold(&org.event_bus_name)
        );
        let (sent, m, _) = self
            .deliver(&org.event_bus_name, &event, "(c) the forwarded event")
            .await?;
        let (done, contained_at) = self.follow(&m.execution_arn, sent, None).await?;
        let output = output_of(&done);
        let scope = &output["enrichment"]["scope"];
        println!(
            "{} incident in account {}, reached through {} ({})",
            st.bold("scope:"),
            output["incident"]["account"].as_str().unwrap_or("?"),
            scope["access"].as_str().unwrap_or("?"),
            scope["detail"].as_str().unwrap_or("")
        );
        self.show_verdict(&output);
        self.show_containment(&output);
        let mut missing = self
            .conclude("(c)", &done, contained_at, "alert:", "")
            .await;
        let member_policy = format!(
            "arn:aws:iam::{}:policy/cordon-quarantine-deny-all",
            member.id
        );
        missing.extend(
            checks::user_quarantined("(c)", &member_view, &member_policy, MEMBER_USER).await,
        );
        // The security account's same-named user: exactly as it was.
        let whose = format!("the security account {}", file.account_id);
        missing.extend(checks::user_untouched("(c)", &here, MEMBER_USER, &colleague, &whose).await);
        if missing.is_empty() {
            println!(
                "{}",
                st.green(&format!(
                    "verified in IAM: {MEMBER_USER} is quarantined in {} (through cordon-responder); {MEMBER_USER} in {} is untouched",
                    member.id, file.account_id
                ))
            );
            Ok(())
        } else {
            Err(missing)
        }
    }
}

/// Three running web servers on `web-app-role` (two in an Auto Scaling group), IMDSv1
/// allowed; their ids.
async fn web_servers(home: &AccountView) -> Result<Vec<String>, cordon_stack::account::CallError> {
    home.create_role_with_profile(EXFIL_ROLE, EXFIL_PROFILE)
        .await?;
    let mut ids = Vec::new();
    for (name, group) in WEB_SERVERS {
        // Hop limit 1: what EC2 gives an instance launched without metadata options.
        ids.push(home.run_instance(EXFIL_PROFILE, name, group, 1).await?);
    }
    Ok(ids)
}
