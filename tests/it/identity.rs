//! What the broker sees of amqpctl and what it says back: refused logins in
//! the broker's own words (amqpctl announces `authentication_failure_close`,
//! a capability of the vendored amiquip patch).

use crate::fixtures::{amqpctl, broker};
use crate::support::process::stderr_lines;
use crate::support::unique;

/// amqpctl's stderr lines without the plain-connection warning.
fn errors(out: &std::process::Output) -> Vec<String> {
    stderr_lines(out)
        .into_iter()
        .filter(|l| l != "WARNING: the connection is not secured.")
        .collect()
}

#[test]
fn a_wrong_password_prints_the_brokers_refusal_and_exits_4() {
    let out = amqpctl(&["pub", "-m", "x", "--userpass", "guest:not-the-password"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert_eq!(
        errors(&out),
        vec![format!(
            "ERROR: login refused by 127.0.0.1:{}: ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.",
            broker().amqp_port()
        )]
    );
}

#[test]
fn an_unknown_vhost_prints_the_brokers_refusal_and_exits_4() {
    let vhost = unique("nowhere");
    let out = amqpctl(&["pub", "-m", "x", "--vhost", &vhost]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert_eq!(
        errors(&out),
        vec![format!(
            "ERROR: (530, \"NOT_ALLOWED - vhost {vhost} not found\")"
        )]
    );
}

#[test]
fn a_connection_limit_of_0_prints_the_brokers_refusal_and_exits_4() {
    let b = broker();
    let vhost = unique("closed");
    b.ctl_ok(&["add_vhost", &vhost]);
    b.ctl_ok(&["set_permissions", "-p", &vhost, "guest", ".*", ".*", ".*"]);
    b.ctl_ok(&["set_vhost_limits", "-p", &vhost, "{\"max-connections\": 0}"]);
    let out = amqpctl(&["pub", "-m", "x", "--vhost", &vhost]);
    b.ctl_ok(&["delete_vhost", &vhost]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert_eq!(
        errors(&out),
        vec![format!(
            "ERROR: (530, \"NOT_ALLOWED - access to vhost '{vhost}' refused for user 'guest': connection limit (0) is reached\")"
        )]
    );
}
