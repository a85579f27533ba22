//! The request models as the generator sees them: the run's schema files walked through `$ref`,
//! `allOf` and `if`/`then` into [`Shape`]s that say which bodies are valid.
//!
//! It reads the files itself (a compiled `SchemaSet` keeps no source) and understands the part
//! of JSON Schema the models use: `type`, `properties`, `required`, `enum`, `const`, `items`,
//! `minItems`, `maxItems`, `minLength`, `maxLength`, `additionalProperties`, `$ref`, `allOf`,
//! `oneOf`/`anyOf` and `if`/`then`/`else` on one discriminator property. A keyword outside that
//! part is an error naming the file and the place, never a silent guess at what is valid.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use reqwest::Url;
use serde_json::Value;

/// The base a file's `$id` is resolved against, as the schema loader does.
const BASE_URI: &str = "https://xpipe-conformance.local/schemas/";

/// How deep `$ref`s and sub-schemas may nest before the walk calls it a cycle.
const MAX_DEPTH: usize = 48;

/// Keywords that only describe: they never make a body valid or invalid.
const ANNOTATIONS: [&str; 16] = [
    "$schema",
    "$id",
    "$comment",
    "$defs",
    "definitions",
    "title",
    "description",
    "examples",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "format",
    "discriminator",
    "contentMediaType",
    "contentEncoding",
];

/// Keywords the walk turns into shapes.
const UNDERSTOOD: [&str; 19] = [
    "$ref",
    "type",
    "properties",
    "required",
    "enum",
    "const",
    "items",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "additionalProperties",
    "unevaluatedProperties",
    "allOf",
    "oneOf",
    "anyOf",
    "if",
    "then",
    "else",
];

/// A JSON type, as `type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum JsonType {
    /// `null`.
    Null,
    /// `true` or `false`.
    Boolean,
    /// Any number.
    Number,
    /// A number without a fraction.
    Integer,
    /// A string.
    String,
    /// A list.
    Array,
    /// An object.
    Object,
}

impl JsonType {
    /// Every type, in the order wrong-type cases are made.
    pub const ALL: [JsonType; 7] = [
        JsonType::Null,
        JsonType::Boolean,
        JsonType::Number,
        JsonType::Integer,
        JsonType::String,
        JsonType::Array,
        JsonType::Object,
    ];

    /// The name `type` uses.
    pub fn name(self) -> &'static str {
        match self {
            JsonType::Null => "null",
            JsonType::Boolean => "boolean",
            JsonType::Number => "number",
            JsonType::Integer => "integer",
            JsonType::String => "string",
            JsonType::Array => "array",
            JsonType::Object => "object",
        }
    }

    fn parse(name: &str) -> Option<JsonType> {
        JsonType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The types a value has (an integer is also a number).
    pub fn of(value: &Value) -> Vec<JsonType> {
        match value {
            Value::Null => vec![JsonType::Null],
            Value::Bool(_) => vec![JsonType::Boolean],
            Value::Number(n) if n.is_i64() || n.is_u64() => {
                vec![JsonType::Number, JsonType::Integer]
            }
            Value::Number(_) => vec![JsonType::Number],
            Value::String(_) => vec![JsonType::String],
            Value::Array(_) => vec![JsonType::Array],
            Value::Object(_) => vec![JsonType::Object],
        }
    }
}

/// What a valid value at one place of a body looks like.
#[derive(Debug, Clone)]
pub enum Shape {
    /// An object, in one or more alternatives.
    Object(ObjectShape),
    /// A list.
    Array(ArrayShape),
    /// A string, free or from a fixed set.
    String(StringShape),
    /// Anything else: numbers, booleans, null, or no constraint at all.
    Scalar(ScalarShape),
}

/// An object model: one alternative, or one per value of a discriminator property.
#[derive(Debug, Clone)]
pub struct ObjectShape {
    /// The alternatives, in the order the schema gives them.
    pub alternatives: Vec<Alternative>,
    /// The property whose value selects the alternative, when there are several.
    pub discriminator: Option<String>,
}

/// One alternative of an object model, with every part that applies to it merged.
#[derive(Debug, Clone)]
pub struct Alternative {
    /// The discriminator value that selects it (`other` for any value that no `if` names).
    pub label: Option<String>,
    /// Its properties, in the order the schema files give them.
    pub properties: Vec<Property>,
    /// Whether properties the model does not name are allowed.
    pub additional: bool,
}

