//! cordon-e2e: what the end-to-end scenarios and the response benchmark share.
//!
//! A [`Scenario`] is one whole offline stack ([`cordon_stack::Stack`]: moto, the engine with
//! its durable store, the real function binaries behind the Lambda host, the approve function
//! URL, the template's EventBridge rules) plus the SDK clients a test uses to arrange the
//! simulated account and to read back what cordon did: IAM and EC2 state in moto, the alerts
//! and approvals topics through their SQS queues, the execution history in the engine.
//! IAM and EC2 are read (and instance roles and instances arranged) through
//! [`cordon_stack::account`], which `cordon demo` checks with too; here a failed call fails
//! the test.
//!
//! Everything waits for a condition with a generous deadline and polls; nothing sleeps and
//! hopes, so the scenarios hold on a loaded two-core machine.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use cordon_stack::{Outcome, Routed, Stack, StackOptions};
use serde_json::{Value, json};

pub mod proxy;

pub use cordon_stack::account::{
    AccountView, AclEntry, CallError, InstanceState, NetworkAcl, RoleState, UserState,
};
pub use proxy::{Fault, FaultProxy};

/// How long a scenario waits for any one condition (an execution to end, a message to
/// arrive). Generous: the machine is shared and may be loaded.
pub const DEADLINE: Duration = Duration::from_secs(240);

