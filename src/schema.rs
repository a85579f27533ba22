//! JSON Schemas of the API models, loaded from a folder and compiled once per run.
//!
//! Every `*.json` file of the folder is one model, named by its file stem. The files refer to
//! each other by relative `$ref`, resolved against their `$id`; all of them are put in one
//! registry before any is compiled, so nothing is ever fetched from a network or a disk path.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use jsonschema::{Registry, Validator};
use serde_json::Value;

/// The base a file's `$id` is resolved against; a file without `$id` gets its file name here.
const BASE_URI: &str = "https://xpipe-conformance.local/schemas/";

/// The compiled models of one schema folder.
///
/// Compiled validators own everything they need, so a set is `Send + Sync` and can be shared
/// across the runner's threads.
#[derive(Debug)]
pub struct SchemaSet {
    /// Model name (the file stem) to its compiled validator.
    validators: BTreeMap<String, Validator>,
}

/// One way an instance breaks a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    /// JSON pointer to the offending part of the instance, `""` for the root. For a missing
    /// required member it is the object that lacks it, not the member.
    pub instance_path: String,
    /// The keyword that failed, as `<file>#<pointer>` (for example `ApiKey.json#/required`),
    /// so the reader sees which schema file says so even when a `$ref` led there.
    pub schema_path: String,
    /// What is wrong, as the validator words it.
    pub message: String,
}

impl fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.schema_path.is_empty() {
            return f.write_str(&self.message);
        }
        let at = if self.instance_path.is_empty() {
            "/"
        } else {
            &self.instance_path
        };
        write!(f, "at {at}: {} (schema {})", self.message, self.schema_path)
    }
}

/// The most violations [`SchemaSet::validate`] lists; the rest are counted in one more entry.
pub const VIOLATIONS_KEPT: usize = 20;

/// Past this many JSON values, an instance that breaks its model gets only its first violation
/// listed.
const LARGE_INSTANCE_NODES: usize = 10_000;

/// Whether `value` holds more than `limit` values, itself included; stops counting past it.
fn exceeds_nodes(value: &Value, limit: usize) -> bool {
    fn count(value: &Value, left: &mut usize) -> bool {
        if *left == 0 {
            return true;
        }
        *left -= 1;
        match value {
            Value::Array(items) => items.iter().any(|item| count(item, left)),
            Value::Object(members) => members.values().any(|member| count(member, left)),
            _ => false,
        }
    }
    let mut left = limit;
    count(value, &mut left)
}

