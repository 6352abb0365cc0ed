use super::*;
use async_trait::async_trait;
use cordon_core::ports::{PendingApproval, PortResult};
use cordon_core::{CaseFile, PortError};
use std::sync::Mutex;

const SM: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:cordon-incident-response";
const EXEC: &str =
    "arn:aws:states:us-east-1:123456789012:execution:cordon-incident-response:c1d2e3f4";
const RESPONDER: &str =
    "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_SecurityResponder_0a1b2c3d/alice";
/// The actor who created the user in the fixture.
const CREATOR: &str = "arn:aws:iam::123456789012:user/devops-tools";

fn root() -> String {
    format!(
        "{}/../..",
        std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")
    )
}

/// The example policy, plus IAM users as approvers so that the creator is on the list too.
fn policy() -> Policy {
    let text = std::fs::read_to_string(format!("{}/infra/policy.example.json", root()))
        .unwrap()
        .replace(
            "\"approvers\": [",
            "\"approvers\": [\"arn:aws:iam::123456789012:user/devops-*\", ",
        );
    Policy::from_json(&text).unwrap()
}

fn state() -> Value {
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/tests/events/cloudtrail-create-user-suspicious-name-no-mfa-cli.json",
            root()
        ))
        .unwrap(),
    )
    .unwrap();
    let incident = cordon_core::parse_event(&event).unwrap();
    serde_json::to_value(CaseFile {
        event,
        incident: Some(incident),
        ..CaseFile::default()
    })
    .unwrap()
}

struct FakeExecutions {
    pending: Option<PendingApproval>,
    sent: Mutex<Vec<(String, Value)>>,
}

impl FakeExecutions {
    fn waiting() -> Self {
        FakeExecutions {
            pending: Some(PendingApproval {
                execution_arn: EXEC.into(),
                task_token: "TOKEN-1".into(),
                input: state(),
                requested_at: Utc::now(),
            }),
            sent: Mutex::new(vec![]),
        }
    }
    fn idle() -> Self {
        FakeExecutions {
            pending: None,
            sent: Mutex::new(vec![]),
        }
    }
}

#[async_trait]
impl Executions for FakeExecutions {
    async fn pending_approval(&self, execution_arn: &str) -> PortResult<Option<PendingApproval>> {
        if execution_arn.ends_with(":missing") {
            return Err(PortError::new(
                PortErrorKind::NotFound,
                "states:GetExecutionHistory",
                "ExecutionDoesNotExist",
            ));
        }
        Ok(self.pending.clone())
    }
    async fn send_task_success(&self, task_token: &str, output: &Value) -> PortResult<()> {
        self.sent
            .lock()
            .unwrap()
            .push((task_token.into(), output.clone()));
        Ok(())
    }
}

