//! `cordon send` / `cordon simulate`: inject events into the offline stack.
//!
//! Routing happens here, in the client, exactly as in the stack: the template's EventBridge
//! rules (the same file) and executions named after the incident, started through the Step
//! Functions endpoint of the running stack.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use aws_config::SdkConfig;
use aws_sdk_iam::operation::RequestId;
use cordon_stack::{EventRouter, Outcome, Routed, StackFile};
use serde_json::{Value, json};

use crate::audit::style::Style;
use crate::target::Target;

#[derive(clap::Args)]
pub struct SendArgs {
    /// The EventBridge event (JSON file; `-` for standard input).
    pub event: PathBuf,
    /// Print what was routed as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct SimulateArgs {
    #[command(subcommand)]
    pub what: Simulation,
    /// Print what was routed as JSON.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(clap::Subcommand)]
pub enum Simulation {
    /// An IAM user (the stack's attacker, `contractor-dev`) creates a user through the IAM API;
    /// the CloudTrail event is built from that real call and delivered.
    CreateUser {
        /// The new user's name (default: a random `service-xxxxxx`). With --count, a suffix is added.
        #[arg(long)]
        name: Option<String>,
        /// How many users to create.
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// Also attach AdministratorAccess to the new user and create an access key for it, as an
        /// attacker establishing persistence would (before the event is delivered).
        #[arg(long)]
        persist: bool,
    },
    /// A GuardDuty finding (EventBridge envelope) about an existing user or role.
    Guardduty {
        /// The finding type, e.g. `UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS`.
        #[arg(value_name = "TYPE")]
        finding_type: String,
        /// GuardDuty severity (0.1-8.9 in the console's bands; 9+ critical).
        #[arg(long, default_value_t = 5.0)]
        severity: f64,
        /// The IAM user whose access key the finding is about (default: the attacker).
        #[arg(long, conflicts_with = "role")]
        user: Option<String>,
        /// The IAM role whose session credentials the finding is about.
        #[arg(long)]
        role: Option<String>,
        /// Reuse a finding id (a GuardDuty update of the same finding).
        #[arg(long)]
        finding_id: Option<String>,
    },
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Runtime::new().map_err(|e| format!("cannot start a runtime: {e}"))
}

/// Logs of the stack (and the functions' output) to standard error, `RUST_LOG` or `info`.
pub(crate) fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn fail(what: &str, e: impl std::fmt::Display) -> ExitCode {
    eprintln!("cordon {what}: {e}");
    ExitCode::FAILURE
}

pub fn send(args: SendArgs) -> ExitCode {
    let text = if args.event.as_os_str() == "-" {
        let mut s = String::new();
        match std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
            Ok(_) => s,
            Err(e) => return fail("send", e),
        }
    } else {
        match std::fs::read_to_string(&args.event) {
            Ok(s) => s,
            Err(e) => return fail("send", format!("{}: {e}", args.event.display())),
        }
    };
    let event: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return fail("send", format!("{} is not JSON: {e}", args.event.display())),
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail("send", e),
    };
    rt.block_on(async {
        let target = match Target::resolve(false, None).await {
            Ok(t) => t,
            Err(e) => return fail("send", e),
        };
        match route(&target, &event).await {
            Ok(routed) => {
                report(&routed, args.json);
                ExitCode::SUCCESS
            }
            Err(e) => fail("send", e),
        }
    })
}

/// Route an event through the running stack's Step Functions endpoint.
pub(crate) async fn route(target: &Target, event: &Value) -> Result<Routed, String> {
    let file = target
        .stack
        .as_ref()
        .ok_or("sending events needs the offline stack")?;
    let root = cordon_stack::find_root().map_err(|e| e.to_string())?;
    let mut machines: HashMap<String, String> = file.state_machines.clone().into_iter().collect();
    if machines.is_empty() {
        machines.insert(
            "IncidentResponseStateMachine".into(),
            file.state_machine_arn.clone(),
        );
    }
    let router = EventRouter::from_template(&root, machines).map_err(|e| e.to_string())?;
    let sfn = aws_sdk_sfn::Client::new(&target.sfn);
    router.send(&sfn, event).await.map_err(|e| e.to_string())
}

