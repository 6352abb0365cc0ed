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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let lambdas = InProcessLambdas::new()
            .with("enrich", |_| async { Ok(json!({"tags": ["a"]})) })
            .with("classify", |_| async { Ok(json!({"verdict": "notify"})) });
        let e = Engine::start(EngineConfig { clock: ClockMode::Real, store: Arc::new(MemoryStore::new()), lambda: Some(Arc::new(lambdas)), ..EngineConfig::default() }).await.unwrap();
        let sm = e.call("CreateStateMachine", json!({"name":"b","definition":six_state(),"roleArn":"arn:aws:iam::123456789012:role/r"})).await.unwrap();
        let n: usize = std::env::var("BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
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

struct Queue;
#[async_trait::async_trait]
impl cordon_engine::ServiceIntegration for Queue {
    async fn call(
        &self,
        _r: cordon_engine::ServiceRequest,
    ) -> Result<serde_json::Value, cordon_engine::TaskError> {
        Ok(json!({"MessageId": "m"}))
    }
}

fn rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

#[test]
#[ignore]
fn ten_thousand_waiting_on_tokens() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut services: std::collections::HashMap<String, Arc<dyn cordon_engine::ServiceIntegration>> = Default::default();
        services.insert("sqs".into(), Arc::new(Queue));
        let e = Engine::start(EngineConfig { store: Arc::new(MemoryStore::new()), services, ..EngineConfig::default() }).await.unwrap();
        let def = json!({"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters":{"QueueUrl":"q","MessageBody":{"TaskToken.$":"$$.Task.Token","incident.$":"$.incident"}},"End":true}}});
        let sm = e.call("CreateStateMachine", json!({"name":"w","definition":def.to_string(),"roleArn":"arn:aws:iam::123456789012:role/r"})).await.unwrap();
        let before = rss_mb();
        let n: usize = std::env::var("BENCH_TOKENS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
        for i in 0..n {
            e.call("StartExecution", json!({"stateMachineArn": sm["stateMachineArn"], "name": format!("e{i}"), "input": "{\"incident\":{\"id\":\"abc\",\"user\":\"mallory\"}}"})).await.unwrap();
        }
        for _ in 0..50 {
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let l = e.call("ListExecutions", json!({"stateMachineArn": sm["stateMachineArn"], "statusFilter": "RUNNING", "maxResults": 1000})).await.unwrap();
        assert_eq!(l["executions"].as_array().unwrap().len(), n.min(1000));
        println!("{n} executions waiting on task tokens: RSS {:.1} MB (before {:.1} MB)", rss_mb(), before);
    });
}