/// One property of an object alternative.
#[derive(Debug, Clone)]
pub struct Property {
    /// Its name.
    pub name: String,
    /// Its value's shape.
    pub shape: Shape,
    /// The models (file stems) whose `required` names it; empty when it is optional.
    pub required_by: Vec<String>,
}

impl Property {
    /// Whether a valid body must hold it.
    pub fn required(&self) -> bool {
        !self.required_by.is_empty()
    }
}

/// A list model.
#[derive(Debug, Clone)]
pub struct ArrayShape {
    /// The shape of every item.
    pub items: Box<Shape>,
    /// The fewest items allowed.
    pub min_items: usize,
    /// The most items allowed.
    pub max_items: Option<usize>,
}

/// A string model.
#[derive(Debug, Clone, Default)]
pub struct StringShape {
    /// The only values allowed (`const`, `enum`); `None` for a free string.
    pub allowed: Option<Vec<String>>,
    /// Values a free string must not take: they would select another alternative.
    pub excluded: Vec<String>,
    /// The fewest characters allowed.
    pub min_length: usize,
    /// The most characters allowed.
    pub max_length: Option<usize>,
}

impl StringShape {
    /// Whether a free string of this shape may be `text`.
    pub fn admits(&self, text: &str) -> bool {
        let length = text.chars().count();
        let allowed = match &self.allowed {
            Some(values) => values.iter().any(|v| v == text),
            None => true,
        };
        allowed
            && !self.excluded.iter().any(|e| e == text)
            && length >= self.min_length
            && self.max_length.is_none_or(|max| length <= max)
    }
}

/// A model that is not an object, list or string.
#[derive(Debug, Clone)]
pub struct ScalarShape {
    /// The types allowed; empty when any value is.
    pub types: Vec<JsonType>,
    /// The only values allowed, if the model fixes them.
    pub allowed: Option<Vec<Value>>,
}

impl Shape {
    /// Whether a value of type `json_type` can be valid here.
    pub fn accepts_type(&self, json_type: JsonType) -> bool {
        match self {
            Shape::Object(_) => json_type == JsonType::Object,
            Shape::Array(_) => json_type == JsonType::Array,
            Shape::String(_) => json_type == JsonType::String,
            Shape::Scalar(scalar) => {
                scalar.types.is_empty()
                    || scalar.types.contains(&json_type)
                    || (json_type == JsonType::Integer && scalar.types.contains(&JsonType::Number))
            }
        }
    }
}

/// The schema files of one folder, ready to be walked.
#[derive(Debug)]
pub struct SchemaFiles {
    files: Vec<SchemaFile>,
}

#[derive(Debug)]
struct SchemaFile {
    /// The absolute `$id`, without a fragment.
    id: Url,
    /// The file stem.
    model: String,
    contents: Value,
}

/// One schema inside one file, with its place for messages.
#[derive(Debug, Clone)]
struct Node<'a> {
    schema: &'a Value,
    file: &'a SchemaFile,
    pointer: String,
}

impl<'a> Node<'a> {
    fn child(&self, schema: &'a Value, step: &str) -> Node<'a> {
        Node {
            schema,
            file: self.file,
            pointer: format!("{}/{}", self.pointer, escape(step)),
        }
    }

    fn place(&self) -> String {
        format!("{}.json#{}", self.file.model, self.pointer)
    }

    fn get(&self, keyword: &str) -> Option<&'a Value> {
        self.schema.get(keyword)
    }

    /// The sub-schema under `keyword`, if there is one.
    fn sub(&self, keyword: &str) -> Option<Node<'a>> {
        self.get(keyword).map(|schema| self.child(schema, keyword))
    }

    /// The sub-schemas of a keyword holding a list of schemas (`allOf`, `oneOf`, `anyOf`).
    fn list(&self, keyword: &str) -> Result<Vec<Node<'a>>, String> {
        match self.get(keyword) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let mut node = self.child(item, keyword);
                    node.pointer.push_str(&format!("/{i}"));
                    node
                })
                .collect()),
            Some(_) => Err(format!("{}: `{keyword}` is not a list", self.place())),
        }
    }
}