fn report(routed: &Routed, json: bool) {
    if json {
        println!("{}", serde_json::to_string(routed).unwrap_or_default());
        return;
    }
    let st = Style::for_stdout();
    if routed.matches.is_empty() && routed.ignored.is_empty() {
        println!("{}", st.yellow("no rule matched; nothing started"));
    }
    for m in &routed.matches {
        let outcome = match m.outcome {
            Outcome::Started => st.green("started"),
            Outcome::Duplicate => st.yellow(&format!(
                "duplicate of {} ({})",
                m.execution_arn,
                m.existing_status.as_deref().unwrap_or("existing")
            )),
        };
        println!(
            "rule {} matched incident {}: {outcome}",
            st.bold(&m.rule),
            m.incident_id
        );
        if m.outcome == Outcome::Started {
            println!("  execution {}", m.execution_arn);
        }
    }
    for i in &routed.ignored {
        println!(
            "rule {} ignored finding {}: {}",
            st.bold(&i.rule),
            cordon_core::parse::escape_control(&i.finding_id),
            cordon_core::parse::escape_control(&i.reason)
        );
    }
}

pub fn simulate(args: SimulateArgs) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail("simulate", e),
    };
    rt.block_on(async {
        let target = match Target::resolve(false, None).await {
            Ok(t) => t,
            Err(e) => return fail("simulate", e),
        };
        let Some(file) = target.stack.clone() else {
            return fail("simulate", "simulations need the offline stack");
        };
        match args.what {
            Simulation::CreateUser {
                name,
                count,
                persist,
            } => {
                let bar = progress(count);
                let mut all = Vec::new();
                for i in 0..count {
                    let user = match (&name, count) {
                        (Some(n), 1) => n.clone(),
                        (Some(n), _) => format!("{n}-{}", i + 1),
                        (None, _) => random_service_name(),
                    };
                    let result = async {
                        let event = simulate_create_user(&file, &user, persist).await?;
                        route(&target, &event).await
                    }
                    .await;
                    match result {
                        Ok(routed) => {
                            if let Some(b) = &bar {
                                b.inc(1);
                            } else if !args.json {
                                println!("created user {user} as {}", file.attacker.arn);
                                report(&routed, false);
                            }
                            all.push(routed);
                        }
                        Err(e) => return fail("simulate create-user", e),
                    }
                }
                if let Some(b) = bar {
                    b.finish();
                    let started = all
                        .iter()
                        .flat_map(|r| &r.matches)
                        .filter(|m| m.outcome == Outcome::Started)
                        .count();
                    if !args.json {
                        println!("{count} users created, {started} executions started");
                    }
                }
                if args.json {
                    let v = if all.len() == 1 {
                        json!(all[0])
                    } else {
                        json!(all)
                    };
                    println!("{v}");
                }
                ExitCode::SUCCESS
            }
            Simulation::Guardduty {
                finding_type,
                severity,
                user,
                role,
                finding_id,
            } => {
                let subject = match (user, role) {
                    (_, Some(r)) => GdSubject::Role(r),
                    (Some(u), None) => GdSubject::User(u),
                    (None, None) => GdSubject::User(file.attacker.user_name.clone()),
                };
                let result = async {
                    let event =
                        guardduty_event(&target.aws, &finding_type, severity, &subject, finding_id)
                            .await?;
                    route(&target, &event).await
                }
                .await;
                match result {
                    Ok(routed) => {
                        report(&routed, args.json);
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail("simulate guardduty", e),
                }
            }
        }
    })
}

fn progress(count: usize) -> Option<indicatif::ProgressBar> {
    if count <= 1 || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(count as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} users {elapsed}")
    {
        bar.set_style(style);
    }
    Some(bar)
}

/// `service-` and six random lowercase letters and digits.
pub(crate) fn random_service_name() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("service-{}", &id[..6])
}

/// An SDK configuration with the attacker's own access key, at moto.
async fn attacker_config(file: &StackFile) -> SdkConfig {
    let creds = aws_credential_types::Credentials::from_keys(
        file.attacker.access_key_id.clone(),
        file.attacker.secret_access_key.clone(),
        None,
    );
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(file.region.clone()))
        .credentials_provider(creds)
        .endpoint_url(&file.endpoints.aws)
        .app_name(aws_config::AppName::new("cordon-simulate").expect("valid app name"))
        .load()
        .await
}

/// Call `CreateUser` as the attacker and build the CloudTrail event (EventBridge envelope)
/// from the real request and response.
pub(crate) async fn simulate_create_user(
    file: &StackFile,
    user: &str,
    persist: bool,
) -> Result<Value, String> {
    // The attacker's user id, as CloudTrail's principalId.
    let admin = aws_sdk_iam::Client::new(&crate::inject::admin_config(file).await);
    let principal_id = admin
        .get_user()
        .user_name(&file.attacker.user_name)
        .send()
        .await
        .ok()
        .and_then(|u| u.user().map(|u| u.user_id().to_string()))
        .unwrap_or_default();
    let caller = Caller {
        config: attacker_config(file).await,
        account: file.account_id.clone(),
        region: file.region.clone(),
        user: file.attacker.clone(),
        principal_id,
    };
    create_user_as(&caller, user, persist).await
}

