//! Table-driven tests: the examples of AWS's EventBridge documentation ("Amazon
//! EventBridge event patterns", "Content filtering in Amazon EventBridge event
//! patterns", arrays, null values) — each example event, pattern and expected result —
//! then edge cases.

use cordon_events::Pattern;
use serde_json::{Value, json};

fn check(cases: &[(&str, Value, Value, bool)]) {
    let mut failures = Vec::new();
    for (name, pattern, event, expected) in cases {
        let compiled = Pattern::parse(pattern)
            .unwrap_or_else(|e| panic!("{name}: pattern refused: {e}\n{pattern}"));
        let got = compiled.matches(event);
        if got != *expected {
            failures.push(format!("{name}: expected {expected}, got {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn ec2_event(state: &str) -> Value {
    json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "111122223333",
        "time": "2017-12-22T18:43:48Z",
        "region": "us-west-1",
        "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
        "detail": { "instance-id": "i-1234567890abcdef0", "state": state }
    })
}

#[test]
fn documentation_event_patterns_page() {
    let pattern = json!({
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Instance State-change Notification"],
        "detail": { "state": ["terminated"] }
    });
    check(&[
        (
            "ec2 terminated",
            pattern.clone(),
            ec2_event("terminated"),
            true,
        ),
        ("ec2 running", pattern.clone(), ec2_event("running"), false),
        (
            "multiple values",
            json!({"source": ["aws.ec2", "aws.fargate"]}),
            ec2_event("running"),
            true,
        ),
        (
            "field names must all be present",
            json!({"source": ["aws.ec2"], "detail": {"c-count": [5]}}),
            ec2_event("running"),
            false,
        ),
        (
            "case sensitive",
            json!({"source": ["AWS.EC2"]}),
            ec2_event("running"),
            false,
        ),
        (
            "empty pattern matches all",
            json!({}),
            ec2_event("running"),
            true,
        ),
    ]);
}

#[test]
fn documentation_arrays() {
    let pattern = json!({"resources": [
        "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
        "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
        "arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"
    ]});
    let event = json!({"resources": [
        "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate",
        "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"
    ]});
    let disjoint = json!({"resources": ["arn:aws:ec2:us-east-1:999999999999:instance/i-b188560f"]});
    check(&[
        ("intersection non-empty", pattern.clone(), event, true),
        ("intersection empty", pattern.clone(), disjoint, false),
        (
            "empty event array",
            pattern,
            json!({"resources": []}),
            false,
        ),
    ]);
}

#[test]
fn documentation_null_and_empty_string() {
    let event = json!({
        "version": "0",
        "id": "3e3c153a-8339-4e30-8c35-687ebef853fe",
        "detail-type": "EC2 Instance Launch Successful",
        "source": "aws.autoscaling",
        "account": "123456789012",
        "time": "2015-11-11T21:31:47Z",
        "region": "us-east-1",
        "resources": [],
        "detail": { "eventVersion": "", "responseElements": null }
    });
    check(&[
        (
            "empty string",
            json!({"detail": {"eventVersion": [""]}}),
            event.clone(),
            true,
        ),
        (
            "null",
            json!({"detail": {"responseElements": [null]}}),
            event.clone(),
            true,
        ),
        (
            "empty string is not null",
            json!({"detail": {"responseElements": [""]}}),
            event.clone(),
            false,
        ),
        (
            "null is not empty string",
            json!({"detail": {"eventVersion": [null]}}),
            event.clone(),
            false,
        ),
        (
            "null does not match a missing field",
            json!({"detail": {"nothere": [null]}}),
            event,
            false,
        ),
    ]);
}

#[test]
fn documentation_content_filtering() {
    let time = json!({"time": "2017-10-02T18:43:48Z"});
    let state = |s: &str| json!({"detail": {"state": s}});
    let limit = |x: Value| json!({"detail": {"x-limit": x}});
    check(&[
        (
            "prefix",
            json!({"time": [{"prefix": "2017-10-02"}]}),
            time.clone(),
            true,
        ),
        (
            "prefix no",
            json!({"time": [{"prefix": "2017-10-03"}]}),
            time.clone(),
            false,
        ),
        (
            "prefix region eu-",
            json!({"source": ["aws.autoscaling"], "region": [{"prefix": "eu-"}]}),
            json!({"source": "aws.autoscaling", "region": "eu-west-1"}),
            true,
        ),
        (
            "prefix region us-",
            json!({"source": ["aws.autoscaling"], "region": [{"prefix": "eu-"}]}),
            json!({"source": "aws.autoscaling", "region": "us-west-1"}),
            false,
        ),
        (
            "prefix ignore case",
            json!({"detail": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}}),
            json!({"detail": {"service": "eventbridge"}}),
            true,
        ),
        (
            "prefix ignore case upper",
            json!({"detail": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}}),
            json!({"detail": {"service": "EVENTBRIDGE"}}),
            true,
        ),
        (
            "suffix",
            json!({"FileName": [{"suffix": ".png"}]}),
            json!({"FileName": "image.png"}),
            true,
        ),
        (
            "suffix no",
            json!({"FileName": [{"suffix": ".png"}]}),
            json!({"FileName": "image.PNG"}),
            false,
        ),
        (
            "suffix ignore case",
            json!({"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}}),
            json!({"detail": {"FileName": "image.PNG"}}),
            true,
        ),
        (
            "anything-but string",
            json!({"detail": {"state": [{"anything-but": "initializing"}]}}),
            state("running"),
            true,
        ),
        (
            "anything-but string excluded",
            json!({"detail": {"state": [{"anything-but": "initializing"}]}}),
            state("initializing"),
            false,
        ),
        (
            "anything-but number",
            json!({"detail": {"x-limit": [{"anything-but": 123}]}}),
            limit(json!(124)),
            true,
        ),
        (
            "anything-but number excluded",
            json!({"detail": {"x-limit": [{"anything-but": 123}]}}),
            limit(json!(123)),
            false,
        ),
        (
            "anything-but number excluded by value",
            json!({"detail": {"x-limit": [{"anything-but": 123}]}}),
            limit(json!(123.0)),
            false,
        ),
        (
            "anything-but list",
            json!({"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}),
            state("running"),
            true,
        ),
        (
            "anything-but list excluded",
            json!({"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}),
            state("overloaded"),
            false,
        ),
        (
            "anything-but number list",
            json!({"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}),
            limit(json!(250)),
            true,
        ),
        (
            "anything-but number list excluded",
            json!({"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}),
            limit(json!(200)),
            false,
        ),
        (
            "anything-but prefix",
            json!({"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}),
            state("running"),
            true,
        ),
        (
            "anything-but prefix excluded",
            json!({"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}),
            state("initializing"),
            false,
        ),
        (
            "anything-but aws. prefix",
            json!({"source": [{"anything-but": {"prefix": "aws."}}]}),
            json!({"source": "com.example"}),
            true,
        ),
        (
            "anything-but aws. prefix excluded",
            json!({"source": [{"anything-but": {"prefix": "aws."}}]}),
            json!({"source": "aws.ec2"}),
            false,
        ),
        (
            "anything-but detail-type",
            json!({"detail-type": [{"anything-but": "AWS API Call via CloudTrail"}]}),
            ec2_event("x"),
            true,
        ),
        (
            "anything-but suffix",
            json!({"FileName": [{"anything-but": {"suffix": ".png"}}]}),
            json!({"FileName": "a.txt"}),
            true,
        ),
        (
            "anything-but suffix excluded",
            json!({"FileName": [{"anything-but": {"suffix": ".png"}}]}),
            json!({"FileName": "a.png"}),
            false,
        ),
        (
            "anything-but ignore case",
            json!({"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}),
            json!({"state": "INITIALIZING"}),
            false,
        ),
        (
            "anything-but ignore case other",
            json!({"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}),
            json!({"state": "running"}),
            true,
        ),
        (
            "anything-but ignore case list",
            json!({"state": [{"anything-but": {"equals-ignore-case": ["a", "B"]}}]}),
            json!({"state": "b"}),
            false,
        ),
        (
            "anything-but wildcard",
            json!({"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}),
            json!({"FilePath": "/usr/bin/x"}),
            true,
        ),
        (
            "anything-but wildcard excluded",
            json!({"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}),
            json!({"FilePath": "/usr/lib/x"}),
            false,
        ),
        (
            "anything-but missing field",
            json!({"detail": {"state": [{"anything-but": "initializing"}]}}),
            json!({"detail": {}}),
            false,
        ),
        (
            "equals-ignore-case",
            json!({"Name": [{"equals-ignore-case": "alice"}]}),
            json!({"Name": "ALICE"}),
            true,
        ),
        (
            "equals-ignore-case no",
            json!({"Name": [{"equals-ignore-case": "alice"}]}),
            json!({"Name": "alicia"}),
            false,
        ),
        (
            "wildcard",
            json!({"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}),
            json!({"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/default"}),
            true,
        ),
        (
            "wildcard no",
            json!({"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}),
            json!({"EventBusArn": "arn:aws:events:us-west-2:123456789012:event-bus/default"}),
            false,
        ),
        (
            "wildcard dir/*.png",
            json!({"key": [{"wildcard": "dir/*.png"}]}),
            json!({"key": "dir/a/b.png"}),
            true,
        ),
        (
            "wildcard dir/*.png no",
            json!({"key": [{"wildcard": "dir/*.png"}]}),
            json!({"key": "dir/a.jpg"}),
            false,
        ),
    ]);
}

#[test]
fn documentation_numeric_cidr_exists_and_complex() {
    let numeric = json!({"detail": {
        "c-count": [{"numeric": [">", 0, "<=", 5]}],
        "d-count": [{"numeric": ["<", 10]}],
        "x-limit": [{"numeric": ["=", 3.018e2]}]
    }});
    let exists_false = json!({"detail": {"c-count": [{"exists": false}]}});
    let doc_event_1 = json!({
        "detail-type": ["EC2 Instance State-change Notification"],
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-02ebd4584a2ebd341"],
        "detail": {"state": ["initializing", "running"]}
    });
    let doc_event_2 = json!({
        "detail-type": ["EC2 Instance State-change Notification"],
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-02ebd4584a2ebd341"],
        "detail": {"state": ["initializing", "running"], "c-count": {"c1": 100}}
    });
    let complex = json!({
        "time": [{"prefix": "2017-10-02"}],
        "detail": {
            "state": [{"anything-but": "initializing"}],
            "c-count": [{"numeric": [">", 0, "<=", 5]}],
            "d-count": [{"numeric": ["<", 10]}],
            "x-limit": [{"anything-but": [100, 200, 300]}]
        }
    });
    check(&[
        (
            "numeric all true",
            numeric.clone(),
            json!({"detail": {"c-count": 5, "d-count": 9.99, "x-limit": 301.8}}),
            true,
        ),
        (
            "numeric lower bound exclusive",
            numeric.clone(),
            json!({"detail": {"c-count": 0, "d-count": 1, "x-limit": 301.8}}),
            false,
        ),
        (
            "numeric upper bound exclusive",
            numeric.clone(),
            json!({"detail": {"c-count": 1, "d-count": 10, "x-limit": 301.8}}),
            false,
        ),
        (
            "numeric string is not a number",
            numeric.clone(),
            json!({"detail": {"c-count": "5", "d-count": 1, "x-limit": 301.8}}),
            false,
        ),
        (
            "cidr",
            json!({"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}),
            json!({"detail": {"sourceIPAddress": "10.0.0.24"}}),
            true,
        ),
        (
            "cidr out",
            json!({"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}),
            json!({"detail": {"sourceIPAddress": "10.0.1.1"}}),
            false,
        ),
        (
            "cidr ipv6",
            json!({"ip": [{"cidr": "2001:db8::/32"}]}),
            json!({"ip": "2001:db8:1::7"}),
            true,
        ),
        (
            "cidr ipv6 out",
            json!({"ip": [{"cidr": "2001:db8::/32"}]}),
            json!({"ip": "2001:db9::7"}),
            false,
        ),
        (
            "cidr ipv4 vs ipv6 block",
            json!({"ip": [{"cidr": "::/0"}]}),
            json!({"ip": "10.0.0.1"}),
            false,
        ),
        (
            "exists false: field absent",
            exists_false.clone(),
            doc_event_1,
            true,
        ),
        (
            "exists false: c-count is not a leaf",
            exists_false,
            doc_event_2,
            true,
        ),
        (
            "exists true",
            json!({"detail": {"description": [{"exists": true}]}}),
            json!({"detail": {"description": "x"}}),
            true,
        ),
        (
            "exists true absent",
            json!({"detail": {"description": [{"exists": true}]}}),
            json!({"detail": {}}),
            false,
        ),
        (
            "complex",
            complex.clone(),
            json!({"time": "2017-10-02T00:00:00Z", "detail": {"state": "running", "c-count": 3, "d-count": 2, "x-limit": 150}}),
            true,
        ),
        (
            "complex x-limit excluded",
            complex,
            json!({"time": "2017-10-02T00:00:00Z", "detail": {"state": "running", "c-count": 3, "d-count": 2, "x-limit": 200}}),
            false,
        ),
    ]);
}

#[test]
fn documentation_or() {
    let inner_or = json!({"detail": {"$or": [
        {"c-count": [{"numeric": [">", 0, "<=", 5]}]},
        {"d-count": [{"numeric": ["<", 10]}]},
        {"x-limit": [{"numeric": ["=", 3.018e2]}]}
    ]}});
    let top_or = json!({
        "source": ["aws.ec2"],
        "$or": [
            {"detail-type": ["EC2 Instance State-change Notification"]},
            {"detail": {"state": ["terminated"]}}
        ]
    });
    check(&[
        (
            "or c-count",
            inner_or.clone(),
            json!({"detail": {"c-count": 3}}),
            true,
        ),
        (
            "or d-count",
            inner_or.clone(),
            json!({"detail": {"d-count": 3}}),
            true,
        ),
        (
            "or x-limit",
            inner_or.clone(),
            json!({"detail": {"x-limit": 301.8}}),
            true,
        ),
        (
            "or none",
            inner_or,
            json!({"detail": {"c-count": 30, "x-limit": 1}}),
            false,
        ),
        ("top or first", top_or.clone(), ec2_event("running"), true),
        (
            "top or second",
            top_or.clone(),
            json!({"source": "aws.ec2", "detail-type": "x", "detail": {"state": "terminated"}}),
            true,
        ),
        (
            "top or neither",
            top_or.clone(),
            json!({"source": "aws.ec2", "detail-type": "x", "detail": {"state": "running"}}),
            false,
        ),
        (
            "top or source",
            top_or,
            json!({"source": "aws.s3", "detail-type": "EC2 Instance State-change Notification"}),
            false,
        ),
    ]);
}

#[test]
fn edge_cases() {
    check(&[
        (
            "number equality by value",
            json!({"n": [300]}),
            json!({"n": 3.0e2}),
            true,
        ),
        (
            "number literal matches float",
            json!({"n": [1.5]}),
            json!({"n": 1.50}),
            true,
        ),
        (
            "number is not a string",
            json!({"n": ["300"]}),
            json!({"n": 300}),
            false,
        ),
        (
            "string is not a number",
            json!({"n": [300]}),
            json!({"n": "300"}),
            false,
        ),
        ("bool", json!({"b": [true]}), json!({"b": true}), true),
        (
            "bool is not string",
            json!({"b": ["true"]}),
            json!({"b": true}),
            false,
        ),
        (
            "bool is not 1",
            json!({"b": [1]}),
            json!({"b": true}),
            false,
        ),
        (
            "missing field never matches a value",
            json!({"a": [{"prefix": ""}]}),
            json!({}),
            false,
        ),
        (
            "empty prefix matches any string",
            json!({"a": [{"prefix": ""}]}),
            json!({"a": "x"}),
            true,
        ),
        (
            "prefix never matches a number",
            json!({"a": [{"prefix": "5"}]}),
            json!({"a": 55}),
            false,
        ),
        (
            "leaf matcher against object",
            json!({"detail": ["x"]}),
            json!({"detail": {"x": 1}}),
            false,
        ),
        (
            "anything-but against object",
            json!({"detail": [{"anything-but": "x"}]}),
            json!({"detail": {"a": 1}}),
            false,
        ),
        (
            "anything-but string lets a number through",
            json!({"a": [{"anything-but": "x"}]}),
            json!({"a": 5}),
            true,
        ),
        (
            "anything-but on array: any element",
            json!({"a": [{"anything-but": "x"}]}),
            json!({"a": ["x", "y"]}),
            true,
        ),
        (
            "anything-but on array: all excluded",
            json!({"a": [{"anything-but": "x"}]}),
            json!({"a": ["x", "x"]}),
            false,
        ),
        (
            "anything-but on empty array",
            json!({"a": [{"anything-but": "x"}]}),
            json!({"a": []}),
            false,
        ),
        (
            "nested pattern against string",
            json!({"detail": {"a": ["x"]}}),
            json!({"detail": "a"}),
            false,
        ),
        (
            "nested exists false against string",
            json!({"detail": {"a": [{"exists": false}]}}),
            json!({"detail": "a"}),
            true,
        ),
        (
            "nested exists false with detail missing",
            json!({"detail": {"a": [{"exists": false}]}}),
            json!({}),
            true,
        ),
        (
            "exists true on null",
            json!({"a": [{"exists": true}]}),
            json!({"a": null}),
            true,
        ),
        (
            "exists true on object",
            json!({"a": [{"exists": true}]}),
            json!({"a": {"b": 1}}),
            false,
        ),
        (
            "exists true on empty array",
            json!({"a": [{"exists": true}]}),
            json!({"a": []}),
            false,
        ),
        (
            "exists false on empty array",
            json!({"a": [{"exists": false}]}),
            json!({"a": []}),
            true,
        ),
        (
            "exists true on array of values",
            json!({"a": [{"exists": true}]}),
            json!({"a": [1, 2]}),
            true,
        ),
        (
            "exists true on array of objects",
            json!({"a": [{"exists": true}]}),
            json!({"a": [{"b": 1}]}),
            false,
        ),
        (
            "exists or value",
            json!({"a": [{"exists": false}, "x"]}),
            json!({"a": "x"}),
            true,
        ),
        (
            "exists or value, neither",
            json!({"a": [{"exists": false}, "x"]}),
            json!({"a": "y"}),
            false,
        ),
        (
            "exists on nested field in array of objects",
            json!({"a": {"b": [{"exists": true}]}}),
            json!({"a": [{"c": 1}, {"b": 2}]}),
            true,
        ),
        (
            "nested object in array: any element",
            json!({"a": {"b": ["x"]}}),
            json!({"a": [{"b": "y"}, {"b": "x"}]}),
            true,
        ),
        (
            "nested object in array: same element",
            json!({"a": {"b": [1], "c": [4]}}),
            json!({"a": [{"b": 1, "c": 2}, {"b": 3, "c": 4}]}),
            false,
        ),
        (
            "nested object in array: same element ok",
            json!({"a": {"b": [3], "c": [4]}}),
            json!({"a": [{"b": 1, "c": 2}, {"b": 3, "c": 4}]}),
            true,
        ),
        (
            "nested arrays flattened",
            json!({"a": ["x"]}),
            json!({"a": [["y", ["x"]]]}),
            true,
        ),
        (
            "wildcard escaped star",
            json!({"a": [{"wildcard": "a\\*b"}]}),
            json!({"a": "a*b"}),
            true,
        ),
        (
            "wildcard escaped star is literal",
            json!({"a": [{"wildcard": "a\\*b"}]}),
            json!({"a": "axxb"}),
            false,
        ),
        (
            "wildcard escaped backslash",
            json!({"a": [{"wildcard": "a\\\\*"}]}),
            json!({"a": "a\\zz"}),
            true,
        ),
        (
            "wildcard question mark is literal",
            json!({"a": [{"wildcard": "a?c"}]}),
            json!({"a": "abc"}),
            false,
        ),
        (
            "wildcard overlapping affixes",
            json!({"a": [{"wildcard": "ab*ba"}]}),
            json!({"a": "aba"}),
            false,
        ),
        (
            "wildcard many stars",
            json!({"a": [{"wildcard": "*a*b*c*"}]}),
            json!({"a": "xxaxxbxxcxx"}),
            true,
        ),
        (
            "wildcard many stars order",
            json!({"a": [{"wildcard": "*a*b*c*"}]}),
            json!({"a": "cba"}),
            false,
        ),
        (
            "wildcard on number",
            json!({"a": [{"wildcard": "*"}]}),
            json!({"a": 5}),
            false,
        ),
        (
            "ignore case sharp s",
            json!({"a": [{"equals-ignore-case": "STRASSE"}]}),
            json!({"a": "strasse"}),
            true,
        ),
        (
            "ignore case unicode",
            json!({"a": [{"equals-ignore-case": "ÉTÉ"}]}),
            json!({"a": "été"}),
            true,
        ),
        (
            "numeric = 0 and -0",
            json!({"a": [{"numeric": ["=", 0]}]}),
            json!({"a": -0.0}),
            true,
        ),
        (
            "numeric >= inclusive",
            json!({"a": [{"numeric": [">=", 4]}]}),
            json!({"a": 4}),
            true,
        ),
        (
            "numeric >= below",
            json!({"a": [{"numeric": [">=", 4]}]}),
            json!({"a": 3.9}),
            false,
        ),
        (
            "numeric on array",
            json!({"a": [{"numeric": [">", 10]}]}),
            json!({"a": [1, 20]}),
            true,
        ),
        (
            "cidr host bits floored",
            json!({"ip": [{"cidr": "10.0.0.5/24"}]}),
            json!({"ip": "10.0.0.200"}),
            true,
        ),
        (
            "cidr leading zeros decimal",
            json!({"ip": [{"cidr": "010.0.0.0/8"}]}),
            json!({"ip": "10.1.2.3"}),
            true,
        ),
        (
            "cidr non-address",
            json!({"ip": [{"cidr": "10.0.0.0/8"}]}),
            json!({"ip": "not-an-ip"}),
            false,
        ),
        (
            "cidr number",
            json!({"ip": [{"cidr": "0.0.0.0/0"}]}),
            json!({"ip": 167772161}),
            false,
        ),
        (
            "$or last write wins (a=2)",
            json!({"a": ["1"], "$or": [{"a": ["2"]}, {"b": ["3"]}]}),
            json!({"a": "2"}),
            true,
        ),
        (
            "$or last write wins (a=1)",
            json!({"a": ["1"], "$or": [{"a": ["2"]}, {"b": ["3"]}]}),
            json!({"a": "1"}),
            false,
        ),
        (
            "$or nested",
            json!({"$or": [{"a": ["1"]}, {"$or": [{"b": ["2"]}, {"c": ["3"]}]}]}),
            json!({"c": "3"}),
            true,
        ),
        (
            "$or as a field name",
            json!({"$or": ["x"]}),
            json!({"$or": "x"}),
            true,
        ),
        (
            "$or leaf/object collision",
            json!({"a": ["1"], "$or": [{"a": {"b": ["2"]}}, {"c": ["3"]}]}),
            json!({"a": {"b": "2"}}),
            false,
        ),
        ("non-object event", json!({"a": ["1"]}), json!([1]), false),
        (
            "non-object event with exists false",
            json!({"a": [{"exists": false}]}),
            json!("x"),
            true,
        ),
    ]);
}

fn refused(pattern: Value) -> cordon_events::PatternError {
    match Pattern::parse(&pattern) {
        Ok(_) => panic!("accepted: {pattern}"),
        Err(e) => e,
    }
}

#[test]
fn validation_errors_name_the_path() {
    let cases: &[(Value, &str, &str)] = &[
        (
            json!({"source": "aws.ec2"}),
            "source",
            "must be an object or an array",
        ),
        (
            json!({"detail": {"n": 5}}),
            "detail.n",
            "must be an object or an array",
        ),
        (
            json!({"detail": {"n": []}}),
            "detail.n",
            "Empty arrays are not allowed",
        ),
        (
            json!({"detail": {}}),
            "detail",
            "Empty objects are not allowed",
        ),
        (json!({"a": [["x"]]}), "a", "Match value must be"),
        (
            json!({"a": [{"regex": "x"}]}),
            "a",
            "Unrecognized match type regex",
        ),
        (json!({"a": [{}]}), "a", "Match expression name not found"),
        (
            json!({"a": [{"prefix": "x", "suffix": "y"}]}),
            "a",
            "Only one key allowed",
        ),
        (
            json!({"a": [{"prefix": 5}]}),
            "a",
            "prefix match pattern must be a string",
        ),
        (
            json!({"a": [{"prefix": {"wildcard": "x"}}]}),
            "a",
            "Unsupported prefix pattern: wildcard",
        ),
        (
            json!({"a": [{"numeric": 5}]}),
            "a",
            "Value of numeric must be an array",
        ),
        (
            json!({"a": [{"numeric": []}]}),
            "a",
            "Invalid member in numeric match",
        ),
        (
            json!({"a": [{"numeric": ["!=", 5]}]}),
            "a",
            "Unrecognized numeric range operator: !=",
        ),
        (
            json!({"a": [{"numeric": [">", "5"]}]}),
            "a",
            "Value of > must be numeric",
        ),
        (
            json!({"a": [{"numeric": ["=", 5, "<", 6]}]}),
            "a",
            "Too many elements in numeric expression",
        ),
        (
            json!({"a": [{"numeric": [">", 5, ">", 6]}]}),
            "a",
            "Bad numeric range operator: >",
        ),
        (
            json!({"a": [{"numeric": [">", 6, "<", 5]}]}),
            "a",
            "Bottom must be less than top",
        ),
        (
            json!({"a": [{"numeric": [">", 1, "<", 5, "<", 6]}]}),
            "a",
            "Too many terms",
        ),
        (
            json!({"a": [{"cidr": "10.0.0.0"}]}),
            "a",
            "one '/' required",
        ),
        (
            json!({"a": [{"cidr": "10.0.0.0/x"}]}),
            "a",
            "mask bits must be an integer",
        ),
        (
            json!({"a": [{"cidr": "10.0.0.0/33"}]}),
            "a",
            "IPv4 mask bits must be < 32",
        ),
        (
            json!({"a": [{"cidr": "10.0.0.300/8"}]}),
            "a",
            "Invalid IP address",
        ),
        (
            json!({"a": [{"cidr": "host.example/8"}]}),
            "a",
            "Nonstandard IP address",
        ),
        (
            json!({"a": [{"cidr": "2001:db8::/129"}]}),
            "a",
            "IPv6 mask bits must be < 128",
        ),
        (
            json!({"a": [{"exists": "yes"}]}),
            "a",
            "exists match pattern must be either true or false",
        ),
        (
            json!({"a": [{"wildcard": "a**b"}]}),
            "a",
            "Consecutive wildcard characters at pos 2",
        ),
        (
            json!({"a": [{"wildcard": "a\\b"}]}),
            "a",
            "Invalid escape character at pos 2",
        ),
        (
            json!({"a": [{"anything-but": ["x", 1]}]}),
            "a",
            "mixed type is not supported",
        ),
        (
            json!({"a": [{"anything-but": [true]}]}),
            "a",
            "start|null|boolean is not supported",
        ),
        (
            json!({"a": [{"anything-but": null}]}),
            "a",
            "Value of anything-but must be",
        ),
        (
            json!({"a": [{"anything-but": {"numeric": [">", 1]}}]}),
            "a",
            "Unsupported anything-but pattern: numeric",
        ),
        (
            json!({"a": [{"anything-but": {"prefix": ""}}]}),
            "a",
            "Null prefix/suffix not allowed",
        ),
        (
            json!({"d": {"$or": [{"a": ["1"]}, {"b": [{"prefix": 1}]}]}}),
            "d.$or.1.b",
            "prefix match pattern must be a string",
        ),
        (json!({"$or": [{"a": ["1"]}]}), "$or", "at least 2 Objects"),
        (
            json!({"$or": [{"a": ["1"]}, {"prefix": ["x"]}]}),
            "$or.1.prefix",
            "reserved fieldName",
        ),
    ];
    let mut failures = Vec::new();
    for (pattern, path, message) in cases {
        let e = refused(pattern.clone());
        if e.path != *path || !e.message.contains(message) {
            failures.push(format!("{pattern}: got `{}`: {}", e.path, e.message));
        }
        assert!(e.to_string().contains(message));
    }
    assert!(
        refused(json!(["a"]))
            .message
            .contains("Filter is not an object")
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn or_combination_cap() {
    let branch = |k: &str| json!([{k: ["1"]}, {"z": ["2"]}]);
    let mut p = serde_json::Map::new();
    // 2^10 = 1024 combinations.
    for i in 0..10 {
        p.insert(format!("n{i}"), json!({"$or": branch(&format!("k{i}"))}));
    }
    let e = refused(Value::Object(p));
    assert!(
        e.message.contains("more than 1000 rule combinations"),
        "{e}"
    );
}

#[test]
fn burst_of_events_is_fast() {
    // Compile once; 1,000 events x a realistic pattern with wildcard, prefix, numeric
    // and anything-but must be well under a second even in debug builds.
    let pattern = Pattern::parse(&json!({
        "source": ["aws.guardduty"],
        "detail": {
            "type": [{"prefix": "UnauthorizedAccess:IAMUser/"}, {"wildcard": "*IAMUser/*"}],
            "severity": [{"numeric": [">=", 4]}],
            "service": {"archived": [false, {"exists": false}]},
            "resource": {"resourceType": [{"equals-ignore-case": "accesskey"}]}
        }
    }))
    .unwrap();
    let events: Vec<Value> = (0..1000)
        .map(|i| json!({"source": "aws.guardduty", "detail": {
            "type": if i % 2 == 0 { "Recon:IAMUser/TorIPCaller" } else { "Recon:EC2/PortProbe" },
            "severity": i % 10,
            "service": {"archived": false},
            "resource": {"resourceType": "AccessKey"}
        }}))
        .collect();
    let start = std::time::Instant::now();
    let matched = events.iter().filter(|e| pattern.matches(e)).count();
    let elapsed = start.elapsed();
    assert_eq!(matched, 300);
    assert!(elapsed.as_millis() < 500, "1,000 events took {elapsed:?}");
}
