//! Request bodies made from a model's [`Shape`]: valid ones (each alternative, boundary strings
//! in each free string, extra fields) and invalid ones (each required field left out, each
//! field of a wrong JSON type, unknown discriminator values, the wrong shape at the top).
//!
//! A body changes one place of a plain valid body at a time, so the case name says what is
//! under test. The run's credentials enter as `${api_key}` and `${auth_file_content}`.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::model::{Alternative, JsonType, ObjectShape, Property, Shape, StringShape};
use super::rng::Rng;
use super::strings::{self, Boundary};
use crate::case::Requirement;
use crate::runner::template::{API_KEY, AUTH_FILE_CONTENT};

/// The most plain bodies one model gives (one per combination of alternatives).
const MAX_BASES: usize = 16;

/// A kind of credentials: the discriminator value that selects it and the run's variable that
/// holds the real secret. The field carrying the secret is found in the model: the one free
/// string the alternative requires besides the discriminator.
#[derive(Debug)]
pub struct CredentialKind {
    /// The `auth.type` value.
    pub discriminator: &'static str,
    /// The variable holding the run's secret.
    pub variable: &'static str,
    /// What a case using it requires from the run.
    pub requirement: Requirement,
}

/// The credential kinds of the document.
pub const CREDENTIAL_KINDS: [CredentialKind; 2] = [
    CredentialKind {
        discriminator: "ApiKey",
        variable: API_KEY,
        requirement: Requirement::ApiKey,
    },
    CredentialKind {
        discriminator: "Local",
        variable: AUTH_FILE_CONTENT,
        requirement: Requirement::LocalAuth,
    },
];

/// Required fields whose absence the document leaves open: no case leaves them out as invalid.
/// Model (the file that requires it), field, and why.
pub const OPEN_REQUIRED: [(&str, &str, &str); 2] = [
    (
        "ApiClientInformation",
        "name",
        "the document's discriminator names no mapping, so a plain reading of \
         ClientInformation lets {type: Api} pass (NOTES.md)",
    ),
    (
        "DaemonOpenRequest",
        "arguments",
        "the OpenAPI source does not mark `arguments` required (NOTES.md)",
    ),
];

/// What the answer to a generated body must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expectation {
    /// A valid body with the run's credentials: a 2xx carrying the operation's answer.
    Success,
    /// A valid body that the document lets the daemon refuse (a filter it cannot use, a client
    /// kind it does not know): a 2xx with the operation's answer or a 4xx, never a 5xx.
    SuccessOrRefusal,
    /// An invalid body, or credentials that are not the daemon's: a 4xx without the answer's
    /// data.
    Refusal,
}

/// Which family a body belongs to; the selection takes from every family in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    /// A valid body.
    Valid,
    /// A valid body with credentials that are not the daemon's.
    WrongCredentials,
    /// A required field left out.
    Missing,
    /// A field of the wrong JSON type.
    WrongType,
    /// A discriminator or other fixed string with a value the model does not allow.
    UnknownValue,
    /// The wrong shape at the top: not an object, empty, not JSON.
    Shape,
}

/// What is sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A JSON body.
    Json(Value),
    /// Bytes that are not a JSON object: sent as they are, declared as JSON.
    Raw(String),
}

/// One generated body with what it tests.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Its family.
    pub category: Category,
    /// A snake-case label for the case name, such as `missing_auth_key`.
    pub label: String,
    /// What is special about it, for the case description.
    pub what: String,
    /// The body.
    pub payload: Payload,
    /// What the answer must be.
    pub expectation: Expectation,
}

/// A plain valid body and what describes each place in it.
#[derive(Debug, Clone)]
struct Base<'s> {
    value: Value,
    places: Vec<Place<'s>>,
    /// The labels of the alternatives chosen where a model has several.
    choices: Vec<String>,
    credentials: Vec<&'static CredentialKind>,
    /// Whether an `other` alternative (one the document does not define) was chosen.
    open: bool,
}

#[derive(Debug, Clone)]
struct Place<'s> {
    pointer: String,
    label: String,
    shape: &'s Shape,
    /// For an object: the model and the alternative chosen.
    object: Option<(&'s ObjectShape, &'s Alternative)>,
    /// For the field carrying a secret: its kind.
    credential: Option<&'static CredentialKind>,
}