/// An IAM user with a long-term access key who calls the IAM API (the simulated attacker).
pub(crate) struct Caller {
    /// Signs with the user's own key (moto maps it to the user's account).
    pub config: SdkConfig,
    pub account: String,
    pub region: String,
    pub user: cordon_stack::Principal,
    pub principal_id: String,
}

/// `caller` creates `user` through the IAM API (with `persist`: attaches AdministratorAccess
/// and creates an access key), and the CloudTrail event of that call as EventBridge delivers
/// it in the caller's account.
pub(crate) async fn create_user_as(
    caller: &Caller,
    user: &str,
    persist: bool,
) -> Result<Value, String> {
    let iam = aws_sdk_iam::Client::new(&caller.config);
    let err = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
    let out = iam
        .create_user()
        .user_name(user)
        .send()
        .await
        .map_err(|e| err("CreateUser", &aws_sdk_iam::error::DisplayErrorContext(e)))?;
    let now = chrono::Utc::now();
    let request_id = out
        .request_id()
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let created = out.user().ok_or("CreateUser returned no user")?;
    if persist {
        let aws_managed = "arn:aws:iam::aws:policy/AdministratorAccess";
        let attached = iam
            .attach_user_policy()
            .user_name(user)
            .policy_arn(aws_managed)
            .send()
            .await;
        if attached.is_err() {
            // moto_server loads AWS managed policies only when asked to at start-up; without
            // them the attacker brings its own copy (same name, same document).
            let own = format!("arn:aws:iam::{}:policy/AdministratorAccess", caller.account);
            if iam.get_policy().policy_arn(&own).send().await.is_err() {
                iam.create_policy()
                    .policy_name("AdministratorAccess")
                    .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#)
                    .send()
                    .await
                    .map_err(|e| err("CreatePolicy", &aws_sdk_iam::error::DisplayErrorContext(e)))?;
            }
            iam.attach_user_policy()
                .user_name(user)
                .policy_arn(&own)
                .send()
                .await
                .map_err(|e| {
                    err(
                        "AttachUserPolicy",
                        &aws_sdk_iam::error::DisplayErrorContext(e),
                    )
                })?;
        }
        iam.create_access_key()
            .user_name(user)
            .send()
            .await
            .map_err(|e| {
                err(
                    "CreateAccessKey",
                    &aws_sdk_iam::error::DisplayErrorContext(e),
                )
            })?;
    }
    let create_date =
        chrono::DateTime::from_timestamp(created.create_date().secs(), 0).unwrap_or(now);
    let event_time = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let user_agent = format!(
        "aws-sdk-rust/1 ua/2.1 os/{} lang/rust app/cordon-simulate",
        std::env::consts::OS
    );
    Ok(json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "account": caller.account,
        "time": event_time,
        "region": caller.region,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "IAMUser",
                "principalId": caller.principal_id,
                "arn": caller.user.arn,
                "accountId": caller.account,
                "accessKeyId": caller.user.access_key_id,
                "userName": caller.user.user_name,
            },
            "eventTime": event_time,
            "eventSource": "iam.amazonaws.com",
            "eventName": "CreateUser",
            "awsRegion": caller.region,
            "sourceIPAddress": "127.0.0.1",
            "userAgent": user_agent,
            "requestParameters": { "userName": user },
            "responseElements": {
                "user": {
                    "path": created.path(),
                    "userName": created.user_name(),
                    "userId": created.user_id(),
                    "arn": created.arn(),
                    "createDate": create_date.format("%b %-d, %Y, %-I:%M:%S %p").to_string(),
                }
            },
            "requestID": request_id,
            "eventID": uuid::Uuid::new_v4().to_string(),
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": caller.account,
            "eventCategory": "Management",
            "tlsDetails": {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": "iam.amazonaws.com"
            }
        }
    }))
}

/// The stack's test credentials at moto.
pub(crate) async fn admin_config(file: &StackFile) -> SdkConfig {
    cordon_moto_config(
        &file.endpoints.aws,
        &file.region,
        &file.access_key_id,
        &file.secret_access_key,
    )
    .await
}

async fn cordon_moto_config(endpoint: &str, region: &str, key: &str, secret: &str) -> SdkConfig {
    let creds =
        aws_credential_types::Credentials::from_keys(key.to_string(), secret.to_string(), None);
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .credentials_provider(creds)
        .endpoint_url(endpoint)
        .load()
        .await
}

/// Whom a GuardDuty finding is about.
pub(crate) enum GdSubject {
    User(String),
    Role(String),
}

