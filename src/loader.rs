//! Reads the case files under a folder into [`Case`] values, one result per file.
//!
//! A file that cannot be read or parsed becomes a [`LoadError`] for that file alone, so the
//! report can fail that one case while every other case still runs.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::case::{Case, CaseFile, Requirement, Session, Step};
use crate::schema::SchemaSet;

/// Why one case file could not become a case.
#[derive(Debug, Clone)]
pub struct LoadError {
    /// The trial name the case would have had.
    pub name: String,
    /// The file.
    pub file: PathBuf,
    /// The line and column of the fault, where the parser knows them (1-based).
    pub location: Option<(u64, u64)>,
    /// What is wrong, lowercase.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, column)) = self.location {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for LoadError {}

/// Why the case folder as a whole could not be read.
#[derive(Debug)]
pub struct FolderError {
    /// The folder.
    pub dir: PathBuf,
    /// The underlying error.
    pub source: std::io::Error,
}

impl fmt::Display for FolderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot read case folder {}: {}",
            self.dir.display(),
            self.source
        )
    }
}

impl std::error::Error for FolderError {}

/// Loads every `*.yaml` / `*.yml` file one folder below `dir` (`dir/<operation>/<case>.yaml`),
/// sorted by trial name. Models named by the cases are checked against `schemas`.
pub fn load_cases(
    dir: &Path,
    schemas: &SchemaSet,
) -> Result<Vec<Result<Case, LoadError>>, FolderError> {
    let folder_error = |source| FolderError {
        dir: dir.to_owned(),
        source,
    };
    let is_yaml = |path: &Path| {
        matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) && path.is_file()
    };
    let mut files = Vec::new();
    let mut misplaced = Vec::new();
    for group in std::fs::read_dir(dir).map_err(folder_error)? {
        let group = group.map_err(folder_error)?.path();
        if !group.is_dir() {
            // A case written straight into the case folder would otherwise vanish unnoticed.
            if is_yaml(&group) {
                misplaced.push(group);
            }
            continue;
        }
        for entry in std::fs::read_dir(&group).map_err(folder_error)? {
            let path = entry.map_err(folder_error)?.path();
            if is_yaml(&path) {
                files.push(path);
            }
        }
    }
    if files.is_empty() && misplaced.is_empty() {
        return Err(FolderError {
            dir: dir.to_owned(),
            source: std::io::Error::other("no case files in <folder>/<operation>/*.yaml"),
        });
    }

    let mut cases: Vec<Result<Case, LoadError>> =
        files.iter().map(|file| load_case(file, schemas)).collect();
    cases.extend(misplaced.into_iter().map(|file| {
        Err(LoadError {
            name: file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            file,
            location: None,
            message: "case files belong one folder down, in <cases>/<operation>/".to_owned(),
        })
    }));
    cases.sort_by(|a, b| trial_name_of(a).cmp(trial_name_of(b)));
    Ok(cases)
}

fn trial_name_of(result: &Result<Case, LoadError>) -> &str {
    match result {
        Ok(case) => &case.name,
        Err(error) => &error.name,
    }
}

/// The trial name of a case file: its folder and its stem, joined by `::`.
pub fn trial_name(file: &Path) -> String {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    let group = file
        .parent()
        .and_then(|p| p.file_name())
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    format!("{group}::{stem}")
}

/// Loads one case file.
pub fn load_case(file: &Path, schemas: &SchemaSet) -> Result<Case, LoadError> {
    let name = trial_name(file);
    let error = |location, message: String| LoadError {
        name: name.clone(),
        file: file.to_owned(),
        location,
        message,
    };
    let text =
        std::fs::read_to_string(file).map_err(|e| error(None, format!("cannot read: {e}")))?;
    let spec = parse_case(&text).map_err(|(location, message)| error(location, message))?;
    check_case(&spec, schemas).map_err(|message| error(None, message))?;
    Ok(Case {
        name,
        file: file.to_owned(),
        spec,
    })
}

/// Parses the text of a case file; the error carries the line and column where known.
pub fn parse_case(text: &str) -> Result<CaseFile, (Option<(u64, u64)>, String)> {
    serde_saphyr::from_str::<CaseFile>(text).map_err(|e| {
        let location = e.location().map(|l| (l.line(), l.column()));
        // The parser's message may repeat the location; the report prints it once, up front.
        (location, first_line(&e.to_string()).to_owned())
    })
}

/// The parser's first line, without the `error:` and location prefixes the report gives anyway.
fn first_line(message: &str) -> &str {
    let line = message.lines().next().unwrap_or(message).trim();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    match line
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((location, rest)) if location.contains("column") => rest,
        _ => line,
    }
}

/// Checks what the types cannot: known models, a request body given once, a non-empty case.
fn check_case(spec: &CaseFile, schemas: &SchemaSet) -> Result<(), String> {
    if spec.steps.is_empty() {
        return Err("a case needs at least one step".to_owned());
    }
    for (index, step) in spec.steps.iter().enumerate() {
        check_step(step, schemas).map_err(|m| format!("step {}: {m}", index + 1))?;
    }
    check_credentials_required(spec)
}

