//! The integration tests: one binary, one throwaway RabbitMQ node shared by
//! every test (see `support::broker`), a module per area.

mod bad_input;
mod cli;
mod commands;
mod edges;
mod faults;
mod fixtures;
mod harness;
mod headers;
mod hints;
mod identity;
mod layer;
mod layout;
mod raw_amqp;
mod readme;
mod rpc;
mod scripting;
mod support;
mod tls;
mod walkthrough;
