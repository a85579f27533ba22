//! The connections the mock daemon holds: the fixture file format, its loader and the query.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::glob::GlobFilter;

/// One stored connection, in the shape of an item of the `found` list of `/connection/query`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Connection {
    /// The unique id of the connection.
    pub uuid: String,
    /// The full category path, parts separated by `/`.
    pub category: String,
    /// The full connection name path, parts separated by `/`.
    pub connection: String,
    /// The type identifier, such as `ssh`, `docker` or `local`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The connections of a mock daemon, in the order of the fixture file.
///
/// Every field of every connection is non-empty (so an empty filter matches nothing) and no two
/// connections share a UUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionStore {
    connections: Vec<Connection>,
    /// Each connection as JSON, in the same order: rendered once here, since rendering it for
    /// every answer is most of what a query costs the mock.
    rendered: Vec<Box<str>>,
}

/// The fixture file: `{"connections": [...]}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    connections: Vec<Connection>,
}

impl ConnectionStore {
    /// The store shipped with the crate (`fixtures/connections.json`), which the cases name.
    pub fn default_fixture() -> ConnectionStore {
        // The file is part of the crate and checked by a test, so failing here is a build fault.
        Self::from_json(include_str!("../../fixtures/connections.json"))
            .expect("fixtures/connections.json is a valid connection store")
    }

    /// Reads a fixture file.
    ///
    /// # Errors
    ///
    /// [`StoreError`] naming the file when it cannot be read, with the line and column when it is
    /// not a fixture in JSON, with the connection's index when a connection breaks a store rule.
    pub fn load(path: &Path) -> Result<ConnectionStore, StoreError> {
        let text = std::fs::read_to_string(path).map_err(|source| StoreError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text).map_err(|err| err.with_path(path))
    }

    /// Parses the text of a fixture file.
    ///
    /// # Errors
    ///
    /// [`StoreError::Parse`] or [`StoreError::Invalid`], as [`load`](Self::load) gives them.
    pub fn from_json(text: &str) -> Result<ConnectionStore, StoreError> {
        let file: StoreFile = serde_json::from_str(text).map_err(StoreError::parse)?;
        let rendered = file
            .connections
            .iter()
            .map(|c| {
                // Four string fields always serialize; a failure would be a serde_json bug.
                serde_json::to_string(c)
                    .expect("a connection serializes")
                    .into_boxed_str()
            })
            .collect();
        let store = ConnectionStore {
            connections: file.connections,
            rendered,
        };
        store.validate()?;
        Ok(store)
    }

    /// The stored connections, in fixture order.
    pub fn connections(&self) -> &[Connection] {
        &self.connections
    }

    /// The JSON of the connection at `index` in [`connections`](Self::connections).
    pub(crate) fn rendered(&self, index: usize) -> &str {
        &self.rendered[index]
    }

    /// The connections whose category, name and type all match, in store order.
    pub fn query<'a>(
        &'a self,
        category: &'a GlobFilter,
        connection: &'a GlobFilter,
        kind: &'a GlobFilter,
    ) -> impl Iterator<Item = &'a Connection> + 'a {
        self.connections.iter().filter(|c| {
            category.matches(&c.category)
                && connection.matches(&c.connection)
                && kind.matches(&c.kind)
        })
    }

    fn validate(&self) -> Result<(), StoreError> {
        let mut seen = HashSet::new();
        for (index, c) in self.connections.iter().enumerate() {
            let fields = [
                ("uuid", &c.uuid),
                ("category", &c.category),
                ("connection", &c.connection),
                ("type", &c.kind),
            ];
            if let Some((name, _)) = fields.iter().find(|(_, value)| value.is_empty()) {
                return Err(StoreError::Invalid {
                    path: None,
                    index,
                    message: format!(
                        "field \"{name}\" is empty; an empty filter must match nothing"
                    ),
                });
            }
            if !seen.insert(c.uuid.as_str()) {
                return Err(StoreError::Invalid {
                    path: None,
                    index,
                    message: format!("uuid \"{}\" is used by an earlier connection", c.uuid),
                });
            }
        }
        Ok(())
    }
}

/// Why a connection store could not be loaded.
#[derive(Debug)]
pub enum StoreError {
    /// The file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The text is not JSON of the fixture shape.
    Parse {
        /// The file, when the text came from one.
        path: Option<PathBuf>,
        /// 1-based line of the fault.
        line: usize,
        /// 1-based column of the fault.
        column: usize,
        /// What is wrong there.
        message: String,
    },
    /// A connection breaks a rule of the store (an empty field, a repeated UUID).
    Invalid {
        /// The file, when the text came from one.
        path: Option<PathBuf>,
        /// 0-based index of the connection in the `connections` list.
        index: usize,
        /// What is wrong with it.
        message: String,
    },
}

impl StoreError {
    fn parse(err: serde_json::Error) -> StoreError {
        let (line, column) = (err.line(), err.column());
        // serde_json appends the position to its message; it is shown in our own form instead.
        let full = err.to_string();
        let suffix = format!(" at line {line} column {column}");
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
        StoreError::Parse {
            path: None,
            line,
            column,
            message,
        }
    }

