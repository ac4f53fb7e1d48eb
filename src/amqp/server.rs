//! What a connection knows of the broker it reached: its version, for the
//! few behaviours that differ between RabbitMQ releases (RabbitMQ 4 may
//! refuse a transient shared queue; 3.x never does).

use amiquip::AmqpValue;

use super::connection::Connection;

impl Connection {
    /// The broker's `(major, minor)` version from the server properties it
    /// sent when the connection opened (`4.0.5` → `(4, 0)`); `None` when it
    /// sent none that parses (a broker other than RabbitMQ, say).
    pub fn server_version(&self) -> Option<(u32, u32)> {
        let conn = self.core.conn.borrow();
        let version = match conn.as_ref()?.server_properties().get("version")? {
            AmqpValue::LongString(v) => v.clone(),
            _ => return None,
        };
        parse_version(&version)
    }
}

/// `(major, minor)` of a version string such as `4.0.5` or `3.10.8`.
fn parse_version(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts
        .next()?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn versions_parse_to_major_and_minor() {
        assert_eq!(parse_version("4.0.5"), Some((4, 0)));
        assert_eq!(parse_version("3.10.8"), Some((3, 10)));
        assert_eq!(parse_version("4.3.0-rc.1"), Some((4, 3)));
        assert_eq!(parse_version("nope"), None);
    }
}