/// Every body the generator makes for one request model, in a fixed order for a given `rng`
/// state, for every kind of credentials; the caller drops what the run cannot send. Labels
/// repeat where several plain bodies give the same change (the first is meant).
pub fn candidates(
    shape: &Shape,
    may_refuse_valid: bool,
    rng: &mut Rng,
) -> Result<Vec<Candidate>, String> {
    let mut bases = instances(shape, "", "", rng)?;
    // Bodies the document fully defines come first, so invalid ones are made from them.
    bases.sort_by_key(|b| b.open);

    let mut out = Vec::new();
    for base in &bases {
        let expectation = if base.open || may_refuse_valid {
            Expectation::SuccessOrRefusal
        } else {
            Expectation::Success
        };
        valid_bodies(base, expectation, rng, &mut out);
    }
    wrong_credentials(&bases, rng, &mut out);
    for base in &bases {
        invalid_bodies(base, rng, &mut out);
    }
    if let Some(base) = bases.first() {
        wrong_shapes(shape, base, rng, &mut out);
    }
    Ok(out)
}

/// The plain valid bodies of a shape: one per combination of alternatives.
fn instances<'s>(
    shape: &'s Shape,
    pointer: &str,
    label: &str,
    rng: &mut Rng,
) -> Result<Vec<Base<'s>>, String> {
    let place = |object, credential| Place {
        pointer: pointer.to_owned(),
        label: label.to_owned(),
        shape,
        object,
        credential,
    };
    let leaf = |value, place| Base {
        value,
        places: vec![place],
        choices: Vec::new(),
        credentials: Vec::new(),
        open: false,
    };
    Ok(match shape {
        Shape::Object(object) => {
            let mut out = Vec::new();
            for alternative in &object.alternatives {
                let credential = alternative
                    .label
                    .as_deref()
                    .and_then(|l| CREDENTIAL_KINDS.iter().find(|k| k.discriminator == l));
                let secret_field = match credential {
                    Some(kind) => Some(secret_field(object, alternative, kind)?),
                    None => None,
                };
                let mut partial = vec![Base {
                    value: Value::Object(Map::new()),
                    places: vec![place(Some((object, alternative)), None)],
                    choices: match &alternative.label {
                        Some(l) if object.alternatives.len() > 1 => vec![snake(l)],
                        _ => Vec::new(),
                    },
                    credentials: credential.into_iter().collect(),
                    open: alternative.label.as_deref() == Some("other"),
                }];
                for property in alternative.properties.iter().filter(|p| p.required()) {
                    let child_pointer = format!("{pointer}/{}", escape(&property.name));
                    let child_label = join(label, &snake(&property.name));
                    let children = match (credential, secret_field) {
                        (Some(kind), Some(field)) if field == property.name => vec![Base {
                            value: Value::String(format!("${{{}}}", kind.variable)),
                            places: vec![Place {
                                pointer: child_pointer,
                                label: child_label,
                                shape: &property.shape,
                                object: None,
                                credential: Some(kind),
                            }],
                            choices: Vec::new(),
                            credentials: Vec::new(),
                            open: false,
                        }],
                        _ => instances(&property.shape, &child_pointer, &child_label, rng)?,
                    };
                    partial = product(&partial, &children, &property.name);
                }
                out.extend(partial);
            }
            out.truncate(MAX_BASES);
            out
        }
        Shape::Array(array) => {
            let count = array
                .min_items
                .max(1)
                .min(array.max_items.unwrap_or(usize::MAX));
            let mut bases = vec![leaf(Value::Array(Vec::new()), place(None, None))];
            for index in 0..count {
                let items = instances(
                    &array.items,
                    &format!("{pointer}/{index}"),
                    &join(label, "item"),
                    rng,
                )?;
                // Only the first item varies over alternatives; the others repeat its first.
                let items = if index == 0 {
                    items
                } else {
                    items[..1].to_vec()
                };
                bases = bases
                    .iter()
                    .flat_map(|base| {
                        items.iter().map(move |item| {
                            let mut next = base.clone();
                            if let Value::Array(list) = &mut next.value {
                                list.push(item.value.clone());
                            }
                            absorb(&mut next, item);
                            next
                        })
                    })
                    .take(MAX_BASES)
                    .collect();
            }
            bases
        }
        Shape::String(string) => {
            let value = match &string.allowed {
                Some(values) => values.first().cloned().ok_or_else(|| {
                    format!("{}: the model allows no string at all", display(pointer))
                })?,
                None => plain_string(string, rng),
            };
            vec![leaf(Value::String(value), place(None, None))]
        }
        Shape::Scalar(scalar) => {
            let value = match (&scalar.allowed, scalar.types.first()) {
                (Some(values), _) if !values.is_empty() => values[0].clone(),
                (_, Some(JsonType::Null)) => Value::Null,
                (_, Some(JsonType::Boolean)) => Value::Bool(true),
                (_, Some(JsonType::Number | JsonType::Integer)) => json!(1),
                _ => Value::String(strings::word(rng)),
            };
            vec![leaf(value, place(None, None))]
        }
    })
}

