//! Variables of a running case: `${name}` substitution in requests and expectations, with the
//! transforms a reference may apply (`${token|drop_last}`).

use std::collections::BTreeMap;

use serde_json::Value;

/// Names of the built-in variables that hold the run's credentials.
pub const API_KEY: &str = "api_key";
/// The contents of the daemon's auth file, for `Local` handshakes.
pub const AUTH_FILE_CONTENT: &str = "auth_file_content";

/// The variables of one case: built-ins, captured values and the current derived value.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    values: BTreeMap<String, Value>,
}

impl Variables {
    /// Sets a variable.
    pub fn set(&mut self, name: &str, value: Value) {
        self.values.insert(name.to_owned(), value);
    }

    /// The value of a variable.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// Substitutes variables in every string of a JSON value. A string that is exactly
    /// `${name}` becomes the variable's value of any JSON type; elsewhere the variable is
    /// written in as text.
    pub fn render_value(&self, value: &Value) -> Result<Value, String> {
        Ok(match value {
            Value::String(text) => {
                if let Some(name) = whole_variable(text) {
                    self.lookup(name)?
                } else {
                    Value::String(self.render(text)?)
                }
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.render_value(v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), self.render_value(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }

    /// Substitutes variables in a string; non-string values are written as JSON.
    pub fn render(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(format!("unclosed `${{` in {text:?}"));
            };
            match self.lookup(&after[..end])? {
                Value::String(s) => out.push_str(&s),
                other => out.push_str(&other.to_string()),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// A variable's value, changed by the transform after a `|` if there is one:
    /// `drop_last` (the string without its last character), `upper` or `lower`.
    fn lookup(&self, reference: &str) -> Result<Value, String> {
        let (name, transform) = match reference.split_once('|') {
            Some((name, transform)) => (name.trim(), Some(transform.trim())),
            None => (reference, None),
        };
        let value = self.values.get(name).ok_or_else(|| match name {
            API_KEY => "the run has no API key: pass --api-key or set XPIPE_API_KEY".to_owned(),
            AUTH_FILE_CONTENT => "the run has no auth file content: pass --auth-file".to_owned(),
            _ => format!("unknown variable ${{{name}}}"),
        })?;
        let Some(transform) = transform else {
            return Ok(value.clone());
        };
        let text = value
            .as_str()
            .ok_or_else(|| format!("`{transform}` needs a string; ${{{name}}} is {value}"))?;
        let changed = apply_transform(transform, text).ok_or_else(|| {
            format!(
                "unknown transform `{transform}` in ${{{reference}}}; known: {}",
                TRANSFORMS.join(", ")
            )
        })?;
        Ok(Value::String(changed))
    }
}

/// The transforms a variable reference may apply; [`apply_transform`] applies them. The
/// redactor masks what each of them makes of a secret, so a new one is masked too.
pub const TRANSFORMS: [&str; 3] = ["drop_last", "upper", "lower"];

/// `text` changed by the transform called `name`; `None` for an unknown transform.
pub fn apply_transform(name: &str, text: &str) -> Option<String> {
    match name {
        "drop_last" => {
            let mut chars = text.chars();
            chars.next_back();
            Some(chars.as_str().to_owned())
        }
        "upper" => Some(text.to_uppercase()),
        "lower" => Some(text.to_lowercase()),
        _ => None,
    }
}

fn whole_variable(text: &str) -> Option<&str> {
    let name = text.strip_prefix("${")?.strip_suffix('}')?;
    (!name.contains('}')).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Variables {
        let mut vars = Variables::default();
        vars.set("name", json!("web"));
        vars.set("listing", json!([1, 2]));
        vars
    }

    #[test]
    fn a_whole_variable_keeps_its_type() {
        let rendered = vars().render_value(&json!({"a": "${listing}", "b": "x/${name}/*"}));
        assert_eq!(rendered.unwrap(), json!({"a": [1, 2], "b": "x/web/*"}));
    }

    #[test]
    fn an_unknown_variable_is_named() {
        let error = vars().render("${nope}").unwrap_err();
        assert!(error.contains("${nope}"), "{error}");
        let error = vars().render("${api_key}").unwrap_err();
        assert!(error.contains("--api-key"), "{error}");
    }

    #[test]
    fn transforms_change_a_string_variable() {
        let vars = vars();
        assert_eq!(vars.render("${name|drop_last}").unwrap(), "we");
        assert_eq!(vars.render("${name | upper}").unwrap(), "WEB");
        assert!(
            vars.render("${name|reverse}")
                .unwrap_err()
                .contains("reverse")
        );
        assert!(
            vars.render("${listing|upper}")
                .unwrap_err()
                .contains("string")
        );
    }
}
