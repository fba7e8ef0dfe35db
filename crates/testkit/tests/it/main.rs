//! The integration tests of `testkit`, one binary for all of them: each file is a module, so
//! the crate and its dependencies are linked once rather than once per file.

mod harness;
mod sims;