/// Every combination of a partial object and a value for its next field.
fn product<'s>(partial: &[Base<'s>], children: &[Base<'s>], field: &str) -> Vec<Base<'s>> {
    let mut out = Vec::new();
    for base in partial {
        for child in children {
            let mut next = base.clone();
            if let Value::Object(fields) = &mut next.value {
                fields.insert(field.to_owned(), child.value.clone());
            }
            absorb(&mut next, child);
            out.push(next);
            if out.len() == MAX_BASES {
                return out;
            }
        }
    }
    out
}

fn absorb<'s>(base: &mut Base<'s>, child: &Base<'s>) {
    base.places.extend(child.places.iter().cloned());
    base.choices.extend(child.choices.iter().cloned());
    base.credentials.extend(child.credentials.iter().copied());
    base.open |= child.open;
}

/// The field of a credential alternative that carries the secret.
fn secret_field<'s>(
    object: &ObjectShape,
    alternative: &'s Alternative,
    kind: &CredentialKind,
) -> Result<&'s str, String> {
    let fields: Vec<&Property> = alternative
        .properties
        .iter()
        .filter(|p| {
            p.required()
                && Some(&p.name) != object.discriminator.as_ref()
                && matches!(&p.shape, Shape::String(s) if s.allowed.is_none())
        })
        .collect();
    match fields[..] {
        [field] => Ok(&field.name),
        _ => Err(format!(
            "the {} credentials should carry their secret in one required free string, the \
             model has {}",
            kind.discriminator,
            fields.len()
        )),
    }
}

fn valid_bodies(
    base: &Base<'_>,
    expectation: Expectation,
    rng: &mut Rng,
    out: &mut Vec<Candidate>,
) {
    let prefix = std::iter::once("valid".to_owned())
        .chain(base.choices.iter().cloned())
        .collect::<Vec<_>>()
        .join("_");
    let mut push = |label: String, what: String, value: Value| {
        out.push(Candidate {
            category: Category::Valid,
            label,
            what,
            payload: Payload::Json(value),
            expectation,
        });
    };
    push(
        prefix.clone(),
        "a plain valid body".to_owned(),
        base.value.clone(),
    );

    for place in &base.places {
        let at = display(&place.pointer);
        let label = join(&prefix, &place_label(place));
        match (place.shape, place.object) {
            (Shape::String(string), _)
                if string.allowed.is_none() && place.credential.is_none() =>
            {
                for kind in Boundary::ALL {
                    let text = kind.value(rng);
                    if string.admits(&text) {
                        push(
                            join(&label, kind.label()),
                            format!("{at} is {}", kind.describe()),
                            with(&base.value, &place.pointer, Value::String(text)),
                        );
                    }
                }
            }
            (Shape::Array(array), _) => {
                let current = base.value.pointer(&place.pointer).and_then(Value::as_array);
                if array.min_items == 0 && current.is_some_and(|items| !items.is_empty()) {
                    push(
                        join(&label, "empty_list"),
                        format!("{at} is an empty list"),
                        with(&base.value, &place.pointer, json!([])),
                    );
                }
                if let Shape::String(item) = array.items.as_ref()
                    && item.allowed.is_none()
                    && array.max_items.is_none_or(|max| max >= 3)
                {
                    let mut kinds = Boundary::ALL.to_vec();
                    rng.shuffle(&mut kinds);
                    let items: Vec<Value> = kinds
                        .iter()
                        .map(|k| k.value(rng))
                        .filter(|text| item.admits(text))
                        .take(3)
                        .map(Value::String)
                        .collect();
                    if items.len() >= array.min_items {
                        push(
                            join(&label, "several"),
                            format!("{at} holds several boundary strings"),
                            with(&base.value, &place.pointer, Value::Array(items)),
                        );
                    }
                }
            }
            (_, Some((_, alternative))) => {
                if alternative.additional {
                    let name = loop {
                        let name = format!("x{}", strings::word(rng));
                        if alternative.properties.iter().all(|p| p.name != name) {
                            break name;
                        }
                    };
                    let value = match rng.below(3) {
                        0 => Value::String(strings::word(rng)),
                        1 => json!(rng.below(1000)),
                        _ => json!({ strings::word(rng): [true, null] }),
                    };
                    push(
                        join(&label, "extra_field"),
                        format!("{at} holds a field the model does not name, `{name}`"),
                        with(
                            &base.value,
                            &format!("{}/{}", place.pointer, escape(&name)),
                            value,
                        ),
                    );
                }
                for optional in alternative.properties.iter().filter(|p| !p.required()) {
                    let pointer = format!("{}/{}", place.pointer, escape(&optional.name));
                    if base.value.pointer(&pointer).is_some() {
                        continue;
                    }
                    let Ok(values) = instances(&optional.shape, &pointer, "", rng) else {
                        continue;
                    };
                    if let Some(first) = values.first() {
                        push(
                            join(&label, &format!("with_{}", snake(&optional.name))),
                            format!("{at} holds its optional field `{}`", optional.name),
                            with(&base.value, &pointer, first.value.clone()),
                        );
                    }
                }
            }
            _ => {}
        }
    }
}

