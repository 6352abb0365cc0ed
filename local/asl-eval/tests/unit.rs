//! Unit tests: paths, result paths, templates, intrinsics, Choice details, JSONata.

use cordon_asl_eval::*;
use serde_json::{Map, Value, json};

struct Fixed;
impl Entropy for Fixed {
    fn uuid(&self) -> String {
        "0f8fad5b-d9cb-469f-a165-70867728950e".into()
    }
    fn next_u64(&self) -> u64 {
        7
    }
}

fn with<T>(input: Value, f: impl FnOnce(&Scope) -> T) -> T {
    let ctx = json!({"Execution": {"Id": "arn:aws:states:us-east-1:1:execution:sm:ex", "Name": "ex"},
                     "StateMachine": {"Id": "arn:aws:states:us-east-1:1:stateMachine:sm", "Name": "sm"}});
    let mut vars = Map::new();
    vars.insert("myVar".into(), json!({"x": [10, 20], "s": "hi"}));
    vars.insert("n".into(), json!(42));
    let scope = Scope {
        input: &input,
        context: &ctx,
        variables: &vars,
        entropy: &Fixed,
    };
    f(&scope)
}

fn store() -> Value {
    json!({"store": {"book": [
        {"category": "reference", "author": "Nigel Rees", "title": "Sayings", "price": 8.95},
        {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword", "price": 12.99},
        {"category": "fiction", "author": "Herman Melville", "title": "Moby Dick", "isbn": "0-553", "price": 8.99}
    ], "bicycle": {"color": "red", "price": 19.95}}, "x y": 1, "arr": [1, 2, 3, 4, 5]})
}

#[test]
fn reference_paths() {
    with(store(), |s| {
        assert_eq!(query("$", s, "InputPath").unwrap(), store());
        assert_eq!(
            query("$.store.bicycle.color", s, "InputPath").unwrap(),
            json!("red")
        );
        assert_eq!(
            query("$.store.book[0].author", s, "InputPath").unwrap(),
            json!("Nigel Rees")
        );
        assert_eq!(query("$['x y']", s, "InputPath").unwrap(), json!(1));
        assert_eq!(
            query("$.store['bicycle'].price", s, "InputPath").unwrap(),
            json!(19.95)
        );
        assert_eq!(query("$.arr[-1]", s, "InputPath").unwrap(), json!(5));
        assert_eq!(query("$$.Execution.Name", s, "x.$").unwrap(), json!("ex"));
        assert_eq!(query("$myVar.x[1]", s, "x.$").unwrap(), json!(20));
        assert_eq!(query("$n", s, "x.$").unwrap(), json!(42));
        assert_eq!(query("$.arr.length()", s, "x.$").unwrap(), json!(5));
    });
}

#[test]
fn jsonpaths_returning_arrays() {
    with(store(), |s| {
        assert_eq!(
            query("$.store.book[*].author", s, "x.$").unwrap(),
            json!(["Nigel Rees", "Evelyn Waugh", "Herman Melville"])
        );
        assert_eq!(
            query("$..[?(@.price < 10)].title", s, "x.$").unwrap(),
            json!(["Sayings", "Moby Dick"])
        );
        assert_eq!(
            query("$.store.book[?(@.isbn)].title", s, "x.$").unwrap(),
            json!(["Moby Dick"])
        );
        assert_eq!(
            query(
                "$.store.book[?(@.category == 'fiction' && @.price > 10)].author",
                s,
                "x.$"
            )
            .unwrap(),
            json!(["Evelyn Waugh"])
        );
        assert_eq!(query("$.arr[1:3]", s, "x.$").unwrap(), json!([2, 3]));
        assert_eq!(query("$.arr[:2]", s, "x.$").unwrap(), json!([1, 2]));
        assert_eq!(query("$.arr[-2:]", s, "x.$").unwrap(), json!([4, 5]));
        assert_eq!(query("$.arr[0,2]", s, "x.$").unwrap(), json!([1, 3]));
        assert_eq!(
            query("$..price", s, "x.$").unwrap(),
            json!([8.95, 12.99, 8.99, 19.95])
        );
        assert_eq!(
            query("$.store.book[?(@.price > 100)]", s, "x.$").unwrap(),
            json!([])
        );
    });
}

#[test]
fn missing_paths_use_aws_wording() {
    with(json!({"a": 1}), |s| {
        let e = query("$.NoSuchInputPath", s, "InputPath").unwrap_err();
        assert_eq!(e.error, "States.Runtime");
        assert_eq!(
            e.cause,
            "Invalid path '$.NoSuchInputPath' : No results for path: $['NoSuchInputPath']"
        );
        let e = query("$.no_such_jsonpath", s, "value.$").unwrap_err();
        assert_eq!(
            e.cause,
            "The JSONPath '$.no_such_jsonpath' specified for the field 'value.$' could not be found in the input '{\"a\":1}'"
        );
        let e = query("$.ErrorX", s, "ErrorPath").unwrap_err();
        assert_eq!(
            e.cause,
            "The JSONPath '$.ErrorX' specified for the field 'ErrorPath' could not be found in the input '{\"a\":1}'"
        );
        assert_eq!(
            query("$.a.b[0]", s, "OutputPath").unwrap_err().cause,
            "Invalid path '$.a.b[0]' : No results for path: $['a']['b'][0]"
        );
        // Jayway: an absent property before the last token is "Missing property"
        assert_eq!(
            query("$.no.such.result.path", s, "OutputPath")
                .unwrap_err()
                .cause,
            "Invalid path '$.no.such.result.path' : Missing property in path $['no']"
        );
        assert_eq!(
            query("$.no.such", s, "InputPath").unwrap_err().cause,
            "Invalid path '$.no.such' : Missing property in path $['no']"
        );
    });
    with(json!({"a": {"b": {}}}), |s| {
        assert_eq!(
            query("$.a.b.c.d", s, "OutputPath").unwrap_err().cause,
            "Invalid path '$.a.b.c.d' : Missing property in path $['a']['b']['c']"
        );
        assert_eq!(
            query("$.a.b.c", s, "OutputPath").unwrap_err().cause,
            "Invalid path '$.a.b.c' : No results for path: $['a']['b']['c']"
        );
    });
}

#[test]
fn result_paths() {
    let input = json!({"a": 1, "b": {"c": 2}});
    assert_eq!(
        apply_result_path(input.clone(), None, json!(9)).unwrap(),
        input
    );
    assert_eq!(
        apply_result_path(input.clone(), Some("$"), json!(9)).unwrap(),
        json!(9)
    );
    assert_eq!(
        apply_result_path(input.clone(), Some("$.r"), json!(9)).unwrap(),
        json!({"a": 1, "b": {"c": 2}, "r": 9})
    );
    assert_eq!(
        apply_result_path(input.clone(), Some("$.b.c"), json!([1])).unwrap(),
        json!({"a": 1, "b": {"c": [1]}})
    );
    assert_eq!(
        apply_result_path(input.clone(), Some("$.x.y.z"), json!(true)).unwrap(),
        json!({"a": 1, "b": {"c": 2}, "x": {"y": {"z": true}}})
    );
    let e = apply_result_path(json!("text"), Some("$.r"), json!(1)).unwrap_err();
    assert_eq!(e.error, "States.ResultPathMatchFailure");
    let e = apply_result_path(input, Some("$.a[*]"), json!(1)).unwrap_err();
    assert_eq!(e.error, "States.ResultPathMatchFailure");
}

#[test]
fn payload_templates() {
    let tpl = json!({
        "lit": "x", "num": 1,
        "p.$": "$.a",
        "ctx.$": "$$.Execution.Name",
        "var.$": "$myVar.s",
        "fmt.$": "States.Format('{} and {}', $.a, $.b.c)",
        "nested": {"deep.$": "$.b", "arr": [{"q.$": "$.a"}, 3]}
    });
    with(json!({"a": 1, "b": {"c": "two"}}), |s| {
        assert_eq!(
            payload_template(&tpl, s, "Parameters").unwrap(),
            json!({"lit": "x", "num": 1, "p": 1, "ctx": "ex", "var": "hi", "fmt": "1 and two",
                   "nested": {"deep": {"c": "two"}, "arr": [{"q": 1}, 3]}})
        );
        let e = payload_template(&json!({"v.$": "$.nope"}), s, "Parameters").unwrap_err();
        assert_eq!(e.error, "States.Runtime");
        assert!(
            e.cause.starts_with(
                "The JSONPath '$.nope' specified for the field 'v.$' could not be found"
            )
        );
        let e = payload_template(&json!({"v.$": 3}), s, "Parameters").unwrap_err();
        assert_eq!(e.error, "States.Runtime");
    });
}

#[test]
fn intrinsics() {
    with(
        json!({"arr": [1, 2, 2, 3], "s": "a,b", "o": {"k": [1]}}),
        |s| {
            let i = |e: &str| intrinsic(e, s).unwrap();
            assert_eq!(i("States.Format('x\\{\\}y {}', 'z')"), json!("x{}y z"));
            assert_eq!(i("States.Format('it\\'s {}', $.o)"), json!("it's {k=[1]}"));
            assert_eq!(i("States.StringToJson('{\"a\": 1}')"), json!({"a": 1}));
            assert_eq!(i("States.JsonToString($.o)"), json!("{\"k\":[1]}"));
            assert_eq!(
                i("States.Array(1, 'a', true, null, $.s)"),
                json!([1, "a", true, null, "a,b"])
            );
            assert_eq!(
                i("States.ArrayPartition($.arr, 3)"),
                json!([[1, 2, 2], [3]])
            );
            assert_eq!(i("States.ArrayContains($.arr, 3)"), json!(true));
            assert_eq!(i("States.ArrayRange(1, 9, 2)"), json!([1, 3, 5, 7, 9]));
            assert_eq!(i("States.ArrayRange(5, 1, -2)"), json!([5, 3, 1]));
            assert_eq!(i("States.ArrayGetItem($.arr, 3)"), json!(3));
            assert_eq!(i("States.ArrayLength($.arr)"), json!(4));
            assert_eq!(i("States.ArrayUnique($.arr)"), json!([1, 2, 3]));
            assert_eq!(
                i("States.Base64Encode('Data to encode')"),
                json!("RGF0YSB0byBlbmNvZGU=")
            );
            assert_eq!(
                i("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')"),
                json!("Data to encode")
            );
            assert_eq!(
                i("States.Hash('input data', 'MD5')"),
                json!("812f45842bc6d66ee14572ce20db8e86")
            );
            assert_eq!(
                i("States.JsonMerge($.o, States.StringToJson('{\"z\": 0}'), false)"),
                json!({"k": [1], "z": 0})
            );
            assert_eq!(i("States.MathAdd(1.5, -3)"), json!(-1));
            assert_eq!(i("States.MathRandom(10, 20)"), json!(17));
            assert_eq!(i("States.StringSplit($.s, ',')"), json!(["a", "b"]));
            assert_eq!(
                i("States.UUID()"),
                json!("0f8fad5b-d9cb-469f-a165-70867728950e")
            );
            assert_eq!(
                i(
                    "States.ArrayGetItem(States.StringSplit($$.StateMachine.Id, ':'), States.MathAdd(States.ArrayLength(States.StringSplit($$.StateMachine.Id, ':')), -1))"
                ),
                json!("sm")
            );
            for bad in [
                "States.ArrayGetItem($.arr, 10)",
                "States.ArrayPartition($.arr, 0)",
                "States.ArrayRange(1, 2, 0)",
                "States.Hash('x', 'SHA-3')",
                "States.JsonMerge($.o, $.o, true)",
                "States.Format('{} {}', 1)",
                "States.Base64Decode('%%%')",
                "States.ArrayLength($.s)",
            ] {
                let e = intrinsic(bad, s).unwrap_err();
                assert_eq!(e.error, "States.IntrinsicFailure", "{bad}");
                assert!(
                    e.cause
                        .starts_with(&format!("The function '{bad}' had the following error: ")),
                    "{bad}: {}",
                    e.cause
                );
            }
        },
    );
    assert!(validate_intrinsic("States.Format('{}', $.a)").is_ok());
    assert!(validate_intrinsic("States.Nope(1)").is_err());
    assert!(validate_intrinsic("States.ArrayLength()").is_err());
    assert!(validate_intrinsic("States.UUID(").is_err());
    assert!(validate_path("$.a[?(@.b > 1)]").is_ok());
    assert!(validate_path("a.b").is_err());
    assert!(validate_path("$.a[").is_err());
}

#[test]
fn choice_details() {
    with(
        json!({"s": "log-2024.txt", "t": "2012-10-09T19:00:55+01:00", "n": 3, "star": "a*b"}),
        |s| {
            let r = |rule: Value| choice_rule(&rule, s).unwrap();
            assert!(r(json!({"Variable": "$.s", "StringMatches": "log-*.txt"})));
            assert!(!r(json!({"Variable": "$.s", "StringMatches": "log-*.csv"})));
            assert!(r(json!({"Variable": "$.star", "StringMatches": "a\\*b"})));
            assert!(!r(json!({"Variable": "$.s", "StringMatches": "a\\*b"})));
            assert!(r(json!({"Variable": "$.t", "IsTimestamp": true})));
            assert!(r(
                json!({"Variable": "$.t", "TimestampLessThan": "2012-10-09T19:00:55Z"})
            ));
            assert!(r(
                json!({"And": [{"Variable": "$.n", "NumericGreaterThan": 2},
                                 {"Not": {"Variable": "$.n", "NumericEquals": 4}}]})
            ));
            assert!(r(
                json!({"Or": [{"Variable": "$.missing", "IsPresent": true},
                                {"Variable": "$n", "NumericEquals": 42}]})
            ));
            assert!(!r(json!({"Variable": "$.missing", "IsPresent": true})));
        },
    );
    with(json!({}), |s| {
        let e = choice_rule(&json!({"Variable": "$.missing", "StringEquals": "x"}), s).unwrap_err();
        assert_eq!(e.error, "States.Runtime");
        assert_eq!(
            e.cause,
            "Invalid path '$.missing' : No results for path: $['missing']"
        );
    });
}

fn jscope<T>(input: Value, f: impl FnOnce(&JsonataScope) -> T) -> T {
    let states = json!({"input": input, "context": {"Execution": {"Name": "ex"}}});
    let mut vars = Map::new();
    vars.insert("var_constant_1".into(), json!(1));
    vars.insert("obj".into(), json!({"z": 1, "a": 2}));
    f(&JsonataScope {
        states: &states,
        variables: &vars,
        entropy: &Fixed,
    })
}

#[test]
fn jsonata_expressions_from_corpus() {
    jscope(
        json!({"input_values": [1, 2, 3], "part1": {"hello": "world"}, "part2": {"foo": "bar"}}),
        |s| {
            let j = |e: &str| jsonata(e, s).unwrap();
            assert_eq!(j(r#"$contains("hello$world", /^hello\$/)"#), json!(true));
            assert_eq!(j(r#"$contains('hello$world', /^hello\ /)"#), json!(false));
            assert_eq!(j(r#"$number("2")"#), json!(2));
            assert_eq!(
                j("$sum($states.input.input_values) + $var_constant_1"),
                json!(7)
            );
            // key order as in the data (jsonata-rs keeps objects in hash maps)
            let merged = j("$merge([$states.input.part1, $states.input.part2])");
            assert_eq!(
                serde_json::to_string(&merged).unwrap(),
                r#"{"hello":"world","foo":"bar"}"#
            );
            assert_eq!(
                serde_json::to_string(&j("$obj")).unwrap(),
                r#"{"z":1,"a":2}"#
            );
            assert_eq!(
                serde_json::to_string(&j(r#"{"b": 1, "a": 2, "c": 3}"#)).unwrap(),
                r#"{"b":1,"a":2,"c":3}"#
            );
            assert_eq!(j("$states.context.Execution.Name"), json!("ex"));
            assert_eq!(j("$partition([1,2,3], 2)"), json!([[1, 2], [3]]));
            assert_eq!(j("$range(0, 10, 3)"), json!([0, 3, 6, 9]));
            assert_eq!(j("$range(1, 9, 9)"), json!(1));
            assert_eq!(
                j("$hash('input data', 'SHA-1')"),
                json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
            );
            assert_eq!(j("$parse('{\"a\": [1, 2.5]}')"), json!({"a": [1, 2.5]}));
            assert_eq!(j("1.0 + 2"), json!(3));
            assert_eq!(j("$uuid()").as_str().map(str::len), Some(36));
            let r = j("$random()").as_f64().unwrap();
            assert!((0.0..1.0).contains(&r));
        },
    );
}

#[test]
fn jsonata_errors_and_templates() {
    jscope(json!({"a": 1}), |s| {
        let e = jsonata_field("$doesNotExist", s, "Output/result").unwrap_err();
        assert_eq!(e.error, "States.QueryEvaluationError");
        assert_eq!(
            e.cause,
            "The JSONata expression '$doesNotExist' specified for the field 'Output/result' returned nothing (undefined)."
        );
        let e = jsonata_field("$randomSeeded(1)", s, "Output").unwrap_err();
        assert_eq!(
            e.cause,
            "The JSONata expression '$randomSeeded(1)' specified for the field 'Output' threw an error during evaluation. T1006: Attempted to invoke a non-function"
        );
        let e = jsonata_field("$fn := function($x){$x}", s, "Items").unwrap_err();
        assert_eq!(
            e.cause,
            "The JSONata expression '$fn := function($x){$x}' specified for the field 'Items' returned an unsupported result type."
        );
        let tpl = json!({"x": "{% $states.input.a + 1 %}", "lit": " {% states.input %} ", "n": [null, "{% true %}"]});
        assert_eq!(
            jsonata_template(&tpl, s, "Output").unwrap(),
            json!({"x": 2, "lit": " {% states.input %} ", "n": [null, true]})
        );
        let e =
            jsonata_template(&json!({"result": "{% $doesNotExist %}"}), s, "Output").unwrap_err();
        assert!(
            e.cause
                .contains("for the field 'Output/result' returned nothing (undefined).")
        );
    });
    assert!(is_jsonata_expression("{% 1 %}"));
    assert!(!is_jsonata_expression(" {% 1 %}"));
    assert!(!is_jsonata_expression("{% 1"));
}

#[test]
fn jsonata_type_error_wording() {
    let e = jsonata_type_error("{'foo': 'bar'}", "Items", "array", &json!({"foo": "bar"}));
    assert_eq!(
        e.cause,
        "The JSONata expression '{'foo': 'bar'}' specified for the field 'Items' returned an unexpected result type. Expected 'array', but was 'object' for value: {\"foo\":\"bar\"}"
    );
}

#[test]
fn jsonata_blocks_assignment_and_delimiters() {
    let states = json!({"input": {"waitSeconds": 3}, "context": {}});
    let vars = Map::new();
    let sc = JsonataScope {
        states: &states,
        variables: &vars,
        entropy: &Fixed,
    };
    assert_eq!(jsonata("($x := 1; $x + 1)", &sc).unwrap(), json!(2));
    assert_eq!(jsonata("$variable := 1", &sc).unwrap(), json!(1));
    // the raw field string is accepted too; causes name the bare expression
    assert_eq!(jsonata("{% $variable := 1 %}", &sc).unwrap(), json!(1));
    assert_eq!(
        jsonata_field("{% $states.input.waitSeconds %}", &sc, "Seconds").unwrap(),
        json!(3)
    );
    let e = jsonata_field("{% $nope %}", &sc, "Seconds").unwrap_err();
    assert_eq!(
        e.cause,
        "The JSONata expression '$nope' specified for the field 'Seconds' returned nothing (undefined)."
    );
    assert_eq!(
        jsonata_template(&json!("{% ($x := 1; $x + 1) %}"), &sc, "Output").unwrap(),
        json!(2)
    );
}

#[test]
fn bracket_names_keep_escapes_as_written() {
    // scenarios ESCAPE_SEQUENCES_JSONPATH, recorded against AWS
    let input: Value = serde_json::from_str(r#"{"Test\\\"\"Name\"": "Value\"\\"}"#).unwrap();
    let path: String = serde_json::from_str(r#""$['Test\\\"\"Name\"']""#).unwrap();
    with(input, |s| {
        assert_eq!(query(&path, s, "value.$").unwrap(), json!("Value\"\\"));
    });
    with(json!({"a]b": 1, "x": {"y'z": 2}}), |s| {
        assert_eq!(query("$['a]b']", s, "value.$").unwrap(), json!(1));
        assert_eq!(query("$.x[\"y'z\"]", s, "value.$").unwrap(), json!(2));
    });
}

/// Entropy that counts its draws and serves a fixed clock.
struct Counting {
    n: std::cell::Cell<u64>,
}
impl Entropy for Counting {
    fn uuid(&self) -> String {
        let n = self.n.get() + 1;
        self.n.set(n);
        format!("00000000-0000-4000-8000-{n:012}")
    }
    fn next_u64(&self) -> u64 {
        let n = self.n.get() + 1;
        self.n.set(n);
        n << 60
    }
    fn now_millis(&self) -> Option<i64> {
        Some(1_700_000_000_123)
    }
}

#[test]
fn jsonata_nondeterminism_goes_through_entropy() {
    let states = json!({"input": {}, "context": {}});
    let vars = Map::new();
    let ent = Counting {
        n: std::cell::Cell::new(0),
    };
    let sc = JsonataScope {
        states: &states,
        variables: &vars,
        entropy: &ent,
    };
    assert_eq!(
        jsonata("$uuid()", &sc).unwrap(),
        json!("00000000-0000-4000-8000-000000000001")
    );
    assert_eq!(jsonata("$random()", &sc).unwrap(), json!(0.125));
    // string literals are left alone; several calls draw in order
    assert_eq!(
        jsonata("[$uuid(), '$uuid()', $uuid()]", &sc).unwrap(),
        json!([
            "00000000-0000-4000-8000-000000000003",
            "$uuid()",
            "00000000-0000-4000-8000-000000000004"
        ])
    );
    // calls inside a loop: the supply grows and the expression is evaluated again
    let v = jsonata("$map([1,2,3], function($v){ $uuid() })", &sc).unwrap();
    let a = v.as_array().unwrap();
    assert_eq!(a.len(), 3);
    assert_ne!(a[0], a[1]);
    assert_ne!(a[1], a[2]);
    assert_eq!(
        jsonata("$now()", &sc).unwrap(),
        json!("2023-11-14T22:13:20.123Z")
    );
    assert_eq!(
        jsonata("$millis()", &sc).unwrap(),
        json!(1_700_000_000_123i64)
    );
    assert_eq!(
        jsonata("$now('[Y0001]-[M01]-[D01]')", &sc).unwrap(),
        json!("2023-11-14")
    );
    // without a clock, $now() stays on the system clock
    let s = jsonata(
        "$now()",
        &JsonataScope {
            states: &states,
            variables: &vars,
            entropy: &Fixed,
        },
    )
    .unwrap();
    assert!(s.as_str().unwrap().ends_with('Z'));
    // a function named like one is not rewritten
    assert!(jsonata("$randomSeeded(1)", &sc).is_err());
}

#[test]
fn compiled_forms_match_the_string_functions() {
    let templates = [
        json!({"a.$": "$.store.bicycle", "b": {"c.$": "$.arr[1:3]", "d": [1, {"e.$": "$$.Execution.Name"}]}, "f": "x"}),
        json!({"u.$": "States.Format('{} and {}', $.x y, $.arr[0])"}),
        json!({"u.$": "States.ArrayLength($.arr)", "v.$": "States.UUID()"}),
        json!({"static": {"k": [1, 2]}}),
        json!({"bad.$": 5}),
        json!({"bad.$": "$.nope"}),
        json!({"bad.$": "States.Nope(1)"}),
        json!({"bad.$": "$[?(@.x"}),
        json!([{"v.$": "$myVar.x"}, 3]),
    ];
    with(store(), |s| {
        for t in &templates {
            let c = CompiledTemplate::new(t);
            assert_eq!(
                c.evaluate(s, "Parameters"),
                payload_template(t, s, "Parameters"),
                "{t}"
            );
        }
        assert!(CompiledTemplate::new(&templates[3]).is_static());
        for p in [
            "$",
            "$.store.book[*].author",
            "$.no.such",
            "$.arr.length()",
            "$$.Execution.Id",
            "$nope",
        ] {
            let c = CompiledPath::new(p).unwrap();
            assert_eq!(c.as_str(), p);
            assert_eq!(c.query(s, "OutputPath"), query(p, s, "OutputPath"), "{p}");
        }
        assert!(CompiledPath::new("$.a[").is_err());
        assert!(CompiledPath::new("$.a.b").unwrap().is_definite());
    });
}

#[test]
fn wait_and_map_field_checks_use_aws_wording() {
    // scenarios test_wait_timestamp_jsonata
    assert!(jsonata_wait_timestamp(&json!("2016-03-05T21:29:29.243167252Z")).is_ok());
    assert_eq!(
        jsonata_wait_timestamp(&json!("2016-03-14T01:59:00Z")).unwrap(),
        1_457_920_740_000
    );
    for bad in [
        "2016-13-05T21:29:29Z",
        "05-12-2016T21:29:29Z",
        "2016-12-05T25:29:29Z",
        "2016-12-05 21:29:29Z",
        "2016-12-05T21:29:29",
    ] {
        let e = jsonata_wait_timestamp(&json!(bad)).unwrap_err();
        assert_eq!(e.error, "States.QueryEvaluationError");
        assert_eq!(
            e.cause,
            format!(
                "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {bad}"
            )
        );
    }
    // scenarios test_map_state_tolerated_failure_*_path, test_max_concurrency_path
    let f = |field: &str, v: Value| map_path_number(field, "$.P", &v).map_err(|e| e.cause);
    assert_eq!(f("MaxConcurrencyPath", json!(1)), Ok(1.0));
    assert_eq!(
        f("MaxConcurrencyPath", json!("NoNumber")),
        Err("The MaxConcurrencyPath field refers to value \"NoNumber\" which is not a valid integer: $.P".into())
    );
    assert_eq!(
        f("ToleratedFailureCountPath", json!({})),
        Err("The ToleratedFailureCountPath field refers to value \"{}\" which is not a valid integer: $.P".into())
    );
    assert_eq!(
        f("ToleratedFailureCountPath", json!(-1)),
        Err("ToleratedFailureCount cannot be negative.".into())
    );
    assert_eq!(
        f("ToleratedFailurePercentagePath", json!("NoNumber")),
        Err("The ToleratedFailurePercentagePath field refers to value \"NoNumber\" which is not a valid float: $.P".into())
    );
    for v in [json!(-1), json!(-1.1), json!(100.1)] {
        assert_eq!(
            f("ToleratedFailurePercentagePath", v),
            Err("ToleratedFailurePercentage must be between 0 and 100.".into())
        );
    }
    assert_eq!(f("ToleratedFailurePercentagePath", json!(12.5)), Ok(12.5));
}
