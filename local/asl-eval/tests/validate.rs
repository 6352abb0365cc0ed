//! Definition-time validation helpers: JSONata syntax, `ResultPath`, intrinsic functions; and
//! the seeded `States.MathRandom` and the `States.Hash` input limit at run time.

use cordon_asl_eval::{
    Entropy, Scope, intrinsic, validate_intrinsic, validate_jsonata, validate_result_path,
};
use serde_json::{Map, Value, json};

#[test]
fn jsonata_syntax_errors_are_worded_as_jsonata_words_them() {
    for (expr, msg) in [
        ("a[1,2)", "Expected \"]\", got \",\""),
        (
            "\"unterminated",
            "String literal must be terminated by a matching quote",
        ),
        ("1 +", "Unexpected end of expression"),
        ("$x :=", "Unexpected end of expression"),
        (
            "{\"a\":}",
            "The symbol \"}\" cannot be used as a unary operator",
        ),
        (
            "$match(\"a\", /abc",
            "No terminating / in regular expression",
        ),
        ("[1,2", "Expected \"]\" before end of expression"),
    ] {
        assert_eq!(validate_jsonata(expr), Err(msg.to_string()), "{expr}");
        // with the delimiters too
        assert_eq!(
            validate_jsonata(&format!("{{% {expr} %}}")),
            Err(msg.to_string())
        );
    }
    for ok in [
        "{% $states.input.a %}",
        "$states.context.Execution.Id",
        "{% ($x := 1; $x + 1) %}",
        "$partition([1, 2, 3], 2)",
        "$uuid()",
        "{'a': [1, 2][0]}",
    ] {
        assert_eq!(validate_jsonata(ok), Ok(()), "{ok}");
    }
}

#[test]
fn result_paths_refer_to_the_state_data() {
    for ok in ["$", "$.a", "$.a.b[0]", "$['a b'].c"] {
        assert_eq!(validate_result_path(ok), Ok(()), "{ok}");
    }
    for bad in [
        "$v",
        "$v.a",
        "$$.Execution",
        "$.a[*]",
        "$..a",
        "$.a[0:1]",
        "$.a[?(@.b)]",
    ] {
        assert!(validate_result_path(bad).is_err(), "{bad}");
    }
}

#[test]
fn intrinsic_string_literals_allow_only_their_escapes() {
    assert_eq!(
        validate_intrinsic("States.Format('\\'{}\\' \\{\\} \\\\', $.a)"),
        Ok(())
    );
    // AWS refuses `\"` (recorded case), and any other escape
    for bad in [
        "States.StringToJson('{\"text\":\"An \\\"escaped\\\" quote\"}')",
        "States.Format('a\\nb')",
    ] {
        let e = validate_intrinsic(bad).unwrap_err();
        assert!(e.contains("Invalid escape sequence"), "{bad}: {e}");
    }
}

struct Fixed;
impl Entropy for Fixed {
    fn uuid(&self) -> String {
        "00000000-0000-4000-8000-000000000000".into()
    }
    fn next_u64(&self) -> u64 {
        // a seeded call must not draw on this
        panic!("entropy drawn")
    }
}

fn eval(expr: &str, input: &Value) -> Result<Value, cordon_asl_eval::EvalError> {
    let vars = Map::new();
    let scope = Scope {
        input,
        context: &Value::Null,
        variables: &vars,
        entropy: &Fixed,
    };
    intrinsic(expr, &scope)
}

#[test]
fn math_random_with_a_seed_is_deterministic() {
    let a = eval("States.MathRandom(1, 999, 42)", &json!({})).unwrap();
    let b = eval(
        "States.MathRandom($.s, $.e, $.seed)",
        &json!({"s": 1, "e": 999, "seed": 42}),
    )
    .unwrap();
    assert_eq!(a, b);
    let n = a.as_i64().unwrap();
    assert!((1..999).contains(&n), "{n}");
    // different seeds spread over the range
    let values: std::collections::HashSet<i64> = (0..50)
        .map(|seed| {
            eval(&format!("States.MathRandom(0, 1000, {seed})"), &json!({}))
                .unwrap()
                .as_i64()
                .unwrap()
        })
        .collect();
    assert!(values.len() > 40, "{values:?}");
    assert!(values.iter().all(|v| (0..1000).contains(v)));
    // the generator is java.util.Random: new Random(42).nextInt(10) is 0, new Random(1).nextInt(100) is 85
    assert_eq!(
        eval("States.MathRandom(0, 10, 42)", &json!({})).unwrap(),
        json!(0)
    );
    assert_eq!(
        eval("States.MathRandom(0, 100, 1)", &json!({})).unwrap(),
        json!(85)
    );
    let e = eval("States.MathRandom(0, 10, 'x')", &json!({})).unwrap_err();
    assert_eq!(e.error, "States.IntrinsicFailure");
}

#[test]
fn hash_refuses_input_beyond_10000_characters() {
    let ok = "é".repeat(10_000);
    assert!(eval("States.Hash($.d, 'SHA-256')", &json!({"d": ok})).is_ok());
    let long = "a".repeat(10_001);
    let e = eval("States.Hash($.d, 'MD5')", &json!({"d": long})).unwrap_err();
    assert_eq!(e.error, "States.Runtime");
    assert!(e.cause.contains("10000 characters or less"), "{}", e.cause);
}
