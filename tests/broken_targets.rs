//! The suite catches faulty daemons: each test puts one fault between the suite and a conformant
//! mock daemon, on real sockets, and names a `must` case that has to fail because of it.
//!
//! The unchanged proxy fails no `must` case, so what fails below is the fault.

mod common;

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use xpipe_conformance::mock::Connection;
use xpipe_conformance::suite::Outcome;

use common::{API_KEY, Action, ProxyAnswer, ProxyRequest, REQUEST_TIMEOUT, TestDaemon, Variant};

const HANDSHAKE: &str = "/handshake";
const QUERY: &str = "/connection/query";

#[test]
fn pass_through_fails_no_must_case() {
    let daemon = TestDaemon::start();
    daemon
        .run(Variant::pass_through())
        .assert_conformant("pass-through");
}

#[test]
fn token_renamed_to_session_token() {
    let daemon = TestDaemon::start();
    let variant = Variant::on_answer(|request, answer| {
        if request.is(HANDSHAKE)
            && let Some(Value::Object(mut fields)) = answer.body_json()
            && let Some(token) = fields.remove("token")
        {
            fields.insert("sessionToken".to_owned(), token);
            answer.set_json(&Value::Object(fields));
        }
    });
    daemon.run(variant).assert_caught(
        "token renamed",
        &[
            "handshake::api_key_handshake_returns_a_token",
            "handshake::local_handshake_returns_a_token",
        ],
    );
}

#[test]
fn type_filter_ignored() {
    let daemon = TestDaemon::start();
    let variant = Variant::on_request(|request| {
        rewrite_filters(request, &["typeFilter"], |_| "*".to_owned());
        Action::Forward
    });
    daemon.run(variant).assert_caught(
        "typeFilter ignored",
        &["connection_query::types_find_their_connections"],
    );
}

#[test]
fn category_filter_ignored() {
    let daemon = TestDaemon::start();
    let variant = Variant::on_request(|request| {
        rewrite_filters(request, &["categoryFilter"], |_| "**".to_owned());
        Action::Forward
    });
    daemon.run(variant).assert_caught(
        "categoryFilter ignored",
        &["connection_query::category_paths_find_their_connections"],
    );
}

#[test]
fn star_crosses_slash() {
    let daemon = TestDaemon::start();
    let variant = Variant::on_request(|request| {
        rewrite_filters(request, &["connectionFilter", "categoryFilter"], |filter| {
            single_stars_doubled(filter)
        });
        Action::Forward
    });
    daemon.run(variant).assert_caught(
        "* crosses /",
        &[
            "connection_query::stars_per_part_match_that_depth_only",
            "connection_query::category_stars_per_part_match_that_depth_only",
        ],
    );
}

#[test]
fn dot_taken_as_any_character() {
    let daemon = TestDaemon::start();
    let variant = answer_from_listing(daemon.connections(), Misreading::DotIsAnyChar);
    daemon.run(variant).assert_caught(
        "regex-style dot",
        &["connection_query::dot_in_a_name_is_literal"],
    );
}

#[test]
fn match_not_anchored() {
    let daemon = TestDaemon::start();
    let variant = answer_from_listing(daemon.connections(), Misreading::Unanchored);
    daemon.run(variant).assert_caught(
        "substring match",
        &["connection_query::substring_of_a_name_does_not_match"],
    );
}

#[test]
fn server_error_for_a_body_that_is_not_json() {
    let daemon = TestDaemon::start();
    let variant = Variant::on_request(|request| {
        if request.method != axum::http::Method::POST || request.json().is_some() {
            return Action::Forward;
        }
        let body = json!({"error": {"message": "cannot parse the body"}});
        Action::Reply(ProxyAnswer::json(StatusCode::INTERNAL_SERVER_ERROR, &body))
    });
    daemon.run(variant).assert_caught(
        "500 for a body that is not JSON",
        &[
            "handshake::body_that_is_not_json_is_refused",
            "connection_query::body_that_is_not_json_is_refused",
            "daemon_open::body_that_is_not_json_is_refused",
        ],
    );
}

