//! The suite never fails a conformant daemon: each test runs it, over real sockets, against a
//! mock daemon that differs from the reference daemon only in ways the document allows, and
//! expects no failed `must` case.

mod common;

use axum::http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use xpipe_conformance::case::Requirement;
use xpipe_conformance::loader;
use xpipe_conformance::mock::{ConnectionStore, MockConfig};
use xpipe_conformance::schema::SchemaSet;
use xpipe_conformance::suite::{Outcome, default_dir};

use common::{API_KEY, ProxyAnswer, ProxyRequest, TestDaemon, Variant};

const HANDSHAKE: &str = "/handshake";
const OPEN: &str = "/daemon/open";

/// Connections unlike the default fixture's: spaces, three levels, dots, brackets and other
/// characters a regular expression would read as syntax.
const OTHER_CONNECTIONS: &str = r#"{"connections": [
  {"uuid": "0b6e3c1a-2f4d-4e8a-9c1b-000000000001", "category": "home lab", "connection": "my server", "type": "ssh"},
  {"uuid": "0b6e3c1a-2f4d-4e8a-9c1b-000000000002", "category": "home lab", "connection": "Backup Box", "type": "wsl"},
  {"uuid": "0b6e3c1a-2f4d-4e8a-9c1b-000000000003", "category": "cloud/eu/prod", "connection": "eu/frankfurt/node 1", "type": "ssh"},
  {"uuid": "0b6e3c1a-2f4d-4e8a-9c1b-000000000004", "category": "cloud/eu/prod", "connection": "eu/frankfurt/node 2", "type": "ssh"},
  {"uuid": "0b6e3c1a-2f4d-4e8a-9c1b-000000000005", "category": "cloud/eu", "connection": "eu/paris", "type": "ssh"},
  {"uuid": "0b6e3c1a-2f4d-4e8a-9c1b-000000000006", "category": "web", "connection": "app.example.com", "type": "docker"},
  {"uuid": "0b6e3c1a-2f4d-4e8a-9c1b-000000000007", "category": "web", "connection": "app-example-com", "type": "docker"},
  {"uuid": "0b6e3c1a-2f4d-4e8a-9c1b-000000000008", "category": "lab (new)", "connection": "vm[2]", "type": "kvm"},
  {"uuid": "0b6e3c1a-2f4d-4e8a-9c1b-000000000009", "category": "lab (new)", "connection": "vm2", "type": "kvm"},
  {"uuid": "0b6e3c1a-2f4d-4e8a-9c1b-00000000000a", "category": "misc", "connection": "a+b? {c} $d ^e #f", "type": "lxd"},
  {"uuid": "0b6e3c1a-2f4d-4e8a-9c1b-00000000000b", "category": "misc", "connection": "back\\slash|pipe", "type": "lxd"}
]}"#;

#[test]
fn extra_fields_in_every_answer_object() {
    let daemon = TestDaemon::start();
    let variant = Variant::on_answer(|_, answer| {
        if let Some(mut body) = answer.body_json() {
            add_extra_fields(&mut body);
            answer.set_json(&body);
        }
    });
    daemon.run(variant).assert_conformant("extra fields");
}

#[test]
fn json_with_a_charset_parameter() {
    let daemon = TestDaemon::start();
    let variant = Variant::on_answer(|_, answer| {
        if answer.declares_json() {
            let with_charset = HeaderValue::from_static("application/json; charset=UTF-8");
            answer.headers.insert(header::CONTENT_TYPE, with_charset);
        }
    });
    daemon.run(variant).assert_conformant("charset parameter");
}

#[test]
fn no_content_type_at_all() {
    let daemon = TestDaemon::start();
    let variant = Variant::on_answer(|_, answer| {
        answer.headers.remove(header::CONTENT_TYPE);
    });
    daemon.run(variant).assert_conformant("no Content-Type");
}

