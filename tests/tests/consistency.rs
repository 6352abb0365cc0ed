//! One source of truth each, kept in step: the ASL's `${...}` and the template's substitutions,
//! the function crates and the function resources, every list of the functions and
//! `permissions::FUNCTIONS`, the IAM actions each role grants (on which resources, under which
//! conditions) and the grants the code declares and the actions it calls, the response policy file and the template's default;
//! in organization mode, the member template's responder role and the actions and scoping of
//! the central roles, and the event patterns of the organization bus and of the member
//! accounts' forwarding rules and those of the default bus.

use std::collections::{BTreeMap, BTreeSet};

use cordon_tests::*;
use serde_json::Value;

fn substitutions(machine: &Value) -> BTreeMap<String, Value> {
    machine["Properties"]["DefinitionSubstitutions"]
        .as_object()
        .expect("DefinitionSubstitutions")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[test]
fn every_asl_substitution_is_defined_by_the_template_and_vice_versa() {
    let template = template();
    let machines = resources_of_type(&template, "AWS::Serverless::StateMachine");
    let functions = functions(&template);
    let uris: BTreeSet<String> = machines
        .values()
        .map(|m| {
            m["Properties"]["DefinitionUri"]
                .as_str()
                .expect("DefinitionUri")
                .to_string()
        })
        .collect();
    // Every definition in statemachine/ is deployed, and the incident response is one of them.
    let files: BTreeSet<String> = std::fs::read_dir(root().join("statemachine"))
        .unwrap()
        .map(|e| {
            format!(
                "../statemachine/{}",
                e.unwrap().file_name().to_string_lossy()
            )
        })
        .filter(|f| f.ends_with(".asl.json"))
        .collect();
    assert_eq!(
        uris, files,
        "DefinitionUri of the state machines vs statemachine/*.asl.json"
    );
    assert!(uris.contains(&format!("../{ASL}")));
    for (id, machine) in machines {
        let uri = machine["Properties"]["DefinitionUri"].as_str().unwrap();
        let used = asl_substitutions(&read(uri.trim_start_matches("../")));
        let defined: BTreeSet<String> = substitutions(machine).keys().cloned().collect();
        assert!(!used.is_empty(), "{id}");
        assert_eq!(
            used, defined,
            "{id}: ASL ${{...}} vs DefinitionSubstitutions"
        );
        // Each substitution names a function of this template by its Arn, or one of its state
        // machines (a !Ref to a state machine is its ARN).
        for (name, value) in substitutions(machine) {
            if let Some(target) = value["Fn::GetAtt"][0].as_str() {
                assert_eq!(value["Fn::GetAtt"][1], "Arn", "{id}.{name}");
                assert!(
                    functions.values().any(|f| f.logical_id == target),
                    "{id}.{name} -> {target} is not a function"
                );
            } else if let Some(target) = value["Ref"].as_str() {
                assert_eq!(
                    template["Resources"][target]["Type"], "AWS::Serverless::StateMachine",
                    "{id}.{name} -> {target} is not a state machine"
                );
            } else {
                // A !Sub naming one of this template's state machines (`${Machine.Name}`).
                let text = value["Fn::Sub"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{id}.{name}: not !GetAtt, !Ref or !Sub"));
                let named: Vec<&str> = text
                    .split("${")
                    .skip(1)
                    .filter_map(|p| p.split('}').next())
                    .filter(|r| !r.starts_with("AWS::"))
                    .collect();
                assert!(
                    !named.is_empty(),
                    "{id}.{name}: !Sub names nothing of the template"
                );
                for r in named {
                    let target = r.split('.').next().unwrap();
                    assert_eq!(
                        template["Resources"][target]["Type"], "AWS::Serverless::StateMachine",
                        "{id}.{name}: ${{{r}}} is not a state machine"
                    );
                }
            }
        }
    }
}

#[test]
fn every_function_crate_has_a_function_resource_and_vice_versa() {
    let template = template();
    let resources: BTreeSet<String> = functions(&template).keys().cloned().collect();
    let crates = function_crates();
    assert_eq!(crates.len(), 6, "the six function crates: {crates:?}");
    assert_eq!(
        crates, resources,
        "functions/ crates vs template functions (BuildProperties.Binary)"
    );
    let root_manifest = read("Cargo.toml");
    for (binary, f) in functions(&template) {
        assert!(
            root_manifest.contains(&format!("\"functions/{binary}\"")),
            "{binary} is not a workspace member"
        );
        let r = &template["Resources"][&f.logical_id];
        assert_eq!(r["Metadata"]["BuildMethod"], "rust-cargolambda", "{binary}");
        assert_eq!(
            r["Properties"]["CodeUri"], "../",
            "{binary}: CodeUri is the workspace root"
        );
    }
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Architectures"][0], "arm64");
    assert_eq!(globals["Tracing"], "Active");
    assert_eq!(globals["LoggingConfig"]["LogFormat"], "JSON");
    let vars = globals["Environment"]["Variables"].as_object().unwrap();
    for v in [
        "CORDON_POLICY",
        "CORDON_POLICY_PARAMETER",
        "CORDON_ALERTS_TOPIC_ARN",
        "CORDON_APPROVALS_TOPIC_ARN",
        "CORDON_QUARANTINE_POLICY_ARN",
        "CORDON_STATE_MACHINE_ARN",
        "CORDON_DEPLOYMENT",
        "CORDON_HOME_ACCOUNT",
        "CORDON_MEMBER_ROLE_NAME",
        "CORDON_MEMBER_QUARANTINE_POLICY_NAME",
    ] {
        assert!(vars.contains_key(v), "functions need {v}");
    }
    // The policy from Parameter Store, when the parameter names one.
    assert_eq!(
        vars["CORDON_POLICY_PARAMETER"]["Ref"],
        "ResponsePolicyParameterName"
    );
    // Organization mode, as functions/aws reads it.
    assert_eq!(vars["CORDON_DEPLOYMENT"]["Ref"], "DeploymentMode");
    assert_eq!(vars["CORDON_HOME_ACCOUNT"]["Ref"], "AWS::AccountId");
    assert_eq!(vars["CORDON_MEMBER_ROLE_NAME"]["Ref"], "MemberRoleName");
    assert_eq!(
        vars["CORDON_MEMBER_QUARANTINE_POLICY_NAME"]["Ref"],
        "MemberQuarantinePolicyName"
    );
    let mode = &template["Parameters"]["DeploymentMode"];
    assert_eq!(
        mode["AllowedValues"],
        serde_json::json!(["single-account", "organization"])
    );
    assert_eq!(mode["Default"], "single-account");
}

#[test]
fn each_function_role_is_its_own_and_grants_only_runtime_extras_outside_its_api_policy() {
    let template = template();
    let mut roles = BTreeSet::new();
    for (binary, f) in functions(&template) {
        assert!(
            roles.insert(f.role_logical_id.clone()),
            "{binary} shares a role"
        );
        let names = role_policy_names(&template, &f.role_logical_id);
        for n in &names {
            assert!(
                n == "aws-api" || n == "runtime",
                "{binary}: unexpected inline policy {n}"
            );
        }
        let api = role_policy_actions(&template, &f.role_logical_id, "aws-api");
        for action in role_policy_actions(&template, &f.role_logical_id, "runtime") {
            let ok = matches!(
                action.as_str(),
                "logs:CreateLogStream"
                    | "logs:PutLogEvents"
                    | "xray:PutTraceSegments"
                    | "xray:PutTelemetryRecords"
            ) || (matches!(action.as_str(), "kms:GenerateDataKey" | "kms:Decrypt")
                && api.contains("sns:Publish"));
            assert!(ok, "{binary}: runtime policy grants {action}");
        }
        for a in &api {
            assert!(!a.contains('*'), "{binary}: wildcard action {a}");
        }
        assert!(
            template["Resources"][&f.role_logical_id]["Properties"]["ManagedPolicyArns"].is_null(),
            "{binary}: no managed policies, only the declared actions"
        );
    }
}

#[test]
fn each_role_grants_exactly_the_actions_its_function_declares() {
    let template = template();
    for (binary, f) in functions(&template) {
        let granted: BTreeSet<String> =
            role_policy_actions(&template, &f.role_logical_id, "aws-api")
                .iter()
                .map(|a| action_key(a))
                .collect();
        let declared: BTreeSet<String> = cordon_aws::permissions::actions_for(&binary)
            .iter()
            .map(|a| action_key(a))
            .collect();
        assert_eq!(
            granted, declared,
            "{binary}: template role {} vs actions_for",
            f.role_logical_id
        );
    }
}

/// Adapter calls made only by the operator's `cordon release` (with the operator's own
/// credentials, never a function role) are declared under `actions_for("release")`.
const OPERATOR_COMMANDS: &[&str] = &["release"];

/// What `self.<client>.<method>(` can call on an SDK client that is not an AWS operation.
const CLIENT_METHODS: &[&str] = &["clone", "config"];

#[test]
fn every_sdk_call_in_the_adapters_has_a_permission() {
    let calls = sdk_calls(&root().join("functions/aws/src"));
    assert!(
        !calls.is_empty(),
        "the scanner found no SDK call in functions/aws/src"
    );
    let template = template();
    let granted: BTreeSet<String> = functions(&template)
        .values()
        .flat_map(|f| role_policy_actions(&template, &f.role_logical_id, "aws-api"))
        .map(|a| action_key(&a))
        .collect();
    let (declared, operator): (BTreeSet<String>, BTreeSet<String>) = (
        function_crates()
            .iter()
            .flat_map(|f| {
                cordon_aws::permissions::actions_for(f)
                    .into_iter()
                    .map(action_key)
            })
            .collect(),
        OPERATOR_COMMANDS
            .iter()
            .flat_map(|c| {
                cordon_aws::permissions::actions_for(c)
                    .into_iter()
                    .map(action_key)
            })
            .collect(),
    );
    let missing: Vec<String> = calls
        .iter()
        .filter(|c| c.action != "sts:GetCallerIdentity") // needs no permission
        // Methods of the SDK client itself, not API operations.
        .filter(|c| !CLIENT_METHODS.contains(&c.operation.as_str()))
        .filter(|c| {
            let a = action_key(&c.action);
            let covered = operator.contains(&a) || (declared.contains(&a) && granted.contains(&a));
            !covered
        })
        .map(|c| {
            format!(
                "{} in {} (self.{}.{}())",
                c.action, c.file, c.client, c.operation
            )
        })
        .collect();
    assert!(
        missing.is_empty(),
        "SDK calls declared by no function in cordon_aws::permissions::actions_for (or not granted by its role \
         in {TEMPLATE}, or, for the operator's release, not declared under actions_for(\"release\")):\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_sdk_call_scanner_finds_calls_and_names_their_actions() {
    // The check above is only as good as its scanner.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.rs"),
        "async fn f(&self) { self.iam.attach_user_policy().send().await; self.sfn\n  .send_task_success()\n  .send(); \
         self.securityhub.batch_import_findings(); self.other.put_object(); \
         let op = self.ssm.get_parameter(); }",
    )
    .unwrap();
    let actions: Vec<String> = sdk_calls(dir.path())
        .into_iter()
        .map(|c| c.action)
        .collect();
    assert_eq!(
        actions,
        [
            "iam:AttachUserPolicy",
            "securityhub:BatchImportFindings",
            "states:SendTaskSuccess",
            "ssm:GetParameter"
        ]
    );
    assert_eq!(
        action_key("iam:ListMfaDevices"),
        action_key("iam:ListMFADevices")
    );
}

#[test]
fn the_policy_parameter_default_is_the_example_policy_file() {
    let template = template();
    let default = template["Parameters"]["ResponsePolicy"]["Default"]
        .as_str()
        .expect("ResponsePolicy default");
    let from_template: Value =
        serde_json::from_str(default).expect("ResponsePolicy default is JSON");
    let example: Value =
        serde_json::from_str(&read(POLICY_EXAMPLE)).expect("policy example is JSON");
    assert_eq!(
        from_template, example,
        "ResponsePolicy's Default must be {POLICY_EXAMPLE}, compacted"
    );
    let max = template["Parameters"]["ResponsePolicy"]["MaxLength"]
        .as_u64()
        .unwrap() as usize;
    assert!(default.len() <= max);
    assert_eq!(
        template["Globals"]["Function"]["Environment"]["Variables"]["CORDON_POLICY"]["Ref"],
        "ResponsePolicy"
    );
    // The shape functions/core parses (camelCase, these keys exactly).
    let keys: BTreeSet<&str> = example
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "protected",
            "trustedCreators",
            "suspiciousUserNamePatterns",
            "guardDuty",
            "approval",
            "containment",
            "dryRun"
        ])
    );
}

