//! JSON Schema → the OpenAPI 3.0 subset Gemini's `Schema` object accepts.
//!
//! Gemini parses `functionDeclarations[].parameters` and `generationConfig.responseSchema`
//! into a protobuf message, so every member it does not know fails the whole request with
//! `Invalid JSON payload received. Unknown name "additionalProperties" ...: Cannot find
//! field` (the same for `$schema`, `const`, `exclusiveMinimum`, `propertyNames`, ...), and
//! a `type` array fails with `Proto field is not repeating, cannot start list`. Clients
//! (MCP servers, pydantic, zod) produce exactly those schemas, so the translator rewrites
//! them instead of passing the error on.
//!
//! The rewrite is an allowlist, not a denylist: only the members of Gemini's `Schema`
//! ([`KEPT`]) survive; everything else is dropped, recursively. What is rewritten rather
//! than dropped:
//! - `type: "string"` → `"STRING"` (the proto enum's names);
//! - `type: ["string", "null"]` → `type: "STRING", nullable: true`; several non-null
//!   types → `anyOf` of one schema per type (when there is no `anyOf` already);
//! - `const: "x"` → `enum: ["x"]` (when there is no `enum`);
//! - `enum` values that are numbers or booleans → their JSON text (Gemini's `enum` is a
//!   string list); a `null` value → `nullable: true`;
//! - `oneOf` → `anyOf` (when there is no `anyOf`): "exactly one" is weakened to "at least
//!   one", the closest Gemini can say;
//! - `$ref: "#/$defs/X"` (or `#/definitions/X`) → the referenced schema inlined, up to
//!   [`REF_DEPTH_MAX`] nested references (deeper ones, cycles and other `$ref` forms
//!   become `{}`, any value);
//! - `format` is kept only when Gemini acts on it (`enum`, `date-time`, `float`,
//!   `double`, `int32`, `int64`); the Gemini Developer API rejects other string formats
//!   (`email`, `uri`, `uuid`, ...);
//! - `items` given as an array (tuple validation) is dropped;
//! - an empty `properties: {}` is dropped (Gemini: "properties: should be non-empty for
//!   OBJECT type"); at the top level of tool parameters, an object schema with no
//!   properties is dropped entirely (see [`is_empty_object`]).
//!
//! Dropped with no replacement (the model sees a looser schema): `additionalProperties`,
//! `$schema`, `$id`, `$defs`/`definitions` (after inlining), `strict`, `allOf`, `not`,
//! `if`/`then`/`else`, `exclusiveMinimum`/`exclusiveMaximum`, `multipleOf`,
//! `uniqueItems`, `contains`, `patternProperties`, `propertyNames`, `dependentRequired`,
//! `examples`, `readOnly`/`writeOnly`, `deprecated`, `$comment`, and any vendor key.
//!
//! With [`super::SchemaMode::JsonSchema`] none of this runs: the schema goes untouched to
//! `parametersJsonSchema` / `responseJsonSchema`, which newer models accept.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value};

/// The members of Gemini's `Schema` object (Gemini API v1beta reference) that are copied
/// through. `type`, `enum`, `format`, `properties`, `items`, `anyOf` and `nullable` are
/// kept too, but rewritten (see the module docs).
pub const KEPT: &[&str] = &[
    "title",
    "description",
    "maxItems",
    "minItems",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "propertyOrdering",
    "default",
    "minimum",
    "maximum",
];

/// `format` values Gemini acts on; others are dropped.
const FORMATS: &[&str] = &["enum", "date-time", "float", "double", "int32", "int64"];

/// How many `$ref`s deep a schema is inlined; beyond it a reference becomes `{}`. Bounds
/// the output of a recursive (self-referencing) schema.
pub const REF_DEPTH_MAX: u8 = 8;

/// A JSON Schema written as a Gemini `Schema`. `root` is the document `$ref`s resolve in.
#[derive(Clone, Copy)]
pub struct Sanitized<'v> {
    pub schema: &'v Value,
    pub root: &'v Value,
    refs: u8,
}

impl<'v> Sanitized<'v> {
    pub fn new(schema: &'v Value) -> Sanitized<'v> {
        Sanitized {
            schema,
            root: schema,
            refs: 0,
        }
    }

    fn child(&self, schema: &'v Value) -> Sanitized<'v> {
        Sanitized { schema, ..*self }
    }
}

/// Whether `schema` is an object schema with no properties (`{}`, `{"type":"object"}`,
/// `{"type":"object","properties":{}}`): Gemini rejects such tool `parameters`, and
/// leaving `parameters` out says the same thing (the function takes no arguments).
pub fn is_empty_object(schema: &Value) -> bool {
    let Value::Object(m) = schema else {
        return false;
    };
    let is_object = match m.get("type") {
        None => true,
        Some(Value::String(t)) => t.eq_ignore_ascii_case("object"),
        Some(_) => false,
    };
    let no_props = match m.get("properties") {
        None => true,
        Some(Value::Object(p)) => p.is_empty(),
        Some(_) => false,
    };
    is_object && no_props && !m.contains_key("anyOf") && !m.contains_key("$ref")
}

/// `#/$defs/Name` or `#/definitions/Name` in `root`.
fn resolve<'v>(root: &'v Value, reference: &str) -> Option<&'v Value> {
    let path = reference.strip_prefix("#/")?;
    let (section, name) = path.split_once('/')?;
    if section != "$defs" && section != "definitions" {
        return None;
    }
    // JSON Pointer escapes in the name (`~1` for `/`, `~0` for `~`) are rare in
    // generated schemas; a name containing them simply does not resolve.
    root.get(section)?.get(name)
}

