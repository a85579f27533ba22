//! The generator checked against the schemas it reads: determinism, coverage, and that every
//! body it calls valid the compiled models accept and every body it calls invalid they refuse.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::*;
use crate::case::Session;
use crate::loader::parse_case;
use crate::schema::SchemaSet;
use crate::suite::default_dir;

fn schemas_dir() -> PathBuf {
    default_dir("schemas")
}

fn both() -> Credentials {
    Credentials {
        api_key: Some("k".to_owned()),
        auth_file_content: Some("s".to_owned()),
    }
}

fn cases(count: usize, seed: u64, credentials: &Credentials) -> Vec<Case> {
    Generation { count, seed }
        .cases(&schemas_dir(), credentials)
        .into_iter()
        .map(|c| c.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn all(seed: u64) -> Vec<Case> {
    cases(usize::MAX, seed, &both())
}

/// The JSON a case sends, with the credentials filled in; `None` for bytes that are not JSON.
fn sent_json(case: &Case) -> Option<Value> {
    let request = &case.spec.steps[0].request;
    let text = match (&request.body, &request.raw_body) {
        (Some(body), _) => body.to_string(),
        (None, Some(raw)) => raw.clone(),
        (None, None) => panic!("{} sends no body", case.name),
    };
    let text = text
        .replace("${api_key}", "dummy-key")
        .replace("${auth_file_content}", "dummy-secret");
    serde_json::from_str(&text).ok()
}

fn operation_of(case: &Case) -> &'static Operation {
    OPERATIONS
        .iter()
        .find(|o| o.path == case.spec.steps[0].request.path)
        .unwrap()
}

fn expects_refusal(case: &Case) -> bool {
    case.spec.steps[0]
        .expect
        .status
        .as_ref()
        .is_some_and(|s| s.accepts(400) && !s.accepts(200))
}

#[test]
fn the_same_seed_gives_the_same_cases() {
    let a = cases(DEFAULT_COUNT, 7, &both());
    let b = cases(DEFAULT_COUNT, 7, &both());
    assert_eq!(a.len(), DEFAULT_COUNT);
    for (a, b) in a.iter().zip(&b) {
        assert_eq!(a.name, b.name);
        assert_eq!(sent_json(a), sent_json(b));
        assert_eq!(
            a.spec.steps[0].request.raw_body,
            b.spec.steps[0].request.raw_body
        );
    }
}

#[test]
fn another_seed_gives_other_cases() {
    let bodies = |seed| -> Vec<String> {
        cases(DEFAULT_COUNT, seed, &both())
            .iter()
            .map(|c| format!("{} {:?}", c.name, sent_json(c)))
            .collect()
    };
    assert_ne!(bodies(1), bodies(2));
    // Even with every body taken, the strings drawn differ.
    let everything = |seed| -> Vec<Option<Value>> { all(seed).iter().map(sent_json).collect() };
    assert_ne!(everything(1), everything(2));
}

#[test]
fn a_larger_count_starts_with_the_smaller_one() {
    let small = cases(10, 5, &both());
    let large = cases(40, 5, &both());
    for (a, b) in small.iter().zip(&large) {
        assert_eq!(a.name, b.name);
    }
    assert!(cases(0, 5, &both()).is_empty());
}

#[test]
fn the_default_count_reaches_every_operation_and_family() {
    let picked = cases(DEFAULT_COUNT, DEFAULT_SEED, &both());
    for operation in &OPERATIONS {
        let prefix = format!("{NAME_PREFIX}{}_", operation.name);
        let names: Vec<&str> = picked
            .iter()
            .map(|c| c.name.as_str())
            .filter(|n| n.starts_with(&prefix))
            .collect();
        assert!(names.len() >= 3, "{}: {names:?}", operation.name);
        assert!(names.iter().any(|n| n.contains("_valid_")), "{names:?}");
        assert!(names.iter().any(|n| n.contains("_as_")), "{names:?}");
        assert!(
            names
                .iter()
                .any(|n| n.contains("body") || n.contains("empty_body")),
            "{names:?}"
        );
    }
    assert!(picked.iter().any(|c| c.name.contains("_missing_")));
    assert!(picked.iter().any(|c| c.name.contains("_wrong_auth_")));
    assert!(
        picked
            .iter()
            .any(|c| c.name.contains("_unknown_auth_type_"))
    );
}

#[test]
fn the_whole_population_covers_what_the_brief_of_each_family_says() {
    let names: Vec<String> = all(DEFAULT_SEED).into_iter().map(|c| c.name).collect();
    let has = |fragment: &str| names.iter().any(|n| n.contains(fragment));
    for fragment in [
        "handshake_valid_api_key_api_",
        "handshake_valid_local_api_",
        "handshake_valid_api_key_api_client_name_non_bmp_",
        "handshake_valid_api_key_api_client_name_long_",
        "handshake_missing_auth_",
        "handshake_missing_client_",
        "handshake_missing_auth_type_",
        "handshake_missing_auth_key_",
        "handshake_missing_auth_auth_file_content_",
        "handshake_missing_client_type_",
        "handshake_auth_as_null_",
        "handshake_client_name_as_number_",
        "handshake_unknown_auth_type_case_",
        "handshake_wrong_auth_key_empty_",
        "handshake_body_as_array_",
        "handshake_empty_body_",
        "handshake_body_not_json_",
        "connection_query_valid_connection_filter_metacharacters_",
        "connection_query_valid_category_filter_slash_edges_",
        "connection_query_valid_type_filter_white_space_",
        "connection_query_valid_body_extra_field_",
        "connection_query_missing_type_filter_",
        "connection_query_connection_filter_as_bool_",
        "daemon_open_valid_arguments_empty_list_",
        "daemon_open_valid_arguments_item_unicode_",
        "daemon_open_arguments_as_string_",
        "daemon_open_arguments_item_as_object_",
        "daemon_open_body_as_null_",
    ] {
        assert!(has(fragment), "no case named like {fragment}*");
    }
    // What the document leaves open is never generated as invalid.
    assert!(!has("missing_client_name"));
    assert!(!has("missing_arguments"));
    assert!(!has("unknown_client_type"));
}

#[test]
fn every_valid_body_is_accepted_and_every_invalid_body_refused_by_the_models() {
    let schemas = SchemaSet::load(&schemas_dir()).unwrap();
    for seed in [DEFAULT_SEED, 2, 0xdead_beef] {
        for case in all(seed) {
            let model = operation_of(&case).request_model;
            let json = sent_json(&case);
            let wrong_credentials = case.name.contains("_wrong_auth_");
            if expects_refusal(&case) && !wrong_credentials {
                if let Some(json) = json {
                    assert!(
                        schemas.validate(model, &json).is_err(),
                        "{} (seed {seed}) is called invalid, but {model} accepts {json}",
                        case.name
                    );
                }
            } else {
                let json = json.unwrap_or_else(|| panic!("{} sends no JSON", case.name));
                if let Err(violations) = schemas.validate(model, &json) {
                    panic!(
                        "{} (seed {seed}) is called valid, but {model} refuses {json}: {violations:?}",
                        case.name
                    );
                }
            }
        }
    }
}

#[test]
fn open_questions_of_the_document_are_never_called_invalid() {
    for case in all(DEFAULT_SEED) {
        if !expects_refusal(&case) {
            continue;
        }
        let Some(json) = sent_json(&case) else {
            continue;
        };
        if let Some(client) = json.get("client")
            && client.get("type") == Some(&Value::from("Api"))
        {
            assert!(client.get("name").is_some(), "{}: {json}", case.name);
        }
        if operation_of(&case).name == "daemon_open" && json.is_object() {
            assert!(json.get("arguments").is_some(), "{}: {json}", case.name);
        }
    }
}

#[test]
fn credentials_the_run_lacks_are_never_used() {
    let api_key_only = Credentials {
        api_key: Some("k".to_owned()),
        auth_file_content: None,
    };
    let local_only = Credentials {
        api_key: None,
        auth_file_content: Some("s".to_owned()),
    };
    for (credentials, missing) in [
        (&api_key_only, "${auth_file_content}"),
        (&local_only, "${api_key}"),
    ] {
        let picked = cases(usize::MAX, DEFAULT_SEED, credentials);
        assert!(picked.len() > 50);
        for case in &picked {
            let text = serde_json::to_string(&case.spec.steps[0].request.body).unwrap()
                + case.spec.steps[0].request.raw_body.as_deref().unwrap_or("");
            assert!(!text.contains(missing), "{} uses {missing}", case.name);
        }
        // Invalid bodies still come, made from the credentials the run has.
        assert!(picked.iter().any(|c| c.name.contains("missing_auth_type")));
    }
}

#[test]
fn cases_say_what_they_need_and_how_they_are_sent() {
    for case in all(DEFAULT_SEED) {
        let step = &case.spec.steps[0];
        let operation = operation_of(&case);
        assert!(case.spec.tags.contains(&"generated".to_owned()));
        assert_eq!(case.spec.level, crate::case::Level::Must);
        assert_eq!(
            step.request.session,
            if operation.authenticated {
                Session::Fresh
            } else {
                Session::None
            }
        );
        let text = serde_json::to_string(&step.request.body).unwrap()
            + step.request.raw_body.as_deref().unwrap_or("");
        assert_eq!(
            text.contains("${api_key}"),
            case.spec.requires.contains(&Requirement::ApiKey),
            "{}",
            case.name
        );
        assert!(case.file.display().to_string().contains("--seed 1"));
        if expects_refusal(&case) && operation.name == "handshake" {
            assert_eq!(step.expect.absent, ["/token"], "{}", case.name);
        }
    }
}

#[test]
fn every_case_written_as_a_file_loads_back_the_same() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let format: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("cases/case.schema.json")).unwrap(),
    )
    .unwrap();
    let format = jsonschema::validator_for(&format).unwrap();
    for seed in [DEFAULT_SEED, 98, 0xfeed_f00d] {
        for case in all(seed) {
            let text = case_file_text(&case.spec).unwrap();
            assert!(text.starts_with(case_file::SCHEMA_LINE));
            let back = parse_case(&text)
                .unwrap_or_else(|e| panic!("{} does not load back: {e:?}\n{text}", case.name));
            let (sent, read) = (&case.spec.steps[0], &back.steps[0]);
            assert_eq!(
                sent.request.body, read.request.body,
                "{}\n{text}",
                case.name
            );
            assert_eq!(
                sent.request.raw_body, read.request.raw_body,
                "{}",
                case.name
            );
            assert_eq!(sent.request.session, read.request.session);
            assert_eq!(sent.request.headers, read.request.headers);
            assert_eq!(sent.expect.status, read.expect.status);
            assert_eq!(sent.expect.model, read.expect.model);
            assert_eq!(sent.expect.absent, read.expect.absent);
            assert_eq!(back.description, case.spec.description);
            assert_eq!(back.requires, case.spec.requires);

            let value: Value = serde_saphyr::from_str(&text).unwrap();
            let errors: Vec<String> = format.iter_errors(&value).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{}: {errors:?}\n{text}", case.name);
        }
    }
}

