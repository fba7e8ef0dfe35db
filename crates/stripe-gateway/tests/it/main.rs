//! The integration tests of `stripe-gateway`, one binary for all of them: each file is a module, so
//! the crate and its dependencies are linked once rather than once per file.

#[macro_use]
mod support;

mod localstripe;
mod real_stripe_shapes;
mod transport_faults;
