// quarantine: thin main; handler in handler.rs
//
// Skeleton: work in progress (claimed). Re-checks protection, plans with
// cordon_core::plan_quarantine and runs each action idempotently through the ports.

fn main() {}
