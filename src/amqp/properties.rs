//! Message properties (the basic.properties of AMQP 0-9-1) in our own type.

use amiquip::AmqpProperties;

use super::value::{Table, from_amqp_table, to_amqp_table};

/// The properties a message carries besides its body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Properties {
    /// MIME type of the body.
    pub content_type: Option<String>,
    /// Encoding of the body (e.g. `gzip`).
    pub content_encoding: Option<String>,
    /// Application headers.
    pub headers: Option<Table>,
    /// 1 transient, 2 persistent.
    pub delivery_mode: Option<u8>,
    /// Priority, 0 to 9 in practice.
    pub priority: Option<u8>,
    /// Correlates an RPC reply with its request.
    pub correlation_id: Option<String>,
    /// Queue to send replies to.
    pub reply_to: Option<String>,
    /// Per-message TTL in milliseconds, as a string (AMQP's own choice).
    pub expiration: Option<String>,
    /// Application message id.
    pub message_id: Option<String>,
    /// Seconds since the epoch.
    pub timestamp: Option<u64>,
    /// Application message type (`type` in AMQP).
    pub kind: Option<String>,
    /// The user that published, checked by RabbitMQ when set.
    pub user_id: Option<String>,
    /// Publishing application.
    pub app_id: Option<String>,
}

impl Properties {
    /// Whether no property is set, so the header frame can be left minimal.
    pub fn is_empty(&self) -> bool {
        *self == Properties::default()
    }
}

pub(crate) fn to_amqp(p: &Properties) -> AmqpProperties {
    let mut out = AmqpProperties::default();
    if let Some(v) = &p.content_type {
        out = out.with_content_type(v.clone());
    }
    if let Some(v) = &p.content_encoding {
        out = out.with_content_encoding(v.clone());
    }
    if let Some(v) = &p.headers {
        out = out.with_headers(to_amqp_table(v));
    }
    if let Some(v) = p.delivery_mode {
        out = out.with_delivery_mode(v);
    }
    if let Some(v) = p.priority {
        out = out.with_priority(v);
    }
    if let Some(v) = &p.correlation_id {
        out = out.with_correlation_id(v.clone());
    }
    if let Some(v) = &p.reply_to {
        out = out.with_reply_to(v.clone());
    }
    if let Some(v) = &p.expiration {
        out = out.with_expiration(v.clone());
    }
    if let Some(v) = &p.message_id {
        out = out.with_message_id(v.clone());
    }
    if let Some(v) = p.timestamp {
        out = out.with_timestamp(v);
    }
    if let Some(v) = &p.kind {
        out = out.with_type_(v.clone());
    }
    if let Some(v) = &p.user_id {
        out = out.with_user_id(v.clone());
    }
    if let Some(v) = &p.app_id {
        out = out.with_app_id(v.clone());
    }
    out
}

pub(crate) fn from_amqp(p: &AmqpProperties) -> Properties {
    Properties {
        content_type: p.content_type().clone(),
        content_encoding: p.content_encoding().clone(),
        headers: p.headers().as_ref().map(from_amqp_table),
        delivery_mode: *p.delivery_mode(),
        priority: *p.priority(),
        correlation_id: p.correlation_id().clone(),
        reply_to: p.reply_to().clone(),
        expiration: p.expiration().clone(),
        message_id: p.message_id().clone(),
        timestamp: *p.timestamp(),
        kind: p.type_().clone(),
        user_id: p.user_id().clone(),
        app_id: p.app_id().clone(),
    }
}
