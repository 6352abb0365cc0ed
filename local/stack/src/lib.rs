//! cordon-stack: the offline cordon stack.

mod file;

pub use file::{
    Endpoints, Principal, STACK_DIR, STACK_FILE, StackFile, execution_arn, execution_name,
};
