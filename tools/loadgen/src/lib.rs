//! `loadgen`: a closed-loop HTTP load generator for Tollgate's benchmarks.
//!
//! `concurrency` workers share one request budget; each worker runs one iteration of a
//! [`Scenario`](runner::Scenario) after another until the budget is spent **or** the time
//! limit has passed (both always apply, so every run is bounded in count and in time).
//! Iterations started before the time limit finish (each request is bounded by the client
//! timeout, 10 s by default); none starts after it. Warm-up iterations run first, through
//! the same workers, and are not recorded.
//!
//! Only `127.0.0.1` and `localhost` (pinned to 127.0.0.1) may be targeted ([`target`]): the
//! client follows no redirects and uses no proxy, so no request can leave the machine.
//!
//! Scenarios ([`scenarios`]): `signup` (key-sync webhook → own key → gateway), `import`
//! (the new-api import baseline), `limit-webhook` (billing's limit webhook →
//! `auto_recharged`, after an unmeasured setup of one organisation per iteration), `get`
//! and `post` (fixed requests). The command line lives
//! in [`cli`]; `src/main.rs` only calls [`cli::run`].

pub mod cli;
pub mod report;
pub mod runner;
pub mod scenarios;
pub mod target;