/// Why a schema folder could not be loaded.
#[derive(Debug)]
pub enum SchemaError {
    /// The folder could not be listed.
    ReadDir {
        /// The schema folder.
        dir: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The folder holds no `*.json` file.
    Empty {
        /// The schema folder.
        dir: PathBuf,
    },
    /// A file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// A file name is not UTF-8, so it names no model.
    Name {
        /// The file.
        path: PathBuf,
    },
    /// A file is not JSON.
    Json {
        /// The file.
        path: PathBuf,
        /// Line of the fault, counted from 1.
        line: usize,
        /// Column of the fault, counted from 1.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// A file's `$id` is not a string or not a URI reference.
    Id {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Two files claim the same `$id`.
    DuplicateId {
        /// The file read second.
        path: PathBuf,
        /// The file that holds the `$id` already.
        other: PathBuf,
        /// The resolved `$id`.
        id: String,
    },
    /// A `$ref` leads to no file of the folder (no file has that `$id`), or to no part of the
    /// file it names.
    DanglingRef {
        /// The file holding the `$ref`.
        path: PathBuf,
        /// JSON pointer to the `$ref` inside the file.
        pointer: String,
        /// The `$ref` as written.
        reference: String,
        /// The `$ref` resolved against the `$id` in scope.
        target: String,
    },
    /// The files could not be put together in one registry.
    Registry {
        /// The schema folder.
        dir: PathBuf,
        /// What the registry said.
        message: String,
    },
    /// A file is not a valid draft 2020-12 schema, or does not compile.
    Compile {
        /// The file.
        path: PathBuf,
        /// What the compiler said.
        message: String,
    },
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaError::ReadDir { dir, source } => {
                write!(f, "cannot list schema folder {}: {source}", dir.display())
            }
            SchemaError::Empty { dir } => {
                write!(f, "no schema (*.json file) in {}", dir.display())
            }
            SchemaError::Read { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            SchemaError::Name { path } => {
                write!(
                    f,
                    "{}: the file name is not UTF-8, so it names no model",
                    path.display()
                )
            }
            SchemaError::Json {
                path,
                line,
                column,
                message,
            } => {
                write!(
                    f,
                    "{}:{line}:{column}: not valid JSON: {message}",
                    path.display()
                )
            }
            SchemaError::Id { path, message } => {
                write!(f, "{}: invalid $id: {message}", path.display())
            }
            SchemaError::DuplicateId { path, other, id } => write!(
                f,
                "{}: $id {id} is already taken by {}",
                path.display(),
                other.display()
            ),
            SchemaError::DanglingRef {
                path,
                pointer,
                reference,
                target,
            } => write!(
                f,
                "{}: $ref \"{reference}\" at {pointer} leads to nothing in the folder \
                 (resolved to {target})",
                path.display()
            ),
            SchemaError::Registry { dir, message } => {
                write!(f, "cannot link the schemas of {}: {message}", dir.display())
            }
            SchemaError::Compile { path, message } => {
                write!(f, "{}: not a usable schema: {message}", path.display())
            }
        }
    }
}

impl std::error::Error for SchemaError {}

/// Where the meta-schemas live, which the validator knows without the folder.
const META_SCHEMA_PREFIX: &str = "https://json-schema.org/";

/// A schema file as read, before anything is compiled.
struct SchemaFile {
    path: PathBuf,
    model: String,
    /// The absolute `$id`, or the file's place under [`BASE_URI`] when it has none.
    id: String,
    contents: Value,
}

impl SchemaSet {
    /// Loads and compiles every `*.json` file in `dir`; the model name is the file stem.
    pub fn load(dir: &Path) -> Result<SchemaSet, SchemaError> {
        // Read and parse every file first: references can only be checked against the whole set.
        let files = list_json_files(dir)?;
        if files.is_empty() {
            return Err(SchemaError::Empty {
                dir: dir.to_path_buf(),
            });
        }
        let files = files
            .iter()
            .map(|path| read_schema_file(path))
            .collect::<Result<Vec<_>, _>>()?;

        let mut by_id: BTreeMap<&str, &SchemaFile> = BTreeMap::new();
        for file in &files {
            if let Some(other) = by_id.insert(&file.id, file) {
                return Err(SchemaError::DuplicateId {
                    path: file.path.clone(),
                    other: other.path.clone(),
                    id: file.id.clone(),
                });
            }
        }

        // Link all files in one registry, then compile each model against it. Both steps report
        // a dangling `$ref` by its target alone, so a failure first looks for the file and the
        // place that holds one. `offline` keeps a missing target from being fetched.
        let registry = Registry::new()
            .extend(files.iter().map(|file| (file.id.as_str(), &file.contents)))
            .and_then(|builder| builder.prepare())
            .map_err(|e| {
                find_dangling_reference(&files, &by_id).unwrap_or_else(|| SchemaError::Registry {
                    dir: dir.to_path_buf(),
                    message: e.to_string(),
                })
            })?;
        let mut validators = BTreeMap::new();
        for file in &files {
            let validator = jsonschema::options()
                .offline()
                .with_base_uri(file.id.as_str())
                .with_registry(&registry)
                .build(&file.contents)
                .map_err(|e| {
                    find_dangling_reference(&files, &by_id).unwrap_or_else(|| {
                        SchemaError::Compile {
                            path: file.path.clone(),
                            message: compile_message(&e),
                        }
                    })
                })?;
            validators.insert(file.model.clone(), validator);
        }
        Ok(SchemaSet { validators })
    }

    /// The model names, sorted.
    pub fn models(&self) -> Vec<&str> {
        self.validators.keys().map(String::as_str).collect()
    }

    /// Whether a model of that name was loaded.
    pub fn has(&self, model: &str) -> bool {
        self.validators.contains_key(model)
    }

    /// Validates `instance` against `model`; Err holds every violation, in the validator's order.
    pub fn validate(&self, model: &str, instance: &Value) -> Result<(), Vec<SchemaViolation>> {
        let Some(validator) = self.validators.get(model) else {
            return Err(vec![SchemaViolation {
                instance_path: String::new(),
                schema_path: String::new(),
                message: format!("unknown model \"{model}\""),
            }]);
        };
        if validator.is_valid(instance) {
            return Ok(());
        }
        // Listing every violation of a large answer builds them all at once (megabytes, and
        // minutes for a hostile answer of a million bad items): a large one names its first.
        if exceeds_nodes(instance, LARGE_INSTANCE_NODES) {
            let first = validator
                .validate(instance)
                .err()
                .map(|error| SchemaViolation {
                    instance_path: error.instance_path().as_str().to_string(),
                    schema_path: schema_location(&error),
                    message: error.to_string(),
                });
            let mut violations: Vec<SchemaViolation> = first.into_iter().collect();
            violations.push(SchemaViolation {
                instance_path: String::new(),
                schema_path: String::new(),
                message: format!(
                    "further violations not searched: the answer has more than \
                     {LARGE_INSTANCE_NODES} JSON values"
                ),
            });
            return Err(violations);
        }
        let mut errors = validator.iter_errors(instance);
        let mut violations: Vec<SchemaViolation> = errors
            .by_ref()
            .take(VIOLATIONS_KEPT)
            .map(|error| SchemaViolation {
                instance_path: error.instance_path().as_str().to_string(),
                schema_path: schema_location(&error),
                message: error.to_string(),
            })
            .collect();
        // Counted, not kept: a hostile answer can break the model once per item, millions of
        // times, and every violation quotes its value.
        let more = errors.count();
        if more > 0 {
            violations.push(SchemaViolation {
                instance_path: String::new(),
                schema_path: String::new(),
                message: format!("and {more} more violations, not listed"),
            });
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations)
        }
    }
}

/// The `*.json` files directly in `dir`, sorted by name.
fn list_json_files(dir: &Path) -> Result<Vec<PathBuf>, SchemaError> {
    let read_dir_error = |source| SchemaError::ReadDir {
        dir: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_dir_error)? {
        let path = entry.map_err(read_dir_error)?.path();
        if path.extension().is_some_and(|ext| ext == "json") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn read_schema_file(path: &Path) -> Result<SchemaFile, SchemaError> {
    let model = path
        .file_stem()
        .and_then(|stem| stem.to_str())
        .ok_or_else(|| SchemaError::Name {
            path: path.to_path_buf(),
        })?
        .to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SchemaError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let contents: Value = serde_json::from_str(&text).map_err(|e| {
        // serde_json ends its message with the location, which the error shows on its own.
        let message = e.to_string();
        let location = format!(" at line {} column {}", e.line(), e.column());
        SchemaError::Json {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: message
                .strip_suffix(&location)
                .unwrap_or(&message)
                .to_string(),
        }
    })?;

    let id_error = |message: String| SchemaError::Id {
        path: path.to_path_buf(),
        message,
    };
    let written_id = match contents.get("$id") {
        None => format!("{model}.json"),
        Some(Value::String(id)) => id.clone(),
        Some(other) => return Err(id_error(format!("{other} is not a string"))),
    };
    let id = resolve(BASE_URI, &written_id).map_err(id_error)?;
    Ok(SchemaFile {
        path: path.to_path_buf(),
        model,
        id,
        contents,
    })
}

/// Resolves a URI reference against an absolute base, dropping an empty trailing fragment.
fn resolve(base: &str, reference: &str) -> Result<String, String> {
    let base = jsonschema::uri::from_str(base).map_err(|e| e.to_string())?;
    let resolved =
        jsonschema::uri::resolve_against(&base.borrow(), reference).map_err(|e| e.to_string())?;
    Ok(resolved.as_str().trim_end_matches('#').to_string())
}

/// The first `$ref` of the folder that leads to no loaded file or, for a JSON pointer fragment,
/// to no part of it. Only called once linking or compiling failed, to name the culprit: it
/// does not know nested `$id`s or anchors, which the validator handles.
fn find_dangling_reference(
    files: &[SchemaFile],
    by_id: &BTreeMap<&str, &SchemaFile>,
) -> Option<SchemaError> {
    for file in files {
        let mut references = Vec::new();
        collect_references(&file.contents, &file.id, String::new(), &mut references);
        for Reference {
            pointer,
            base,
            reference,
        } in references
        {
            let dangling = |target: String| SchemaError::DanglingRef {
                path: file.path.clone(),
                pointer: pointer.clone(),
                reference: reference.clone(),
                target,
            };
            let target = match resolve(&base, &reference) {
                Ok(target) => target,
                Err(why) => {
                    return Some(SchemaError::Compile {
                        path: file.path.clone(),
                        message: format!("$ref \"{reference}\" at {pointer}: {why}"),
                    });
                }
            };
            let (document, fragment) = target.split_once('#').unwrap_or((&target, ""));
            let found = match by_id.get(document) {
                Some(found) => found,
                None if document.starts_with(META_SCHEMA_PREFIX) => continue,
                None => return Some(dangling(target)),
            };
            let is_pointer = fragment.starts_with('/') && !fragment.contains('%');
            if is_pointer && found.contents.pointer(fragment).is_none() {
                return Some(dangling(target));
            }
        }
    }
    None
}

/// Keywords whose value is data, not a schema: a `$ref` inside them is no reference.
const DATA_KEYWORDS: [&str; 4] = ["const", "enum", "default", "examples"];
/// Keywords whose value maps names to schemas: the names are not keywords.
const NAME_MAP_KEYWORDS: [&str; 5] = [
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];

/// A `$ref` as found in a file.
struct Reference {
    /// JSON pointer to the `$ref` member inside the file.
    pointer: String,
    /// The base URI in scope there.
    base: String,
    /// The `$ref` as written.
    reference: String,
}

/// Collects every `$ref` under `schema`, which sits at `pointer` in its file.
fn collect_references(schema: &Value, base: &str, pointer: String, out: &mut Vec<Reference>) {
    match schema {
        Value::Object(members) => {
            // A nested `$id` starts a new base for what lies under it.
            let base = match members.get("$id").and_then(Value::as_str) {
                Some(id) => resolve(base, id).unwrap_or_else(|_| base.to_string()),
                None => base.to_string(),
            };
            if let Some(reference) = members.get("$ref").and_then(Value::as_str) {
                out.push(Reference {
                    pointer: format!("{pointer}/$ref"),
                    base: base.clone(),
                    reference: reference.to_string(),
                });
            }
            for (key, value) in members {
                if DATA_KEYWORDS.contains(&key.as_str()) {
                    continue;
                }
                let here = format!("{pointer}/{}", escape_pointer(key));
                if NAME_MAP_KEYWORDS.contains(&key.as_str())
                    && let Value::Object(named) = value
                {
                    for (name, subschema) in named {
                        let there = format!("{here}/{}", escape_pointer(name));
                        collect_references(subschema, &base, there, out);
                    }
                    continue;
                }
                collect_references(value, &base, here, out);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                collect_references(item, base, format!("{pointer}/{index}"), out);
            }
        }
        _ => {}
    }
}

fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Where the failed keyword is: `<file>#<pointer>` for the files of the folder, the full URI
/// for a schema elsewhere, and the evaluation path when the validator knows no URI.
fn schema_location(error: &jsonschema::ValidationError<'_>) -> String {
    match error.absolute_keyword_location() {
        Some(uri) => {
            let uri = uri.as_str();
            uri.strip_prefix(BASE_URI).unwrap_or(uri).to_string()
        }
        None => error.evaluation_path().as_str().to_string(),
    }
}

/// The compiler's complaint, with the place in the schema when it points at one.
fn compile_message(error: &jsonschema::ValidationError<'_>) -> String {
    let at = error.instance_path().as_str();
    if at.is_empty() {
        error.to_string()
    } else {
        format!("at {at}: {error}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SCHEMAS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas");

    fn schemas() -> SchemaSet {
        SchemaSet::load(Path::new(SCHEMAS)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn assert_valid(set: &SchemaSet, model: &str, instance: Value) {
        if let Err(violations) = set.validate(model, &instance) {
            let lines: Vec<String> = violations.iter().map(ToString::to_string).collect();
            panic!("{model} rejects {instance}:\n{}", lines.join("\n"));
        }
    }

    /// Writes `files` to a fresh folder and loads it.
    fn load_files(files: &[(&str, &str)]) -> (tempfile::TempDir, Result<SchemaSet, SchemaError>) {
        let dir = tempfile::tempdir().expect("temporary folder");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write schema file");
        }
        let result = SchemaSet::load(dir.path());
        (dir, result)
    }

    fn valid_client() -> Value {
        json!({"type": "Api", "name": "My client name"})
    }

    fn valid_auth() -> Value {
        json!({"type": "ApiKey", "key": "<API key>"})
    }

    #[test]
    fn loads_every_model_of_the_folder() {
        let set = schemas();
        let expected = [
            "ApiClientInformation",
            "ApiKey",
            "AuthMethod",
            "ClientInformation",
            "ConnectionQueryRequest",
            "ConnectionQueryResponse",
            "DaemonOpenRequest",
            "ErrorResponse",
            "HandshakeRequest",
            "HandshakeResponse",
            "Local",
        ];
        assert_eq!(set.models(), expected);
        assert!(set.has("HandshakeRequest"));
        assert!(!set.has("Handshake"));
    }

    #[test]
    fn schema_set_can_be_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<SchemaSet>();
    }

    #[test]
    fn every_file_names_its_model_in_id_and_title() {
        for path in list_json_files(Path::new(SCHEMAS)).expect("schema folder") {
            let model = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("file stem");
            let text = std::fs::read_to_string(&path).expect("schema file");
            let schema: Value = serde_json::from_str(&text).expect("schema JSON");
            assert_eq!(
                schema["$schema"],
                "https://json-schema.org/draft/2020-12/schema"
            );
            assert_eq!(schema["$id"], format!("{BASE_URI}{model}.json"), "{model}");
            assert_eq!(schema["title"], model);
            assert!(
                schema["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{model}"
            );
            assert!(
                !text.contains("additionalProperties"),
                "{model} forbids extra fields"
            );
        }
    }

    #[test]
    fn document_examples_are_valid() {
        let set = schemas();

        // Request bodies of the document and of the OpenAPI source.
        let standard = json!({
            "auth": {"type": "ApiKey", "key": "<API key>"},
            "client": {"type": "Api", "name": "My client name"}
        });
        let local = json!({
            "auth": {"type": "Local", "authFileContent": "<Contents of the local file $TEMP/xpipe_auth>"},
            "client": {"type": "Api", "name": "My client name"}
        });
        assert_valid(&set, "HandshakeRequest", standard.clone());
        assert_valid(&set, "HandshakeRequest", local.clone());
        assert_valid(&set, "AuthMethod", standard["auth"].clone());
        assert_valid(&set, "ApiKey", standard["auth"].clone());
        assert_valid(&set, "AuthMethod", local["auth"].clone());
        assert_valid(&set, "Local", local["auth"].clone());
        assert_valid(&set, "ClientInformation", standard["client"].clone());
        assert_valid(&set, "ApiClientInformation", standard["client"].clone());
        for query in [
            json!({"categoryFilter": "**", "connectionFilter": "**", "typeFilter": "*"}),
            json!({"categoryFilter": "default", "connectionFilter": "local machine", "typeFilter": "*"}),
            json!({"categoryFilter": "**", "connectionFilter": "**/podman/*", "typeFilter": "*"}),
        ] {
            assert_valid(&set, "ConnectionQueryRequest", query);
        }
        assert_valid(
            &set,
            "DaemonOpenRequest",
            json!({"arguments": ["file:///home/user/.ssh/"]}),
        );

        // Response shapes of the "Schemas" part.
        assert_valid(&set, "HandshakeResponse", json!({"token": "string"}));
        assert_valid(
            &set,
            "ConnectionQueryResponse",
            json!({"found": [
                {"uuid": "string", "category": "string", "connection": "string", "type": "string"}
            ]}),
        );
        assert_valid(
            &set,
            "ErrorResponse",
            json!({"message": "Client authentication failed"}),
        );
    }

    #[test]
    fn edge_values_the_document_allows_are_valid() {
        let set = schemas();
        assert_valid(&set, "DaemonOpenRequest", json!({"arguments": []}));
        assert_valid(&set, "ConnectionQueryResponse", json!({"found": []}));
        assert_valid(
            &set,
            "ConnectionQueryRequest",
            json!({"categoryFilter": "", "connectionFilter": "", "typeFilter": ""}),
        );
        // Client kinds the reference daemon knows besides `Api` carry no further fields.
        assert_valid(&set, "ClientInformation", json!({"type": "Cli"}));
        assert_valid(&set, "ClientInformation", json!({"type": "Daemon"}));
        assert_valid(
            &set,
            "HandshakeRequest",
            json!({"auth": valid_auth(), "client": {"type": "Cli"}}),
        );
    }

    #[test]
    fn extra_fields_pass() {
        let set = schemas();
        assert_valid(
            &set,
            "HandshakeResponse",
            json!({"token": "t", "expires": 3600}),
        );
        assert_valid(
            &set,
            "ConnectionQueryResponse",
            json!({"found": [{
                "uuid": "u", "category": "c", "connection": "n", "type": "ssh", "usageCategory": "shell"
            }], "total": 1}),
        );
        assert_valid(&set, "ErrorResponse", json!({"message": "m", "trace": []}));
        assert_valid(
            &set,
            "HandshakeRequest",
            json!({
                "auth": {"type": "ApiKey", "key": "k", "comment": "x"},
                "client": {"type": "Api", "name": "n", "version": "1"},
                "extra": true
            }),
        );
    }

    /// Per model, instances it must reject, each as `[instance, instance path, keyword]`: the one
    /// violation it must give, where in the instance and which keyword (the last segment of the
    /// schema path) fails. Data rather than calls keeps one line per instance.
    fn invalid_instances() -> Value {
        let auth = valid_auth();
        let client = valid_client();
        json!({
            "ApiKey": [
                [{"type": "ApiKey"}, "", "required"],
                [{"key": "k"}, "", "required"],
                [{"type": "ApiKey", "key": 42}, "/key", "type"],
                [{"type": "ApiKey", "key": null}, "/key", "type"],
                [{"type": "Local", "key": "k"}, "/type", "const"],
                [[], "", "type"]
            ],
            "Local": [
                [{"type": "Local"}, "", "required"],
                [{"authFileContent": "s"}, "", "required"],
                [{"type": "Local", "authFileContent": ["s"]}, "/authFileContent", "type"],
                [{"type": "Local", "authFileContent": null}, "/authFileContent", "type"],
                [{"type": "ApiKey", "authFileContent": "s"}, "/type", "const"],
                ["Local", "", "type"]
            ],
            "AuthMethod": [
                [{"type": "Password", "key": "k"}, "/type", "enum"],
                [{"key": "k"}, "", "required"],
                [{"type": "ApiKey"}, "", "required"],
                [{"type": "Local", "key": "k"}, "", "required"],
                [{"type": "ApiKey", "key": 1}, "/key", "type"],
                [{"type": "ApiKey", "key": null}, "/key", "type"],
                [{"type": null, "key": "k"}, "/type", "enum"],
                [[auth], "", "type"]
            ],
            "ClientInformation": [
                [{"name": "n"}, "", "required"],
                [{"type": "Api"}, "", "required"],
                [{"type": 7}, "/type", "type"],
                [{"type": null}, "/type", "type"],
                [{"type": "Api", "name": false}, "/name", "type"],
                [[], "", "type"]
            ],
            "ApiClientInformation": [
                [{"type": "Api"}, "", "required"],
                [{"name": "n"}, "", "required"],
                [{"type": "Cli", "name": "n"}, "/type", "const"],
                [{"type": "Api", "name": 3}, "/name", "type"],
                [{"type": "Api", "name": null}, "/name", "type"],
                [null, "", "type"]
            ],
            "HandshakeRequest": [
                [{"client": client}, "", "required"],
                [{"auth": auth}, "", "required"],
                [{"auth": {"type": "Password", "key": "k"}, "client": client}, "/auth/type", "enum"],
                [{"auth": {"key": "k"}, "client": client}, "/auth", "required"],
                [{"auth": {"type": "ApiKey"}, "client": client}, "/auth", "required"],
                [{"auth": {"type": "Local"}, "client": client}, "/auth", "required"],
                [{"auth": {"type": "ApiKey", "key": 5}, "client": client}, "/auth/key", "type"],
                [{"auth": auth, "client": {"type": "Api"}}, "/client", "required"],
                [{"auth": auth, "client": {}}, "/client", "required"],
                [{"auth": null, "client": client}, "/auth", "type"],
                [{"auth": "<API key>", "client": client}, "/auth", "type"],
                [[], "", "type"]
            ],
            "HandshakeResponse": [
                [{}, "", "required"],
                // The name a later release uses is not this release's `token`.
                [{"sessionToken": "t"}, "", "required"],
                [{"token": 5}, "/token", "type"],
                [{"token": null}, "/token", "type"],
                [["t"], "", "type"]
            ],
            "ConnectionQueryRequest": [
                [{"categoryFilter": "**", "connectionFilter": "**"}, "", "required"],
                [{"categoryFilter": 1, "connectionFilter": "**", "typeFilter": "*"}, "/categoryFilter", "type"],
                [{"categoryFilter": "**", "connectionFilter": "**", "typeFilter": null}, "/typeFilter", "type"],
                [[], "", "type"]
            ],
            "ConnectionQueryResponse": [
                [{}, "", "required"],
                // A later release answers bare UUIDs.
                [{"found": ["uuid-string"]}, "/found/0", "type"],
                [{"found": null}, "/found", "type"],
                [{"found": {}}, "/found", "type"],
                [{"found": [{"uuid": 5, "category": "c", "connection": "n", "type": "t"}]}, "/found/0/uuid", "type"],
                [{"found": [
                    {"uuid": "u", "category": "c", "connection": "n", "type": "t"},
                    {"uuid": "u", "connection": "n", "type": "t"}
                ]}, "/found/1", "required"],
                [{"found": [{"uuid": "u", "category": "c", "connection": "n", "type": null}]}, "/found/0/type", "type"],
                [[], "", "type"]
            ],
            "DaemonOpenRequest": [
                [{}, "", "required"],
                [{"arguments": [1]}, "/arguments/0", "type"],
                [{"arguments": "file:///"}, "/arguments", "type"],
                [{"arguments": null}, "/arguments", "type"],
                [["file:///"], "", "type"]
            ],
            "ErrorResponse": [
                [{}, "", "required"],
                // What the reference daemon sends on an internal failure is no ErrorResponse.
                [{"error": {"message": "m"}}, "", "required"],
                [{"message": 5}, "/message", "type"],
                [{"message": null}, "/message", "type"],
                [["m"], "", "type"]
            ]
        })
    }

    #[test]
    fn invalid_instances_are_rejected_at_the_right_place() {
        let set = schemas();
        let table = invalid_instances();
        let table = table.as_object().expect("table by model");
        let mut failures = Vec::new();
        for (model, rows) in table {
            for row in rows.as_array().expect("rows") {
                let [instance, path, keyword] = row.as_array().expect("row").as_slice() else {
                    panic!("malformed row {row}");
                };
                let violations = set.validate(model, instance).err().unwrap_or_default();
                let got: Vec<(&str, &str)> = violations
                    .iter()
                    .map(|v| {
                        let failed = v.schema_path.rsplit('/').next().unwrap_or_default();
                        (v.instance_path.as_str(), failed)
                    })
                    .collect();
                let expected = [(
                    path.as_str().expect("path"),
                    keyword.as_str().expect("keyword"),
                )];
                if got != expected {
                    failures.push(format!(
                        "{model} {instance}: got {got:?}, expected {expected:?}"
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));

        let mut covered: Vec<&str> = table.keys().map(String::as_str).collect();
        covered.sort();
        assert_eq!(covered, set.models(), "every model has its table");
    }

    #[test]
    fn every_violation_is_reported() {
        let set = schemas();
        let violations = set
            .validate(
                "ConnectionQueryRequest",
                &json!({"categoryFilter": 1, "connectionFilter": null}),
            )
            .expect_err("three faults");
        let mut paths: Vec<&str> = violations
            .iter()
            .map(|v| v.instance_path.as_str())
            .collect();
        paths.sort();
        assert_eq!(paths, ["", "/categoryFilter", "/connectionFilter"]);
    }

    #[test]
    fn violations_name_the_schema_file_that_failed() {
        let set = schemas();
        let auth_without_key = json!({"auth": {"type": "ApiKey"}, "client": valid_client()});
        let violations = set
            .validate("HandshakeRequest", &auth_without_key)
            .expect_err("no key");
        assert_eq!(
            violations,
            [SchemaViolation {
                instance_path: "/auth".to_string(),
                schema_path: "ApiKey.json#/required".to_string(),
                message: "\"key\" is a required property".to_string(),
            }]
        );
        assert_eq!(
            violations[0].to_string(),
            "at /auth: \"key\" is a required property (schema ApiKey.json#/required)"
        );

        let violations = set
            .validate("HandshakeResponse", &json!({}))
            .expect_err("no token");
        assert_eq!(
            violations[0].to_string(),
            "at /: \"token\" is a required property (schema HandshakeResponse.json#/required)"
        );
    }

    #[test]
    fn unknown_model_is_a_violation() {
        let violations = schemas()
            .validate("Nope", &json!({}))
            .expect_err("unknown model");
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].message, "unknown model \"Nope\"");
        assert_eq!(violations[0].instance_path, "");
    }

    #[test]
    fn broken_json_names_the_file_and_place() {
        let (_dir, result) = load_files(&[
            ("Good.json", r#"{"type": "object"}"#),
            ("Broken.json", "{\n  \"type\": \"object\",\n}\n"),
        ]);
        let error = result.expect_err("broken file");
        assert!(
            matches!(
                error,
                SchemaError::Json {
                    line: 3,
                    column: 1,
                    ..
                }
            ),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains("Broken.json:3:1: not valid JSON: trailing comma"),
            "{message}"
        );
    }

    #[test]
    fn dangling_ref_names_the_file() {
        let (_dir, result) = load_files(&[
            (
                "A.json",
                r#"{"$id": "https://xpipe-conformance.local/schemas/A.json", "$ref": "B.json"}"#,
            ),
            (
                "B.json",
                r#"{"properties": {"c": {"$ref": "Missing.json"}}}"#,
            ),
        ]);
        let error = result.expect_err("dangling $ref");
        let message = error.to_string();
        assert!(
            matches!(error, SchemaError::DanglingRef { .. }),
            "{error:?}"
        );
        assert!(message.contains("B.json"), "{message}");
        assert!(message.contains("/properties/c/$ref"), "{message}");
        assert!(
            message.contains("https://xpipe-conformance.local/schemas/Missing.json"),
            "{message}"
        );
    }

    #[test]
    fn ref_to_a_missing_part_names_the_file() {
        let (_dir, result) = load_files(&[
            ("A.json", r#"{"$ref": "B.json#/$defs/nothing"}"#),
            ("B.json", r#"{"$defs": {"something": {}}}"#),
        ]);
        let error = result.expect_err("dangling pointer");
        assert!(
            matches!(error, SchemaError::DanglingRef { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("A.json"), "{error}");
    }

    #[test]
    fn invalid_schema_names_the_file() {
        let (_dir, result) = load_files(&[("Bad.json", r#"{"type": "objekt"}"#)]);
        let error = result.expect_err("invalid schema");
        assert!(matches!(error, SchemaError::Compile { .. }), "{error:?}");
        assert!(error.to_string().contains("Bad.json"), "{error}");
    }

    #[test]
    fn duplicate_id_names_both_files() {
        let (_dir, result) = load_files(&[
            ("A.json", r#"{"$id": "Same.json"}"#),
            (
                "B.json",
                r#"{"$id": "https://xpipe-conformance.local/schemas/Same.json"}"#,
            ),
        ]);
        let message = result.expect_err("duplicate $id").to_string();
        assert!(
            message.contains("A.json") && message.contains("B.json"),
            "{message}"
        );
    }

    #[test]
    fn a_large_instance_that_breaks_its_model_names_its_first_violation() {
        let zeros = vec![json!(0); LARGE_INSTANCE_NODES + 1];
        let violations = schemas()
            .validate("ConnectionQueryResponse", &json!({ "found": zeros }))
            .expect_err("numbers are not connections");
        assert_eq!(violations.len(), 2);
        assert!(
            violations[0].to_string().starts_with("at /found/0:"),
            "{}",
            violations[0]
        );
        assert!(
            violations[1]
                .to_string()
                .starts_with("further violations not searched")
        );
        assert!(!exceeds_nodes(&json!([[1, 2], {"a": 3}]), 6));
        assert!(exceeds_nodes(&json!([[1, 2], {"a": 3}]), 5));
    }

    #[test]
    fn violations_past_the_first_twenty_are_counted_not_listed() {
        let set = schemas();
        let zeros = vec![json!(0); 1000];
        let violations = set
            .validate("ConnectionQueryResponse", &json!({ "found": zeros }))
            .expect_err("numbers are not connections");
        assert_eq!(violations.len(), VIOLATIONS_KEPT + 1);
        let last = violations.last().expect("the count").to_string();
        assert!(
            last.starts_with("and ") && last.ends_with(" more violations, not listed"),
            "{last}"
        );
    }

    #[test]
    fn empty_folder_is_an_error() {
        let (_dir, result) = load_files(&[("README.md", "not a schema")]);
        let error = result.expect_err("no schema");
        assert!(matches!(error, SchemaError::Empty { .. }), "{error:?}");
        assert!(error.to_string().starts_with("no schema"), "{error}");
    }
}