/// A GuardDuty finding as EventBridge delivers it, about a user or role that exists in the
/// (simulated) account.
pub(crate) async fn guardduty_event(
    aws: &SdkConfig,
    finding_type: &str,
    severity: f64,
    subject: &GdSubject,
    finding_id: Option<String>,
) -> Result<Value, String> {
    let iam = aws_sdk_iam::Client::new(aws);
    let account = cordon_moto::ACCOUNT_ID;
    let region = cordon_moto::REGION;
    let id = finding_id.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let now = chrono::Utc::now();
    let ts = now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let first_seen = (now - chrono::Duration::minutes(20))
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let (access_key, title, description, instance) = match subject {
        GdSubject::User(name) => {
            let u = iam.get_user().user_name(name).send().await.map_err(|e| {
                format!(
                    "user {name}: {}",
                    aws_sdk_iam::error::DisplayErrorContext(e)
                )
            })?;
            let user_id = u
                .user()
                .map(|u| u.user_id().to_string())
                .unwrap_or_default();
            let keys = iam.list_access_keys().user_name(name).send().await.ok();
            let key_id = keys
                .as_ref()
                .and_then(|k| {
                    k.access_key_metadata()
                        .first()
                        .and_then(|m| m.access_key_id().map(str::to_string))
                })
                .unwrap_or_else(|| "AKIAOFFLINEEXAMPLE01".into());
            (
                json!({"accessKeyId": key_id, "principalId": user_id, "userName": name, "userType": "IAMUser"}),
                format!("Credentials of IAM user {name} used from an unusual location."),
                format!(
                    "The access key {key_id} of IAM user {name} was used in a way GuardDuty considers anomalous."
                ),
                Value::Null,
            )
        }
        GdSubject::Role(name) => {
            let r = iam.get_role().role_name(name).send().await.map_err(|e| {
                format!(
                    "role {name}: {}",
                    aws_sdk_iam::error::DisplayErrorContext(e)
                )
            })?;
            let role_id = r
                .role()
                .map(|r| r.role_id().to_string())
                .unwrap_or_default();
            let instance_id = "i-0c0d0e0f1a2b3c4d5";
            (
                json!({"accessKeyId": "ASIAOFFLINESTOLEN001", "principalId": format!("{role_id}:{instance_id}"), "userName": name, "userType": "AssumedRole"}),
                format!("Credentials for instance role {name} used from external IP address."),
                format!(
                    "Credentials created exclusively for an EC2 instance using instance role {name} have been used from external IP address 198.51.100.77."
                ),
                json!({
                    "instanceId": instance_id,
                    "instanceType": "t3.medium",
                    "availabilityZone": format!("{region}a"),
                    "instanceState": "running",
                    "networkInterfaces": [{"networkInterfaceId": "eni-0c0d0e0f1a2b3c4d5", "privateIpAddress": "10.0.1.25", "publicIp": "54.210.1.2", "subnetId": "subnet-0123456789abcdef0", "vpcId": "vpc-0123456789abcdef0"}],
                    "tags": [{"key": "Name", "value": "web-app-1"}]
                }),
            )
        }
    };
    let mut resource = json!({"resourceType": "AccessKey", "accessKeyDetails": access_key});
    if !instance.is_null() {
        resource["instanceDetails"] = instance;
    }
    Ok(json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "account": account,
        "time": now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": region,
        "resources": [],
        "detail": {
            "schemaVersion": "2.0",
            "accountId": account,
            "region": region,
            "partition": "aws",
            "id": id,
            "arn": format!("arn:aws:guardduty:{region}:{account}:detector/0c0ffee0c0ffee0c0ffee0c0ffee0c0f/finding/{id}"),
            "type": finding_type,
            "resource": resource,
            "service": {
                "serviceName": "guardduty",
                "detectorId": "0c0ffee0c0ffee0c0ffee0c0ffee0c0f",
                "action": {
                    "actionType": "AWS_API_CALL",
                    "awsApiCallAction": {
                        "api": "ListBuckets",
                        "serviceName": "s3.amazonaws.com",
                        "callerType": "Remote IP",
                        "remoteIpDetails": {
                            "ipAddressV4": "198.51.100.77",
                            "organization": {"asn": "64500", "asnOrg": "EXAMPLE-HOSTING-AS", "isp": "Example Hosting Ltd", "org": "Example Hosting Ltd"},
                            "country": {"countryName": "Netherlands"},
                            "city": {"cityName": "Amsterdam"}
                        },
                        "affectedResources": {}
                    }
                },
                "resourceRole": "TARGET",
                "additionalInfo": {"value": "{}", "type": "default"},
                "eventFirstSeen": first_seen,
                "eventLastSeen": ts,
                "archived": false,
                "count": 1
            },
            "severity": severity,
            "createdAt": ts,
            "updatedAt": ts,
            "title": title,
            "description": description
        }
    }))
}
