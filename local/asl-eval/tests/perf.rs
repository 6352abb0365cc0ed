//! Rough per-call timings (`cargo test --release -p cordon-asl-eval --test perf -- --ignored --nocapture`).

use std::time::Instant;

use cordon_asl_eval::*;
use serde_json::{Map, json};

#[test]
#[ignore]
fn per_call_timings() {
    let input = json!({"order": {"id": "o-1", "items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 1}],
        "customer": {"name": "n", "tier": "gold"}}, "blob": (0..200).map(|i| json!({"i": i})).collect::<Vec<_>>()});
    let ctx = json!({"Execution": {"Id": "x", "Name": "ex"}});
    let vars = Map::new();
    let sc = Scope {
        input: &input,
        context: &ctx,
        variables: &vars,
        entropy: &OsEntropy,
    };
    let t = json!({"id.$": "$.order.id", "tier.$": "$.order.customer.tier", "n.$": "States.ArrayLength($.order.items)", "fixed": {"a": 1}});
    let ct = CompiledTemplate::new(&t);
    let cp = CompiledPath::new("$.order.customer.tier").unwrap();
    let n = 200_000;
    let time = |name: &str, f: &dyn Fn()| {
        let t0 = Instant::now();
        for _ in 0..n {
            f();
        }
        println!(
            "{name:<28} {:>7.0} ns/call",
            t0.elapsed().as_nanos() as f64 / n as f64
        );
    };
    time("query (cached)", &|| {
        drop(query("$.order.customer.tier", &sc, "InputPath").unwrap())
    });
    time("CompiledPath::query", &|| {
        drop(cp.query(&sc, "InputPath").unwrap())
    });
    time("payload_template", &|| {
        drop(payload_template(&t, &sc, "Parameters").unwrap())
    });
    time("CompiledTemplate::evaluate", &|| {
        drop(ct.evaluate(&sc, "Parameters").unwrap())
    });
    let rule = json!({"Variable": "$.order.customer.tier", "StringEquals": "gold"});
    time("choice_rule", &|| assert!(choice_rule(&rule, &sc).unwrap()));
    time("apply_result_path", &|| {
        drop(apply_result_path(json!({"a": 1}), Some("$.r.x"), json!(1)).unwrap())
    });
    let states = json!({"input": input, "context": ctx});
    let js = JsonataScope {
        states: &states,
        variables: &vars,
        entropy: &OsEntropy,
    };
    let n = 2_000;
    let t0 = Instant::now();
    for _ in 0..n {
        drop(jsonata("$states.input.order.id", &js).unwrap());
    }
    println!(
        "{:<28} {:>7.0} ns/call",
        "jsonata (big input)",
        t0.elapsed().as_nanos() as f64 / n as f64
    );
}
