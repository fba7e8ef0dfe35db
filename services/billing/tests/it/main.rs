//! The integration tests of `billing`, one binary for all of them: each file is a module, so
//! the crate and its dependencies are linked once rather than once per file.

#[macro_use]
mod support;

mod concurrency;
mod console;
mod crash;
mod failures;
mod flow;
mod foundation;
mod litellm_alerts;
mod litellm_backend;
mod litellm_client;
mod openapi;
mod org_admins;
mod org_api;
mod payment_events;
mod poller;
mod stripe_webhook;
mod webhook_input;