#[test]
fn failed_handshake_gets_401() {
    let daemon = TestDaemon::start();
    let variant = Variant::on_answer(|request, answer| {
        other_client_error_for_handshakes(request, answer, StatusCode::UNAUTHORIZED);
    });
    daemon
        .run(variant)
        .assert_conformant("401 for a failed handshake");
}

#[test]
fn failed_handshake_gets_403() {
    let daemon = TestDaemon::start();
    let variant = Variant::on_answer(|request, answer| {
        other_client_error_for_handshakes(request, answer, StatusCode::FORBIDDEN);
    });
    daemon
        .run(variant)
        .assert_conformant("403 for a failed handshake");
}

#[test]
fn case_insensitive_matching() {
    let mut config = MockConfig::new(API_KEY);
    config.case_insensitive = true;
    let daemon = TestDaemon::start_with(config);
    daemon
        .run(Variant::pass_through())
        .assert_conformant("case-insensitive matching");
}

#[test]
fn other_connections() {
    let mut config = MockConfig::new(API_KEY);
    config.store = ConnectionStore::from_json(OTHER_CONNECTIONS).expect("a valid store");
    let daemon = TestDaemon::start_with(config);
    let run = daemon.run(Variant::pass_through());

    run.assert_conformant("other connections");
    let passed = run
        .verdicts
        .iter()
        .filter(|v| v.outcome == Outcome::Passed)
        .count();
    assert!(passed > 0, "no case passed:\n{}", run.summary());
}

#[test]
fn no_connections_at_all() {
    let mut config = MockConfig::new(API_KEY);
    config.store = ConnectionStore::from_json(r#"{"connections": []}"#).expect("a valid store");
    let daemon = TestDaemon::start_with(config);
    let run = daemon.run(Variant::pass_through());
    run.assert_conformant("no connections");

    // A case that needs connections must not pass by finding nothing to check.
    let needing_connections = cases_requiring(Requirement::Connections);
    assert!(
        !needing_connections.is_empty(),
        "no case requires connections"
    );
    for name in &needing_connections {
        let verdict = run.verdict(name);
        assert!(
            matches!(verdict.outcome, Outcome::Ignored(_)),
            "{name} needs connections, yet it was not ignored: {:?}\n{}",
            verdict.outcome,
            run.summary()
        );
    }
}

#[test]
fn empty_object_as_the_open_answer() {
    let daemon = TestDaemon::start();
    let variant = Variant::on_answer(|request, answer| {
        if request.is(OPEN) && answer.status == StatusCode::OK {
            *answer = ProxyAnswer::json(StatusCode::OK, &json!({}));
        }
    });
    daemon.run(variant).assert_conformant("{} for /daemon/open");
}

/// Adds fields of its own to every object in `value`, nested ones included.
fn add_extra_fields(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            fields.values_mut().for_each(add_extra_fields);
            fields.insert("vendorNote".to_owned(), json!("an extra field"));
            fields.insert("vendorData".to_owned(), json!({"level": 1, "tags": ["x"]}));
        }
        Value::Array(items) => items.iter_mut().for_each(add_extra_fields),
        _ => {}
    }
}

/// A 400 answer to a handshake becomes `status`, another client error.
fn other_client_error_for_handshakes(
    request: &ProxyRequest,
    answer: &mut ProxyAnswer,
    status: StatusCode,
) {
    if request.is(HANDSHAKE) && answer.status == StatusCode::BAD_REQUEST {
        answer.status = status;
    }
}

/// The names of the cases that carry `requirement`.
fn cases_requiring(requirement: Requirement) -> Vec<String> {
    let schemas = SchemaSet::load(&default_dir("schemas")).expect("the schemas load");
    loader::load_cases(&default_dir("cases"), &schemas)
        .expect("the case folder reads")
        .into_iter()
        .filter_map(Result::ok)
        .filter(|case| case.spec.requires.contains(&requirement))
        .map(|case| case.name)
        .collect()
}
