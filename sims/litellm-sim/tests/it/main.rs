//! The integration tests of `litellm-sim`, one binary for all of them: each file is a module, so
//! the crate and its dependencies are linked once rather than once per file.

mod alerts;
mod binary;
mod teams;
