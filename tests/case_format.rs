//! The shipped case files against the published JSON Schema of the case format, so that the
//! schema editors use and the loader the harness uses cannot drift apart.

use std::path::Path;

use xpipe_conformance::loader::load_cases;
use xpipe_conformance::schema::SchemaSet;

fn case_files() -> Vec<std::path::PathBuf> {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let mut files = Vec::new();
    for group in std::fs::read_dir(&cases).unwrap() {
        let group = group.unwrap().path();
        if group.is_dir() {
            for file in std::fs::read_dir(&group).unwrap() {
                let file = file.unwrap().path();
                if file.extension().is_some_and(|e| e == "yaml") {
                    files.push(file);
                }
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_case_file_satisfies_the_case_format_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema_text = std::fs::read_to_string(root.join("cases/case.schema.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&schema_text).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the case format schema compiles");

    let mut failures = Vec::new();
    let files = case_files();
    assert!(
        files.len() > 100,
        "expected the shipped cases, found {}",
        files.len()
    );
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let value: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        for error in validator.iter_errors(&value) {
            failures.push(format!(
                "{}: at {}: {error}",
                file.display(),
                error.instance_path()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_shipped_case_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schemas = SchemaSet::load(&root.join("schemas")).unwrap();
    let broken: Vec<String> = load_cases(&root.join("cases"), &schemas)
        .unwrap()
        .into_iter()
        .filter_map(|case| case.err().map(|e| e.to_string()))
        .collect();
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}