/// The condition under which the functions may read the policy from Parameter Store.
const POLICY_PARAMETER_CONDITION: &str = "HasPolicyParameter";

/// The functions that read the response policy (once, at init): when it is kept in Parameter
/// Store, they call `ssm:GetParameter`.
const POLICY_READERS: &[&str] = &["approve", "classify", "enrich", "quarantine"];

/// `(condition, policy name, statement)` of each statement of `role` that grants an `ssm:`
/// action, the condition being the statement's own `Fn::If` or its policy's.
fn ssm_statements(template: &Value, role: &str) -> Vec<(Option<String>, String, Value)> {
    let mut out = Vec::new();
    for p in template["Resources"][role]["Properties"]["Policies"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let (policy_cond, p) = match conditional_statement(&p) {
            Some((c, p)) => (Some(c.to_string()), p.clone()),
            None => (None, p),
        };
        let name = p["PolicyName"].as_str().unwrap_or_default().to_string();
        for s in raw_statements(&p["PolicyDocument"]) {
            let (cond, s) = match conditional_statement(&s) {
                Some((c, s)) => (Some(c.to_string()), s.clone()),
                None => (policy_cond.clone(), s),
            };
            if string_or_list(&s["Action"])
                .iter()
                .any(|a| a.to_ascii_lowercase().starts_with("ssm:"))
            {
                out.push((cond, name.clone(), s));
            }
        }
    }
    out
}

#[test]
fn only_the_policy_readers_may_read_the_policy_parameter_only_when_it_is_named_and_only_it() {
    let t = template();
    let param = &t["Parameters"]["ResponsePolicyParameterName"];
    assert_eq!(param["Type"], "String");
    assert_eq!(param["Default"], "", "the inline policy by default");
    assert!(param["MaxLength"].as_u64().is_some_and(|n| n <= 1011));
    assert_eq!(
        t["Conditions"][POLICY_PARAMETER_CONDITION],
        serde_json::json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "ResponsePolicyParameterName"}, ""]}]})
    );
    // Names SSM accepts: one without a slash, or a hierarchical one with its leading slash
    // (SSM refuses `cordon/policy`: "Parameter name must be a fully qualified name"). No ARN,
    // no wildcard.
    let pattern = regex::Regex::new(param["AllowedPattern"].as_str().unwrap()).unwrap();
    let names = [
        "cordon-policy",
        "/cordon/policy",
        "/cordon-policy",
        "/org/security/cordon/response_policy.v2",
    ];
    for ok in std::iter::once("").chain(names) {
        assert!(pattern.is_match(ok), "{ok:?} refused");
    }
    for bad in [
        "cordon/policy",
        "/cordon/",
        "//cordon",
        "/cordon//policy",
        "cordon policy",
        "/cordon/*",
        "arn:aws:ssm:us-east-1:123456789012:parameter/cordon/policy",
    ] {
        assert!(!pattern.is_match(bad), "{bad:?} allowed");
    }
    let readers: BTreeSet<String> = function_crates()
        .into_iter()
        .filter(|f| cordon_aws::permissions::actions_for(f).contains(&"ssm:GetParameter"))
        .collect();
    assert_eq!(
        readers,
        POLICY_READERS.iter().map(|f| f.to_string()).collect(),
        "the functions declaring ssm:GetParameter in cordon_aws::permissions"
    );
    for (binary, f) in functions(&t) {
        let found = ssm_statements(&t, &f.role_logical_id);
        if !POLICY_READERS.contains(&binary.as_str()) {
            assert!(found.is_empty(), "{binary}: {found:?}");
            continue;
        }
        assert_eq!(found.len(), 1, "{binary}: {found:?}");
        let (cond, policy, s) = &found[0];
        assert_eq!(
            cond.as_deref(),
            Some(POLICY_PARAMETER_CONDITION),
            "{binary}"
        );
        assert_eq!(policy, "aws-api", "{binary}");
        assert_eq!(s["Effect"], "Allow", "{binary}");
        assert_eq!(
            string_or_list(&s["Action"]),
            ["ssm:GetParameter"],
            "{binary}"
        );
        assert!(s["Condition"].is_null(), "{binary}");
        // Exactly the named parameter's ARN, which names it without its leading slash.
        for name in names {
            let values = BTreeMap::from([
                ("AWS::Partition", "aws"),
                ("AWS::Region", "eu-west-1"),
                ("AWS::AccountId", "123456789012"),
                ("ResponsePolicyParameterName", name),
            ]);
            let arn = format!(
                "arn:aws:ssm:eu-west-1:123456789012:parameter/{}",
                name.trim_start_matches('/')
            );
            assert_eq!(
                evaluate(&s["Resource"], &values),
                Value::String(arn),
                "{binary}: for {name}"
            );
        }
    }
}

