//! Request bodies of the three operations, read from raw bytes with messages that say what was
//! wrong and where (a JSON pointer), as the reference daemon's 400 answers do. The request-body
//! hook of the faults lives here: each `parse` is told which faults the mock commits.

use serde_json::{Map, Value};

use super::error::ApiError;
use super::fault::{Fault, Faults};

/// The longest piece of client input echoed back in an error message.
const ECHO_LIMIT: usize = 64;

/// `HandshakeRequest`: how the client proves itself and who it is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct HandshakeRequest {
    pub auth: AuthMethod,
    pub client: ClientKind,
}

/// `AuthMethod`, by its `type` discriminator.
#[derive(PartialEq, Eq)]
pub(crate) enum AuthMethod {
    /// `ApiKey`: the configured API key.
    ApiKey { key: String },
    /// `Local`: the content of the auth file.
    Local { auth_file_content: String },
}

impl AuthMethod {
    /// The discriminator value, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            AuthMethod::ApiKey { .. } => "ApiKey",
            AuthMethod::Local { .. } => "Local",
        }
    }
}

impl std::fmt::Debug for AuthMethod {
    // The credential itself never reaches a log line or a panic message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}(<redacted>)", self.name())
    }
}

/// `ClientInformation`, by its `type` discriminator; the client's name is not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientKind {
    Api,
    Cli,
    Daemon,
}

/// `ConnectionQueryRequest`: the three filters, uncompiled.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct QueryRequest {
    pub category_filter: String,
    pub connection_filter: String,
    pub type_filter: String,
}

/// The body of `/daemon/open`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct OpenRequest {
    pub arguments: Vec<String>,
}

impl HandshakeRequest {
    pub fn parse(body: &[u8], faults: &Faults) -> Result<Self, ApiError> {
        let body = parse_body(body)?;
        let root = Object::root(&body);

        let auth = root.object("auth")?;
        let kind = match auth.map.get("type") {
            None if faults.has(Fault::AuthTypeInferred) && auth.map.contains_key("key") => "ApiKey",
            None if faults.has(Fault::AuthTypeInferred) => "Local",
            _ => auth.string("type")?,
        };
        let auth = match kind {
            "ApiKey" => AuthMethod::ApiKey {
                key: auth.string("key")?.to_string(),
            },
            "Local" => AuthMethod::Local {
                auth_file_content: auth.string("authFileContent")?.to_string(),
            },
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown auth type {} at /auth/type; expected \"ApiKey\" or \"Local\"",
                    echo(other)
                )));
            }
        };

        if faults.has(Fault::HandshakeClientUnchecked)
            && !matches!(root.map.get("client"), Some(Value::Object(_)))
        {
            return Ok(HandshakeRequest {
                auth,
                client: ClientKind::Api,
            });
        }
        let client = root.object("client")?;
        let client = match client.string("type")? {
            "Api" => {
                client.string("name")?;
                ClientKind::Api
            }
            "Cli" => ClientKind::Cli,
            "Daemon" => ClientKind::Daemon,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown client type {} at /client/type; expected \"Api\", \"Cli\" or \
                     \"Daemon\"",
                    echo(other)
                )));
            }
        };

        Ok(HandshakeRequest { auth, client })
    }
}

impl QueryRequest {
    pub fn parse(body: &[u8], faults: &Faults) -> Result<Self, ApiError> {
        let body = parse_body(body)?;
        let root = Object::root(&body);
        let filter = |name: &str, everything: &str| match root.map.get(name) {
            None if faults.has(Fault::MissingFilterMatchesAll) => Ok(everything.to_string()),
            Some(value) if !value.is_string() && faults.has(Fault::NonStringFilterCoerced) => {
                Ok(value.to_string())
            }
            _ => root.string(name).map(str::to_string),
        };
        Ok(QueryRequest {
            category_filter: filter("categoryFilter", "**")?,
            connection_filter: filter("connectionFilter", "**")?,
            type_filter: filter("typeFilter", "*")?,
        })
    }
}

