//! amqpctl's library: the blocking AMQP layer and its TLS support, shared by
//! the `amqpctl` binary, the examples and the integration tests.

pub mod amqp;
pub mod tls;
