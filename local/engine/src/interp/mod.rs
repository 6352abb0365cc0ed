//! The interpreter: runs an execution's states, emits history, dispatches tasks, and replays
//! from the journal after a restart (see [`crate::store`]).
//!
//! One module per phase, in dependency order (each uses only those before it):
//! - [`fail`]: a failure travelling up, and what `ErrorEquals` matches;
//! - [`replay`]: threads, emission and replay: every emitted event has a replay key, and a
//!   resumed execution checks each journaled event against what it emits;
//! - [`data`]: data flow through a state (context object, paths, `Assign`, payload quota);
//! - [`lambda`], [`service`], then [`task`]: the kinds of task, and a Task state's input and
//!   dispatch;
//! - [`fanout`]: Parallel branches and Map iterations, running inner machines through the
//!   state loop they are given;
//! - [`evaluate`]: one state evaluated once (input, what its type does, result, output);
//! - [`states`]: the state loop (enter, evaluate, retry, catch, exit);
//! - [`execution`]: an execution from `ExecutionStarted` to its terminal event.

mod data;
mod evaluate;
mod execution;
mod fail;
mod fanout;
mod lambda;
mod replay;
mod service;
mod states;
mod task;

pub(crate) use execution::run_execution;
pub use replay::{JOURNAL_UNREADABLE, REPLAY_MISMATCH};
pub(crate) use task::{can_dispatch, token_well_formed};