/// The account and region of the offline stack.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// At most this many stacks (each a moto_server, an engine and up to six function
/// processes) run at once in one test binary; `CORDON_E2E_STACKS` overrides it.
fn max_stacks() -> usize {
    std::env::var("CORDON_E2E_STACKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(3)
}

static SLOTS: Mutex<usize> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

/// A slot among the stacks allowed to run at once, given back when dropped.
pub struct Slot(());

impl Slot {
    fn take() -> Slot {
        let mut used = SLOTS.lock().unwrap();
        while *used >= max_stacks() {
            used = FREED.wait(used).unwrap();
        }
        *used += 1;
        Slot(())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *SLOTS.lock().unwrap() -= 1;
        FREED.notify_one();
    }
}

/// A fixture from `tests/events/`.
pub fn fixture(name: &str) -> Value {
    let path = cordon_stack::find_root()
        .expect("project root")
        .join("tests/events")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading fixture {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// `infra/policy.example.json`, to change a field of in a scenario.
pub fn example_policy() -> Value {
    let path = cordon_stack::find_root()
        .expect("project root")
        .join("infra/policy.example.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("policy.example.json"))
        .expect("policy.example.json is JSON")
}

/// One message read from a topic's SQS queue (raw delivery off: the SNS envelope).
#[derive(Debug, Clone)]
pub struct SnsMessage {
    pub subject: String,
    /// The SNS `Message` as delivered.
    pub message: String,
    /// `Message` parsed, when it is JSON (cordon publishes the structured form to SQS).
    pub json: Option<Value>,
    /// `MessageAttributes`, name → string value.
    pub attributes: BTreeMap<String, String>,
    /// The whole SQS message body.
    pub raw: String,
}

impl SnsMessage {
    fn from_body(body: &str) -> SnsMessage {
        let envelope: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let message = envelope["Message"].as_str().unwrap_or_default().to_string();
        let attributes = envelope["MessageAttributes"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v["Value"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        SnsMessage {
            subject: envelope["Subject"].as_str().unwrap_or_default().to_string(),
            json: serde_json::from_str(&message).ok(),
            message,
            attributes,
            raw: body.to_string(),
        }
    }
}

/// A running offline stack and the clients a scenario reads and arranges it with.
pub struct Scenario {
    pub stack: Stack,
    pub iam: aws_sdk_iam::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub http: reqwest::Client,
    _slot: Slot,
}

impl Scenario {
    /// The stack with `infra/policy.example.json`.
    pub async fn start() -> Scenario {
        Self::start_with(StackOptions::default()).await
    }

    /// The stack with this policy document instead of the example file.
    pub async fn start_with_policy(policy: Value) -> Scenario {
        Self::start_with(StackOptions {
            policy: Some(policy),
            ..StackOptions::default()
        })
        .await
    }

    pub async fn start_with(options: StackOptions) -> Scenario {
        let slot = tokio::task::spawn_blocking(Slot::take).await.unwrap();
        let stack = Stack::start(options)
            .await
            .unwrap_or_else(|e| panic!("the offline stack did not start: {e}"));
        let aws = stack.aws_config().clone();
        Scenario {
            iam: aws_sdk_iam::Client::new(&aws),
            ec2: aws_sdk_ec2::Client::new(&aws),
            sqs: aws_sdk_sqs::Client::new(&aws),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
            stack,
            _slot: slot,
        }
    }

    pub async fn stop(self) {
        self.stack.stop().await;
    }

    pub fn quarantine_policy_arn(&self) -> &str {
        &self.stack.info().quarantine_policy_arn
    }

    pub fn alerts_queue(&self) -> &str {
        &self.stack.info().alerts_queue_url
    }

    pub fn approvals_queue(&self) -> &str {
        &self.stack.info().approvals_queue_url
    }

    // ------------------------------------------------------------------ events, executions

    /// Deliver an event that must start exactly one execution; its ARN.
    pub async fn send_new(&self, event: &Value) -> String {
        let routed = self.send(event).await;
        assert_eq!(
            routed.matches.len(),
            1,
            "exactly one rule should match the event: {routed:?}"
        );
        assert_eq!(routed.matches[0].outcome, Outcome::Started, "{routed:?}");
        routed.matches[0].execution_arn.clone()
    }

    pub async fn send(&self, event: &Value) -> Routed {
        self.stack
            .send(event)
            .await
            .unwrap_or_else(|e| panic!("delivering the event: {e}"))
    }

    pub async fn describe(&self, arn: &str) -> Value {
        self.stack
            .engine()
            .call("DescribeExecution", json!({"executionArn": arn}))
            .await
            .unwrap_or_else(|e| panic!("DescribeExecution {arn}: {e:?}"))
    }

    /// Wait until the execution is no longer RUNNING; its description.
    pub async fn wait_terminal(&self, arn: &str) -> Value {
        let start = Instant::now();
        loop {
            let d = self.describe(arn).await;
            if d["status"] != "RUNNING" {
                return d;
            }
            if start.elapsed() > DEADLINE {
                let h = self.history(arn).await;
                panic!(
                    "execution still RUNNING after {DEADLINE:?}; states entered: {:?}; last events: {}",
                    entered_states(&h),
                    tail(&h, 6)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Wait until the execution ends; its output (the case file). Panics with the
    /// history's failure if it did not succeed.
    pub async fn wait_succeeded(&self, arn: &str) -> Value {
        let d = self.wait_terminal(arn).await;
        if d["status"] != "SUCCEEDED" {
            let h = self.history(arn).await;
            panic!(
                "execution {}: error {:?}, cause {:?}; states entered: {:?}; failures: {}",
                d["status"],
                d["error"],
                d["cause"],
                entered_states(&h),
                failures(&h)
            );
        }
        output(&d)
    }

    /// The whole execution history, oldest first.
    pub async fn history(&self, arn: &str) -> Vec<Value> {
        let mut events = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..1000 {
            let mut req = json!({"executionArn": arn, "maxResults": 1000});
            if let Some(t) = &token {
                req["nextToken"] = json!(t);
            }
            let page = self
                .stack
                .engine()
                .call("GetExecutionHistory", req)
                .await
                .unwrap_or_else(|e| panic!("GetExecutionHistory {arn}: {e:?}"));
            events.extend(page["events"].as_array().cloned().unwrap_or_default());
            match page["nextToken"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        events
    }

    /// Wait until `state` has been entered in the execution (e.g. the approval wait).
    pub async fn wait_entered(&self, arn: &str, state: &str) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let h = self.history(arn).await;
            if entered_states(&h).iter().any(|s| s == state) {
                return h;
            }
            let d = self.describe(arn).await;
            assert!(
                d["status"] == "RUNNING",
                "the execution ended ({}: {:?} {:?}) without entering {state}; entered {:?}; failures: {}; classification: {}",
                d["status"],
                d["error"],
                d["cause"],
                entered_states(&h),
                failures(&h),
                output(&d)["classification"]
            );
            assert!(
                start.elapsed() < DEADLINE,
                "{state} not entered after {DEADLINE:?}; entered {:?}",
                entered_states(&h)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // ------------------------------------------------------------------ topics (via SQS)

    /// Read (and delete) messages from `queue_url` until `want` have arrived.
    pub async fn receive(&self, queue_url: &str, want: usize) -> Vec<SnsMessage> {
        let start = Instant::now();
        let mut got = Vec::new();
        while got.len() < want {
            got.extend(self.receive_batch(queue_url).await);
            assert!(
                start.elapsed() < DEADLINE || got.len() >= want,
                "{} of {want} messages arrived in {queue_url} after {DEADLINE:?}: {:?}",
                got.len(),
                got.iter()
                    .map(|m: &SnsMessage| &m.subject)
                    .collect::<Vec<_>>()
            );
        }
        got
    }

    /// Every message in the queue now (reads until a long poll comes back empty). Call it
    /// once the execution that publishes has ended: SNS delivers to SQS within Publish.
    pub async fn drain(&self, queue_url: &str) -> Vec<SnsMessage> {
        let mut got = Vec::new();
        for _ in 0..10_000 {
            let batch = self.receive_batch(queue_url).await;
            if batch.is_empty() {
                break;
            }
            got.extend(batch);
        }
        got
    }

    async fn receive_batch(&self, queue_url: &str) -> Vec<SnsMessage> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "ReceiveMessage {queue_url}: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                )
            });
        let mut got = Vec::new();
        for m in out.messages() {
            got.push(SnsMessage::from_body(m.body().unwrap_or_default()));
            if let Some(handle) = m.receipt_handle() {
                let _ = self
                    .sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await;
            }
        }
        got
    }

    // ------------------------------------------------------------------ the approve URL

    /// POST a decision to the approve function URL as `caller` (asserted offline, as the
    /// `cordon approve` CLI does); the HTTP status and the body.
    pub async fn decide(
        &self,
        execution_arn: &str,
        incident_id: &str,
        decision: &str,
        reason: &str,
        caller: &str,
    ) -> (u16, String) {
        // The approve function's contract: {executionArn, decision, reason}; the caller is
        // the function URL's IAM request context (asserted offline), never the body.
        let _ = incident_id;
        let body = json!({
            "executionArn": execution_arn,
            "decision": decision,
            "reason": reason,
        });
        let r = self
            .http
            .post(&self.stack.endpoints().approve)
            .header("content-type", "application/json")
            .header(cordon_stack::ASSERTED_CALLER_HEADER, caller)
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST to the approve function URL: {e}"));
        let status = r.status().as_u16();
        (status, r.text().await.unwrap_or_default())
    }

    // ------------------------------------------------------------------ the CLI

    /// Run the `cordon` CLI against this stack, as an engineer does (the stack file in the
    /// current directory); its output.
    pub async fn cordon(&self, args: &[&str]) -> std::process::Output {
        let cli = cordon_stack::default_bin_dir().join("cordon");
        assert!(
            cli.is_file(),
            "the cordon CLI is not built: cargo build -p cordon"
        );
        let dir = tempfile::tempdir().unwrap();
        self.stack
            .info()
            .write(&dir.path().join(".cordon/stack.json"))
            .unwrap();
        let run = tokio::process::Command::new(&cli)
            .args(args)
            .current_dir(dir.path())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1")
            .output();
        tokio::time::timeout(Duration::from_secs(180), run)
            .await
            .expect("cordon did not finish")
            .unwrap()
    }

    // ------------------------------------------------------------------ accounts

    /// SDK configuration acting in `account`: the stack's own for its account, else the
    /// account's `OrganizationAccountAccessRole` (organization mode's offline organization).
    pub async fn config_in(&self, account: &str) -> aws_config::SdkConfig {
        if account == cordon_moto::ACCOUNT_ID {
            return self.stack.aws_config().clone();
        }
        cordon_moto::organization::config_in_account(
            self.stack.aws_config(),
            account,
            cordon_moto::organization::ACCESS_ROLE,
        )
        .await
        .unwrap_or_else(|e| panic!("reaching account {account}: {e}"))
    }

    /// IAM as seen in `account` (see [`Scenario::config_in`]).
    pub async fn iam_in(&self, account: &str) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.config_in(account).await)
    }

    // ------------------------------------------------------------------ IAM in moto

    /// An IAM user with one active access key and a console password; the key id.
    pub async fn create_user_with_key_and_password(&self, name: &str) -> String {
        self.create_user(name).await;
        let key = self
            .iam
            .create_access_key()
            .user_name(name)
            .send()
            .await
            .expect("CreateAccessKey");
        self.iam
            .create_login_profile()
            .user_name(name)
            .password("Correct-Horse-Battery-9")
            .send()
            .await
            .expect("CreateLoginProfile");
        key.access_key().unwrap().access_key_id().to_string()
    }

    pub async fn create_user(&self, name: &str) {
        self.iam
            .create_user()
            .user_name(name)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "CreateUser {name}: {}",
                    aws_sdk_iam::error::DisplayErrorContext(e)
                )
            });
    }

    pub async fn user_tags(&self, name: &str) -> BTreeMap<String, String> {
        expect_call(self.home().user_tags(name).await)
    }

    pub async fn role_tags(&self, name: &str) -> BTreeMap<String, String> {
        expect_call(self.home().role_tags(name).await)
    }

    /// ARNs of the managed policies attached to the user, sorted.
    pub async fn user_policies(&self, name: &str) -> Vec<String> {
        expect_call(self.home().user_policies(name).await)
    }

    pub async fn user_inline_policies(&self, name: &str) -> Vec<String> {
        expect_call(self.home().user_inline_policies(name).await)
    }

    pub async fn role_inline_policies(&self, name: &str) -> Vec<String> {
        expect_call(self.home().role_inline_policies(name).await)
    }

    /// An inline role policy's document, parsed (IAM returns it URL-encoded).
    pub async fn role_policy_document(&self, role: &str, policy: &str) -> Value {
        expect_call(self.home().role_policy_document(role, policy).await)
    }

    /// Access key id → `Active`/`Inactive`.
    pub async fn key_statuses(&self, name: &str) -> BTreeMap<String, String> {
        expect_call(self.home().key_statuses(name).await)
    }

    pub async fn has_login_profile(&self, name: &str) -> bool {
        expect_call(self.home().has_login_profile(name).await)
    }

    /// Everything a quarantine may change on a user, for before/after comparisons.
    pub async fn user_state(&self, name: &str) -> UserState {
        expect_call(self.home().user_state(name).await)
    }

    // ------------------------------------------------------------------ EC2 in moto

    /// A role with an instance profile, and a running instance using it with IMDS
    /// `HttpTokens=optional` (IMDSv1 allowed); the instance id.
    pub async fn create_instance_with_role(&self, role: &str, profile: &str) -> String {
        self.create_role_with_profile(role, profile).await;
        self.run_instance(profile, "web-1", None, 1).await
    }

    /// IAM and EC2 in the stack's own account.
    pub fn home(&self) -> AccountView {
        AccountView {
            iam: self.iam.clone(),
            ec2: self.ec2.clone(),
        }
    }

    /// IAM and EC2 in `account` (see [`Scenario::config_in`]).
    pub async fn account(&self, account: &str) -> AccountView {
        AccountView::new(&self.config_in(account).await)
    }

    /// [`AccountView::create_role_with_profile`] in the stack's account.
    pub async fn create_role_with_profile(&self, role: &str, profile: &str) {
        expect_call(self.home().create_role_with_profile(role, profile).await)
    }

    /// [`AccountView::run_instance`] in the stack's account.
    pub async fn run_instance(
        &self,
        profile: &str,
        name: &str,
        auto_scaling_group: Option<&str>,
        hop_limit: i32,
    ) -> String {
        expect_call(
            self.home()
                .run_instance(profile, name, auto_scaling_group, hop_limit)
                .await,
        )
    }

    /// [`AccountView::instance_state`] in the stack's account.
    pub async fn instance_state(&self, instance_id: &str) -> InstanceState {
        expect_call(self.home().instance_state(instance_id).await)
    }

    /// [`AccountView::instance_acl`] in the stack's account.
    pub async fn instance_acl(&self, instance_id: &str) -> NetworkAcl {
        expect_call(self.home().instance_acl(instance_id).await)
    }

    /// The instance's IMDS `HttpTokens` (`optional` or `required`).
    pub async fn http_tokens(&self, instance_id: &str) -> String {
        self.instance_state(instance_id).await.http_tokens
    }

    // ------------------------------------------------------------------ function endpoints

    /// Re-register one function binary with the Lambda host so that its AWS calls go to
    /// `aws_endpoint` (a [`FaultProxy`] in front of moto) and, optionally, with another
    /// quarantine policy ARN. Everything else is what the stack gave it
    /// ([`cordon_stack::Stack::function_spec`]). Re-registering stops its idle sandboxes: the
    /// next invocation starts cold.
    pub fn repoint_function(
        &self,
        binary: &str,
        aws_endpoint: &str,
        quarantine_policy_arn: Option<&str>,
    ) {
        let info = self.stack.info();
        // As the stack registered it (template timeout, memory, reserved concurrency,
        // environment), with the endpoint and the quarantine policy replaced.
        let spec = self
            .stack
            .function_spec(binary)
            .unwrap_or_else(|| panic!("no function built from binary {binary}"))
            .clone()
            .env(
                "CORDON_QUARANTINE_POLICY_ARN",
                quarantine_policy_arn.unwrap_or(&info.quarantine_policy_arn),
            )
            .env("AWS_ENDPOINT_URL", aws_endpoint);
        self.stack
            .lambda_host()
            .register(spec)
            .unwrap_or_else(|e| panic!("re-registering {binary}: {e}"));
    }
}

/// What a read of moto answered; a failed read fails the test, naming the call.
fn expect_call<T>(answer: Result<T, CallError>) -> T {
    answer.unwrap_or_else(|e| panic!("{e}"))
}

/// The execution output (the case file).
pub fn output(describe: &Value) -> Value {
    describe["output"]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null)
}

/// The history's event types, in order.
pub fn event_types(history: &[Value]) -> Vec<String> {
    history
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The names of the states entered, in order.
pub fn entered_states(history: &[Value]) -> Vec<String> {
    history
        .iter()
        .filter_map(|e| e["stateEnteredEventDetails"]["name"].as_str())
        .map(str::to_string)
        .collect()
}

/// Every failure in the history (task failures, timeouts, execution failure), for messages.
pub fn failures(history: &[Value]) -> String {
    history
        .iter()
        .filter(|e| {
            let t = e["type"].as_str().unwrap_or_default();
            t.ends_with("Failed") || t.ends_with("TimedOut")
        })
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The last `n` events, for messages.
pub fn tail(history: &[Value], n: usize) -> String {
    history
        .iter()
        .rev()
        .take(n)
        .rev()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// How many events of `kind` the history has for the task state `state` (events carry no
/// state name, so this follows `previousEventId` back to the `TaskStateEntered`).
pub fn task_events(history: &[Value], state: &str, kind: &str) -> usize {
    let by_id: BTreeMap<i64, &Value> = history
        .iter()
        .filter_map(|e| e["id"].as_i64().map(|id| (id, e)))
        .collect();
    fn state_of(by_id: &BTreeMap<i64, &Value>, start: &Value) -> Option<String> {
        let mut e = start;
        for _ in 0..10_000 {
            if let Some(name) = e["stateEnteredEventDetails"]["name"].as_str() {
                return Some(name.to_string());
            }
            e = by_id.get(&e["previousEventId"].as_i64()?)?;
        }
        None
    }
    history
        .iter()
        .filter(|e| e["type"] == kind)
        .filter(|e| state_of(&by_id, e).as_deref() == Some(state))
        .count()
}

/// A CloudTrail `CreateUser` event by the IAM user `devops-tools` (long-term key, no MFA,
/// AWS CLI) for `user_name`, with its own `eventID`: the suspicious-name fixture, renamed.
pub fn create_user_event(user_name: &str, event_id: &str) -> Value {
    let mut e = fixture("cloudtrail-create-user-suspicious-name-no-mfa-cli.json");
    e["id"] = json!(format!("ev-{event_id}"));
    e["detail"]["eventID"] = json!(event_id);
    e["detail"]["requestParameters"]["userName"] = json!(user_name);
    let user = &mut e["detail"]["responseElements"]["user"];
    if user.is_object() {
        user["userName"] = json!(user_name);
        user["arn"] = json!(format!("arn:aws:iam::{ACCOUNT}:user/{user_name}"));
    }
    e
}
