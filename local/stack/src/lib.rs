//! cordon-stack: the offline cordon stack, on loopback ports it chooses.
//!
//! [`Stack::start`] brings up `moto_server`, seeds the simulated account with what
//! `infra/template.yaml` would create (the deny-all quarantine policy, the quarantine instance
//! profile and its role, the alerts and approvals topics each subscribed to an SQS queue,
//! Security Hub and its custom actions),
//! starts the local Step
//! Functions engine with its durable store, SNS/SQS integrations and API server, registers
//! the six function binaries with the Lambda Runtime API host (with the environment the
//! template gives them, pointed at moto), serves the approve function behind a local function
//! URL, creates the state machines from `statemachine/` with their substitutions, and routes
//! events with the template's EventBridge rules ([`Stack::send`]).
//!
//! The stack reads the very files that get deployed: the template (functions, environment,
//! rules, quarantine policy document, quarantine instance profile, custom actions), the ASL
//! definitions and the policy file.
//!
//! [`account`] reads an account's IAM and EC2 back and decides whether a containment really
//! happened: what `cordon demo` and the end-to-end tests check with.

pub mod account;
#[cfg(test)]
mod asl_tests;
mod file;
mod function_url;
mod stack;
mod template;

pub use file::{
    Endpoints, MemberAccount, OrganizationInfo, Principal, STACK_DIR, STACK_FILE, StackFile,
    execution_arn, execution_name,
};
pub use function_url::{ASSERTED_CALLER_HEADER, FunctionUrl};
pub use stack::{
    ATTACKER_USER, DEFAULT_BUS, EventRouter, ExecutionInfo, FUNCTION_PACKAGES, IgnoredFinding,
    LOCAL_APPROVER_ARN, MEMBER_STACK_NAME, Outcome, Routed, RuleMatch, Stack, StackError,
    StackOptions, StepFunctions, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY, default_bin_dir,
    find_root,
};