#[test]
fn the_approve_function_url_uses_iam_auth_and_only_approvers_may_call_it() {
    let template = template();
    let f = &functions(&template)["approve"];
    let props = &template["Resources"][&f.logical_id]["Properties"];
    assert_eq!(props["FunctionUrlConfig"]["AuthType"], "AWS_IAM");
    let policy = &template["Resources"]["ApproversPolicy"]["Properties"]["PolicyDocument"];
    let actions: BTreeSet<String> = statements(policy)
        .iter()
        .flat_map(|s| string_or_list(&s["Action"]))
        .collect();
    assert_eq!(
        actions,
        BTreeSet::from([
            "lambda:InvokeFunction".into(),
            "lambda:InvokeFunctionUrl".into()
        ])
    );
    for s in statements(policy) {
        assert_eq!(s["Resource"]["Fn::GetAtt"][0], f.logical_id.as_str());
    }
}

// ------------------------------------------------------------------ organization mode

/// `Fn::Sub` text, `Ref` name or literal string of a template value, for messages.
fn shown(v: &Value) -> String {
    v.to_string()
}

/// The central value as a member-account resource names it: EC2 resources of any region (the
/// responder role is global, an incident's instance is in its finding's region).
fn any_region(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("${AWS::Region}", "*")),
        Value::Array(a) => Value::Array(a.iter().map(any_region).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), any_region(v))).collect())
        }
        other => other.clone(),
    }
}

/// (Resource, Condition) of each Allow statement of `role`'s `policy` that grants `action`.
fn scopings(template: &Value, role: &str, policy: &str, action: &str) -> Vec<(Value, Value)> {
    template["Resources"][role]["Properties"]["Policies"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|p| p["PolicyName"] == policy)
        .flat_map(|p| statements(&p["PolicyDocument"]))
        .filter(|s| s["Effect"] == "Allow")
        .filter(|s| {
            string_or_list(&s["Action"])
                .iter()
                .any(|a| action_key(a) == action_key(action))
        })
        .map(|s| (s["Resource"].clone(), s["Condition"].clone()))
        .collect()
}

/// The central action whose scoping a release-only action of the member role mirrors.
fn central_counterpart(action: &str) -> &str {
    match action {
        "iam:DetachUserPolicy" => "iam:AttachUserPolicy",
        "iam:UntagUser" => "iam:TagUser",
        "iam:UntagRole" => "iam:TagRole",
        "iam:DeleteUserPolicy" => "iam:PutUserPolicy",
        "iam:DeleteRolePolicy" => "iam:PutRolePolicy",
        "ec2:DeleteNetworkAclEntry" => "ec2:CreateNetworkAclEntry",
        other => other,
    }
}

const RESPONDER_ROLE: &str = "ResponderRole";

#[test]
fn the_member_responder_role_grants_exactly_the_member_role_actions_scoped_as_the_central_roles() {
    let central = template();
    let member = member_template();
    let role = &member["Resources"][RESPONDER_ROLE];
    assert_eq!(role["Type"], "AWS::IAM::Role");
    assert_eq!(role["Properties"]["RoleName"]["Ref"], "MemberRoleName");
    assert_eq!(role_policy_names(&member, RESPONDER_ROLE), ["aws-api"]);
    assert!(
        role["Properties"]["ManagedPolicyArns"].is_null(),
        "no managed policies, only the declared actions"
    );

    let granted: BTreeSet<String> = role_policy_actions(&member, RESPONDER_ROLE, "aws-api")
        .iter()
        .map(|a| action_key(a))
        .collect();
    let declared: BTreeSet<String> = cordon_aws::permissions::member_role_actions()
        .iter()
        .map(|a| action_key(a))
        .collect();
    assert_eq!(
        granted, declared,
        "{MEMBER_TEMPLATE} {RESPONDER_ROLE} vs permissions::member_role_actions()"
    );

    // Every action is scoped as the central enrich or quarantine role scopes it (or, for an
    // action only `cordon release` calls, as its central counterpart is): same resources
    // (EC2 in any region), same conditions (the quarantine policy ARN of the same logical id).
    let central_roles: Vec<String> = ["enrich", "quarantine"]
        .iter()
        .map(|f| functions(&central)[*f].role_logical_id.clone())
        .collect();
    for action in cordon_aws::permissions::member_role_actions() {
        assert!(!action.contains('*'), "wildcard action {action}");
        let mine = scopings(&member, RESPONDER_ROLE, "aws-api", action);
        assert_eq!(mine.len(), 1, "{action} is granted by one statement");
        let counterpart = central_counterpart(action);
        let theirs: Vec<(Value, Value)> = central_roles
            .iter()
            .flat_map(|r| scopings(&central, r, "aws-api", counterpart))
            .map(|(r, c)| (any_region(&r), c))
            .collect();
        assert!(
            !theirs.is_empty(),
            "{action}: no central role grants {counterpart} to mirror; say in \
             central_counterpart which central action it mirrors"
        );
        for t in &theirs {
            assert_eq!(
                &mine[0],
                t,
                "{action}: member scoping {} / {} vs central {counterpart}: {} / {}",
                shown(&mine[0].0),
                shown(&mine[0].1),
                shown(&t.0),
                shown(&t.1)
            );
        }
    }
    // The quarantine policy named in the attach/detach condition is the member's own.
    assert_eq!(
        member["Resources"]["QuarantinePolicy"]["Type"],
        "AWS::IAM::ManagedPolicy"
    );
    let attach = scopings(&member, RESPONDER_ROLE, "aws-api", "iam:AttachUserPolicy");
    assert_eq!(
        attach[0].1["ArnEquals"]["iam:PolicyARN"]["Ref"],
        "QuarantinePolicy"
    );

    // The central quarantine role's guard: the responder never touches itself or AWS-reserved
    // roles (the central one names the stack's own roles; here that is the responder).
    let deny_resources = |t: &Value, role: &str| -> BTreeSet<String> {
        t["Resources"][role]["Properties"]["Policies"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| statements(&p["PolicyDocument"]))
            .filter(|s| s["Effect"] == "Deny")
            .inspect(|s| assert_eq!(s["Action"], "iam:*", "{role}: {s}"))
            .flat_map(|s| match &s["Resource"] {
                Value::Array(a) => a.clone(),
                other => vec![other.clone()],
            })
            .map(|r| r["Fn::Sub"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let member_denied = deny_resources(&member, RESPONDER_ROLE);
    let central_denied = deny_resources(&central, &central_roles[1]);
    assert!(
        member_denied
            .contains("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${MemberRoleName}"),
        "{member_denied:?}"
    );
    for r in central_denied
        .iter()
        .filter(|r| !r.contains("${AWS::StackName}"))
    {
        assert!(
            member_denied.contains(r),
            "the member role must deny {r} too"
        );
    }
}

#[test]
fn the_member_responder_role_trusts_exactly_the_central_function_roles_of_the_organization() {
    let central = template();
    let member = member_template();
    let trust = &member["Resources"][RESPONDER_ROLE]["Properties"]["AssumeRolePolicyDocument"];
    let central_root = "arn:${AWS::Partition}:iam::${CentralAccountId}:root";
    let check = |s: &Value| -> Value {
        assert_eq!(s["Effect"], "Allow", "{s}");
        assert_eq!(s["Action"], "sts:AssumeRole", "{s}");
        assert_eq!(s["Principal"]["AWS"]["Fn::Sub"], central_root, "{s}");
        assert!(s.get("NotPrincipal").is_none() && s.get("NotAction").is_none());
        let cond = s["Condition"].as_object().expect("a condition");
        assert_eq!(
            cond.keys().collect::<Vec<_>>(),
            ["ArnEquals", "StringEquals"],
            "{s}"
        );
        assert_eq!(
            s["Condition"]["StringEquals"]["aws:PrincipalOrgID"]["Ref"],
            "OrganizationId"
        );
        s["Condition"]["ArnEquals"]["aws:PrincipalArn"].clone()
    };
    let raw = raw_statements(trust);
    assert_eq!(raw.len(), 1, "one statement: {raw:?}");
    let principals = check(&raw[0]);

    // The central stack's enrich and quarantine roles, by the names the central template gives
    // them, under the member's CentralStackName.
    let functions_arns: Vec<Value> = ["enrich", "quarantine"]
        .iter()
        .map(|f| {
            let role = &functions(&central)[*f].role_logical_id;
            let name = central["Resources"][role]["Properties"]["RoleName"]["Fn::Sub"]
                .as_str()
                .unwrap_or_else(|| panic!("{role} needs a fixed RoleName members can trust"));
            serde_json::json!({"Fn::Sub": format!(
                "arn:${{AWS::Partition}}:iam::${{CentralAccountId}}:role/{}",
                name.replace("${AWS::StackName}", "${CentralStackName}")
            )})
        })
        .collect();
    assert_eq!(
        central["Resources"]["EnrichRole"]["Properties"]["RoleName"]["Fn::Sub"],
        "${AWS::StackName}-enrich"
    );
    assert_eq!(
        central["Resources"]["QuarantineRole"]["Properties"]["RoleName"]["Fn::Sub"],
        "${AWS::StackName}-quarantine"
    );
    // Those two, plus the release operators' exact ARNs when some are named.
    let mut with_operators = functions_arns.clone();
    with_operators.push(serde_json::json!({"Fn::Join": [",", {"Ref": "ReleaseOperatorRoleArns"}]}));
    assert_eq!(
        principals,
        serde_json::json!({"Fn::If": [
            "HasReleaseOperators",
            {"Fn::Split": [",", {"Fn::Join": [",", with_operators]}]},
            functions_arns
        ]})
    );
    assert_eq!(
        member["Conditions"]["HasReleaseOperators"],
        serde_json::json!({"Fn::Not": [{"Fn::Equals": [
            {"Fn::Join": ["", {"Ref": "ReleaseOperatorRoleArns"}]}, ""
        ]}]})
    );
    // Never a wildcard operator ARN.
    let param = &member["Parameters"]["ReleaseOperatorRoleArns"];
    assert_eq!(param["Type"], "CommaDelimitedList");
    assert_eq!(param["Default"], "");
    let pattern = regex::Regex::new(param["AllowedPattern"].as_str().unwrap()).unwrap();
    for ok in [
        "",
        "arn:aws:iam::111122223333:role/responder",
        "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_SecurityResponder_0123456789abcdef",
    ] {
        assert!(pattern.is_match(ok), "{ok}");
    }
    for bad in [
        "*",
        "arn:aws:iam::111122223333:root",
        "arn:aws:iam::111122223333:role/*",
        "arn:aws:iam::*:role/responder",
        "arn:aws:iam::111122223333:role/respond?r",
        "arn:aws:iam::111122223333:user/alice",
    ] {
        assert!(!pattern.is_match(bad), "{bad}");
    }
}

#[test]
fn the_central_roles_assume_only_the_member_role_of_the_organization_in_organization_mode() {
    let t = template();
    let f = functions(&t);
    for (binary, expected) in [
        (
            "enrich",
            &["organizations:ListParents", "sts:AssumeRole"][..],
        ),
        ("quarantine", &["sts:AssumeRole"][..]),
    ] {
        let role = &f[binary].role_logical_id;
        let policy = t["Resources"][role]["Properties"]["Policies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["PolicyName"] == "aws-api")
            .unwrap()
            .clone();
        // The organization's statements exist in organization mode only.
        let mut org_actions = Vec::new();
        for s in raw_statements(&policy["PolicyDocument"]) {
            // (Reading the policy from Parameter Store and the instance profile swap have
            // their own conditions and tests.)
            if conditional_statement(&s).is_some_and(|(c, _)| {
                c == POLICY_PARAMETER_CONDITION || c == INSTANCE_PROFILE_CONDITION
            }) {
                continue;
            }
            let Some((cond, s)) = conditional_statement(&s) else {
                let actions = string_or_list(&s["Action"]);
                assert!(
                    !actions
                        .iter()
                        .any(|a| a.starts_with("sts:") || a.starts_with("organizations:")),
                    "{binary}: {actions:?} outside organization mode"
                );
                continue;
            };
            assert_eq!(cond, "IsOrganization", "{binary}");
            let actions = string_or_list(&s["Action"]);
            for a in &actions {
                match a.as_str() {
                    "sts:AssumeRole" => {
                        assert_eq!(
                            s["Resource"]["Fn::Sub"],
                            "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}",
                            "{binary}"
                        );
                        assert_eq!(
                            s["Condition"],
                            serde_json::json!({"StringEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}}),
                            "{binary}"
                        );
                    }
                    "organizations:ListParents" => {
                        for r in s["Resource"].as_array().unwrap() {
                            let r = r["Fn::Sub"].as_str().unwrap();
                            assert!(
                                r.contains("/${OrganizationId}/"),
                                "{binary}: ListParents on {r}"
                            );
                        }
                    }
                    other => panic!("{binary}: {other} in organization mode"),
                }
            }
            org_actions.extend(actions);
        }
        org_actions.sort();
        assert_eq!(org_actions, expected, "{binary}");
    }
    // Organization mode names its organization (a template rule; the pattern allows "").
    let id = &t["Parameters"]["OrganizationId"];
    assert_eq!(id["Default"], "");
    assert_eq!(id["AllowedPattern"], "^(o-[a-z0-9]{10,32})?$");
    assert_eq!(
        t["Rules"]["OrganizationModeNamesItsOrganization"]["Assertions"][0]["Assert"],
        serde_json::json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "OrganizationId"}, ""]}]})
    );
}