impl OpenRequest {
    pub fn parse(body: &[u8], faults: &Faults) -> Result<Self, ApiError> {
        let body = parse_body(body)?;
        let root = Object::root(&body);
        if faults.has(Fault::OpenArgumentsTypeUnchecked)
            && let Some(arguments) = root.map.get("arguments")
        {
            // Whatever came is made into a list of strings and acted on.
            let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            let arguments = match arguments {
                Value::Array(items) => items.iter().map(text).collect(),
                other => vec![text(other)],
            };
            return Ok(OpenRequest { arguments });
        }
        let arguments: Vec<String> = root
            .array("arguments")?
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(ApiError::BadRequest(format!(
                    "/arguments/{i} must be a string, found {}",
                    kind(other)
                ))),
            })
            .collect::<Result<_, _>>()?;
        if arguments.is_empty() && faults.has(Fault::OpenEmptyArgumentsRefused) {
            return Err(ApiError::BadRequest(
                "/arguments must name at least one thing to open".into(),
            ));
        }
        Ok(OpenRequest { arguments })
    }
}

/// Parses the body, which must be one JSON object; the `Content-Type` header is not consulted.
fn parse_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "request body is empty; expected a JSON object".into(),
        ));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ApiError::BadRequest(format!(
            "request body must be a JSON object, found {}",
            kind(&other)
        ))),
        Err(err) => Err(ApiError::BadRequest(format!(
            "request body is not valid JSON: {err}"
        ))),
    }
}

/// A JSON object inside the request body, with its JSON pointer (`""` for the body itself).
struct Object<'a> {
    map: &'a Map<String, Value>,
    pointer: String,
}

impl<'a> Object<'a> {
    fn root(map: &'a Map<String, Value>) -> Self {
        Object {
            map,
            pointer: String::new(),
        }
    }

    /// A required field, present and not of any particular type yet.
    fn field(&self, name: &str) -> Result<&'a Value, ApiError> {
        self.map.get(name).ok_or_else(|| {
            let at = if self.pointer.is_empty() {
                String::new()
            } else {
                format!(" at {}", self.pointer)
            };
            ApiError::BadRequest(format!("missing field \"{name}\"{at}"))
        })
    }

    fn wrong_type(&self, name: &str, expected: &str, found: &Value) -> ApiError {
        ApiError::BadRequest(format!(
            "{}/{name} must be {expected}, found {}",
            self.pointer,
            kind(found)
        ))
    }

    fn string(&self, name: &str) -> Result<&'a str, ApiError> {
        match self.field(name)? {
            Value::String(s) => Ok(s),
            other => Err(self.wrong_type(name, "a string", other)),
        }
    }

    fn array(&self, name: &str) -> Result<&'a [Value], ApiError> {
        match self.field(name)? {
            Value::Array(items) => Ok(items),
            other => Err(self.wrong_type(name, "an array", other)),
        }
    }

    fn object(&self, name: &str) -> Result<Object<'a>, ApiError> {
        match self.field(name)? {
            Value::Object(map) => Ok(Object {
                map,
                pointer: format!("{}/{name}", self.pointer),
            }),
            other => Err(self.wrong_type(name, "an object", other)),
        }
    }
}

