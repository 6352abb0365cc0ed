// notify: thin main; handler in handler.rs
//
// Skeleton: work in progress (claimed). Publishes the alert to SNS and the
// Security Hub update through the ports in cordon-core.

fn main() {}
