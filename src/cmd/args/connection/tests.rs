//! Unit tests of the connection flags' resolution.

use super::*;
use clap::Parser;

#[derive(Parser)]
struct T {
    #[command(flatten)]
    c: ConnectionArgs,
}

fn resolve(args: &[&str]) -> Result<ConnectSpec, Error> {
    let mut all = vec!["t"];
    all.extend_from_slice(args);
    T::try_parse_from(all).expect("flags parse").c.resolve()
}

#[test]
fn defaults_are_guest_on_localhost_5672_root_vhost() {
    let r = resolve(&[]).unwrap();
    assert_eq!(
        r.settings.endpoints,
        vec![Endpoint {
            host: "localhost".into(),
            port: 5672
        }]
    );
    assert_eq!(r.settings.vhost, "/");
    assert!(
        matches!(&r.settings.credentials, Credentials::Plain { username, .. } if username == "guest")
    );
    assert!(r.settings.tls.is_none());
    assert!(r.warnings.is_empty());
}

#[test]
fn url_parts_are_percent_decoded_and_flags_override_them() {
    let r = resolve(&[
        "--url",
        "amqp://al%40ice:p%3Ass@broker:5673/dom%2fain",
        "--port-number",
        "6000",
    ])
    .unwrap();
    assert_eq!(
        r.settings.endpoints,
        vec![Endpoint {
            host: "broker".into(),
            port: 6000
        }]
    );
    assert_eq!(r.settings.vhost, "dom/ain");
    assert_eq!(
        r.settings.credentials,
        Credentials::Plain {
            username: "al@ice".into(),
            password: "p:ss".into()
        }
    );
    assert_eq!(r.warnings, vec!["WARNING: the connection is not secured."]);
}

#[test]
fn repeated_urls_list_nodes_in_order() {
    let r = resolve(&["--url", "amqp://a", "--url", "amqp://b:5999"]).unwrap();
    let hosts: Vec<_> = r.settings.endpoints.iter().map(|e| e.to_string()).collect();
    assert_eq!(hosts, vec!["a:5672", "b:5999"]);
}

#[test]
fn tls_flags_switch_the_default_port_and_trust() {
    let r = resolve(&["--cafile", "ca.pem"]).unwrap();
    assert_eq!(r.settings.endpoints[0].port, 5671);
    assert_eq!(
        r.settings.tls.unwrap().trust,
        Trust::CaFile("ca.pem".into())
    );
    let r = resolve(&["--url", "amqps://h"]).unwrap();
    assert_eq!(r.settings.tls.unwrap().trust, Trust::WebPki);
}

#[test]
fn client_certificate_without_credentials_logs_in_with_external() {
    let r = resolve(&[
        "--cafile",
        "ca.pem",
        "--certfile",
        "c.pem",
        "--keyfile",
        "k.pem",
    ])
    .unwrap();
    assert_eq!(r.settings.credentials, Credentials::External);
}

#[test]
fn insecure_always_warns() {
    let r = resolve(&["--insecure"]).unwrap();
    assert_eq!(r.settings.tls.unwrap().trust, Trust::Insecure);
    assert!(r.warnings.iter().any(|w| w.contains("--insecure")));
}

#[test]
fn bad_urls_are_usage_errors_that_never_show_the_password() {
    for url in [
        "http://u:hunter2@h/",
        "amqp://u:hunter2@h/a/b",
        "amqp://u:hunter2@h/?foo=1",
    ] {
        let Err(Error::Usage(msg)) = resolve(&["--url", url]) else {
            panic!("{url} should be a usage error");
        };
        assert!(!msg.contains("hunter2"), "{msg}");
    }
}

#[test]
fn userpass_file_keeps_the_password_off_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("creds");
    std::fs::write(&file, "alice:s3cr:et\nignored\n").unwrap();
    let r = resolve(&["--userpass-file", file.to_str().unwrap()]).unwrap();
    assert_eq!(
        r.settings.credentials,
        Credentials::Plain {
            username: "alice".into(),
            password: "s3cr:et".into()
        }
    );
    std::fs::write(&file, "no colon\n").unwrap();
    let Err(Error::Usage(msg)) = resolve(&["--userpass-file", file.to_str().unwrap()]) else {
        panic!("a line without a colon is refused");
    };
    assert!(msg.ends_with("the first line must be USER:PASS"), "{msg}");
}

#[test]
fn server_takes_an_optional_port_as_amqp_tools_spells_it() {
    let endpoint = |args: &[&str]| resolve(args).map(|r| r.settings.endpoints[0].to_string());
    assert_eq!(
        endpoint(&["-s", "localhost:5673"]).unwrap(),
        "localhost:5673"
    );
    assert_eq!(endpoint(&["-s", "broker"]).unwrap(), "broker:5672");
    assert_eq!(endpoint(&["-s", "[::1]:5999"]).unwrap(), "[::1]:5999");
    assert_eq!(endpoint(&["-s", "::1"]).unwrap(), "[::1]:5672");
    assert_eq!(
        endpoint(&["-s", "h:5673", "--port", "5673"]).unwrap(),
        "h:5673"
    );
    assert_eq!(endpoint(&["--port", "6000"]).unwrap(), "localhost:6000");
    for bad in [
        &["-s", "h:0"][..],
        &["-s", "h:x"],
        &["-s", ":5672"],
        &["-s", "[::1"],
        &["-s", "h:5673", "--port-number", "5674"],
    ] {
        assert!(matches!(resolve(bad), Err(Error::Usage(_))), "{bad:?}");
    }
}

#[test]
fn the_connection_name_is_the_flag_or_command_host_and_pid() {
    let r = resolve(&["--connection-name", "nightly export"]).unwrap();
    assert_eq!(
        r.settings.connection_name.as_deref(),
        Some("nightly export")
    );
    let name = default_connection_name("con");
    let pid = format!(":{}", std::process::id());
    assert!(
        name.starts_with("amqpctl con ") && name.ends_with(&pid),
        "{name}"
    );
    assert!(name.len() > "amqpctl con ".len() + pid.len(), "{name}");
}

#[test]
fn userpass_needs_a_colon() {
    assert!(matches!(
        resolve(&["--userpass", "alice"]),
        Err(Error::Usage(_))
    ));
}
