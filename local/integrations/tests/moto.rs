//! The integrations against a real moto_server: a topic fanned out to a queue, and errors.

use cordon_engine::{IntegrationPattern, ServiceIntegration, ServiceRequest};
use cordon_integrations::{Sns, Sqs};
use cordon_moto::Moto;
use serde_json::{Value, json};

fn request(service: &str, action: &str, parameters: Value) -> ServiceRequest {
    ServiceRequest {
        resource: format!("arn:aws:states:::{service}:{action}"),
        service: service.into(),
        action: action.into(),
        pattern: IntegrationPattern::RequestResponse,
        parameters,
        task_token: None,
        execution_arn: "arn:aws:states:us-east-1:123456789012:execution:sm:e".into(),
        state_name: "Notify".into(),
    }
}

#[tokio::test]
async fn publish_and_send_reach_the_services_with_step_functions_response_shapes() {
    unsafe_free_env();
    let moto = Moto::start().unwrap();
    let cfg = moto.sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&cfg);
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    let topic = sns
        .create_topic()
        .name("alerts")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue = sqs
        .create_queue()
        .queue_name("inbox")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = "arn:aws:sqs:us-east-1:123456789012:inbox".to_string();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();

    let out = Sns::new(&cfg)
        .call(request(
            "sns",
            "publish",
            json!({
                "TopicArn": topic,
                "Subject": "incident",
                "Message": {"incident": "i-1", "verdict": "quarantine"},
                "MessageAttributes": {"severity": {"DataType": "String", "StringValue": "high"}}
            }),
        ))
        .await
        .unwrap();
    assert!(
        out["MessageId"].as_str().is_some_and(|s| !s.is_empty()),
        "{out}"
    );
    assert_eq!(out["SdkHttpMetadata"]["HttpStatusCode"], 200);
    assert!(
        out["SdkHttpMetadata"]["AllHttpHeaders"]
            .as_object()
            .is_some_and(|h| !h.is_empty()),
        "{out}"
    );
    assert!(out["SdkResponseMetadata"]["RequestId"].is_string(), "{out}");

    let got = sqs
        .receive_message()
        .queue_url(&queue)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let msgs = got.messages.unwrap_or_default();
    assert_eq!(msgs.len(), 1);
    // A non-string Message travels as its JSON text.
    let body: Value = serde_json::from_str(msgs[0].body().unwrap()).unwrap();
    assert_eq!(body, json!({"incident": "i-1", "verdict": "quarantine"}));

    let out = Sqs::new(&cfg)
        .call(request(
            "sqs",
            "sendMessage",
            json!({"QueueUrl": queue, "MessageBody": {"taskToken": "tok-1"},
                   "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "approval"}}}),
        ))
        .await
        .unwrap();
    assert_eq!(
        out["MD5OfMessageBody"],
        format!("{:032x}", md5(br#"{"taskToken":"tok-1"}"#))
    );
    assert!(out["MD5OfMessageAttributes"].is_string(), "{out}");
    assert!(out["MessageId"].is_string());
    assert_eq!(out["SdkHttpMetadata"]["HttpStatusCode"], 200);
    let got = sqs
        .receive_message()
        .queue_url(&queue)
        .message_attribute_names("All")
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let m = &got.messages.unwrap()[0];
    assert_eq!(m.body(), Some(r#"{"taskToken":"tok-1"}"#));
    assert_eq!(
        m.message_attributes().unwrap()["kind"].string_value(),
        Some("approval")
    );
}

#[tokio::test]
async fn service_errors_carry_step_functions_names() {
    unsafe_free_env();
    let moto = Moto::start().unwrap();
    let cfg = moto.sdk_config().await;
    let e = Sns::new(&cfg)
        .call(request(
            "sns",
            "publish",
            json!({"TopicArn": "arn:aws:sns:us-east-1:123456789012:missing", "Message": "x"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.error, "SNS.NotFoundException", "{e:?}");
    assert!(
        e.cause.contains("Service: AmazonSNS; Status Code: 404"),
        "{e:?}"
    );

    let e = Sqs::new(&cfg)
        .call(request(
            "sqs",
            "sendMessage",
            json!({"QueueUrl": format!("{}/123456789012/missing", moto.endpoint()), "MessageBody": "x"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.error, "SQS.QueueDoesNotExistException", "{e:?}");
    assert!(
        e.cause.contains("Service: AmazonSQS; Status Code: 400"),
        "{e:?}"
    );

    let e = Sqs::new(&cfg)
        .call(request("sqs", "sendMessage", json!({"MessageBody": "x"})))
        .await
        .unwrap_err();
    assert!(e.cause.contains("QueueUrl"), "{e:?}");

    // Nothing listening: a client-side failure, not a panic.
    let dead = cordon_integrations::sdk_config("http://127.0.0.1:9", "us-east-1").await;
    let e = Sns::new(&dead)
        .call(request(
            "sns",
            "publish",
            json!({"TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": "x"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.error, "SNS.SdkClientException", "{e:?}");
}

fn unsafe_free_env() {
    // The SDK must never look for real credentials or instance metadata here; the configs
    // above carry static test credentials, and this makes any fallback fail fast.
    assert_eq!(
        std::env::var("AWS_EC2_METADATA_DISABLED")
            .as_deref()
            .unwrap_or("true"),
        "true"
    );
}

/// RFC 1321 MD5, enough to check SQS's MD5OfMessageBody.
fn md5(data: &[u8]) -> u128 {
    let s: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4294967296.0) as u32)
        .collect();
    let (mut a0, mut b0, mut c0, mut d0) =
        (0x67452301u32, 0xefcdab89u32, 0x98badcfeu32, 0x10325476u32);
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_le_bytes());
    for chunk in msg.chunks(64) {
        let m: Vec<u32> = chunk
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(s[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    let mut out = [0u8; 16];
    for (i, v) in [a0, b0, c0, d0].iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    u128::from_be_bytes(out)
}
