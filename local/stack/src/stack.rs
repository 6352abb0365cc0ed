//! [`Stack`]: moto, the seeded account, the engine with its durable store and API server, the
//! function binaries behind the Lambda host, the approve function URL, and EventBridge
//! routing, all on loopback.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_config::SdkConfig;
use cordon_engine::{ApiError, Engine, EngineConfig, LambdaInvoker};
use cordon_events::Rule;
use cordon_lambda_host::{FunctionSpec, HostConfig, LambdaHost};
use cordon_moto::{ACCOUNT_ID, Moto, REGION};
use serde_json::{Value, json};

use crate::file::{Endpoints, Principal, StackFile};
use crate::function_url::FunctionUrl;
use crate::template::Template;

/// The cargo packages of the function binaries (what the build hint names).
pub const FUNCTION_PACKAGES: &[&str] = &[
    "enrich",
    "classify",
    "request-approval",
    "approve",
    "quarantine",
    "notify",
];

/// The caller identity the local approver asserts by default: an IAM Identity Center session
/// in the security responders' permission set, which `infra/policy.example.json` lists.
pub const LOCAL_APPROVER_ARN: &str = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_SecurityResponder_0123456789abcdef/responder@example.com";

/// The IAM user `cordon simulate` acts as.
pub const ATTACKER_USER: &str = "contractor-dev";

/// Static credentials moto accepts.
pub const TEST_ACCESS_KEY_ID: &str = "testing";
pub const TEST_SECRET_ACCESS_KEY: &str = "testing";

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Moto(#[from] cordon_moto::MotoError),
    #[error("template: {0}")]
    Template(String),
    #[error("policy {path}: {message}")]
    Policy { path: String, message: String },
    #[error(
        "function binaries missing in {dir}: {missing}; build them with \
         `cargo build -p enrich -p classify -p request-approval -p approve -p quarantine -p notify`"
    )]
    MissingBinaries { dir: String, missing: String },
    #[error("seeding the simulated account ({step}): {message}")]
    Seed { step: String, message: String },
    #[error("engine: {0}")]
    Engine(#[from] ApiError),
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
    #[error("cannot find the project files (infra/template.yaml, statemachine/) from {0}")]
    NoRoot(String),
}

fn seed_err(step: &str, e: impl std::fmt::Display) -> StackError {
    StackError::Seed {
        step: step.to_string(),
        message: e.to_string(),
    }
}

fn e<E: std::error::Error>(step: &'static str) -> impl FnOnce(E) -> StackError {
    move |err| seed_err(step, aws_sdk_iam::error::DisplayErrorContext(err))
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StackError {
    let what = what.into();
    move |error| StackError::Io { what, error }
}

/// How to start a [`Stack`].
#[derive(Debug, Clone, Default)]
pub struct StackOptions {
    /// The project directory holding `infra/` and `statemachine/`; default: the current
    /// directory or a parent that has them, else the source tree this crate was built from.
    pub root: Option<PathBuf>,
    /// The engine's durable state; default: a fresh temporary directory removed on stop.
    pub state_dir: Option<PathBuf>,
    /// Where the function binaries are; default: beside the current executable.
    pub bin_dir: Option<PathBuf>,
    /// The response policy file; default `infra/policy.example.json`.
    pub policy_file: Option<PathBuf>,
    /// A policy document used instead of any file (the demo's override).
    pub policy: Option<Value>,
    /// Organization mode: an offline AWS organization (`cordon_moto::organization`: a
    /// management account, this security account, two members in an OU tree), the member
    /// template `infra/member.yaml` deployed in each member account through moto's
    /// CloudFormation with that account's credentials, and the central stack with
    /// `DeploymentMode=organization`.
    pub organization: bool,
    /// Organization mode: member accounts where the member template is *not* deployed (to
    /// see what a missing responder role does).
    pub skip_member_stacks: Vec<String>,
    /// Keep the policy in SSM Parameter Store under this name (the template's
    /// `ResponsePolicyParameterName`) instead of the `ResponsePolicy` parameter.
    pub policy_parameter: Option<String>,
}

/// The account's default event bus (where AWS services deliver, and rules without an
/// `EventBusName` listen).
pub const DEFAULT_BUS: &str = "default";

/// The member template's stack name in each member account.
pub const MEMBER_STACK_NAME: &str = "cordon-member";

/// What [`Stack::send`] did with an event.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Routed {
    /// The incident id of the first response in `matches`: the name the intake gave its
    /// execution, the one source of incident ids. `None` when nothing was started or found.
    pub incident_id: Option<String>,
    /// One entry per incident response a delivery started or found: a Security Hub event of
    /// several GuardDuty findings starts several through one delivery.
    pub matches: Vec<RuleMatch>,
    /// Findings of the event the intake started nothing for (not GuardDuty's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<IgnoredFinding>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleMatch {
    /// The rule's deployed name (or its key in the template).
    pub rule: String,
    /// The rule's target (the intake machine).
    pub state_machine_arn: String,
    /// The target's execution for this delivery (fresh name, as EventBridge starts it).
    pub target_execution_arn: String,
    /// The incident id: the name the intake gave the response execution.
    pub incident_id: String,
    /// The incident-response execution (named after the incident).
    pub execution_arn: String,
    /// `started`, or `duplicate` (an execution for this incident exists already).
    pub outcome: Outcome,
    /// For a duplicate: the existing execution's status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_status: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Started,
    Duplicate,
}

/// A finding the intake answered `ignored`: no response was started for it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IgnoredFinding {
    /// The rule whose delivery carried it.
    pub rule: String,
    /// The intake execution that ignored it.
    pub target_execution_arn: String,
    /// The finding's ASFF `Id`.
    pub finding_id: String,
    /// Why, in the intake's words (`not a GuardDuty finding: <ProductArn>`).
    pub reason: String,
}