/// The JSON type of a value, as error messages name it.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Client input quoted for an error message, cut short when long.
fn echo(value: &str) -> String {
    match value.char_indices().nth(ECHO_LIMIT) {
        Some((end, _)) => format!("{:?}...", &value[..end]),
        None => format!("{value:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<impl std::fmt::Debug, ApiError>) -> String {
        match result.unwrap_err() {
            ApiError::BadRequest(message) => message,
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[test]
    fn handshake_reads_both_auth_methods_and_all_client_types() {
        let body =
            br#"{"auth": {"type": "ApiKey", "key": "k"}, "client": {"type": "Api", "name": "n"}}"#;
        let request = HandshakeRequest::parse(body, &Faults::default()).unwrap();
        assert_eq!(request.auth, AuthMethod::ApiKey { key: "k".into() });
        assert_eq!(request.client, ClientKind::Api);

        for (client, expected) in [("Cli", ClientKind::Cli), ("Daemon", ClientKind::Daemon)] {
            let body = format!(
                r#"{{"auth": {{"type": "Local", "authFileContent": "s", "extra": 1}},
                    "client": {{"type": "{client}"}}, "x": null}}"#
            );
            let request = HandshakeRequest::parse(body.as_bytes(), &Faults::default()).unwrap();
            assert_eq!(
                request.auth,
                AuthMethod::Local {
                    auth_file_content: "s".into()
                }
            );
            assert_eq!(request.client, expected);
        }
    }

    #[test]
    fn handshake_faults_are_named_with_their_place() {
        let cases: [(&[u8], &str); 11] = [
            (b"", "request body is empty; expected a JSON object"),
            (b"[]", "request body must be a JSON object, found an array"),
            (
                b"{",
                "request body is not valid JSON: EOF while parsing an object at line 1 column 1",
            ),
            (br#"{"client": {}}"#, "missing field \"auth\""),
            (br#"{"auth": "ApiKey"}"#, "/auth must be an object, found a string"),
            (br#"{"auth": {"key": "k"}}"#, "missing field \"type\" at /auth"),
            (br#"{"auth": {"type": "ApiKey"}}"#, "missing field \"key\" at /auth"),
            (
                br#"{"auth": {"type": "ApiKey", "key": 5}}"#,
                "/auth/key must be a string, found a number",
            ),
            (
                br#"{"auth": {"type": "Token"}}"#,
                "unknown auth type \"Token\" at /auth/type; expected \"ApiKey\" or \"Local\"",
            ),
            (
                br#"{"auth": {"type": "Local", "authFileContent": "s"}, "client": {"type": "Api"}}"#,
                "missing field \"name\" at /client",
            ),
            (
                br#"{"auth": {"type": "Local", "authFileContent": "s"}, "client": {"type": null}}"#,
                "/client/type must be a string, found null",
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                message(HandshakeRequest::parse(body, &Faults::default())),
                expected
            );
        }
    }

    #[test]
    fn long_values_are_cut_short_in_messages() {
        let body = format!(r#"{{"auth": {{"type": "{}"}}}}"#, "é".repeat(500));
        let shown = message(HandshakeRequest::parse(body.as_bytes(), &Faults::default()));
        assert!(shown.len() < 250, "{shown}");
        assert!(shown.ends_with("ééé\"... at /auth/type; expected \"ApiKey\" or \"Local\""));
    }

    #[test]
    fn query_needs_three_strings() {
        let body = br#"{"categoryFilter": "a", "connectionFilter": "b", "typeFilter": "c"}"#;
        let request = QueryRequest::parse(body, &Faults::default()).unwrap();
        assert_eq!(request.type_filter, "c");
        let body = br#"{"categoryFilter": "a", "connectionFilter": "b"}"#;
        assert_eq!(
            message(QueryRequest::parse(body, &Faults::default())),
            "missing field \"typeFilter\""
        );
        let body = br#"{"categoryFilter": ["a"], "connectionFilter": "b", "typeFilter": "c"}"#;
        assert_eq!(
            message(QueryRequest::parse(body, &Faults::default())),
            "/categoryFilter must be a string, found an array"
        );
    }

    #[test]
    fn open_needs_a_list_of_strings() {
        assert_eq!(
            OpenRequest::parse(br#"{"arguments": []}"#, &Faults::default())
                .unwrap()
                .arguments,
            Vec::<String>::new()
        );
        assert_eq!(
            OpenRequest::parse(br#"{"arguments": ["a", "b"]}"#, &Faults::default())
                .unwrap()
                .arguments,
            ["a", "b"]
        );
        assert_eq!(
            message(OpenRequest::parse(b"{}", &Faults::default())),
            "missing field \"arguments\""
        );
        assert_eq!(
            message(OpenRequest::parse(
                br#"{"arguments": "a"}"#,
                &Faults::default()
            )),
            "/arguments must be an array, found a string"
        );
        assert_eq!(
            message(OpenRequest::parse(
                br#"{"arguments": ["a", 2]}"#,
                &Faults::default()
            )),
            "/arguments/1 must be a string, found a number"
        );
    }
}
