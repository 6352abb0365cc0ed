//! How a command reaches the stack it acts on: the offline stack (`cordon up`) or, with
//! `--aws`, a deployed one (CloudFormation stack outputs).