/// The parts of one place after `$ref` and `allOf` are followed: every part applies.
#[derive(Default)]
struct Expanded<'a> {
    parts: Vec<Node<'a>>,
    /// Parts holding an `if`.
    conditionals: Vec<Node<'a>>,
    /// `oneOf`/`anyOf` lists: one member of each must hold.
    choices: Vec<Vec<Node<'a>>>,
}

impl SchemaFiles {
    /// Reads every `*.json` file of `dir`; the model name is the file stem.
    pub fn load(dir: &Path) -> Result<SchemaFiles, String> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot list schema folder {}: {e}", dir.display()))?;
        let mut paths = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|e| format!("cannot list schema folder {}: {e}", dir.display()))?
                .path();
            if path.extension().is_some_and(|e| e == "json") && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();

        let base = Url::parse(BASE_URI).map_err(|e| e.to_string())?;
        let mut files = Vec::new();
        for path in paths {
            let model = path
                .file_stem()
                .and_then(|s| s.to_str())
                .ok_or_else(|| format!("{}: the file name is not UTF-8", path.display()))?
                .to_owned();
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let contents: Value = serde_json::from_str(&text)
                .map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
            let written = match contents.get("$id") {
                Some(Value::String(id)) => id.clone(),
                _ => format!("{model}.json"),
            };
            let mut id = base
                .join(&written)
                .map_err(|e| format!("{}: invalid $id {written:?}: {e}", path.display()))?;
            id.set_fragment(None);
            files.push(SchemaFile {
                id,
                model,
                contents,
            });
        }
        Ok(SchemaFiles { files })
    }

    /// Whether the folder has this model.
    pub fn has(&self, model: &str) -> bool {
        self.files.iter().any(|f| f.model == model)
    }

    /// The shape of a model, walked from its file.
    pub fn shape(&self, model: &str) -> Result<Shape, String> {
        let file = self
            .files
            .iter()
            .find(|f| f.model == model)
            .ok_or_else(|| format!("no schema file for the model {model}"))?;
        let root = Node {
            schema: &file.contents,
            file,
            pointer: String::new(),
        };
        self.build(vec![root], 0)
    }

    /// The shape of a place that all `nodes` describe at once.
    fn build<'a>(&'a self, nodes: Vec<Node<'a>>, depth: usize) -> Result<Shape, String> {
        let mut expanded = Expanded::default();
        for node in nodes {
            self.expand(node, &mut expanded, depth)?;
        }
        self.shape_of(expanded, &BTreeSet::new(), depth)
    }

    /// Follows `$ref` and `allOf` from `node`, collecting every part that applies.
    fn expand<'a>(
        &'a self,
        node: Node<'a>,
        into: &mut Expanded<'a>,
        depth: usize,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "{}: schemas nest deeper than {MAX_DEPTH} levels (a reference cycle?)",
                node.place()
            ));
        }
        let fields = match node.schema {
            Value::Bool(true) => return Ok(()),
            Value::Object(fields) => fields,
            _ => {
                return Err(format!(
                    "{}: the generator only understands object schemas and `true` here",
                    node.place()
                ));
            }
        };
        if let Some(keyword) = fields
            .keys()
            .find(|k| !ANNOTATIONS.contains(&k.as_str()) && !UNDERSTOOD.contains(&k.as_str()))
        {
            return Err(format!(
                "{}: the generator does not understand `{keyword}`, so it cannot tell valid \
                 bodies from invalid ones here",
                node.place()
            ));
        }

        if let Some(Value::String(reference)) = node.get("$ref") {
            let target = self.resolve(&node, reference)?;
            self.expand(target, into, depth + 1)?;
        }
        for member in node.list("allOf")? {
            self.expand(member, into, depth + 1)?;
        }
        for keyword in ["oneOf", "anyOf"] {
            let members = node.list(keyword)?;
            if !members.is_empty() {
                into.choices.push(members);
            }
        }
        if node.get("if").is_some() {
            into.conditionals.push(node.clone());
        }
        into.parts.push(node);
        Ok(())
    }

    /// The schema a `$ref` leads to, resolved against the `$id` of its file.
    fn resolve<'a>(&'a self, node: &Node<'a>, reference: &str) -> Result<Node<'a>, String> {
        let dangling = |why: &str| format!("{}: $ref {reference:?} {why}", node.place());
        let mut target = node
            .file
            .id
            .join(reference)
            .map_err(|e| dangling(&format!("is not a URI reference: {e}")))?;
        let fragment = target.fragment().unwrap_or("").to_owned();
        target.set_fragment(None);
        let file = self
            .files
            .iter()
            .find(|f| f.id == target)
            .ok_or_else(|| dangling("leads to no file of the folder"))?;
        let pointer = percent_decode(&fragment);
        let schema = file
            .contents
            .pointer(&pointer)
            .ok_or_else(|| dangling("leads to no part of its file"))?;
        Ok(Node {
            schema,
            file,
            pointer,
        })
    }

    fn shape_of<'a>(
        &'a self,
        expanded: Expanded<'a>,
        consumed: &BTreeSet<String>,
        depth: usize,
    ) -> Result<Shape, String> {
        let place = expanded
            .parts
            .first()
            .map(Node::place)
            .unwrap_or_else(|| "a schema".to_owned());
        let types = declared_types(&expanded.parts)?;
        let allowed = allowed_values(&expanded.parts);
        let types: BTreeSet<JsonType> = match (types, &allowed) {
            (Some(types), _) => types,
            (None, Some(values)) => values.iter().flat_map(JsonType::of).collect(),
            (None, None) => BTreeSet::new(),
        };
        let open_conditionals = expanded
            .conditionals
            .iter()
            .any(|c| !consumed.contains(&c.place()));
        let branches = open_conditionals || !expanded.choices.is_empty();

        let only = |t: JsonType| types.len() == 1 && types.contains(&t);
        if only(JsonType::Object) {
            let object = self.object(expanded, consumed, depth)?;
            return Ok(Shape::Object(object));
        }
        if branches {
            return Err(format!(
                "{place}: `if`, `oneOf` and `anyOf` are understood on objects only"
            ));
        }
        if only(JsonType::Array) {
            let item_nodes: Vec<Node<'a>> = expanded
                .parts
                .iter()
                .filter_map(|p| p.sub("items"))
                .collect();
            let items = self.build(item_nodes, depth + 1)?;
            let min_items = largest(&expanded.parts, "minItems").unwrap_or(0);
            let max_items = smallest(&expanded.parts, "maxItems");
            return Ok(Shape::Array(ArrayShape {
                items: Box::new(items),
                min_items,
                max_items,
            }));
        }
        if only(JsonType::String) {
            let allowed = allowed.map(|values| {
                values
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            });
            return Ok(Shape::String(StringShape {
                allowed,
                excluded: Vec::new(),
                min_length: largest(&expanded.parts, "minLength").unwrap_or(0),
                max_length: smallest(&expanded.parts, "maxLength"),
            }));
        }
        Ok(Shape::Scalar(ScalarShape {
            types: types.into_iter().collect(),
            allowed,
        }))
    }

    /// An object model: its alternatives, split on the discriminator of its open `if`s, or on
    /// its `oneOf`/`anyOf` members.
    fn object<'a>(
        &'a self,
        expanded: Expanded<'a>,
        consumed: &BTreeSet<String>,
        depth: usize,
    ) -> Result<ObjectShape, String> {
        let open: Vec<Node<'a>> = expanded
            .conditionals
            .iter()
            .filter(|c| !consumed.contains(&c.place()))
            .cloned()
            .collect();

        if !open.is_empty() {
            return self.split_on_discriminator(expanded, open, consumed, depth);
        }
        if let Some(first) = expanded.choices.first().cloned() {
            let mut alternatives = Vec::new();
            for (index, member) in first.into_iter().enumerate() {
                let mut branch = Expanded {
                    parts: expanded.parts.clone(),
                    conditionals: expanded.conditionals.clone(),
                    choices: expanded.choices[1..].to_vec(),
                };
                let label = member
                    .get("title")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("variant{}", index + 1), str::to_owned);
                self.expand(member, &mut branch, depth + 1)?;
                let Shape::Object(object) = self.shape_of(branch, consumed, depth + 1)? else {
                    return Err(format!("{label}: a `oneOf` member that is not an object"));
                };
                for mut alternative in object.alternatives {
                    alternative.label = Some(match alternative.label {
                        Some(inner) => format!("{label}_{inner}"),
                        None => label.clone(),
                    });
                    alternatives.push(alternative);
                }
            }
            return Ok(ObjectShape {
                alternatives,
                discriminator: None,
            });
        }
        Ok(ObjectShape {
            alternatives: vec![self.alternative(&expanded.parts, depth)?],
            discriminator: None,
        })
    }

    fn split_on_discriminator<'a>(
        &'a self,
        expanded: Expanded<'a>,
        open: Vec<Node<'a>>,
        consumed: &BTreeSet<String>,
        depth: usize,
    ) -> Result<ObjectShape, String> {
        // Every open `if` must test the same property for one constant.
        let mut tests = Vec::new();
        for conditional in &open {
            let test = parse_if(conditional)?;
            tests.push((conditional.clone(), test));
        }
        let property = tests[0].1.0.clone();
        if let Some((other, _)) = tests.iter().find(|(_, (p, _))| *p != property) {
            return Err(format!(
                "{}: the `if`s of one object test different properties ({property} and more); \
                 the generator understands one discriminator",
                other.place()
            ));
        }
        let mut consumed = consumed.clone();
        consumed.extend(open.iter().map(Node::place));

        // The values to split on: the discriminator's own set, or each tested constant plus
        // `other` when the property is a free string.
        let own: Vec<Node<'a>> = expanded
            .parts
            .iter()
            .filter_map(|p| {
                let schema = p.get("properties")?.get(&property)?;
                Some(
                    p.child(p.get("properties")?, "properties")
                        .child(schema, &property),
                )
            })
            .collect();
        let own_shape = self.build(own, depth + 1)?;
        let tested: Vec<String> = tests.iter().map(|(_, (_, v))| v.clone()).collect();
        let (values, other) = match &own_shape {
            Shape::String(StringShape {
                allowed: Some(values),
                ..
            }) => (values.clone(), false),
            _ => {
                let mut values = tested.clone();
                values.dedup();
                (values, true)
            }
        };

        let mut alternatives = Vec::new();
        let branches = values
            .iter()
            .map(|v| (Some(v.clone()), v.clone()))
            .chain(other.then(|| (None, "other".to_owned())));
        for (value, label) in branches {
            let mut branch = Expanded {
                parts: expanded.parts.clone(),
                conditionals: expanded.conditionals.clone(),
                choices: expanded.choices.clone(),
            };
            for (conditional, (_, tested_value)) in &tests {
                let keyword = if value.as_deref() == Some(tested_value.as_str()) {
                    "then"
                } else {
                    "else"
                };
                if let Some(sub) = conditional.sub(keyword) {
                    self.expand(sub, &mut branch, depth + 1)?;
                }
            }
            let Shape::Object(object) = self.shape_of(branch, &consumed, depth + 1)? else {
                return Err(format!(
                    "{}: the `{label}` branch is not an object",
                    tests[0].0.place()
                ));
            };
            for mut alternative in object.alternatives {
                // The `if` fixed the discriminator; the merged parts may not say so themselves.
                let fixed = StringShape {
                    allowed: value.clone().map(|v| vec![v]),
                    excluded: if value.is_none() {
                        tested.clone()
                    } else {
                        Vec::new()
                    },
                    ..StringShape::default()
                };
                match alternative
                    .properties
                    .iter_mut()
                    .find(|p| p.name == property)
                {
                    Some(p) => p.shape = Shape::String(fixed),
                    None => alternative.properties.push(Property {
                        name: property.clone(),
                        shape: Shape::String(fixed),
                        required_by: Vec::new(),
                    }),
                }
                alternative.label = Some(match alternative.label {
                    Some(inner) => format!("{label}_{inner}"),
                    None => label.clone(),
                });
                alternatives.push(alternative);
            }
        }
        Ok(ObjectShape {
            alternatives,
            discriminator: Some(property),
        })
    }

    /// One alternative: the properties and `required` of all its parts, merged.
    fn alternative<'a>(&'a self, parts: &[Node<'a>], depth: usize) -> Result<Alternative, String> {
        let mut order: Vec<String> = Vec::new();
        let mut nodes: BTreeMap<String, Vec<Node<'a>>> = BTreeMap::new();
        let mut required: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut additional = true;
        for part in parts {
            if let Some(properties) = part.sub("properties") {
                let Value::Object(fields) = properties.schema else {
                    return Err(format!("{}: `properties` is not an object", part.place()));
                };
                for (name, schema) in fields {
                    if !nodes.contains_key(name) {
                        order.push(name.clone());
                    }
                    nodes
                        .entry(name.clone())
                        .or_default()
                        .push(properties.child(schema, name));
                }
            }
            if let Some(names) = part.get("required") {
                let names = names
                    .as_array()
                    .ok_or_else(|| format!("{}: `required` is not a list", part.place()))?;
                for name in names.iter().filter_map(Value::as_str) {
                    if !nodes.contains_key(name) && !order.iter().any(|o| o == name) {
                        order.push(name.to_owned());
                    }
                    let models = required.entry(name.to_owned()).or_default();
                    if !models.contains(&part.file.model) {
                        models.push(part.file.model.clone());
                    }
                }
            }
            for keyword in ["additionalProperties", "unevaluatedProperties"] {
                // A schema for extra properties is read as "none": the generator adds none
                // that it cannot show to be valid.
                if part.get(keyword).is_some_and(|v| *v != Value::Bool(true)) {
                    additional = false;
                }
            }
        }
        let mut properties = Vec::new();
        for name in order {
            let shape = self.build(nodes.remove(&name).unwrap_or_default(), depth + 1)?;
            properties.push(Property {
                required_by: required.remove(&name).unwrap_or_default(),
                name,
                shape,
            });
        }
        Ok(Alternative {
            label: None,
            properties,
            additional,
        })
    }
}