#[test]
fn any_token_accepted() {
    let daemon = TestDaemon::start();
    let bearer = HeaderValue::try_from(format!("Bearer {}", daemon.session_token()))
        .expect("a token is a valid header value");
    let variant = Variant::on_request(move |request| {
        if request.headers.contains_key(header::AUTHORIZATION) {
            request
                .headers
                .insert(header::AUTHORIZATION, bearer.clone());
        }
        Action::Forward
    });
    daemon.run(variant).assert_caught(
        "any token accepted",
        &[
            "authentication::connection_query_with_unknown_token_is_refused",
            "authentication::daemon_open_with_unknown_token_is_refused",
        ],
    );
}

#[test]
fn query_answer_never_comes() {
    const BOUND: Duration = Duration::from_secs(60);
    const CASE: &str = "connection_query::connection_names_find_themselves";

    let daemon = TestDaemon::start();
    let variant = Variant::on_request(|request| match request.is(QUERY) {
        // Far beyond the suite's timeout; the proxy's runtime drops it when the test ends.
        true => Action::ForwardAfter(REQUEST_TIMEOUT * 100),
        false => Action::Forward,
    });
    let run = daemon.run(variant);

    assert!(
        run.elapsed < BOUND,
        "the run took {:?}, more than {BOUND:?}",
        run.elapsed
    );
    run.assert_caught("no answer to a query", &[CASE]);
    let Outcome::Failed(report) = &run.verdict(CASE).outcome else {
        unreachable!()
    };
    assert!(
        report.contains("timeout"),
        "{CASE} does not name the timeout:\n{report}"
    );
}

#[test]
fn found_items_lack_their_type() {
    let daemon = TestDaemon::start();
    let variant = Variant::on_answer(|request, answer| {
        edit_found_items(request, answer, |item| {
            item.remove("type");
        });
    });
    daemon.run(variant).assert_caught(
        "type missing in found items",
        &["connection_query::connection_names_find_themselves"],
    );
}

#[test]
fn found_items_have_a_null_type() {
    let daemon = TestDaemon::start();
    let variant = Variant::on_answer(|request, answer| {
        edit_found_items(request, answer, |item| {
            item.insert("type".to_owned(), Value::Null);
        });
    });
    daemon.run(variant).assert_caught(
        "type null in found items",
        &["connection_query::connection_names_find_themselves"],
    );
}

#[test]
fn json_answers_declared_as_plain_text() {
    let daemon = TestDaemon::start();
    let variant = Variant::on_answer(|_, answer| {
        if answer.body_json().is_some() {
            answer
                .headers
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        }
    });
    daemon.run(variant).assert_caught(
        "text/plain",
        &[
            "handshake::api_key_handshake_returns_a_token",
            "connection_query::connection_names_find_themselves",
        ],
    );
}

#[test]
fn wrong_api_key_accepted() {
    let daemon = TestDaemon::start();
    let variant = Variant::on_request(|request| {
        if request.is(HANDSHAKE)
            && let Some(mut body) = request.json()
            && body.pointer("/auth/type") == Some(&json!("ApiKey"))
            && let Some(key) = body.pointer_mut("/auth/key")
            && key.as_str().is_some_and(|k| k.trim() != API_KEY)
        {
            *key = json!(API_KEY);
            request.set_json(&body);
        }
        Action::Forward
    });
    daemon.run(variant).assert_caught(
        "wrong API key accepted",
        &["authentication::wrong_api_key_is_refused"],
    );
}

/// Replaces the string value of each named filter of a query request.
fn rewrite_filters(request: &mut ProxyRequest, names: &[&str], rewrite: impl Fn(&str) -> String) {
    if !request.is(QUERY) {
        return;
    }
    let Some(Value::Object(mut body)) = request.json() else {
        return;
    };
    for name in names {
        if let Some(Value::String(filter)) = body.get_mut(*name) {
            *filter = rewrite(filter);
        }
    }
    request.set_json(&Value::Object(body));
}

/// `a/*` becomes `a/**`; a run of two or more stars stays as it is.
fn single_stars_doubled(filter: &str) -> String {
    let mut out = String::with_capacity(filter.len() + 4);
    let mut chars = filter.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '*' {
            continue;
        }
        let mut run = 1;
        while chars.next_if_eq(&'*').is_some() {
            out.push('*');
            run += 1;
        }
        if run == 1 {
            out.push('*');
        }
    }
    out
}