/// A case that writes a credential into a request must require it, so that a run without that
/// credential ignores the case with the reason instead of failing it.
fn check_credentials_required(spec: &CaseFile) -> Result<(), String> {
    let needs = [
        ("${api_key", Requirement::ApiKey, "api_key"),
        ("${auth_file_content", Requirement::LocalAuth, "local_auth"),
    ];
    for step in &spec.steps {
        let request = &step.request;
        let mut texts: Vec<String> = request.headers.values().cloned().collect();
        texts.extend(request.body.as_ref().map(|b| b.to_string()));
        texts.extend(request.raw_body.clone());
        if let Session::Token(token) = &request.session {
            texts.push(token.clone());
        }
        for (variable, requirement, word) in needs {
            if texts.iter().any(|t| t.contains(variable)) && !spec.requires.contains(&requirement) {
                return Err(format!(
                    "the case uses {variable}, so it must say `requires: [{word}]`"
                ));
            }
        }
    }
    Ok(())
}

/// The most requests a `parallel` step sends at once: enough to show races, few enough for a
/// laptop and for a daemon under test that is also someone's desktop.
pub const MAX_PARALLEL: usize = 64;

fn check_step(step: &Step, schemas: &SchemaSet) -> Result<(), String> {
    let request = &step.request;
    if request.body.is_some() && request.raw_body.is_some() {
        return Err("give either `body` or `raw_body`, not both".to_owned());
    }
    if let Some(parallel) = &step.parallel {
        if !(1..=MAX_PARALLEL).contains(&parallel.count) {
            return Err(format!("parallel count must be 1 to {MAX_PARALLEL}"));
        }
        if step.for_each.is_some() {
            return Err("a step takes either `parallel` or `for_each`, not both".to_owned());
        }
        for pointer in &parallel.distinct {
            check_pointer(pointer)?;
        }
    }
    if !request.path.starts_with('/') {
        return Err(format!("path {:?} must start with `/`", request.path));
    }
    if let Some(model) = &step.expect.model
        && !schemas.has(model)
    {
        return Err(format!(
            "unknown model {model:?}; known models: {}",
            schemas.models().join(", ")
        ));
    }
    if let Some(status) = &step.expect.status {
        for pattern in status.patterns() {
            if let crate::case::StatusPattern::Class(class) = pattern
                && !(100..=599).any(|code| pattern.accepts(code))
            {
                return Err(format!("status class {class:?} is not of the form `4xx`"));
            }
        }
    }
    for pointer in step.capture.values().chain(&step.expect.absent) {
        check_pointer(pointer)?;
    }
    for pointer in step.expect.json.keys().chain(step.expect.not_equal.keys()) {
        check_pointer(pointer)?;
    }
    Ok(())
}

fn check_pointer(pointer: &str) -> Result<(), String> {
    if pointer.is_empty() || pointer.starts_with('/') {
        Ok(())
    } else {
        Err(format!(
            "JSON pointer {pointer:?} must be empty or start with `/`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parse_error_names_line_and_column() {
        let text = "description: x\nlevel: must\nsteps:\n  - request: [unclosed\n";
        let (location, message) = parse_case(text).unwrap_err();
        assert!(location.is_some(), "no location for: {message}");
        assert_eq!(location.unwrap().0, 4, "{message}");
    }

    #[test]
    fn an_unknown_field_is_an_error() {
        let text = "description: x\nlevel: must\nstepz: []\n";
        let (_, message) = parse_case(text).unwrap_err();
        assert!(message.contains("stepz"), "{message}");
    }

    #[test]
    fn a_full_step_parses() {
        let text = r#"
description: every field
level: should
tags: [a]
requires: [connections, api_key]
steps:
  - name: listing
    request:
      path: /connection/query
      session: none
      headers: {X-Test: "1"}
      body: {categoryFilter: "**", connectionFilter: "**", typeFilter: "*"}
    expect:
      status: [200, 4xx]
      content_type: application/json
      body: empty_or_json
      model: ConnectionQueryResponse
      json: {"/found/0/type": "ssh"}
      absent: [/token]
      found: {agrees_with: listing, count: 2}
      snapshot: listing
    capture: {listing: /found}
  - for_each: {derive: connection_first_parts, from: listing, limit: 3}
    request:
      path: /connection/query
      session: {token: "${tok}"}
      raw_body: "{"
"#;
        let spec = parse_case(text).unwrap();
        assert_eq!(spec.steps.len(), 2);
        let status = spec.steps[0].expect.status.as_ref().unwrap();
        assert!(status.accepts(200) && status.accepts(404) && !status.accepts(500));
        assert_eq!(
            spec.steps[1].request.session,
            crate::case::Session::Token("${tok}".into())
        );
        assert_eq!(spec.steps[0].request.session, crate::case::Session::None);
    }

    #[test]
    fn trial_names_join_folder_and_stem() {
        assert_eq!(
            trial_name(Path::new(
                "cases/connection_query/star_stays_in_one_part.yaml"
            )),
            "connection_query::star_stays_in_one_part"
        );
    }
}