/// The types every part allows (`None` when no part says).
fn declared_types(parts: &[Node<'_>]) -> Result<Option<BTreeSet<JsonType>>, String> {
    let mut result: Option<BTreeSet<JsonType>> = None;
    for part in parts {
        let names: Vec<&str> = match part.get("type") {
            None => continue,
            Some(Value::String(name)) => vec![name.as_str()],
            Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
            Some(_) => {
                return Err(format!(
                    "{}: `type` is neither a name nor a list",
                    part.place()
                ));
            }
        };
        let mut types = BTreeSet::new();
        for name in names {
            let t = JsonType::parse(name)
                .ok_or_else(|| format!("{}: unknown type {name:?}", part.place()))?;
            types.insert(t);
            if t == JsonType::Number {
                types.insert(JsonType::Integer);
            }
        }
        result = Some(match result {
            None => types,
            Some(before) => before.intersection(&types).copied().collect(),
        });
    }
    Ok(result)
}

/// The values every `const` and `enum` of the parts allows (`None` when none fixes them).
fn allowed_values(parts: &[Node<'_>]) -> Option<Vec<Value>> {
    let mut result: Option<Vec<Value>> = None;
    for part in parts {
        let values = match (part.get("const"), part.get("enum")) {
            (Some(value), _) => vec![value.clone()],
            (None, Some(Value::Array(values))) => values.clone(),
            _ => continue,
        };
        result = Some(match result {
            None => values,
            Some(before) => before.into_iter().filter(|v| values.contains(v)).collect(),
        });
    }
    result
}

fn largest(parts: &[Node<'_>], keyword: &str) -> Option<usize> {
    parts
        .iter()
        .filter_map(|p| p.get(keyword)?.as_u64())
        .max()
        .map(|n| n as usize)
}

fn smallest(parts: &[Node<'_>], keyword: &str) -> Option<usize> {
    parts
        .iter()
        .filter_map(|p| p.get(keyword)?.as_u64())
        .min()
        .map(|n| n as usize)
}

/// The property and constant an `if` tests: `{properties: {P: {const: V}}, required: [P]}`.
fn parse_if(conditional: &Node<'_>) -> Result<(String, String), String> {
    let Some(test) = conditional.sub("if") else {
        return Err(format!("{}: no `if`", conditional.place()));
    };
    let unsupported = || {
        format!(
            "{}: the generator understands an `if` that tests one property for a string \
             constant (properties: {{P: {{const: V}}}}, required: [P]) and nothing else",
            test.place()
        )
    };
    let fields = test.schema.as_object().ok_or_else(unsupported)?;
    for (keyword, value) in fields {
        let fine = match keyword.as_str() {
            "type" => value == "object",
            "properties" | "required" => true,
            other => ANNOTATIONS.contains(&other),
        };
        if !fine {
            return Err(unsupported());
        }
    }
    let properties = test
        .get("properties")
        .and_then(Value::as_object)
        .ok_or_else(unsupported)?;
    let [(property, schema)] = properties.iter().collect::<Vec<_>>()[..] else {
        return Err(unsupported());
    };
    let value = schema
        .get("const")
        .and_then(Value::as_str)
        .ok_or_else(unsupported)?;
    if let Some(required) = test.get("required")
        && *required != Value::Array(vec![Value::String(property.clone())])
    {
        return Err(unsupported());
    }
    Ok((property.clone(), value.to_owned()))
}

/// A JSON pointer step with `~` and `/` escaped.
fn escape(step: &str) -> String {
    step.replace('~', "~0").replace('/', "~1")
}

/// A URI fragment with its `%xx` escapes undone.
fn percent_decode(fragment: &str) -> String {
    let bytes = fragment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::default_dir;

    fn files() -> SchemaFiles {
        SchemaFiles::load(&default_dir("schemas")).unwrap()
    }

    fn object(shape: &Shape) -> &ObjectShape {
        match shape {
            Shape::Object(object) => object,
            other => panic!("not an object: {other:?}"),
        }
    }

    fn property<'a>(alternative: &'a Alternative, name: &str) -> &'a Property {
        alternative
            .properties
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no property {name}"))
    }

    #[test]
    fn auth_splits_into_its_two_kinds() {
        let shape = files().shape("AuthMethod").unwrap();
        let auth = object(&shape);
        assert_eq!(auth.discriminator.as_deref(), Some("type"));
        let labels: Vec<_> = auth
            .alternatives
            .iter()
            .map(|a| a.label.clone().unwrap())
            .collect();
        assert_eq!(labels, ["ApiKey", "Local"]);
        let api_key = &auth.alternatives[0];
        assert!(property(api_key, "key").required());
        assert_eq!(property(api_key, "key").required_by, ["ApiKey"]);
        let Shape::String(kind) = &property(api_key, "type").shape else {
            panic!("type is a string")
        };
        assert_eq!(kind.allowed.as_deref(), Some(&["ApiKey".to_owned()][..]));
        assert!(property(&auth.alternatives[1], "authFileContent").required());
    }

    #[test]
    fn client_has_the_api_kind_and_any_other() {
        let shape = files().shape("ClientInformation").unwrap();
        let client = object(&shape);
        let [api, other] = &client.alternatives[..] else {
            panic!("two alternatives: {client:?}")
        };
        assert_eq!(api.label.as_deref(), Some("Api"));
        assert_eq!(property(api, "name").required_by, ["ApiClientInformation"]);
        assert_eq!(other.label.as_deref(), Some("other"));
        assert!(other.properties.iter().all(|p| p.name != "name"));
        let Shape::String(kind) = &property(other, "type").shape else {
            panic!("type is a string")
        };
        assert!(kind.allowed.is_none() && kind.excluded == ["Api"]);
    }

    #[test]
    fn handshake_request_follows_its_references() {
        let shape = files().shape("HandshakeRequest").unwrap();
        let root = object(&shape);
        assert_eq!(root.alternatives.len(), 1);
        let auth = property(&root.alternatives[0], "auth");
        assert_eq!(object(&auth.shape).alternatives.len(), 2);
    }

    #[test]
    fn open_request_is_a_list_of_strings() {
        let shape = files().shape("DaemonOpenRequest").unwrap();
        let arguments = property(&object(&shape).alternatives[0], "arguments");
        let Shape::Array(list) = &arguments.shape else {
            panic!("arguments is a list")
        };
        assert_eq!(list.min_items, 0);
        assert!(matches!(*list.items, Shape::String(_)));
    }

    #[test]
    fn an_unknown_keyword_is_named_with_its_place() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("M.json"),
            r#"{"type": "object", "properties": {"a": {"type": "string", "pattern": "^x"}}}"#,
        )
        .unwrap();
        let error = SchemaFiles::load(dir.path())
            .unwrap()
            .shape("M")
            .unwrap_err();
        assert!(error.contains("M.json#/properties/a"), "{error}");
        assert!(error.contains("`pattern`"), "{error}");
    }

    #[test]
    fn a_reference_cycle_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("A.json"), r#"{"$ref": "B.json"}"#).unwrap();
        std::fs::write(dir.path().join("B.json"), r#"{"$ref": "A.json"}"#).unwrap();
        let error = SchemaFiles::load(dir.path())
            .unwrap()
            .shape("A")
            .unwrap_err();
        assert!(error.contains("cycle"), "{error}");
    }
}