    fn with_path(mut self, file: &Path) -> StoreError {
        match &mut self {
            StoreError::Read { .. } => {}
            StoreError::Parse { path, .. } | StoreError::Invalid { path, .. } => {
                *path = Some(file.to_path_buf());
            }
        }
        self
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Read { path, source } => {
                write!(
                    f,
                    "cannot read connection store {}: {source}",
                    path.display()
                )
            }
            StoreError::Parse {
                path: Some(path),
                line,
                column,
                message,
            } => {
                write!(
                    f,
                    "invalid connection store {}:{line}:{column}: {message}",
                    path.display()
                )
            }
            StoreError::Parse {
                path: None,
                line,
                column,
                message,
            } => {
                write!(
                    f,
                    "invalid connection store at line {line}, column {column}: {message}"
                )
            }
            StoreError::Invalid {
                path,
                index,
                message,
            } => {
                let name = path
                    .as_ref()
                    .map(|p| format!(" {}", p.display()))
                    .unwrap_or_default();
                write!(
                    f,
                    "invalid connection store{name}: connections[{index}]: {message}"
                )
            }
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_fixture_loads() {
        let store = ConnectionStore::default_fixture();
        assert!((15..=20).contains(&store.connections().len()));
        let kinds: HashSet<_> = store
            .connections()
            .iter()
            .map(|c| c.kind.as_str())
            .collect();
        assert!(kinds.len() >= 5, "{kinds:?}");
    }

    #[test]
    fn fixture_uuids_have_the_v4_layout() {
        for c in ConnectionStore::default_fixture().connections() {
            let parts: Vec<_> = c.uuid.split('-').map(str::len).collect();
            assert_eq!(parts, [8, 4, 4, 4, 12], "{}", c.uuid);
            assert!(c.uuid.chars().all(|ch| ch == '-' || ch.is_ascii_hexdigit()));
            assert!(!c.uuid.chars().any(|ch| ch.is_ascii_uppercase()));
            assert_eq!(&c.uuid[14..15], "4", "{}", c.uuid);
            assert!("89ab".contains(&c.uuid[19..20]), "{}", c.uuid);
        }
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.json");
        std::fs::write(&path, "{\"connections\": [\n  {\"uuid\": 1}\n]}").unwrap();
        let err = ConnectionStore::load(&path).unwrap_err();
        let shown = err.to_string();
        assert!(shown.starts_with(&format!("invalid connection store {}:2:", path.display())));
        assert!(shown.contains("invalid type: integer `1`"), "{shown}");
        assert!(!shown.contains("at line"), "{shown}");
    }

    #[test]
    fn unknown_top_level_fields_are_refused() {
        let err = ConnectionStore::from_json(r#"{"connection": []}"#).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `connection`"),
            "{err}"
        );
    }

    #[test]
    fn empty_fields_and_repeated_uuids_are_refused() {
        let item = |uuid: &str, kind: &str| {
            format!(r#"{{"uuid": "{uuid}", "category": "c", "connection": "n", "type": "{kind}"}}"#)
        };
        let text = format!(
            r#"{{"connections": [{}, {}]}}"#,
            item("a", "ssh"),
            item("b", "")
        );
        let err = ConnectionStore::from_json(&text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid connection store: connections[1]: field \"type\" is empty; an empty filter \
             must match nothing"
        );
        let text = format!(
            r#"{{"connections": [{}, {}]}}"#,
            item("a", "ssh"),
            item("a", "ssh")
        );
        let err = ConnectionStore::from_json(&text).unwrap_err();
        assert!(
            err.to_string().contains("connections[1]: uuid \"a\""),
            "{err}"
        );
    }

    #[test]
    fn missing_file_is_named() {
        let err = ConnectionStore::load(Path::new("/nonexistent/store.json")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read connection store /nonexistent/store.json")
        );
    }

    /// Ways a daemon has matched filters wrongly; each must change some answer on the fixture.
    #[derive(Clone, Copy, Default)]
    struct Fault {
        star_crosses_slash: bool,
        globstar_stops_at_slash: bool,
        dot_is_any_char: bool,
        folds_case: bool,
        unanchored: bool,
        ignores_type: bool,
        ignores_category: bool,
    }

    /// A deliberately faulty matcher: the glob dialect with the chosen faults switched on.
    fn faulty_matches(fault: Fault, pattern: &str, text: &str) -> bool {
        let fold = |s: &str| {
            if fault.folds_case {
                s.to_lowercase()
            } else {
                s.to_string()
            }
        };
        let (pattern, text) = (fold(pattern), fold(text));
        let pattern = if fault.unanchored {
            format!("**{pattern}**")
        } else {
            pattern
        };
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        fn go(f: Fault, p: &[char], t: &[char]) -> bool {
            match p {
                [] => t.is_empty(),
                ['*', '*', rest @ ..] => {
                    let rest = rest.strip_prefix(&['*'][..]).unwrap_or(rest);
                    (0..=t.len()).any(|i| {
                        (!f.globstar_stops_at_slash || !t[..i].contains(&'/'))
                            && go(f, rest, &t[i..])
                    })
                }
                ['*', rest @ ..] => (0..=t.len()).any(|i| {
                    (f.star_crosses_slash || !t[..i].contains(&'/')) && go(f, rest, &t[i..])
                }),
                [c, rest @ ..] => match t {
                    [d, t_rest @ ..] if c == d || (f.dot_is_any_char && *c == '.') => {
                        go(f, rest, t_rest)
                    }
                    _ => false,
                },
            }
        }
        go(fault, &p, &t)
    }

    fn answer(fault: Option<Fault>, category: &str, connection: &str, kind: &str) -> Vec<String> {
        let store = ConnectionStore::default_fixture();
        let Some(f) = fault else {
            let (c, n, k) = (
                GlobFilter::path(category),
                GlobFilter::path(connection),
                GlobFilter::type_filter(kind),
            );
            return store.query(&c, &n, &k).map(|c| c.uuid.clone()).collect();
        };
        store
            .connections()
            .iter()
            .filter(|c| f.ignores_category || faulty_matches(f, category, &c.category))
            .filter(|c| faulty_matches(f, connection, &c.connection))
            .filter(|c| f.ignores_type || faulty_matches(f, kind, &c.kind))
            .map(|c| c.uuid.clone())
            .collect()
    }

    #[test]
    fn fixture_tells_each_matching_fault_from_the_right_answer() {
        let none = Fault::default();
        let cases = [
            (
                "* crosses /",
                Fault {
                    star_crosses_slash: true,
                    ..none
                },
                ["**", "servers/*", "*"],
            ),
            (
                "* crosses / in categories",
                Fault {
                    star_crosses_slash: true,
                    ..none
                },
                ["servers/*", "**", "*"],
            ),
            (
                "** stops at /",
                Fault {
                    globstar_stops_at_slash: true,
                    ..none
                },
                ["**", "servers/**", "*"],
            ),
            (
                ". is any char",
                Fault {
                    dot_is_any_char: true,
                    ..none
                },
                ["**", "servers/web.01", "*"],
            ),
            (
                ". is any char (db)",
                Fault {
                    dot_is_any_char: true,
                    ..none
                },
                ["**", "db.primary", "*"],
            ),
            (
                ". is any char in categories",
                Fault {
                    dot_is_any_char: true,
                    ..none
                },
                ["dev.team", "**", "*"],
            ),
            (
                "case folded",
                Fault {
                    folds_case: true,
                    ..none
                },
                ["**", "router", "*"],
            ),
            (
                "unanchored name",
                Fault {
                    unanchored: true,
                    ..none
                },
                ["**", "nginx", "*"],
            ),
            (
                "unanchored category",
                Fault {
                    unanchored: true,
                    ..none
                },
                ["servers", "**", "*"],
            ),
            (
                "unanchored type",
                Fault {
                    unanchored: true,
                    ..none
                },
                ["**", "**", "proxmox"],
            ),
            (
                "typeFilter ignored",
                Fault {
                    ignores_type: true,
                    ..none
                },
                ["containers", "**", "docker"],
            ),
            (
                "categoryFilter ignored",
                Fault {
                    ignores_category: true,
                    ..none
                },
                ["containers", "nginx", "*"],
            ),
        ];
        for (name, fault, [category, connection, kind]) in cases {
            let right = answer(None, category, connection, kind);
            let wrong = answer(Some(fault), category, connection, kind);
            assert!(
                !right.is_empty(),
                "{name}: the right answer should not be empty"
            );
            assert_ne!(
                right, wrong,
                "{name}: the fixture cannot tell this fault apart"
            );
        }

        // The reverse of case folding: a daemon that should fold but does not.
        let folded = GlobFilter::path("ROUTER").case_insensitive(true);
        let store = ConnectionStore::default_fixture();
        assert_eq!(
            store
                .connections()
                .iter()
                .filter(|c| folded.matches(&c.connection))
                .count(),
            2
        );
    }

    #[test]
    fn fixture_holds_regex_syntax_that_fails_to_match_itself_as_a_regex() {
        // A regex reading of each of these names does not match the name itself, so a daemon that
        // translates filters to regular expressions answers them wrongly (or with a 500).
        let store = ConnectionStore::default_fixture();
        let names: Vec<_> = store
            .connections()
            .iter()
            .map(|c| c.connection.as_str())
            .collect();
        let categories: Vec<_> = store
            .connections()
            .iter()
            .map(|c| c.category.as_str())
            .collect();
        for name in ["build (old)", "lab[1]", "gcc+clang"] {
            assert!(names.contains(&name), "{name}");
        }
        assert!(categories.contains(&"Lab [old]"));
        assert!(names.iter().any(|n| n.split('/').count() == 3));
    }
}