fn upper_type(t: &str) -> Option<&'static str> {
    Some(match t {
        "string" | "STRING" => "STRING",
        "number" | "NUMBER" => "NUMBER",
        "integer" | "INTEGER" => "INTEGER",
        "boolean" | "BOOLEAN" => "BOOLEAN",
        "array" | "ARRAY" => "ARRAY",
        "object" | "OBJECT" => "OBJECT",
        "null" | "NULL" => "NULL",
        _ => return None,
    })
}

/// The non-null types of a `type` member, and whether `null` was among them.
fn types(v: &Value) -> (Vec<&'static str>, bool) {
    let mut out = Vec::new();
    let mut null = false;
    let mut add = |t: &str| match upper_type(t) {
        Some("NULL") => null = true,
        Some(t) => out.push(t),
        None => {}
    };
    match v {
        Value::String(t) => add(t),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).for_each(&mut add),
        _ => {}
    }
    (out, null)
}

struct TypeOnly(&'static str);

impl Serialize for TypeOnly {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("type", self.0)?;
        m.end()
    }
}

struct Types(Vec<&'static str>);

impl Serialize for Types {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|t| TypeOnly(t)))
    }
}

/// `enum` values as strings; `null` dropped.
struct EnumValues<'v>(&'v [Value]);

impl Serialize for EnumValues<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for v in self.0 {
            match v {
                Value::String(t) => seq.serialize_element(t)?,
                Value::Null => {}
                Value::Number(_) | Value::Bool(_) => seq.serialize_element(&v.to_string())?,
                // An object or array in an enum has no string form Gemini could use.
                Value::Object(_) | Value::Array(_) => {}
            }
        }
        seq.end()
    }
}

struct Properties<'v> {
    parent: Sanitized<'v>,
    props: &'v Map<String, Value>,
}

impl Serialize for Properties<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.props.len()))?;
        for (k, v) in self.props {
            m.serialize_entry(k, &self.parent.child(v))?;
        }
        m.end()
    }
}

struct Schemas<'v> {
    parent: Sanitized<'v>,
    list: &'v [Value],
}

impl Serialize for Schemas<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.list.iter().map(|v| self.parent.child(v)))
    }
}

impl Serialize for Sanitized<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Value::Object(m) = self.schema else {
            // `true`/`false` schemas and garbage: "any value" is the only thing Gemini can
            // say.
            return s.serialize_map(Some(0))?.end();
        };
        if let Some(Value::String(r)) = m.get("$ref") {
            return match resolve(self.root, r) {
                Some(target) if self.refs < REF_DEPTH_MAX => Sanitized {
                    schema: target,
                    root: self.root,
                    refs: self.refs + 1,
                }
                .serialize(s),
                _ => s.serialize_map(Some(0))?.end(),
            };
        }
        let mut out = s.serialize_map(None)?;
        let (tys, mut nullable) = m.get("type").map_or((Vec::new(), false), types);
        let has_any_of = m.contains_key("anyOf");
        match tys.len() {
            0 => {}
            1 => out.serialize_entry("type", tys[0])?,
            _ if !has_any_of => out.serialize_entry("anyOf", &Types(tys))?,
            _ => {}
        }
        for (k, v) in m {
            match k.as_str() {
                "enum" => {
                    if let Value::Array(vals) = v {
                        nullable |= vals.iter().any(Value::is_null);
                        out.serialize_entry("enum", &EnumValues(vals))?;
                    }
                }
                "const" if !m.contains_key("enum") => match v {
                    Value::Null => nullable = true,
                    Value::Object(_) | Value::Array(_) => {}
                    _ => out.serialize_entry("enum", &EnumValues(std::slice::from_ref(v)))?,
                },
                "format" => {
                    if let Some(f) = v.as_str().filter(|f| FORMATS.contains(f)) {
                        out.serialize_entry("format", f)?;
                    }
                }
                "properties" => {
                    if let Value::Object(props) = v {
                        if !props.is_empty() {
                            let p = Properties {
                                parent: *self,
                                props,
                            };
                            out.serialize_entry("properties", &p)?;
                        }
                    }
                }
                "items" if v.is_object() => out.serialize_entry("items", &self.child(v))?,
                "anyOf" => {
                    if let Value::Array(list) = v {
                        out.serialize_entry(
                            "anyOf",
                            &Schemas {
                                parent: *self,
                                list,
                            },
                        )?;
                    }
                }
                "oneOf" if !has_any_of => {
                    if let Value::Array(list) = v {
                        out.serialize_entry(
                            "anyOf",
                            &Schemas {
                                parent: *self,
                                list,
                            },
                        )?;
                    }
                }
                "nullable" => nullable |= v.as_bool() == Some(true),
                _ if KEPT.contains(&k.as_str()) => out.serialize_entry(k, v)?,
                _ => {}
            }
        }
        if nullable {
            out.serialize_entry("nullable", &true)?;
        }
        out.end()
    }
}
