//! One source of truth each, kept in step: the ASL's `${...}` and the template's substitutions,
//! the function crates and the function resources, the IAM actions each role grants and the
//! actions the code declares and calls, the response policy file and the template's default.

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
        "CORDON_ALERTS_TOPIC_ARN",
        "CORDON_APPROVALS_TOPIC_ARN",
        "CORDON_QUARANTINE_POLICY_ARN",
        "CORDON_STATE_MACHINE_ARN",
    ] {
        assert!(vars.contains_key(v), "functions need {v}");
    }
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
                    .iter()
                    .map(|a| action_key(a))
            })
            .collect(),
        OPERATOR_COMMANDS
            .iter()
            .flat_map(|c| {
                cordon_aws::permissions::actions_for(c)
                    .iter()
                    .map(|a| action_key(a))
            })
            .collect(),
    );
    let missing: Vec<String> = calls
        .iter()
        .filter(|c| c.action != "sts:GetCallerIdentity") // needs no permission
        .filter(|c| {
            let a = action_key(&c.action);
            !operator.contains(&a) && !(declared.contains(&a) && granted.contains(&a))
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
         self.securityhub.batch_import_findings(); self.other.put_object(); }",
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
            "states:SendTaskSuccess"
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