/// Valid bodies whose credentials are not the daemon's: refused, whatever the daemon holds.
fn wrong_credentials(bases: &[Base<'_>], rng: &mut Rng, out: &mut Vec<Candidate>) {
    let mut done = BTreeSet::new();
    for base in bases {
        for place in &base.places {
            let Some(kind) = place.credential else {
                continue;
            };
            if !done.insert(kind.discriminator) {
                continue;
            }
            for boundary in Boundary::ALL {
                out.push(Candidate {
                    category: Category::WrongCredentials,
                    label: join(&join("wrong", &place.label), boundary.label()),
                    what: format!(
                        "{} is {} instead of the daemon's {} secret",
                        display(&place.pointer),
                        boundary.describe(),
                        kind.discriminator
                    ),
                    payload: Payload::Json(with(
                        &base.value,
                        &place.pointer,
                        Value::String(boundary.value(rng)),
                    )),
                    expectation: Expectation::Refusal,
                });
            }
        }
    }
}

fn invalid_bodies(base: &Base<'_>, rng: &mut Rng, out: &mut Vec<Candidate>) {
    let mut push = |category, label: String, what: String, value: Value| {
        out.push(Candidate {
            category,
            label,
            what,
            payload: Payload::Json(value),
            expectation: Expectation::Refusal,
        });
    };
    for place in &base.places {
        if let Some((object, alternative)) = place.object {
            for property in &alternative.properties {
                let pointer = format!("{}/{}", place.pointer, escape(&property.name));
                let label = join(&place.label, &snake(&property.name));
                let at = display(&pointer);
                if property.required() && !left_open(property) {
                    push(
                        Category::Missing,
                        join("missing", &label),
                        format!("{at}, which the model requires, is left out"),
                        without(&base.value, &pointer),
                    );
                }
                if base.value.pointer(&pointer).is_none() {
                    continue;
                }
                for (type_label, value) in wrong_types(&property.shape, &base.value, rng) {
                    push(
                        Category::WrongType,
                        join(&label, &format!("as_{type_label}")),
                        format!("{at} is {}", describe_type(type_label)),
                        with(&base.value, &pointer, value),
                    );
                }
                for (how, value) in unknown_values(object, property, rng) {
                    push(
                        Category::UnknownValue,
                        join(&join("unknown", &label), how),
                        format!("{at} is {value:?}, a value the model does not allow"),
                        with(&base.value, &pointer, Value::String(value)),
                    );
                }
            }
        }
        if let Shape::Array(array) = place.shape {
            let first = format!("{}/0", place.pointer);
            if base.value.pointer(&first).is_none() {
                continue;
            }
            for (type_label, value) in wrong_types(&array.items, &base.value, rng) {
                push(
                    Category::WrongType,
                    join(&join(&place.label, "item"), &format!("as_{type_label}")),
                    format!(
                        "an item of {} is {}",
                        display(&place.pointer),
                        describe_type(type_label)
                    ),
                    with(&base.value, &first, value),
                );
            }
        }
    }
}

/// Whether leaving this field out is left open by the document (see [`OPEN_REQUIRED`]).
fn left_open(property: &Property) -> bool {
    property.required_by.iter().all(|model| {
        OPEN_REQUIRED
            .iter()
            .any(|(m, field, _)| m == model && *field == property.name)
    })
}

/// Values of each JSON type the shape does not accept, labelled by type.
fn wrong_types(shape: &Shape, base: &Value, rng: &mut Rng) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    let samples: [(&str, JsonType); 6] = [
        ("null", JsonType::Null),
        ("bool", JsonType::Boolean),
        ("number", JsonType::Integer),
        ("array", JsonType::Array),
        ("object", JsonType::Object),
        ("string", JsonType::String),
    ];
    for (label, json_type) in samples {
        if shape.accepts_type(json_type) {
            if json_type == JsonType::Integer && !shape.accepts_type(JsonType::Number) {
                out.push(("fraction", json!(2.5)));
            }
            continue;
        }
        let value = match json_type {
            JsonType::Null => Value::Null,
            JsonType::Boolean => Value::Bool(rng.below(2) == 0),
            JsonType::Integer => json!(rng.below(100_000)),
            JsonType::Array => match rng.below(2) {
                0 => json!([]),
                _ => json!([strings::word(rng)]),
            },
            JsonType::Object => match rng.below(3) {
                0 => json!({}),
                1 => json!({ strings::word(rng): strings::word(rng) }),
                // The whole valid body one level down: the right data in the wrong place.
                _ => base.clone(),
            },
            _ => Value::String(strings::word(rng)),
        };
        out.push((label, value));
    }
    out
}

