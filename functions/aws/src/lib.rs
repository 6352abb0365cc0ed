//! cordon-aws
