//! amqpctl's library: the blocking AMQP layer and its TLS support, the
//! management HTTP API (`mgmt`), a child process with a deadline (`child`),
//! and the throwaway local nodes of `amqpctl sandbox` (`sandbox`), shared by
//! the `amqpctl` binary, the examples and the integration tests.

pub mod amqp;
pub mod child;
pub mod mgmt;
pub mod sandbox;
pub mod tls;