fn describe_type(label: &str) -> &'static str {
    match label {
        "null" => "null",
        "bool" => "a boolean",
        "number" => "a number",
        "fraction" => "a number with a fraction",
        "array" => "a list",
        "object" => "an object",
        _ => "a string",
    }
}

/// Strings outside a fixed set: the set's first value in another letter case, a word, and
/// the empty string. A discriminator's set is every value of every alternative; a
/// discriminator that any other value may take (`other`) has none.
fn unknown_values(
    object: &ObjectShape,
    property: &Property,
    rng: &mut Rng,
) -> Vec<(&'static str, String)> {
    let set: Option<Vec<String>> = if object.discriminator.as_ref() == Some(&property.name) {
        object
            .alternatives
            .iter()
            .map(|a| {
                a.properties
                    .iter()
                    .find(|p| p.name == property.name)
                    .and_then(|p| match &p.shape {
                        Shape::String(StringShape {
                            allowed: Some(v), ..
                        }) => Some(v.clone()),
                        _ => None,
                    })
            })
            .collect::<Option<Vec<Vec<String>>>>()
            .map(|sets| sets.concat())
    } else {
        match &property.shape {
            Shape::String(StringShape {
                allowed: Some(v), ..
            }) => Some(v.clone()),
            _ => None,
        }
    };
    let Some(set) = set.filter(|s| !s.is_empty()) else {
        return Vec::new();
    };
    let first = &set[0];
    let flipped: String = first
        .chars()
        .map(|c| {
            if c.is_uppercase() {
                c.to_lowercase().next().unwrap_or(c)
            } else {
                c.to_uppercase().next().unwrap_or(c)
            }
        })
        .collect();
    [
        ("case", flipped),
        ("word", strings::word(rng)),
        ("empty", String::new()),
    ]
    .into_iter()
    .filter(|(_, v)| !set.contains(v))
    .collect()
}

/// Bodies that are not an object of the model at all.
fn wrong_shapes(shape: &Shape, base: &Base<'_>, rng: &mut Rng, out: &mut Vec<Candidate>) {
    let mut push = |label: &str, what: String, raw: String| {
        out.push(Candidate {
            category: Category::Shape,
            label: label.to_owned(),
            what,
            payload: Payload::Raw(raw),
            expectation: Expectation::Refusal,
        });
    };
    for (type_label, value) in wrong_types(shape, &base.value, rng) {
        let value = match (type_label, &value) {
            // The valid body inside a list: the right data in the wrong shape.
            ("array", _) => json!([base.value]),
            _ => value,
        };
        push(
            &format!("body_as_{type_label}"),
            format!("the body is {}", describe_type(type_label)),
            value.to_string(),
        );
    }
    push("empty_body", "the body is empty".to_owned(), String::new());
    let text = base.value.to_string();
    let truncated = {
        let mut cut = text.len() / 2;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        // A variable cut in half would break the case, not the body.
        let head = &text[..cut];
        match (head.rfind("${"), head.rfind('}')) {
            (Some(open), close) if close.is_none_or(|c| c < open) => &text[..open],
            _ => head,
        }
    };
    let not_json = [truncated, "{'single': 'quotes'}", "not json"];
    push(
        "body_not_json",
        "the body is not JSON".to_owned(),
        rng.pick(&not_json).to_string(),
    );
}

