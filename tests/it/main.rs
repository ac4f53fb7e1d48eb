//! The integration tests: one binary, one throwaway RabbitMQ node shared by
//! every test (see `support::broker`), a module per area.

mod bad_input;
mod broker_support;
mod cli;
mod cluster;
mod cluster_resume;
mod commands;
mod drain;
mod edges;
mod faults;
mod filter;
mod headers;
mod hints;
mod identity;
mod info;
mod layer;
mod layout;
mod listing;
mod moving;
mod perf;
mod profiles;
mod progress;
mod rabbitmq4;
mod raw_amqp;
mod readme;
mod redrive;
mod rpc;
mod sandbox;
mod saved;
mod scripting;
mod support;
mod tls;
mod unbind;
mod walkthrough;