#[test]
fn a_changed_schema_changes_the_cases() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(schemas_dir()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let query = dir.path().join("ConnectionQueryRequest.json");
    let mut model: Value = serde_json::from_str(&std::fs::read_to_string(&query).unwrap()).unwrap();
    model["properties"]["limit"] = serde_json::json!({"type": "integer"});
    model["required"]
        .as_array_mut()
        .unwrap()
        .push(Value::from("limit"));
    model["properties"]["typeFilter"]["enum"] = serde_json::json!(["ssh", "docker"]);
    std::fs::write(&query, model.to_string()).unwrap();

    let names: Vec<String> = Generation {
        count: usize::MAX,
        seed: 1,
    }
    .cases(dir.path(), &both())
    .into_iter()
    .map(|c| c.unwrap().name)
    .collect();
    let has = |fragment: &str| names.iter().any(|n| n.contains(fragment));
    assert!(has("connection_query_missing_limit_"));
    assert!(has("connection_query_limit_as_string_"));
    assert!(has("connection_query_unknown_type_filter_"));
    assert!(!has("connection_query_valid_type_filter_long_"));
}

#[test]
fn a_model_the_generator_cannot_follow_is_one_failing_entry() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(schemas_dir()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let open = dir.path().join("DaemonOpenRequest.json");
    let text = std::fs::read_to_string(&open)
        .unwrap()
        .replace("\"minItems\": 0", "\"uniqueItems\": true");
    std::fs::write(&open, text).unwrap();

    let results = Generation {
        count: usize::MAX,
        seed: 1,
    }
    .cases(dir.path(), &both());
    let failures: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].name, "generated::daemon_open");
    assert!(
        failures[0].message.contains("uniqueItems"),
        "{}",
        failures[0]
    );
    assert!(results.iter().any(|r| r.is_ok()));
}
