//! The integration tests: one binary, one throwaway RabbitMQ node shared by
//! every test (see `support::broker`), a module per area.

mod bad_input;
mod broker_support;
mod cli;
mod cluster;
mod commands;
mod drain;
mod exec;
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
mod patches;
mod perf;
mod perf_dist;
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
mod signals;
mod support;
mod tls;
mod unbind;
mod walkthrough;
