//! Throughput and memory figures (ignored by default; run with
//! `cargo test -p cordon-engine --release --test bench -- --ignored --nocapture`).

use std::sync::Arc;
use std::time::Instant;

use cordon_engine::{ClockMode, Engine, EngineConfig, InProcessLambdas, MemoryStore};
use serde_json::json;

fn six_state() -> String {
    json!({"StartAt":"P","States":{
        "P":{"Type":"Pass","Result":{"kind":"user"},"ResultPath":"$.meta","Next":"C"},
        "C":{"Type":"Choice","Choices":[{"Variable":"$.meta.kind","StringEquals":"user","Next":"T1"}],"Default":"T1"},
        "T1":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:enrich","ResultPath":"$.enrichment","Next":"F"},
        "F":{"Type":"Pass","Parameters":{"id.$":"States.UUID()","msg.$":"States.Format('user {}', $.meta.kind)"},"ResultPath":"$.fmt","Next":"T2"},
        "T2":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:classify","ResultPath":"$.classification","Next":"S"},
        "S":{"Type":"Succeed"}}}).to_string()
}

#[test]
#[ignore]
fn throughput_six_states() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let lambdas = InProcessLambdas::new()
            .with("enrich", |_| async { Ok(json!({"tags": ["a"]})) })
            .with("classify", |_| async { Ok(json!({"verdict": "notify"})) });
        let e = Engine::start(EngineConfig { clock: ClockMode::Real, store: Arc::new(MemoryStore::new()), lambda: Some(Arc::new(lambdas)), ..EngineConfig::default() }).await.unwrap();
        let sm = e.call("CreateStateMachine", json!({"name":"b","definition":six_state(),"roleArn":"arn:aws:iam::123456789012:role/r"})).await.unwrap();
        let n = 20_000;
        let t = Instant::now();
        let mut arns = Vec::with_capacity(n);
        for i in 0..n {
            let ex = e.call("StartExecution", json!({"stateMachineArn": sm["stateMachineArn"], "name": format!("e{i}"), "input": "{\"user\":\"alice\"}"})).await.unwrap();
            arns.push(ex["executionArn"].as_str().unwrap().to_string());
        }
        for a in &arns {
            let d = e.wait_for_execution(a).await.unwrap();
            assert_eq!(d["status"], "SUCCEEDED");
        }
        let s = t.elapsed().as_secs_f64();
        println!("six-state: {n} executions in {s:.2}s = {:.0} executions/s", n as f64 / s);
    });
}