fn body(decision: &str, reason: &str) -> Vec<u8> {
    json!({"executionArn": EXEC, "decision": decision, "reason": reason})
        .to_string()
        .into_bytes()
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-14T03:10:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn an_approver_decision_completes_the_task_with_the_verified_identity() {
    let ex = FakeExecutions::waiting();
    let p = policy();
    let reply = decide(
        &ex,
        Ok(&p),
        Some(SM),
        Some(RESPONDER),
        &body("approved", "attacker-made user"),
        now(),
    )
    .await;
    let expected = json!({
        "decision": "approved", "approver": RESPONDER, "verified": true,
        "reason": "attacker-made user", "decidedAt": "2026-03-14T03:10:00Z"
    });
    assert_eq!(
        reply,
        Reply {
            status: 200,
            body: expected.clone()
        }
    );
    assert_eq!(
        *ex.sent.lock().unwrap(),
        vec![("TOKEN-1".to_string(), expected)]
    );

    let reply = decide(
        &ex,
        Ok(&p),
        Some(SM),
        Some(RESPONDER),
        &body("rejected", "it is Bob's new CI user"),
        now(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["decision"], json!("rejected"));
}

#[tokio::test]
async fn an_approver_may_choose_the_role_wide_revocation_and_a_rejection_may_not() {
    let ex = FakeExecutions::waiting();
    let p = policy();
    let with = |decision: &str, revoke: bool| {
        json!({"executionArn": EXEC, "decision": decision, "reason": "keys used from a VPS", "revokeRoleSessions": revoke})
            .to_string()
            .into_bytes()
    };
    let reply = decide(
        &ex,
        Ok(&p),
        Some(SM),
        Some(RESPONDER),
        &with("approved", true),
        now(),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["revokeRoleSessions"], json!(true));
    assert_eq!(
        ex.sent.lock().unwrap()[0].1["revokeRoleSessions"],
        json!(true)
    );

    let ex = FakeExecutions::waiting();
    let reply = decide(
        &ex,
        Ok(&p),
        Some(SM),
        Some(RESPONDER),
        &with("rejected", false),
        now(),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.body["message"]
            .as_str()
            .unwrap()
            .contains("`revokeRoleSessions` goes with `approved` only"),
        "{:?}",
        reply.body
    );
    assert!(ex.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn refusals_are_clear_4xx_and_never_complete_the_task() {
    let p = policy();
    let ex = FakeExecutions::waiting();
    let b = body("approved", "looks bad");
    let cases: Vec<(Reply, u16, &str)> = vec![
        (decide(&ex, Ok(&p), Some(SM), None, &b, now()).await, 401, "Unauthenticated"),
        (decide(&ex, Ok(&p), Some(SM), Some("arn:aws:iam::123456789012:user/random-dev"), &b, now()).await, 403, "Forbidden"),
        (decide(&ex, Ok(&p), Some(SM), Some(CREATOR), &b, now()).await, 403, "Forbidden"),
        (decide(&ex, Ok(&p), Some(SM), Some(RESPONDER), &body("approved", "  "), now()).await, 400, "BadRequest"),
        (decide(&ex, Ok(&p), Some(SM), Some(RESPONDER), b"not json", now()).await, 400, "BadRequest"),
        (decide(&ex, Ok(&p), Some(SM), Some(RESPONDER), &body("maybe", "x"), now()).await, 400, "BadRequest"),
        (
            decide(&ex, Ok(&p), Some(SM), Some("arn:aws:iam::123456789012:user/random-dev"),
                json!({"executionArn": EXEC, "decision": "approved", "reason": "x", "approver": RESPONDER}).to_string().as_bytes(), now()).await,
            400,
            "BadRequest",
        ),
        (
            decide(&ex, Ok(&p), Some(SM), Some(RESPONDER),
                json!({"executionArn": "arn:aws:states:us-east-1:123456789012:execution:other-machine:x", "decision": "approved", "reason": "x"}).to_string().as_bytes(), now()).await,
            404,
            "NotFound",
        ),
        (
            decide(&ex, Ok(&p), Some(SM), Some(RESPONDER),
                json!({"executionArn": format!("{EXEC}-x:missing"), "decision": "approved", "reason": "x"}).to_string().as_bytes(), now()).await,
            404,
            "NotFound",
        ),
        (decide(&FakeExecutions::idle(), Ok(&p), Some(SM), Some(RESPONDER), &b, now()).await, 409, "NotWaiting"),
        (decide(&ex, Err("CORDON_POLICY is not set"), Some(SM), Some(RESPONDER), &b, now()).await, 500, "PolicyInvalid"),
    ];
    for (i, (reply, status, error)) in cases.iter().enumerate() {
        assert_eq!(
            (reply.status, reply.body["error"].as_str().unwrap()),
            (*status, *error),
            "case {i}: {reply:?}"
        );
        assert!(!reply.body["message"].as_str().unwrap().is_empty());
    }
    let self_approval = &cases[2].0;
    assert!(
        self_approval.body["message"]
            .as_str()
            .unwrap()
            .contains("two-person rule"),
        "{self_approval:?}"
    );
    assert!(
        cases[6].0.body["message"]
            .as_str()
            .unwrap()
            .contains("`approver` is not accepted")
    );
    assert!(
        ex.sent.lock().unwrap().is_empty(),
        "no refusal may complete the task"
    );
}

#[test]
fn the_caller_comes_from_the_function_url_request_context() {
    use lambda_http::aws_lambda_events::apigw::{
        ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerIamDescription,
        ApiGatewayV2httpRequestContext,
    };
    let mut ctx = ApiGatewayV2httpRequestContext::default();
    let mut authorizer = ApiGatewayRequestAuthorizer::default();
    let mut iam = ApiGatewayRequestAuthorizerIamDescription::default();
    iam.user_arn = Some(RESPONDER.into());
    authorizer.iam = Some(iam);
    ctx.authorizer = Some(authorizer);
    assert_eq!(
        caller_arn(Some(&RequestContext::ApiGatewayV2(ctx.clone()))).as_deref(),
        Some(RESPONDER)
    );
    ctx.authorizer = None;
    assert_eq!(caller_arn(Some(&RequestContext::ApiGatewayV2(ctx))), None);
    assert_eq!(caller_arn(None), None);
}

#[test]
fn a_function_url_event_deserializes_to_the_caller() {
    use lambda_http::RequestExt;
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc", "domainName": "abc.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc", "requestId": "r1", "routeKey": "$default", "stage": "$default",
            "time": "14/Mar/2026:03:10:00 +0000", "timeEpoch": 1773457800000i64,
            "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "10.0.0.1", "userAgent": "cordon"},
            "authorizer": {"iam": {"accessKey": "ASIA", "accountId": "123456789012", "callerId": "AROA:alice",
                "userArn": RESPONDER, "userId": "AROA:alice"}}
        },
        "body": "{}", "isBase64Encoded": false
    });
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    assert_eq!(
        caller_arn(req.request_context_ref()).as_deref(),
        Some(RESPONDER)
    );
}

#[tokio::test]
async fn an_asserted_identity_is_recorded_as_not_verified() {
    // Offline, the local function URL only relays the identity the client claims: the
    // decision still goes through every check, but the record must not say AWS verified it.
    let ex = FakeExecutions::waiting();
    let p = policy();
    let reply = decide_as(
        &ex,
        Ok(&p),
        Some(SM),
        Some(RESPONDER),
        IdentitySource::Asserted,
        &body("approved", "confirmed by phone"),
        now(),
    )
    .await;
    let expected = json!({
        "decision": "approved", "approver": RESPONDER, "verified": false,
        "reason": "confirmed by phone", "decidedAt": "2026-03-14T03:10:00Z"
    });
    assert_eq!(
        reply,
        Reply {
            status: 200,
            body: expected.clone()
        }
    );
    assert_eq!(
        *ex.sent.lock().unwrap(),
        vec![("TOKEN-1".to_string(), expected)]
    );
}