/// Changes each item of the `found` list of a successful query answer.
fn edit_found_items(
    request: &ProxyRequest,
    answer: &mut ProxyAnswer,
    edit: impl Fn(&mut serde_json::Map<String, Value>),
) {
    if !request.is(QUERY) || answer.status != StatusCode::OK {
        return;
    }
    let Some(mut body) = answer.body_json() else {
        return;
    };
    let Some(Value::Array(found)) = body.get_mut("found") else {
        return;
    };
    for item in found.iter_mut().filter_map(Value::as_object_mut) {
        edit(item);
    }
    answer.set_json(&body);
}

/// A wrong reading of the glob dialect.
#[derive(Debug, Clone, Copy)]
enum Misreading {
    /// `.` matches any character, as in a regular expression.
    DotIsAnyChar,
    /// A filter matches any path that contains it.
    Unanchored,
}

/// The mock's own checks of session and body, with its `found` list replaced by what a daemon
/// with `misreading` answers from the full listing.
fn answer_from_listing(listing: &[Connection], misreading: Misreading) -> Variant {
    let listing = listing.to_vec();
    Variant::on_answer(move |request, answer| {
        if !request.is(QUERY) || answer.status != StatusCode::OK {
            return;
        }
        let Some(body) = request.json() else { return };
        let filter = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
        let (Some(category), Some(connection), Some(kind)) = (
            filter("categoryFilter"),
            filter("connectionFilter"),
            filter("typeFilter"),
        ) else {
            return;
        };
        let found: Vec<Value> = listing
            .iter()
            .filter(|c| {
                misread_matches(misreading, &category, &c.category)
                    && misread_matches(misreading, &connection, &c.connection)
                    && misread_matches(misreading, &kind, &c.kind)
            })
            .map(|c| serde_json::to_value(c).expect("a connection serializes"))
            .collect();
        answer.set_json(&json!({ "found": found }));
    })
}

/// The glob dialect with one misreading: `*` within a part, `**` across parts, and otherwise
/// literal characters, except where `misreading` says.
fn misread_matches(misreading: Misreading, pattern: &str, text: &str) -> bool {
    fn go(dot_is_any: bool, p: &[char], t: &[char]) -> bool {
        match p {
            [] => t.is_empty(),
            ['*', '*', rest @ ..] => {
                let rest = &rest[rest.iter().take_while(|&&c| c == '*').count()..];
                (0..=t.len()).any(|i| go(dot_is_any, rest, &t[i..]))
            }
            ['*', rest @ ..] => {
                let part = t.iter().take_while(|&&c| c != '/').count();
                (0..=part).any(|i| go(dot_is_any, rest, &t[i..]))
            }
            [c, rest @ ..] => match t {
                [d, t_rest @ ..] if c == d || (dot_is_any && *c == '.') => {
                    go(dot_is_any, rest, t_rest)
                }
                _ => false,
            },
        }
    }
    let pattern = match misreading {
        Misreading::Unanchored => format!("**{pattern}**"),
        Misreading::DotIsAnyChar => pattern.to_owned(),
    };
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(matches!(misreading, Misreading::DotIsAnyChar), &p, &t)
}

#[test]
fn misreadings_differ_from_the_dialect_where_expected() {
    use Misreading::*;
    assert!(misread_matches(
        DotIsAnyChar,
        "servers/web.01",
        "servers/web-01"
    ));
    assert!(misread_matches(DotIsAnyChar, "servers/*", "servers/web-01"));
    assert!(!misread_matches(
        DotIsAnyChar,
        "servers/*",
        "servers/eu/web-02"
    ));
    assert!(misread_matches(Unanchored, "web", "servers/eu/web-02"));
    assert!(misread_matches(Unanchored, "nginx", "nginx"));
    assert!(!misread_matches(Unanchored, "web.01", "servers/web-01"));
    assert_eq!(single_stars_doubled("*/a**/*b***"), "**/a**/**b***");
}
