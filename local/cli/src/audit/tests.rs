use super::fixtures::*;
use super::render;
use super::style::Style;
use super::timeline::Timeline;

fn definition() -> serde_json::Value {
    serde_json::from_str(include_str!("../../../../statemachine/incident-response.asl.json")).unwrap()
}

#[test]
fn dump() {
    for h in [waiting(), quarantined(), quarantine_failed()] {
        let t = Timeline::from_history(EXECUTION_ARN, &h.events);
        println!("=====TEXT\n{}", render::text(&t, &Style::PLAIN));
        println!("=====MD\n{}", render::markdown(&t));
        println!("=====MERMAID\n{}", render::mermaid(&t, &definition()));
        println!("=====JSON\n{}", serde_json::to_string_pretty(&render::json(&t)["timeline"]).unwrap());
    }
}