impl Routed {
    /// The execution ARNs, started or duplicate.
    pub fn execution_arns(&self) -> Vec<&str> {
        self.matches
            .iter()
            .map(|m| m.execution_arn.as_str())
            .collect()
    }
}

/// The running offline stack. Everything stops on [`Stack::stop`] or when dropped.
pub struct Stack {
    moto: Option<Moto>,
    engine: Engine,
    host: LambdaHost,
    sfn_server: Option<cordon_sfn_server::Server>,
    approve_url: Option<FunctionUrl>,
    rules: Vec<Rule>,
    state_machines: HashMap<String, String>,
    aws: SdkConfig,
    sfn: SdkConfig,
    file: StackFile,
    temp_state: Option<PathBuf>,
    policy_json: String,
    functions: BTreeMap<String, String>,
    function_specs: BTreeMap<String, FunctionSpec>,
}

impl Stack {
    /// Start everything. Needs a tokio runtime (multi-threaded).
    pub async fn start(options: StackOptions) -> Result<Stack, StackError> {
        let root = match &options.root {
            Some(r) => r.clone(),
            None => find_root()?,
        };
        let template_path = root.join("infra/template.yaml");
        let mut template = Template::read(&template_path)?;

        // The policy: one file (or the caller's document), validated before anything starts.
        let (policy_label, policy_text) = match (&options.policy, &options.policy_file) {
            (Some(doc), _) => ("(options)".to_string(), doc.to_string()),
            (None, Some(p)) => (
                p.display().to_string(),
                std::fs::read_to_string(p).map_err(io(format!("reading {}", p.display())))?,
            ),
            (None, None) => {
                let p = root.join("infra/policy.example.json");
                (
                    "infra/policy.example.json".to_string(),
                    std::fs::read_to_string(&p).map_err(io("reading infra/policy.example.json"))?,
                )
            }
        };
        let policy_value: Value =
            serde_json::from_str(&policy_text).map_err(|e| StackError::Policy {
                path: policy_label.clone(),
                message: e.to_string(),
            })?;
        let policy_json = policy_value.to_string();
        cordon_core::Policy::from_json(&policy_json).map_err(|e| StackError::Policy {
            path: policy_label.clone(),
            message: e.to_string(),
        })?;

        // The binaries, before any process starts.
        let functions = template.functions()?;
        let bin_dir = match &options.bin_dir {
            Some(d) => d.clone(),
            None => default_bin_dir(),
        };
        let missing: Vec<String> = functions
            .iter()
            .filter(|f| !bin_dir.join(&f.binary).is_file())
            .map(|f| f.binary.clone())
            .collect();
        if !missing.is_empty() {
            return Err(StackError::MissingBinaries {
                dir: bin_dir.display().to_string(),
                missing: missing.join(", "),
            });
        }

        let state_dir = match &options.state_dir {
            Some(d) => d.clone(),
            None => {
                std::env::temp_dir().join(format!("cordon-stack-{}", uuid::Uuid::new_v4().simple()))
            }
        };
        std::fs::create_dir_all(&state_dir)
            .map_err(io(format!("creating {}", state_dir.display())))?;
        let temp_state = options.state_dir.is_none().then(|| state_dir.clone());

        let moto = tokio::task::spawn_blocking(Moto::start)
            .await
            .map_err(|e| StackError::Io {
                what: "starting moto".into(),
                error: std::io::Error::other(e),
            })??;
        let aws = moto.sdk_config().await;
        let seeded = seed(&aws, &template).await?;
        create_action_targets(&aws, &mut template).await?;
        if let Some(name) = &options.policy_parameter {
            aws_sdk_ssm::Client::new(&aws)
                .put_parameter()
                .name(name)
                .r#type(aws_sdk_ssm::types::ParameterType::String)
                .tier(aws_sdk_ssm::types::ParameterTier::Advanced)
                .value(&policy_json)
                .send()
                .await
                .map_err(|e| {
                    seed_err(
                        "ssm:PutParameter policy",
                        aws_sdk_ssm::error::DisplayErrorContext(e),
                    )
                })?;
            template
                .values
                .insert("ResponsePolicyParameterName".into(), name.clone());
        }
        let organization = if options.organization {
            Some(organize(&aws, &root, &mut template, &options.skip_member_stacks).await?)
        } else {
            None
        };

        let stack_name = template.stack_name();
        template
            .values
            .insert("ResponsePolicy".into(), policy_json.clone());
        template
            .values
            .insert("AlertsTopic".into(), seeded.alerts_topic_arn.clone());
        template
            .values
            .insert("ApprovalsTopic".into(), seeded.approvals_topic_arn.clone());
        template.values.insert(
            "QuarantinePolicy".into(),
            seeded.quarantine_policy_arn.clone(),
        );
        let fn_arn = |name: &str| format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}");
        for f in &functions {
            template.values.insert(f.logical_id.clone(), f.name.clone());
            template
                .values
                .insert(format!("{}.Arn", f.logical_id), fn_arn(&f.name));
        }
        let machines = template.state_machines()?;
        for sm in &machines {
            let arn = format!(
                "arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{}",
                sm.name
            );
            template.values.insert(sm.logical_id.clone(), arn.clone());
            template
                .values
                .insert(format!("{}.Arn", sm.logical_id), arn);
            template
                .values
                .insert(format!("{}.Name", sm.logical_id), sm.name.clone());
        }

