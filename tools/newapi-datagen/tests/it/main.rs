//! The integration tests of `newapi-datagen`, one binary for all of them: each file is a module, so
//! the crate and its dependencies are linked once rather than once per file.

#[macro_use]
mod common;

mod cli;
mod generate;