/// A free string that is plain and allowed: a word, padded or cut to the allowed length.
fn plain_string(shape: &StringShape, rng: &mut Rng) -> String {
    for _ in 0..16 {
        let mut text = strings::word(rng);
        while text.chars().count() < shape.min_length {
            text.push('x');
        }
        if let Some(max) = shape.max_length {
            text = text.chars().take(max).collect();
        }
        if shape.admits(&text) {
            return text;
        }
    }
    strings::word(rng)
}

/// `value` with the place at `pointer` set (an object field is added when missing).
fn with(value: &Value, pointer: &str, new: Value) -> Value {
    let mut value = value.clone();
    if pointer.is_empty() {
        return new;
    }
    let (parent, last) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    let key = unescape(last);
    match value.pointer_mut(parent) {
        Some(Value::Object(fields)) => {
            fields.insert(key, new);
        }
        Some(Value::Array(items)) => {
            if let Some(slot) = key.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                *slot = new;
            }
        }
        _ => {}
    }
    value
}

/// `value` without the field at `pointer`.
fn without(value: &Value, pointer: &str) -> Value {
    let mut value = value.clone();
    let (parent, last) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    if let Some(Value::Object(fields)) = value.pointer_mut(parent) {
        fields.remove(&unescape(last));
    }
    value
}

fn place_label(place: &Place<'_>) -> String {
    if place.label.is_empty() {
        "body".to_owned()
    } else {
        place.label.clone()
    }
}

/// A pointer as people read it: `/auth/key` is `auth.key`, `/arguments/0` is `arguments[0]`.
pub fn display(pointer: &str) -> String {
    if pointer.is_empty() {
        return "the body".to_owned();
    }
    let mut text = String::new();
    for step in pointer.split('/').skip(1) {
        let step = unescape(step);
        if step.parse::<usize>().is_ok() {
            text.push_str(&format!("[{step}]"));
        } else {
            if !text.is_empty() {
                text.push('.');
            }
            text.push_str(&step);
        }
    }
    format!("`{text}`")
}

/// `camelCase` and `PascalCase` as `snake_case`.
pub fn snake(name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let after_lower = i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_numeric());
            let before_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if i > 0 && (after_lower || (before_lower && chars[i - 1].is_uppercase())) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else if c.is_alphanumeric() {
            out.push(*c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_owned()
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}_{b}"),
    }
}

fn escape(step: &str) -> String {
    step.replace('~', "~0").replace('/', "~1")
}

fn unescape(step: &str) -> String {
    step.replace("~1", "/").replace("~0", "~")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_snake_case() {
        assert_eq!(snake("authFileContent"), "auth_file_content");
        assert_eq!(snake("ApiKey"), "api_key");
        assert_eq!(snake("HTTPServer"), "http_server");
        assert_eq!(snake("type"), "type");
        assert_eq!(snake("x-y"), "x_y");
    }

    #[test]
    fn pointers_read_as_paths() {
        assert_eq!(display(""), "the body");
        assert_eq!(display("/auth/key"), "`auth.key`");
        assert_eq!(display("/arguments/0"), "`arguments[0]`");
    }

    #[test]
    fn with_and_without_change_one_place() {
        let value = json!({"a": {"b": 1}, "l": ["x"]});
        assert_eq!(
            with(&value, "/a/c", json!(2)),
            json!({"a": {"b": 1, "c": 2}, "l": ["x"]})
        );
        assert_eq!(
            with(&value, "/l/0", json!(null)),
            json!({"a": {"b": 1}, "l": [null]})
        );
        assert_eq!(without(&value, "/a/b"), json!({"a": {}, "l": ["x"]}));
    }
}