#[test]
fn the_member_template_shares_the_central_names_quarantine_policy_and_defaults() {
    let central = template();
    let member = member_template();
    assert!(
        member.get("Transform").is_none(),
        "StackSets reject transforms: {MEMBER_TEMPLATE} is plain CloudFormation"
    );
    let central_policy = &central["Resources"]["QuarantinePolicy"]["Properties"];
    let member_policy = &member["Resources"]["QuarantinePolicy"]["Properties"];
    assert_eq!(
        member_policy["PolicyDocument"],
        central_policy["PolicyDocument"]
    );
    assert_eq!(
        member_policy["ManagedPolicyName"]["Ref"],
        "MemberQuarantinePolicyName"
    );
    for p in [
        "MemberRoleName",
        "MemberQuarantinePolicyName",
        "QuarantineInstanceProfileName",
        "GuardDutyMinimumSeverity",
    ] {
        for k in ["Type", "Default", "AllowedPattern", "MinValue", "MaxValue"] {
            assert_eq!(
                member["Parameters"][p][k], central["Parameters"][p][k],
                "parameter {p}.{k} differs between {TEMPLATE} and {MEMBER_TEMPLATE}"
            );
        }
    }
    assert_eq!(
        central["Parameters"]["MemberRoleName"]["Default"],
        "cordon-responder"
    );
    assert_eq!(
        central["Parameters"]["MemberQuarantinePolicyName"]["Default"],
        "cordon-quarantine-deny-all"
    );
    // The default bus name is the central stack's, for the default central stack name.
    let bus = central["Resources"]["OrgEventBus"]["Properties"]["Name"]["Fn::Sub"]
        .as_str()
        .unwrap()
        .replace(
            "${AWS::StackName}",
            member["Parameters"]["CentralStackName"]["Default"]
                .as_str()
                .unwrap(),
        );
    assert_eq!(
        member["Parameters"]["CentralEventBusName"]["Default"],
        bus.as_str()
    );
    // IAM is global: the role and the policy come from one stack instance per account.
    for id in [RESPONDER_ROLE, "QuarantinePolicy"] {
        assert_eq!(
            member["Resources"][id]["Condition"], "InGlobalRegion",
            "{id}"
        );
    }
    assert_eq!(
        member["Conditions"]["InGlobalRegion"],
        serde_json::json!({"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]})
    );
}

/// (SAM event name of the default bus, the organization bus's rule of the same pattern).
const ORG_BUS_RULES: &[(&str, &str)] = &[
    ("CreateUser", "OrgCreateUserRule"),
    ("GuardDutyFinding", "OrgGuardDutyFindingRule"),
    (
        "SecurityHubContainRequest",
        "OrgSecurityHubContainRequestRule",
    ),
    ("SecurityHubFinding", "OrgSecurityHubFindingRule"),
];

/// (SAM event name of the central template, the member template's forwarding rule).
const FORWARDING_RULES: &[(&str, &str)] = &[
    ("CreateUser", "ForwardCreateUserRule"),
    ("GuardDutyFinding", "ForwardGuardDutyFindingRule"),
];

/// The SAM event's pattern as written (parameters by name).
fn sam_pattern_as_written(t: &Value, event: &str) -> Value {
    let sm = &t["Resources"]["IntakeStateMachine"]["Properties"]["Events"][event];
    assert_eq!(sm["Type"], "EventBridgeRule", "{event}");
    pattern_as_written(event, &sm["Properties"]["Pattern"])
}

#[test]
fn the_organization_bus_rules_have_the_default_bus_patterns() {
    let t = template();
    let default_bus = event_patterns(&t);
    let org_bus = rule_patterns(&t);
    assert_eq!(
        org_bus.keys().map(String::as_str).collect::<Vec<_>>(),
        ORG_BUS_RULES.iter().map(|(_, r)| *r).collect::<Vec<_>>()
    );
    for (event, rule) in ORG_BUS_RULES {
        assert_eq!(org_bus[*rule], default_bus[*event], "{rule} vs {event}");
        let r = &t["Resources"][*rule];
        assert_eq!(
            pattern_as_written(rule, &r["Properties"]["EventPattern"]),
            sam_pattern_as_written(&t, event),
            "{rule} vs {event}, parameters included"
        );
        assert_eq!(r["Condition"], "IsOrganization", "{rule}");
        assert_eq!(
            r["Properties"]["EventBusName"]["Ref"], "OrgEventBus",
            "{rule}"
        );
        let targets = r["Properties"]["Targets"].as_array().unwrap();
        assert_eq!(targets.len(), 1, "{rule}");
        assert_eq!(targets[0]["Arn"]["Ref"], "IntakeStateMachine", "{rule}");
        // Delivered as the default bus's rule is.
        let sam =
            &t["Resources"]["IntakeStateMachine"]["Properties"]["Events"][*event]["Properties"];
        for k in ["RetryPolicy", "DeadLetterConfig"] {
            assert_eq!(targets[0][k], sam[k], "{rule}.{k}");
        }
    }
    assert_eq!(t["Resources"]["OrgEventBus"]["Condition"], "IsOrganization");
}

#[test]
fn every_rule_with_a_dead_letter_queue_may_send_to_it() {
    let t = template();
    let allowed: BTreeSet<String> =
        statements(&t["Resources"]["EventDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"])
            .iter()
            .flat_map(|s| match &s["Condition"]["ArnEquals"]["aws:SourceArn"] {
                Value::Array(a) => a.clone(),
                other => vec![other.clone()],
            })
            .flat_map(|v| match v.get("Fn::If") {
                Some(Value::Array(a)) => vec![a[1].clone()],
                _ => vec![v],
            })
            .filter_map(|v| v["Fn::Sub"].as_str().map(str::to_string))
            .collect();
    let prefix = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/";
    let mut expected = BTreeSet::new();
    for ev in t["Resources"]["IntakeStateMachine"]["Properties"]["Events"]
        .as_object()
        .unwrap()
        .values()
    {
        let name = ev["Properties"]["RuleName"]["Fn::Sub"].as_str().unwrap();
        expected.insert(format!("{prefix}{name}"));
    }
    for (_, r) in resources_of_type(&t, "AWS::Events::Rule") {
        let name = r["Properties"]["Name"]["Fn::Sub"].as_str().unwrap();
        let bus = r["Properties"]["EventBusName"]["Ref"].as_str().unwrap();
        let bus = t["Resources"][bus]["Properties"]["Name"]["Fn::Sub"]
            .as_str()
            .unwrap();
        expected.insert(format!("{prefix}{bus}/{name}"));
    }
    assert_eq!(allowed, expected);
}

#[test]
fn the_member_forwarding_rules_have_the_central_patterns_and_target_the_central_bus() {
    let central = template();
    let member = member_template();
    let central_patterns = event_patterns(&central);
    let forwarded = rule_patterns(&member);
    assert_eq!(
        forwarded.keys().map(String::as_str).collect::<Vec<_>>(),
        FORWARDING_RULES.iter().map(|(_, r)| *r).collect::<Vec<_>>()
    );
    let bus_arn = serde_json::json!({"Fn::Sub":
        "arn:${AWS::Partition}:events:${CentralRegion}:${CentralAccountId}:event-bus/${CentralEventBusName}"});
    for (event, rule) in FORWARDING_RULES {
        assert_eq!(
            forwarded[*rule], central_patterns[*event],
            "{rule} vs {event}"
        );
        let r = &member["Resources"][*rule];
        assert_eq!(
            pattern_as_written(rule, &r["Properties"]["EventPattern"]),
            sam_pattern_as_written(&central, event),
            "{rule} vs {event}, parameters included"
        );
        // On the account's default bus, to exactly the central bus, through the sender role.
        assert!(r["Properties"]["EventBusName"].is_null(), "{rule}");
        let targets = r["Properties"]["Targets"].as_array().unwrap();
        assert_eq!(targets.len(), 1, "{rule}");
        assert_eq!(targets[0]["Arn"], bus_arn, "{rule}");
        assert_eq!(
            targets[0]["RoleArn"]["Fn::GetAtt"][0], "ForwarderRole",
            "{rule}"
        );
    }
    assert_eq!(
        member["Resources"]["ForwardCreateUserRule"]["Condition"],
        "ForwardsCreateUser"
    );
    assert_eq!(
        member["Resources"]["ForwardGuardDutyFindingRule"]["Condition"],
        "ForwardsGuardDutyFindings"
    );
    // The sender role puts events on that bus and nothing else.
    let sender = statements(
        &member["Resources"]["ForwarderRole"]["Properties"]["Policies"][0]["PolicyDocument"],
    );
    assert_eq!(sender.len(), 1);
    assert_eq!(sender[0]["Effect"], "Allow");
    assert_eq!(sender[0]["Action"], "events:PutEvents");
    assert_eq!(sender[0]["Resource"], bus_arn);
    assert!(sender[0]["Condition"].is_null());
}

#[test]
fn the_function_environment_fits_lambdas_4_kb() {
    // Lambda refuses a function whose environment variables (keys and values) exceed 4 KB.
    // The worst case the parameters admit, with a stack name of up to 32 characters and the
    // longest region name: the response policy takes most of it.
    let t = template();
    let globals = t["Globals"]["Function"]["Environment"]["Variables"]
        .as_object()
        .unwrap();
    let stack = "s".repeat(32);
    let region = "ap-southeast-4";
    let max_len = |p: &str| -> usize {
        let param = &t["Parameters"][p];
        if let Some(n) = param["MaxLength"].as_u64() {
            return n as usize;
        }
        // `^[...]{1,N}$`
        let re = regex::Regex::new(r"\{1,(\d+)\}\$$").unwrap();
        let pattern = param["AllowedPattern"].as_str().unwrap_or_default();
        match re.captures(pattern) {
            Some(c) => c[1].parse().unwrap(),
            None => param["AllowedValues"]
                .as_array()
                .map(|vs| {
                    vs.iter()
                        .filter_map(Value::as_str)
                        .map(str::len)
                        .max()
                        .unwrap_or(0)
                })
                .unwrap_or_else(|| panic!("{p}: no length bound")),
        }
    };
    let size = |k: &str, v: &Value| -> usize {
        let len = if let Some(p) = v["Ref"].as_str() {
            match p {
                "AWS::AccountId" => 12,
                "AlertsTopic" | "ApprovalsTopic" => {
                    // arn:aws:sns:<region>:<account>:<stack>-<LogicalId>-<13 characters>
                    format!("arn:aws:sns:{region}:123456789012:{stack}-{p}-ABCDEFGHIJKLM").len()
                }
                "QuarantinePolicy" => {
                    format!("arn:aws:iam::123456789012:policy/{stack}-quarantine-deny-all").len()
                }
                param => max_len(param),
            }
        } else if let Some(s) = v["Fn::Sub"].as_str() {
            s.replace("${AWS::Partition}", "aws")
                .replace("${AWS::Region}", region)
                .replace("${AWS::AccountId}", "123456789012")
                .replace("${AWS::StackName}", &stack)
                .len()
        } else {
            panic!("{k}: cannot size {v}")
        };
        k.len() + len
    };
    // Each function's environment: the globals and its own variables.
    for (binary, f) in functions(&t) {
        let mut vars = globals.clone();
        if let Some(own) =
            t["Resources"][&f.logical_id]["Properties"]["Environment"]["Variables"].as_object()
        {
            vars.extend(own.clone());
        }
        let total: usize = vars.iter().map(|(k, v)| size(k, v)).sum();
        assert!(
            total <= 4096,
            "{binary}: the environment can reach {total} bytes (> 4 KB): lower ResponsePolicy's MaxLength"
        );
    }
}

#[test]
fn request_approval_updates_findings_only_where_notify_does() {
    // Marking the incident's finding NOTIFIED when a human is asked: the same action on the
    // same resource as notify's update (this account's hub in any region: a finding is updated
    // in the region its ARN names), without a condition.
    let t = template();
    let functions = functions(&t);
    let role = |f: &str| functions[f].role_logical_id.clone();
    let asking = scopings(
        &t,
        &role("request-approval"),
        "aws-api",
        "securityhub:BatchUpdateFindings",
    );
    let notify = scopings(
        &t,
        &role("notify"),
        "aws-api",
        "securityhub:BatchUpdateFindings",
    );
    assert_eq!(asking.len(), 1, "{asking:?}");
    assert_eq!(asking, notify);
    assert_eq!(
        asking[0].0,
        serde_json::json!({"Fn::Sub": "arn:${AWS::Partition}:securityhub:*:${AWS::AccountId}:hub/default"})
    );
    assert!(asking[0].1.is_null(), "{:?}", asking[0].1);
}

#[test]
fn the_contain_action_is_a_valid_custom_action_that_its_rules_name() {
    // Security Hub: Id up to 20 alphanumerics, Name up to 20 characters; the request is a
    // reason to respond, not an approval, and its description says so.
    let t = template();
    let target = &t["Resources"]["ContainActionTarget"];
    assert_eq!(target["Type"], "AWS::SecurityHub::ActionTarget");
    let p = &target["Properties"];
    let id = p["Id"].as_str().unwrap();
    assert!(
        (1..=20).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric()),
        "{id}"
    );
    assert!(
        p["Name"]
            .as_str()
            .is_some_and(|n| (1..=20).contains(&n.chars().count()))
    );
    let description = p["Description"].as_str().unwrap();
    assert!(
        description.contains("approval") && description.contains("not an approval"),
        "{description}"
    );
    let named = serde_json::json!([{"Fn::GetAtt": ["ContainActionTarget", "ActionTargetArn"]}]);
    let sam = &t["Resources"]["IntakeStateMachine"]["Properties"]["Events"]["SecurityHubContainRequest"]
        ["Properties"]["Pattern"];
    assert_eq!(sam["resources"], named);
    assert_eq!(
        t["Resources"]["OrgSecurityHubContainRequestRule"]["Properties"]["EventPattern"]["resources"],
        named
    );
}

// ------------------------------------------------------------------ instance credentials

/// The condition under which the quarantine instance profile exists and may be swapped in.
const INSTANCE_PROFILE_CONDITION: &str = "HasQuarantineInstanceProfile";

/// `(condition, statement)` of each Allow statement of `role`'s `aws-api` policy that grants
/// `action`, the condition being the statement's own `Fn::If`.
fn granting(t: &Value, role: &str, action: &str) -> Vec<(Option<String>, Value)> {
    t["Resources"][role]["Properties"]["Policies"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|p| p["PolicyName"] == "aws-api")
        .flat_map(|p| raw_statements(&p["PolicyDocument"]))
        .map(|s| match conditional_statement(&s) {
            Some((c, s)) => (Some(c.to_string()), s.clone()),
            None => (None, s),
        })
        .filter(|(_, s)| s["Effect"] == "Allow")
        .filter(|(_, s)| {
            string_or_list(&s["Action"])
                .iter()
                .any(|a| action_key(a) == action_key(action))
        })
        .collect()
}

#[test]
fn the_quarantine_instance_profile_is_a_session_manager_role_of_the_parameters_name() {
    let t = template();
    let member = member_template();
    let param = &t["Parameters"]["QuarantineInstanceProfileName"];
    assert_eq!(param["Type"], "String");
    assert_eq!(param["Default"], "cordon-quarantine-instance");
    let pattern = regex::Regex::new(param["AllowedPattern"].as_str().unwrap()).unwrap();
    for ok in [
        "",
        "cordon-quarantine-instance",
        "q",
        &"q".repeat(64),
        "a+b=c,d.e@f_g",
    ] {
        assert!(pattern.is_match(ok), "{ok:?} refused");
    }
    // A plain name: the functions build the ARN from it (no path, no wildcard).
    for bad in [
        "/cordon/quarantine",
        "cordon/quarantine",
        "cordon-*",
        "cordon quarantine",
        &"q".repeat(65),
        "arn:aws:iam::123456789012:instance-profile/q",
    ] {
        assert!(!pattern.is_match(bad), "{bad:?} allowed");
    }
    assert_eq!(
        t["Conditions"][INSTANCE_PROFILE_CONDITION],
        serde_json::json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "QuarantineInstanceProfileName"}, ""]}]})
    );
    assert_eq!(
        member["Conditions"][INSTANCE_PROFILE_CONDITION],
        t["Conditions"][INSTANCE_PROFILE_CONDITION]
    );
    // IAM is global: in a member account, from the us-east-1 instance only.
    assert_eq!(
        member["Conditions"]["CreatesQuarantineInstanceProfile"],
        serde_json::json!({"Fn::And": [
            {"Condition": "InGlobalRegion"},
            {"Condition": INSTANCE_PROFILE_CONDITION}
        ]})
    );
    for (template, condition) in [
        (&t, INSTANCE_PROFILE_CONDITION),
        (&member, "CreatesQuarantineInstanceProfile"),
    ] {
        let role = &template["Resources"]["QuarantineInstanceRole"];
        assert_eq!(role["Type"], "AWS::IAM::Role");
        assert_eq!(role["Condition"], condition);
        let props = &role["Properties"];
        assert_eq!(props["RoleName"]["Ref"], "QuarantineInstanceProfileName");
        // Trusted by EC2 alone; allowed nothing but what Session Manager needs.
        let trust = raw_statements(&props["AssumeRolePolicyDocument"]);
        assert_eq!(trust.len(), 1);
        assert_eq!(trust[0]["Effect"], "Allow");
        assert_eq!(
            trust[0]["Principal"],
            serde_json::json!({"Service": "ec2.amazonaws.com"})
        );
        assert_eq!(trust[0]["Action"], "sts:AssumeRole");
        assert_eq!(
            props["ManagedPolicyArns"],
            serde_json::json!([{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"}])
        );
        assert!(props["Policies"].is_null() && props["PermissionsBoundary"].is_null());
        let profile = &template["Resources"]["QuarantineInstanceProfile"];
        assert_eq!(profile["Type"], "AWS::IAM::InstanceProfile");
        assert_eq!(profile["Condition"], condition);
        assert_eq!(
            profile["Properties"],
            serde_json::json!({
                "InstanceProfileName": {"Ref": "QuarantineInstanceProfileName"},
                "Roles": [{"Ref": "QuarantineInstanceRole"}]
            })
        );
    }
    assert_eq!(
        member["Resources"]["QuarantineInstanceRole"]["Properties"],
        t["Resources"]["QuarantineInstanceRole"]["Properties"]
    );
    // Only the quarantine function is told the name (it computes the ARN per account).
    for (binary, f) in functions(&t) {
        let env = &t["Resources"][&f.logical_id]["Properties"]["Environment"]["Variables"]["CORDON_QUARANTINE_INSTANCE_PROFILE_NAME"];
        if binary == "quarantine" {
            assert_eq!(env["Ref"], "QuarantineInstanceProfileName");
        } else {
            assert!(env.is_null(), "{binary}");
        }
    }
    assert!(
        t["Globals"]["Function"]["Environment"]["Variables"]
            ["CORDON_QUARANTINE_INSTANCE_PROFILE_NAME"]
            .is_null()
    );
}

#[test]
fn only_quarantine_swaps_instance_profiles_and_passes_only_the_quarantine_role_only_to_ec2() {
    let t = template();
    let member = member_template();
    let f = functions(&t);
    let quarantine = f["quarantine"].role_logical_id.clone();
    let pass_role_arn = serde_json::json!({"Fn::Sub":
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${QuarantineInstanceProfileName}"});
    let to_ec2 = serde_json::json!({"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}});

    for (template, role) in [(&t, quarantine.as_str()), (&member, RESPONDER_ROLE)] {
        // PassRole: one statement, there only when the profile is, on exactly that role, to
        // EC2 only.
        let pass = granting(template, role, "iam:PassRole");
        assert_eq!(pass.len(), 1, "{role}: {pass:?}");
        let (cond, s) = &pass[0];
        assert_eq!(cond.as_deref(), Some(INSTANCE_PROFILE_CONDITION), "{role}");
        assert_eq!(string_or_list(&s["Action"]), ["iam:PassRole"], "{role}");
        assert_eq!(s["Resource"], pass_role_arn, "{role}");
        assert_eq!(s["Condition"], to_ec2, "{role}");
        let values = BTreeMap::from([
            ("AWS::Partition", "aws"),
            ("AWS::AccountId", "123456789012"),
            (
                "QuarantineInstanceProfileName",
                "cordon-quarantine-instance",
            ),
        ]);
        assert_eq!(
            evaluate(&s["Resource"], &values),
            "arn:aws:iam::123456789012:role/cordon-quarantine-instance"
        );
        // The swap itself: on instances, only when there is a profile to swap in.
        let replace = granting(template, role, "ec2:ReplaceIamInstanceProfileAssociation");
        assert_eq!(replace.len(), 1, "{role}: {replace:?}");
        assert_eq!(
            replace[0].0.as_deref(),
            Some(INSTANCE_PROFILE_CONDITION),
            "{role}"
        );
        assert!(
            replace[0].1["Resource"]["Fn::Sub"]
                .as_str()
                .is_some_and(|r| r.ends_with(":${AWS::AccountId}:instance/*")),
            "{role}: {}",
            replace[0].1
        );
        assert!(replace[0].1["Condition"].is_null());
        let describe = granting(template, role, "ec2:DescribeIamInstanceProfileAssociations");
        assert_eq!(describe.len(), 1, "{role}");
        assert_eq!(describe[0].1["Resource"], "*", "{role}");
    }
    // No other function role may pass a role or swap a profile; enrich lists the role's
    // instance profiles, on roles of this account.
    for (binary, fr) in &f {
        for action in ["iam:PassRole", "ec2:ReplaceIamInstanceProfileAssociation"] {
            assert_eq!(
                !granting(&t, &fr.role_logical_id, action).is_empty(),
                binary == "quarantine",
                "{binary}: {action}"
            );
        }
    }
    let list = granting(
        &t,
        &f["enrich"].role_logical_id,
        "iam:ListInstanceProfilesForRole",
    );
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0].1["Resource"]["Fn::Sub"],
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"
    );

    // The quarantine role's guard denies everything on the stack's own roles, except passing
    // a role to EC2: the quarantine instance role starts with the stack's name in a stack
    // named cordon, and the Allow above names that role and no other.
    let default = t["Parameters"]["QuarantineInstanceProfileName"]["Default"]
        .as_str()
        .unwrap();
    assert!(
        default.starts_with("cordon-"),
        "the case the exception is for"
    );
    let denies: Vec<Value> = t["Resources"][&quarantine]["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| statements(&p["PolicyDocument"]))
        .filter(|s| s["Effect"] == "Deny")
        .collect();
    assert_eq!(denies.len(), 1, "{denies:?}");
    assert_eq!(denies[0]["Action"], "iam:*");
    assert_eq!(
        denies[0]["Condition"],
        serde_json::json!({"StringNotEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})
    );
    assert!(
        denies[0]["Resource"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["Fn::Sub"]
                .as_str()
                .is_some_and(|r| r.ends_with(":role/${AWS::StackName}-*"))),
        "{}",
        denies[0]
    );
}

#[test]
fn every_parameter_is_in_exactly_one_parameter_group() {
    for (name, t) in [(TEMPLATE, template()), (MEMBER_TEMPLATE, member_template())] {
        let mut grouped: Vec<String> =
            t["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|g| string_or_list(&g["Parameters"]))
                .collect();
        grouped.sort();
        let mut parameters: Vec<String> = t["Parameters"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        parameters.sort();
        assert_eq!(grouped, parameters, "{name}");
    }
}

// ------------------------------------------------------------------ resources and conditions

use cordon_aws::permissions::{Condition, Grant, Resource, When};

/// How the template spells each kind of resource a grant is on.
fn resource_in_template(r: Resource) -> Value {
    let sub = |s: &str| serde_json::json!({ "Fn::Sub": s });
    match r {
        Resource::Any => Value::String("*".into()),
        Resource::User => sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*"),
        Resource::Role => sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"),
        Resource::QuarantineInstanceRole => sub(
            "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${QuarantineInstanceProfileName}",
        ),
        Resource::MemberResponderRole => sub("arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"),
        Resource::OrganizationAccountsAndOus => serde_json::json!([
            {"Fn::Sub": "arn:${AWS::Partition}:organizations::*:account/${OrganizationId}/*"},
            {"Fn::Sub": "arn:${AWS::Partition}:organizations::*:ou/${OrganizationId}/ou-*"}
        ]),
        Resource::Instance => {
            sub("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*")
        }
        Resource::NetworkAcl => {
            sub("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:network-acl/*")
        }
        Resource::ApprovalsTopic => serde_json::json!({"Ref": "ApprovalsTopic"}),
        Resource::AlertsTopic => serde_json::json!({"Ref": "AlertsTopic"}),
        Resource::Hub => sub("arn:${AWS::Partition}:securityhub:*:${AWS::AccountId}:hub/default"),
        Resource::DefaultProduct => sub(
            "arn:${AWS::Partition}:securityhub:*:${AWS::AccountId}:product/${AWS::AccountId}/default",
        ),
        Resource::StateMachineExecution => sub(
            "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${AWS::StackName}-incident-response:*",
        ),
        Resource::PolicyParameter => serde_json::json!({"Fn::Join": ["/", {"Fn::Split": ["//",
            {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/${ResponsePolicyParameterName}"}
        ]}]}),
    }
}

/// How the template spells each IAM condition a grant carries.
fn condition_in_template(c: Condition) -> Value {
    match c {
        Condition::None => Value::Null,
        Condition::QuarantinePolicyArn => {
            serde_json::json!({"ArnEquals": {"iam:PolicyARN": {"Ref": "QuarantinePolicy"}}})
        }
        Condition::PassedToEc2 => {
            serde_json::json!({"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})
        }
        Condition::ResourceInOrganization => {
            serde_json::json!({"StringEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}})
        }
    }
}

/// The template condition a grant exists under.
fn when_in_template(w: When) -> Option<&'static str> {
    match w {
        When::Always => None,
        When::Organization => Some("IsOrganization"),
        When::PolicyParameter => Some(POLICY_PARAMETER_CONDITION),
        When::QuarantineInstanceProfile => Some(INSTANCE_PROFILE_CONDITION),
    }
}

/// One (action, resource, condition, template condition) a role grants or a function declares,
/// as the template spells it, for comparison and messages.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Granted {
    action: String,
    resource: String,
    condition: String,
    when: String,
}

impl std::fmt::Display for Granted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {}", self.action, self.resource)?;
        if self.condition != "null" {
            write!(f, " if {}", self.condition)?;
        }
        if !self.when.is_empty() {
            write!(f, " (only when {})", self.when)?;
        }
        Ok(())
    }
}

fn declared(g: &Grant) -> Granted {
    Granted {
        action: action_key(g.action),
        resource: resource_in_template(g.resource).to_string(),
        condition: condition_in_template(g.condition).to_string(),
        when: when_in_template(g.when).unwrap_or_default().to_string(),
    }
}

/// Everything the `aws-api` policy of `role` allows, one entry per action of each Allow
/// statement, with the template condition of the statement or of its policy. Panics on a
/// statement shape the comparison cannot see through (NotAction, NotResource, nested `Fn::If`).
fn allowed(t: &Value, role: &str) -> Vec<Granted> {
    let mut out = Vec::new();
    for p in t["Resources"][role]["Properties"]["Policies"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let (policy_when, p) = match conditional_statement(&p) {
            Some((c, p)) => (c.to_string(), p.clone()),
            None => (String::new(), p),
        };
        if p["PolicyName"] != "aws-api" {
            continue;
        }
        for s in raw_statements(&p["PolicyDocument"]) {
            let (when, s) = match conditional_statement(&s) {
                Some((c, s)) => {
                    assert!(policy_when.is_empty(), "{role}: nested conditions");
                    (c.to_string(), s.clone())
                }
                None => (policy_when.clone(), s),
            };
            assert!(s.get("Fn::If").is_none(), "{role}: unexpected Fn::If {s}");
            for key in s.as_object().unwrap().keys() {
                assert!(
                    ["Sid", "Effect", "Action", "Resource", "Condition"].contains(&key.as_str()),
                    "{role}: statement key {key} ({s})"
                );
            }
            if s["Effect"] == "Deny" {
                continue;
            }
            assert_eq!(s["Effect"], "Allow", "{role}: {s}");
            for a in string_or_list(&s["Action"]) {
                out.push(Granted {
                    action: action_key(&a),
                    resource: s["Resource"].to_string(),
                    condition: s["Condition"].to_string(),
                    when: when.clone(),
                });
            }
        }
    }
    out
}

/// What `binary`'s role grants that `grants` does not declare, and the other way round; one
/// line each, naming the function, the action and the resource.
fn grant_differences(t: &Value, binary: &str, role: &str, grants: &[Grant]) -> Vec<String> {
    let granted = allowed(t, role);
    let declared: Vec<Granted> = grants.iter().map(declared).collect();
    let mut out = Vec::new();
    for g in &granted {
        if granted.iter().filter(|x| *x == g).count() > 1
            && !out.iter().any(|o: &String| o.contains(&g.to_string()))
        {
            out.push(format!("{binary}: {role} grants {g} twice"));
        }
        if !declared.contains(g) {
            let why = match declared.iter().find(|d| d.action == g.action) {
                Some(d) => format!("declared as {d}"),
                None => "not declared".to_string(),
            };
            out.push(format!(
                "{binary}: {role} grants {g}, {why} in cordon_aws::permissions"
            ));
        }
    }
    for d in &declared {
        if !granted.contains(d) {
            out.push(format!(
                "{binary}: declares {d}, which {role} does not grant so"
            ));
        }
    }
    out
}

#[test]
fn each_role_grants_each_declared_action_on_the_declared_resource_under_the_declared_condition() {
    let t = template();
    let mut problems = Vec::new();
    for (binary, f) in functions(&t) {
        let grants = cordon_aws::permissions::grants_for(&binary);
        assert!(!grants.is_empty(), "{binary}: nothing declared");
        problems.extend(grant_differences(&t, &binary, &f.role_logical_id, grants));
    }
    assert!(
        problems.is_empty(),
        "{TEMPLATE} vs cordon_aws::permissions::grants_for:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_widened_resource_a_lost_condition_or_an_undeclared_grant_is_reported() {
    // The check above is only as good as its comparison: mutate the quarantine role.
    let original = template();
    let role = functions(&original)["quarantine"].role_logical_id.clone();
    let grants = cordon_aws::permissions::grants_for("quarantine");
    assert!(grant_differences(&original, "quarantine", &role, grants).is_empty());
    let statements_of = |t: &mut Value| -> Vec<Value> {
        t["Resources"][&role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
            .clone()
    };
    let set = |t: &mut Value, sid: &str, key: &str, value: Value| {
        let mut list = statements_of(t);
        let s = list
            .iter_mut()
            .map(|s| {
                if s.get("Fn::If").is_some() {
                    &mut s["Fn::If"][1]
                } else {
                    s
                }
            })
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no statement {sid}"));
        s[key] = value;
        t["Resources"][&role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"] =
            Value::Array(list);
    };
    let cases: [(&str, &str, Value, &str); 4] = [
        (
            "AttachOnlyTheQuarantinePolicy",
            "Resource",
            "*".into(),
            r#"quarantine: QuarantineRole grants iam:attachuserpolicy on "*""#,
        ),
        (
            "AttachOnlyTheQuarantinePolicy",
            "Condition",
            Value::Null,
            "iam:attachuserpolicy on {\"Fn::Sub\":\"arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*\"}, declared as",
        ),
        (
            "PassOnlyTheQuarantineInstanceRoleAndOnlyToEc2",
            "Resource",
            resource_in_template(Resource::Role),
            "quarantine: QuarantineRole grants iam:passrole on {\"Fn::Sub\":\"arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*\"}",
        ),
        (
            "EnforceImdsV2",
            "Action",
            serde_json::json!([
                "ec2:ModifyInstanceMetadataOptions",
                "ec2:TerminateInstances"
            ]),
            "quarantine: QuarantineRole grants ec2:terminateinstances on",
        ),
    ];
    for (sid, key, value, expected) in cases {
        let mut t = original.clone();
        set(&mut t, sid, key, value);
        let found = grant_differences(&t, "quarantine", &role, grants);
        assert!(
            found.iter().any(|m| m.contains(expected)),
            "{sid}.{key}: expected {expected:?} in {found:#?}"
        );
    }
    // A forgotten declaration: the role grants an action the list no longer has.
    let fewer: Vec<Grant> = grants
        .iter()
        .filter(|g| g.action != "ec2:CreateNetworkAclEntry")
        .copied()
        .collect();
    let found = grant_differences(&original, "quarantine", &role, &fewer);
    assert_eq!(
        found,
        [
            "quarantine: QuarantineRole grants ec2:createnetworkaclentry on \
          {\"Fn::Sub\":\"arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:network-acl/*\"}, \
          not declared in cordon_aws::permissions"
        ]
    );
}

// ------------------------------------------------------------------ the list of functions

/// `what` differs from `permissions::FUNCTIONS`: a message naming the place and the difference,
/// or none.
fn list_difference(place: &str, found: &[String]) -> Option<String> {
    let expected: BTreeSet<&str> = cordon_aws::permissions::FUNCTIONS.iter().copied().collect();
    let got: BTreeSet<&str> = found.iter().map(String::as_str).collect();
    let missing: Vec<&str> = expected.difference(&got).copied().collect();
    let extra: Vec<&str> = got.difference(&expected).copied().collect();
    let twice = found.len() != got.len();
    (!missing.is_empty() || !extra.is_empty() || twice).then(|| {
        format!(
            "{place}: missing {missing:?}, not in permissions::FUNCTIONS {extra:?}{}",
            if twice { ", some listed twice" } else { "" }
        )
    })
}

/// The words after each `-p` of a command line, but `cordon`.
fn dash_p(line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == "-p" && w[1] != "cordon")
        .map(|w| w[1].trim_matches(['`', '"']).to_string())
        .collect()
}

/// The string literals of `const NAME: &[&str] = &[...];` in a Rust source.
fn const_list(source: &str, name: &str) -> Option<Vec<String>> {
    let start = source.find(&format!("const {name}: &[&str] = &["))?;
    let body = &source[start..];
    let body = &body[body.find("= &[")? + 4..body.find("];")?];
    let re = regex::Regex::new(r#""([^"]*)""#).unwrap();
    Some(re.captures_iter(body).map(|c| c[1].to_string()).collect())
}

#[test]
fn every_list_of_the_functions_is_permissions_functions() {
    let mut lists: Vec<(String, Vec<String>)> = Vec::new();

    // The workspace members under functions/, but the libraries.
    let manifest = read("Cargo.toml");
    let members = manifest
        .split("members = [")
        .nth(1)
        .and_then(|m| m.split(']').next())
        .expect("Cargo.toml: [workspace] members");
    lists.push((
        "Cargo.toml workspace members under functions/".into(),
        members
            .split(',')
            .map(|m| m.trim().trim_matches('"'))
            .filter_map(|m| m.strip_prefix("functions/"))
            .filter(|m| !["core", "aws"].contains(m))
            .map(str::to_string)
            .collect(),
    ));
    lists.push((
        "the crates in functions/".into(),
        function_crates().into_iter().collect(),
    ));

    // The template's functions: their cargo-lambda Binary, and the name each is deployed as.
    let t = template();
    lists.push((
        format!("{TEMPLATE} AWS::Serverless::Function BuildProperties.Binary"),
        functions(&t).into_keys().collect(),
    ));
    lists.push((
        format!("{TEMPLATE} AWS::Serverless::Function FunctionName (${{AWS::StackName}}-<name>)"),
        resources_of_type(&t, "AWS::Serverless::Function")
            .values()
            .map(|r| {
                r["Properties"]["FunctionName"]["Fn::Sub"]
                    .as_str()
                    .and_then(|n| n.strip_prefix("${AWS::StackName}-"))
                    .unwrap_or("?")
                    .to_string()
            })
            .collect(),
    ));

    // ./dev demo's build line.
    let dev = read("dev");
    let builds: Vec<&str> = dev
        .lines()
        .filter(|l| l.trim_start().starts_with("cargo build") && l.contains("-p cordon"))
        .collect();
    assert_eq!(
        builds.len(),
        1,
        "./dev: the demo's `cargo build ... -p cordon` line: {builds:?}"
    );
    lists.push((
        "./dev demo's `cargo build -p` list".into(),
        dash_p(builds[0]),
    ));

    // The offline stack: the packages it runs, and the build hint when binaries are missing.
    let stack = read("local/stack/src/stack.rs");
    lists.push((
        "local/stack/src/stack.rs FUNCTION_PACKAGES".into(),
        const_list(&stack, "FUNCTION_PACKAGES")
            .expect("local/stack/src/stack.rs: FUNCTION_PACKAGES"),
    ));
    let hint = stack
        .lines()
        .find(|l| l.contains("`cargo build -p"))
        .expect("local/stack/src/stack.rs: the missing-binaries build hint");
    lists.push((
        "local/stack/src/stack.rs missing-binaries hint".into(),
        dash_p(hint),
    ));

    let problems: Vec<String> = lists
        .iter()
        .filter_map(|(place, found)| list_difference(place, found))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(lists.len(), 7);
}

#[test]
fn a_list_of_the_functions_that_differs_is_reported() {
    let found = vec![
        "enrich".to_string(),
        "classify".into(),
        "notify".into(),
        "triage".into(),
    ];
    let msg = list_difference("somewhere", &found).unwrap();
    assert_eq!(
        msg,
        r#"somewhere: missing ["approve", "quarantine", "request-approval"], not in permissions::FUNCTIONS ["triage"]"#
    );
    assert!(
        list_difference(
            "x",
            &cordon_aws::permissions::FUNCTIONS
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
        )
        .is_none()
    );
    assert_eq!(
        dash_p("cargo build --locked -p enrich -p notify -p cordon"),
        ["enrich", "notify"]
    );
    assert_eq!(
        const_list(
            "pub const X: &[&str] = &[\n    \"a\",\n    \"b-c\",\n];",
            "X"
        )
        .unwrap(),
        ["a", "b-c"]
    );
}