        // The engine, its store, the integrations and the API server.
        let store = cordon_store::RedbStore::open(state_dir.join("engine.redb")).map_err(|e| {
            StackError::Io {
                what: "opening the engine store".into(),
                error: std::io::Error::other(e.to_string()),
            }
        })?;
        let host = LambdaHost::new(HostConfig::default());
        // `states:startExecution` (the intake starting the response) goes through the engine's
        // own API server, like any SDK client; it is connected once that server is up.
        let states = cordon_integrations::StepFunctions::unconnected();
        let mut services = cordon_integrations::services(&aws);
        services.insert("states".into(), Arc::new(states.clone()));
        let engine = Engine::start(EngineConfig {
            store: Arc::new(store),
            lambda: Some(Arc::new(host.clone()) as Arc<dyn LambdaInvoker>),
            services,
            ..EngineConfig::default()
        })
        .await?;
        let sfn_server =
            cordon_sfn_server::Server::start(engine.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
                .await
                .map_err(io("starting the Step Functions API server"))?;
        let sfn_endpoint = sfn_server.endpoint();
        let sfn = cordon_moto::sdk_config_for(&sfn_endpoint).await;
        states.connect(&sfn);

        // The functions, with the environment the template gives them, pointed at moto.
        let mut registered = BTreeMap::new();
        let mut specs = BTreeMap::new();
        let mut approve_fn = None;
        for f in &functions {
            let mut spec =
                FunctionSpec::new(f.name.clone(), bin_dir.join(&f.binary)).timeout(f.timeout);
            spec.memory_mb = f.memory_mb;
            // Lambda throttles beyond the reserved concurrency; so does the host, so the ASL's
            // throttling retrier meets the same refusals offline as in AWS.
            spec.max_concurrency = f.reserved_concurrency;
            for (k, v) in template.function_env(f)? {
                spec = spec.env(k, v);
            }
            spec = spec
                .env("AWS_ENDPOINT_URL", moto.endpoint())
                .env("AWS_ENDPOINT_URL_SFN", sfn_endpoint.clone())
                .env("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY_ID)
                .env("AWS_SECRET_ACCESS_KEY", TEST_SECRET_ACCESS_KEY)
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("AWS_LAMBDA_LOG_FORMAT", f.log_format.clone());
            if f.has_url {
                // The local function URL relays an asserted caller, not one AWS authenticated:
                // the function records such decisions with verified=false.
                spec = spec.env("CORDON_APPROVER_IDENTITY", "asserted");
            }
            specs.insert(f.binary.clone(), spec.clone());
            host.register(spec)
                .map_err(|e| StackError::MissingBinaries {
                    dir: bin_dir.display().to_string(),
                    missing: e.to_string(),
                })?;
            registered.insert(f.binary.clone(), fn_arn(&f.name));
            if f.has_url {
                approve_fn = Some(f.name.clone());
            }
        }
        let approve_name = approve_fn
            .or_else(|| {
                functions
                    .iter()
                    .find(|f| f.binary == "approve")
                    .map(|f| f.name.clone())
            })
            .ok_or_else(|| {
                StackError::Template("no function with a FunctionUrlConfig (approve)".into())
            })?;
        let approve_url = FunctionUrl::start(Arc::new(host.clone()), &approve_name, REGION)
            .await
            .map_err(io("starting the approve function URL"))?;

        // The state machines, with their substitutions resolved.
        let mut state_machines = HashMap::new();
        for sm in &machines {
            let definition = template.definition(sm)?;
            let role = format!(
                "arn:aws:iam::{ACCOUNT_ID}:role/{stack_name}-{}Role",
                sm.logical_id
            );
            let arn = match engine
                .call(
                    "CreateStateMachine",
                    json!({"name": sm.name, "definition": definition, "roleArn": role, "type": sm.kind}),
                )
                .await
            {
                Ok(r) => r["stateMachineArn"].as_str().unwrap_or_default().to_string(),
                Err(e) if e.code == "StateMachineAlreadyExists" => {
                    let arn = template.values[&sm.logical_id].clone();
                    engine
                        .call("UpdateStateMachine", json!({"stateMachineArn": arn, "definition": definition, "roleArn": role}))
                        .await?;
                    arn
                }
                Err(e) => return Err(e.into()),
            };
            state_machines.insert(sm.logical_id.clone(), arn);
        }
        let state_machine_arn = machines
            .iter()
            .find(|m| m.logical_id == "IncidentResponseStateMachine")
            .or(machines.first())
            .and_then(|m| state_machines.get(&m.logical_id).cloned())
            .ok_or_else(|| StackError::Template("no state machine".into()))?;

        // EventBridge rules, from the same template, with the parameters this stack was
        // deployed with (organization mode adds the organization bus's rules).
        let parameters: HashMap<String, Value> = ["DeploymentMode", "OrganizationId"]
            .iter()
            .filter_map(|k| {
                Some((
                    k.to_string(),
                    Value::String(template.values.get(*k)?.clone()),
                ))
            })
            .collect();
        let rules = template.rules(&parameters)?;

        let file = StackFile {
            pid: std::process::id(),
            region: REGION.into(),
            account_id: ACCOUNT_ID.into(),
            endpoints: Endpoints {
                stepfunctions: sfn_endpoint,
                aws: moto.endpoint(),
                approve: approve_url.url(),
            },
            state_machine_arn,
            state_machines: state_machines.clone().into_iter().collect(),
            alerts_topic_arn: seeded.alerts_topic_arn,
            approvals_topic_arn: seeded.approvals_topic_arn,
            alerts_queue_url: seeded.alerts_queue_url,
            approvals_queue_url: seeded.approvals_queue_url,
            quarantine_policy_arn: seeded.quarantine_policy_arn,
            local_approver_arn: LOCAL_APPROVER_ARN.into(),
            attacker: seeded.attacker,
            access_key_id: TEST_ACCESS_KEY_ID.into(),
            secret_access_key: TEST_SECRET_ACCESS_KEY.into(),
            state_dir: state_dir.clone(),
            organization,
        };
        tracing::info!(stepfunctions = %file.endpoints.stepfunctions, aws = %file.endpoints.aws, approve = %file.endpoints.approve, "offline stack ready");
        Ok(Stack {
            moto: Some(moto),
            engine,
            host,
            sfn_server: Some(sfn_server),
            approve_url: Some(approve_url),
            rules,
            state_machines,
            aws,
            sfn,
            file,
            temp_state,
            policy_json,
            functions: registered,
            function_specs: specs,
        })
    }

    /// What `cordon up` writes: endpoints, ARNs, queues, the attacker's keys.
    pub fn info(&self) -> &StackFile {
        &self.file
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.file.endpoints
    }

    /// SDK configuration for the AWS APIs (moto).
    pub fn aws_config(&self) -> &SdkConfig {
        &self.aws
    }

    /// SDK configuration for Step Functions (the local engine's API server).
    pub fn sfn_config(&self) -> &SdkConfig {
        &self.sfn
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn lambda_host(&self) -> &LambdaHost {
        &self.host
    }

    pub fn state_machine_arn(&self) -> &str {
        &self.file.state_machine_arn
    }

    /// State machine ARNs by logical id.
    pub fn state_machines(&self) -> &HashMap<String, String> {
        &self.state_machines
    }

    /// Function ARNs by binary name.
    pub fn functions(&self) -> &BTreeMap<String, String> {
        &self.functions
    }

    /// What the Lambda host was given for the function built from `binary`: command,
    /// timeout, memory, reserved concurrency, environment (from the template, pointed at
    /// moto). To re-register it changed (another endpoint, for example).
    pub fn function_spec(&self, binary: &str) -> Option<&FunctionSpec> {
        self.function_specs.get(binary)
    }

    /// The response policy the functions got (compact JSON).
    pub fn policy_json(&self) -> &str {
        &self.policy_json
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Deliver an event as EventBridge would: every enabled rule whose pattern matches
    /// starts its target (the intake) with the event as input; see [`EventRouter::send`].
    /// An execution that exists already for the incident is reported as a duplicate, not an
    /// error.
    pub async fn send(&self, event: &Value) -> Result<Routed, StackError> {
        self.send_on(DEFAULT_BUS, event).await
    }

    /// [`Stack::send`] on the event bus `bus` ([`DEFAULT_BUS`], or the organization bus a
    /// member account's forwarding rule puts its events on).
    pub async fn send_on(&self, bus: &str, event: &Value) -> Result<Routed, StackError> {
        EventRouter::new(self.rules.clone(), self.state_machines.clone())
            .send_on(bus, &self.engine, event)
            .await
    }

    /// Stop everything: the engine, every function process, the servers, moto.
    pub async fn stop(mut self) {
        self.shutdown_now().await;
    }

    async fn shutdown_now(&mut self) {
        self.approve_url.take();
        self.sfn_server.take();
        self.engine.shutdown().await;
        self.host.shutdown();
        self.moto.take();
        if let Some(dir) = self.temp_state.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.approve_url.take();
        self.sfn_server.take();
        self.host.shutdown();
        self.moto.take();
        if let Some(dir) = self.temp_state.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The Step Functions calls routing needs: the engine in-process, or any Step Functions
/// endpoint through `aws-sdk-sfn` (what `cordon send` uses against a running stack).
#[async_trait::async_trait]
pub trait StepFunctions: Send + Sync {
    /// `DescribeExecution`, or `None` when the execution does not exist.
    async fn describe(&self, execution_arn: &str) -> Option<ExecutionInfo>;
    /// `StartExecution`; `Ok(false)` for `ExecutionAlreadyExists`.
    async fn start_execution(
        &self,
        state_machine_arn: &str,
        name: &str,
        input: &str,
    ) -> Result<bool, StackError>;
}

/// What routing needs to know of an execution.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionInfo {
    pub status: String,
    /// Seconds since the epoch.
    pub start_date: f64,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

#[async_trait::async_trait]
impl StepFunctions for Engine {
    async fn describe(&self, execution_arn: &str) -> Option<ExecutionInfo> {
        let d = self
            .call("DescribeExecution", json!({"executionArn": execution_arn}))
            .await
            .ok()?;
        let text = |k: &str| d[k].as_str().map(str::to_string);
        Some(ExecutionInfo {
            status: text("status").unwrap_or_default(),
            start_date: d["startDate"].as_f64().unwrap_or_default(),
            output: text("output"),
            error: text("error"),
            cause: text("cause"),
        })
    }
    async fn start_execution(
        &self,
        state_machine_arn: &str,
        name: &str,
        input: &str,
    ) -> Result<bool, StackError> {
        match self
            .call(
                "StartExecution",
                json!({"stateMachineArn": state_machine_arn, "name": name, "input": input}),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.code == "ExecutionAlreadyExists" => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

#[async_trait::async_trait]
impl StepFunctions for aws_sdk_sfn::Client {
    async fn describe(&self, execution_arn: &str) -> Option<ExecutionInfo> {
        let d = self
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .ok()?;
        let start = d.start_date();
        Some(ExecutionInfo {
            status: d.status().as_str().to_string(),
            start_date: start.secs() as f64 + f64::from(start.subsec_nanos()) / 1e9,
            output: d.output().map(str::to_string),
            error: d.error().map(str::to_string),
            cause: d.cause().map(str::to_string),
        })
    }
    async fn start_execution(
        &self,
        state_machine_arn: &str,
        name: &str,
        input: &str,
    ) -> Result<bool, StackError> {
        match self
            .start_execution()
            .state_machine_arn(state_machine_arn)
            .name(name)
            .input(input)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_already_exists()) =>
            {
                Ok(false)
            }
            Err(e) => Err(StackError::Engine(ApiError::new(
                "StartExecution",
                aws_sdk_sfn::error::DisplayErrorContext(e).to_string(),
            ))),
        }
    }
}

/// EventBridge, offline: the template's rules and the state machines they target.
#[derive(Clone)]
pub struct EventRouter {
    rules: Vec<Rule>,
    machines: HashMap<String, String>,
}

impl EventRouter {
    /// `machines`: state machine ARN by the template's logical id.
    pub fn new(rules: Vec<Rule>, machines: HashMap<String, String>) -> Self {
        Self { rules, machines }
    }

    /// The rules of `root/infra/template.yaml`, as the offline stack deploys them (its
    /// Security Hub custom actions in the offline account and region).
    pub fn from_template(
        root: &Path,
        machines: HashMap<String, String>,
    ) -> Result<Self, StackError> {
        let mut template = Template::read(&root.join("infra/template.yaml"))?;
        for target in template.action_targets()? {
            template.set_action_target_arn(&target, &target.arn(REGION, ACCOUNT_ID));
        }
        Ok(Self::new(template.rules(&HashMap::new())?, machines))
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Deliver `event` as EventBridge does: each matching rule starts its target state machine
    /// with the event as input, under a fresh name (EventBridge cannot name executions).
    ///
    /// cordon's target is the intake machine (`statemachine/intake.asl.json`), which starts the
    /// incident response under the incident id and answers `{executionArn, name, outcome}`, or,
    /// for a Security Hub event, one response per GuardDuty finding:
    /// `{responses: [{executionArn, name, outcome} | {outcome: "ignored", findingId, reason}]}`.
    /// Routing waits for it and reports every response execution it names, each with the
    /// incident id the intake named it after; ignored findings are listed apart. A redelivered
    /// event or a GuardDuty update is refused by Step Functions' name uniqueness inside the
    /// intake and reported as a duplicate. A target that is not an intake is itself the
    /// response.
    pub async fn send(&self, sfn: &dyn StepFunctions, event: &Value) -> Result<Routed, StackError> {
        self.send_on(DEFAULT_BUS, sfn, event).await
    }

    /// [`EventRouter::send`] to the event bus named `bus`: only its rules see the event.
    pub async fn send_on(
        &self,
        bus: &str,
        sfn: &dyn StepFunctions,
        event: &Value,
    ) -> Result<Routed, StackError> {
        let mut matches = Vec::new();
        let mut ignored = Vec::new();
        let on_bus = |r: &&Rule| r.event_bus_name.as_deref().unwrap_or(DEFAULT_BUS) == bus;
        for rule in cordon_events::route(&self.rules, event)
            .into_iter()
            .filter(on_bus)
        {
            let Some(sm) = self.machines.get(&rule.state_machine_logical_id) else {
                continue;
            };
            let rule_name = rule.rule_name.clone().unwrap_or_else(|| rule.name.clone());
            let input = rule_input(rule, event).to_string();
            let target_name = uuid::Uuid::new_v4().to_string();
            let target_arn = crate::file::execution_arn(sm, &target_name);
            sfn.start_execution(sm, &target_name, &input).await?;
            let target = wait_until_closed(sfn, &target_arn).await?;
            let answer: Value = target
                .output
                .as_deref()
                .and_then(|o| serde_json::from_str(o).ok())
                .unwrap_or(Value::Null);
            let started = |m: RuleMatchParts| RuleMatch {
                rule: rule_name.clone(),
                state_machine_arn: sm.clone(),
                target_execution_arn: target_arn.clone(),
                incident_id: m.incident_id,
                execution_arn: m.execution_arn,
                outcome: m.outcome,
                existing_status: m.existing_status,
            };
            match IntakeAnswer::read(&answer) {
                IntakeAnswer::Responses(responses) => {
                    for r in responses {
                        match r {
                            IntakeResponse::Execution {
                                arn,
                                name,
                                duplicate,
                            } => {
                                let m = response(sfn, &target, arn, name, duplicate).await;
                                matches.push(started(m));
                            }
                            IntakeResponse::Ignored { finding_id, reason } => {
                                ignored.push(IgnoredFinding {
                                    rule: rule_name.clone(),
                                    target_execution_arn: target_arn.clone(),
                                    finding_id,
                                    reason,
                                })
                            }
                        }
                    }
                }
                IntakeAnswer::NotAnIntake => {
                    // Every rule targets the intake, which names the response after the
                    // incident: an answer without a response is a broken target, said so.
                    return Err(StackError::Engine(ApiError::new(
                        "Intake",
                        format!(
                            "rule {rule_name}'s target {target_arn} answered no response (neither `responses` nor `executionArn`): it is not the intake state machine, so no incident id can be known"
                        ),
                    )));
                }
            }
        }
        Ok(Routed {
            incident_id: matches.first().map(|m| m.incident_id.clone()),
            matches,
            ignored,
        })
    }
}

/// A response execution as routing reports it.
struct RuleMatchParts {
    incident_id: String,
    execution_arn: String,
    outcome: Outcome,
    existing_status: Option<String>,
}

/// What an intake execution answered.
enum IntakeAnswer {
    /// The responses it started, found or ignored (one for a CloudTrail or GuardDuty event).
    Responses(Vec<IntakeResponse>),
    /// No `executionArn` or `responses`: the target is not an intake.
    NotAnIntake,
}

enum IntakeResponse {
    Execution {
        arn: String,
        /// The execution's name: the incident id.
        name: String,
        /// The intake said `duplicate`.
        duplicate: bool,
    },
    Ignored {
        finding_id: String,
        reason: String,
    },
}

impl IntakeAnswer {
    fn read(answer: &Value) -> IntakeAnswer {
        let one = |r: &Value| -> Option<IntakeResponse> {
            let text = |k: &str| r[k].as_str().map(str::to_string);
            if r["outcome"] == "ignored" {
                return Some(IntakeResponse::Ignored {
                    finding_id: text("findingId").unwrap_or_default(),
                    reason: text("reason").unwrap_or_default(),
                });
            }
            let arn = text("executionArn")?;
            Some(IntakeResponse::Execution {
                // The name is the ARN's last segment when the answer does not say it.
                name: text("name")
                    .unwrap_or_else(|| arn.rsplit(':').next().unwrap_or_default().to_string()),
                duplicate: r["outcome"] == "duplicate",
                arn,
            })
        };
        if let Some(list) = answer["responses"].as_array() {
            return IntakeAnswer::Responses(list.iter().filter_map(one).collect());
        }
        match answer.get("executionArn").and_then(|_| one(answer)) {
            Some(r) => IntakeAnswer::Responses(vec![r]),
            None => IntakeAnswer::NotAnIntake,
        }
    }
}

/// A response execution the intake named: `duplicate` when the intake said so, or when it
/// was started before the intake ran (this delivery found it running, an idempotent start
/// with the same input, or closed).
async fn response(
    sfn: &dyn StepFunctions,
    target: &ExecutionInfo,
    arn: String,
    name: String,
    duplicate: bool,
) -> RuleMatchParts {
    let info = sfn.describe(&arn).await;
    let earlier = info
        .as_ref()
        .is_some_and(|i| i.start_date < target.start_date);
    let (outcome, existing_status) = if duplicate || earlier {
        (Outcome::Duplicate, info.map(|i| i.status))
    } else {
        (Outcome::Started, None)
    };
    RuleMatchParts {
        incident_id: name,
        execution_arn: arn,
        outcome,
        existing_status,
    }
}

/// Wait for an execution to close (the intake takes milliseconds); a failed intake is an
/// error naming it, never a silent drop.
async fn wait_until_closed(
    sfn: &dyn StepFunctions,
    arn: &str,
) -> Result<ExecutionInfo, StackError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match sfn.describe(arn).await {
            Some(info) if info.status == "SUCCEEDED" => return Ok(info),
            Some(info) if info.status != "RUNNING" => {
                return Err(StackError::Engine(ApiError::new(
                    "Intake",
                    format!(
                        "{arn} ended {}: {} {}",
                        info.status,
                        info.error.unwrap_or_default(),
                        info.cause.unwrap_or_default()
                    ),
                )));
            }
            _ if std::time::Instant::now() > deadline => {
                return Err(StackError::Engine(ApiError::new(
                    "Intake",
                    format!("{arn} did not finish within 60 s"),
                )));
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
}

/// The target input EventBridge would send: `Input` (constant), `InputPath` (a simple
/// `$.a.b` path), else the whole event. (Input transformers are not used by the template.)
fn rule_input(rule: &Rule, event: &Value) -> Value {
    if let Some(text) = &rule.input {
        return serde_json::from_str(text).unwrap_or(Value::String(text.clone()));
    }
    if let Some(path) = &rule.input_path {
        let mut v = event;
        for part in path
            .trim_start_matches('$')
            .split('.')
            .filter(|p| !p.is_empty())
        {
            v = &v[part];
        }
        return v.clone();
    }
    event.clone()
}

/// Organization mode: create the offline organization, deploy `infra/member.yaml` in each
/// member account (as a StackSet instance would, with that account's credentials), and set the
/// central template's organization parameters.
async fn organize(
    aws: &SdkConfig,
    root: &Path,
    template: &mut Template,
    skip: &[String],
) -> Result<crate::file::OrganizationInfo, StackError> {
    use cordon_moto::organization as org;
    let o = org::create(aws)
        .await
        .map_err(|e| seed_err("organization", e))?;
    let stack = template.stack_name();
    template
        .values
        .insert("DeploymentMode".into(), "organization".into());
    template
        .values
        .insert("OrganizationId".into(), o.id.clone());
    let member_template = std::fs::read_to_string(root.join("infra/member.yaml"))
        .map_err(io("reading infra/member.yaml"))?;
    let event_bus_name = format!("{stack}-org");
    let mut members = Vec::new();
    for m in &o.members {
        if !skip.contains(&m.id) {
            let admin = org::config_in_account(aws, &m.id, org::ACCESS_ROLE)
                .await
                .map_err(|e| seed_err("member account access", e))?;
            deploy_member_stack(
                &admin,
                &member_template,
                &[
                    ("CentralAccountId", ACCOUNT_ID),
                    ("CentralRegion", REGION),
                    ("CentralStackName", &stack),
                    ("CentralEventBusName", &event_bus_name),
                    ("OrganizationId", &o.id),
                ],
            )
            .await
            .map_err(|e| seed_err(&format!("infra/member.yaml in {}", m.id), e))?;
        }
        members.push(crate::file::MemberAccount {
            id: m.id.clone(),
            name: m.name.clone(),
            ancestry: m.ancestry.clone(),
            stack_name: if skip.contains(&m.id) {
                String::new()
            } else {
                MEMBER_STACK_NAME.to_string()
            },
        });
    }
    Ok(crate::file::OrganizationInfo {
        id: o.id,
        root_id: o.root_id,
        management_account: o.management,
        security_account: o.security,
        members,
        event_bus_name,
    })
}

/// Create the member stack and wait for it: its failure reason, if it fails.
async fn deploy_member_stack(
    admin: &SdkConfig,
    body: &str,
    parameters: &[(&str, &str)],
) -> Result<(), String> {
    use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
    let cfn = aws_sdk_cloudformation::Client::new(admin);
    let mut create = cfn
        .create_stack()
        .stack_name(MEMBER_STACK_NAME)
        .template_body(body)
        .capabilities(Capability::CapabilityNamedIam);
    for (k, v) in parameters {
        create = create.parameters(
            Parameter::builder()
                .parameter_key(*k)
                .parameter_value(*v)
                .build(),
        );
    }
    create
        .send()
        .await
        .map_err(|e| aws_sdk_cloudformation::error::DisplayErrorContext(e).to_string())?;
    for _ in 0..200 {
        let d = cfn
            .describe_stacks()
            .stack_name(MEMBER_STACK_NAME)
            .send()
            .await
            .map_err(|e| aws_sdk_cloudformation::error::DisplayErrorContext(e).to_string())?;
        let stack = d.stacks().first().ok_or("the stack vanished")?;
        match stack.stack_status() {
            Some(StackStatus::CreateComplete) => return Ok(()),
            Some(StackStatus::CreateInProgress) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await
            }
            other => {
                return Err(format!(
                    "{other:?}: {}",
                    stack.stack_status_reason().unwrap_or("no reason given")
                ));
            }
        }
    }
    Err("still CREATE_IN_PROGRESS after 10 s".into())
}

/// Create the template's Security Hub custom actions in moto (as CloudFormation does when the
/// stack is deployed; an action that exists already is fine) and let the template resolve
/// references to them (the custom-action rule's pattern names the action's ARN).
async fn create_action_targets(aws: &SdkConfig, template: &mut Template) -> Result<(), StackError> {
    let hub = aws_sdk_securityhub::Client::new(aws);
    for target in template.action_targets()? {
        let arn = match hub
            .create_action_target()
            .name(&target.name)
            .description(&target.description)
            .id(&target.id)
            .send()
            .await
        {
            Ok(out) => out
                .action_target_arn()
                .map(str::to_string)
                .unwrap_or_else(|| target.arn(REGION, ACCOUNT_ID)),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_conflict_exception()) =>
            {
                target.arn(REGION, ACCOUNT_ID)
            }
            Err(err) => {
                return Err(seed_err(
                    &format!("securityhub:CreateActionTarget {}", target.logical_id),
                    aws_sdk_securityhub::error::DisplayErrorContext(err),
                ));
            }
        };
        if arn != target.arn(REGION, ACCOUNT_ID) {
            // `cordon send` routes with the ARN Security Hub gives (EventRouter::from_template).
            tracing::warn!(%arn, expected = %target.arn(REGION, ACCOUNT_ID), "moto named the custom action unlike Security Hub");
        }
        template.set_action_target_arn(&target, &arn);
    }
    Ok(())
}

struct Seeded {
    alerts_topic_arn: String,
    approvals_topic_arn: String,
    alerts_queue_url: String,
    approvals_queue_url: String,
    quarantine_policy_arn: String,
    attacker: Principal,
}

/// Create in moto what the template would create (and an attacker to simulate with).
async fn seed(aws: &SdkConfig, template: &Template) -> Result<Seeded, StackError> {
    let iam = aws_sdk_iam::Client::new(aws);
    let sns = aws_sdk_sns::Client::new(aws);
    let sqs = aws_sdk_sqs::Client::new(aws);

    let (policy_name, description, document) = template.quarantine_policy()?;
    let policy = iam
        .create_policy()
        .policy_name(&policy_name)
        .description(description)
        .policy_document(document)
        .send()
        .await
        .map_err(e("CreatePolicy quarantine"))?;
    let quarantine_policy_arn = policy
        .policy()
        .and_then(|p| p.arn())
        .unwrap_or_default()
        .to_string();
    seed_quarantine_instance_profile(&iam, template).await?;

    let stack = template.stack_name();
    let mut topics = Vec::new();
    for kind in ["alerts", "approvals"] {
        let name = format!("{stack}-{kind}");
        let topic = sns
            .create_topic()
            .name(&name)
            .send()
            .await
            .map_err(e("CreateTopic"))?;
        let topic_arn = topic.topic_arn().unwrap_or_default().to_string();
        let queue = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .map_err(e("CreateQueue"))?;
        let queue_url = queue.queue_url().unwrap_or_default().to_string();
        let queue_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}");
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .map_err(e("Subscribe"))?;
        topics.push((topic_arn, queue_url));
    }

    let hub = aws_sdk_securityhub::Client::new(aws);
    // Not fatal: notify degrades gracefully without Security Hub, and moto's coverage of it
    // varies between versions.
    if let Err(err) = hub
        .enable_security_hub()
        .enable_default_standards(false)
        .send()
        .await
    {
        tracing::warn!(error = %aws_sdk_securityhub::error::DisplayErrorContext(err), "could not enable Security Hub in moto");
    }

    let user = iam
        .create_user()
        .user_name(ATTACKER_USER)
        .send()
        .await
        .map_err(e("CreateUser attacker"))?;
    let key = iam
        .create_access_key()
        .user_name(ATTACKER_USER)
        .send()
        .await
        .map_err(e("CreateAccessKey attacker"))?;
    let key = key.access_key();
    let attacker = Principal {
        user_name: ATTACKER_USER.into(),
        arn: user.user().map(|u| u.arn().to_string()).unwrap_or_default(),
        access_key_id: key
            .map(|k| k.access_key_id().to_string())
            .unwrap_or_default(),
        secret_access_key: key
            .map(|k| k.secret_access_key().to_string())
            .unwrap_or_default(),
    };
    let (alerts, approvals) = (topics.remove(0), topics.remove(0));
    Ok(Seeded {
        alerts_topic_arn: alerts.0,
        alerts_queue_url: alerts.1,
        approvals_topic_arn: approvals.0,
        approvals_queue_url: approvals.1,
        quarantine_policy_arn,
        attacker,
    })
}

/// The quarantine instance profile and its role, as the template creates them in the stack's
/// account (member accounts get theirs from `infra/member.yaml`). Nothing when the template's
/// profile name is empty.
async fn seed_quarantine_instance_profile(
    iam: &aws_sdk_iam::Client,
    template: &Template,
) -> Result<(), StackError> {
    let Some(q) = template.quarantine_instance_profile()? else {
        return Ok(());
    };
    iam.create_role()
        .role_name(&q.role_name)
        .description(&q.role_description)
        .assume_role_policy_document(&q.trust_policy)
        .send()
        .await
        .map_err(e("CreateRole quarantine instance role"))?;
    for arn in &q.managed_policy_arns {
        iam.attach_role_policy()
            .role_name(&q.role_name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(e("AttachRolePolicy quarantine instance role"))?;
    }
    iam.create_instance_profile()
        .instance_profile_name(&q.profile_name)
        .send()
        .await
        .map_err(e("CreateInstanceProfile quarantine"))?;
    iam.add_role_to_instance_profile()
        .instance_profile_name(&q.profile_name)
        .role_name(&q.role_name)
        .send()
        .await
        .map_err(e("AddRoleToInstanceProfile quarantine"))?;
    Ok(())
}

/// Beside the running executable (`cargo build` puts every workspace binary there); from a
/// test binary in `target/debug/deps`, its parent.
pub fn default_bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        return dir.parent().map(Path::to_path_buf).unwrap_or(dir);
    }
    dir
}

/// The project root: the current directory or a parent with `infra/template.yaml` and
/// `statemachine/`, else the source tree this crate was built from.
pub fn find_root() -> Result<PathBuf, StackError> {
    let is_root =
        |d: &Path| d.join("infra/template.yaml").is_file() && d.join("statemachine").is_dir();
    let cwd = std::env::current_dir().unwrap_or_default();
    if let Some(d) = cwd.ancestors().find(|d| is_root(d)) {
        return Ok(d.to_path_buf());
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if is_root(&built) {
        return Ok(built.canonicalize().unwrap_or(built));
    }
    Err(StackError::NoRoot(cwd.display().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quarantine instance profile of the account `aws` reaches: its ARN, its role's name
    /// and the role's managed policies.
    async fn quarantine_profile(aws: &SdkConfig) -> (String, String, Vec<String>) {
        let iam = aws_sdk_iam::Client::new(aws);
        let profile = iam
            .get_instance_profile()
            .instance_profile_name("cordon-quarantine-instance")
            .send()
            .await
            .unwrap();
        let profile = profile.instance_profile().unwrap();
        let [role] = profile.roles() else {
            panic!("one role: {profile:?}")
        };
        let role = iam
            .get_role()
            .role_name(role.role_name())
            .send()
            .await
            .unwrap();
        let role = role.role().unwrap();
        let trust = role.assume_role_policy_document().unwrap_or_default();
        assert!(trust.contains("ec2.amazonaws.com"), "{trust}");
        let attached = iam
            .list_attached_role_policies()
            .role_name(role.role_name())
            .send()
            .await
            .unwrap();
        (
            profile.arn().to_string(),
            role.role_name().to_string(),
            attached
                .attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_string))
                .collect(),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_quarantine_instance_profile_is_seeded_in_the_home_and_every_member_account() {
        let moto = tokio::task::spawn_blocking(Moto::start)
            .await
            .unwrap()
            .unwrap();
        let aws = moto.sdk_config().await;
        let root = find_root().unwrap();
        let mut template = Template::read(&root.join("infra/template.yaml")).unwrap();
        seed(&aws, &template).await.unwrap();
        let ssm = vec!["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore".to_string()];
        assert_eq!(
            quarantine_profile(&aws).await,
            (
                format!("arn:aws:iam::{ACCOUNT_ID}:instance-profile/cordon-quarantine-instance"),
                "cordon-quarantine-instance".to_string(),
                ssm.clone()
            )
        );

        // Organization mode: each member account has the same, from infra/member.yaml.
        let o = organize(&aws, &root, &mut template, &[]).await.unwrap();
        assert!(!o.members.is_empty());
        for m in &o.members {
            use cordon_moto::organization as org;
            let admin = org::config_in_account(&aws, &m.id, org::ACCESS_ROLE)
                .await
                .unwrap();
            assert_eq!(
                quarantine_profile(&admin).await,
                (
                    format!(
                        "arn:aws:iam::{}:instance-profile/cordon-quarantine-instance",
                        m.id
                    ),
                    "cordon-quarantine-instance".to_string(),
                    ssm.clone()
                ),
                "member {}",
                m.id
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_quarantine_instance_profile_is_seeded_when_its_name_is_empty() {
        let moto = tokio::task::spawn_blocking(Moto::start)
            .await
            .unwrap()
            .unwrap();
        let aws = moto.sdk_config().await;
        let mut template =
            Template::read(&find_root().unwrap().join("infra/template.yaml")).unwrap();
        template
            .values
            .insert("QuarantineInstanceProfileName".into(), String::new());
        seed(&aws, &template).await.unwrap();
        let iam = aws_sdk_iam::Client::new(&aws);
        let profiles = iam.list_instance_profiles().send().await.unwrap();
        assert!(profiles.instance_profiles().is_empty(), "{profiles:?}");
    }
}
