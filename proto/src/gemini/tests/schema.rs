use serde_json::{json, Value};

use crate::gemini::schema::{is_empty_object, Sanitized, REF_DEPTH_MAX};

fn narrow(v: Value) -> Value {
    serde_json::to_value(Sanitized::new(&v)).unwrap()
}

#[test]
fn rejected_keys_are_stripped_recursively() {
    // The shape MCP servers and pydantic produce, with every key Gemini rejects.
    let schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "x",
        "type": "object",
        "title": "Args",
        "additionalProperties": false,
        "strict": true,
        "properties": {
            "path": {"type": "string", "description": "file", "minLength": 1, "pattern": "^/",
                      "format": "uri", "examples": ["/a"], "$comment": "c", "x-vendor": 1},
            "mode": {"const": "fast"},
            "level": {"enum": [1, 2.5, true, null, "max", {"no": 1}]},
            "tags": {"type": "array", "uniqueItems": true, "minItems": 1,
                     "items": {"type": "string", "propertyNames": {}, "maxLength": 9}},
            "tuple": {"type": "array", "items": [{"type": "string"}]},
            "when": {"type": "string", "format": "date-time", "default": "now"},
            "count": {"type": "integer", "exclusiveMinimum": 0, "multipleOf": 2, "maximum": 10},
            "choice": {"oneOf": [{"type": "string"}, {"type": "object", "additionalProperties": true,
                                                       "properties": {"k": {"type": "number"}}}]},
            "either": {"anyOf": [{"type": "string"}], "oneOf": [{"type": "integer"}]},
            "multi": {"type": ["string", "integer", "null"]},
            "opt": {"type": "string", "nullable": true},
            "empty": {"type": "object", "properties": {}},
            "all": {"allOf": [{"type": "string"}], "not": {"type": "null"}, "if": {}, "then": {}}
        },
        "required": ["path"],
        "patternProperties": {"^x": {}},
        "dependentRequired": {}
    });
    assert_eq!(
        narrow(schema),
        json!({
            "type": "OBJECT",
            "title": "Args",
            "properties": {
                "path": {"type": "STRING", "description": "file", "minLength": 1, "pattern": "^/"},
                "mode": {"enum": ["fast"]},
                "level": {"enum": ["1", "2.5", "true", "max"], "nullable": true},
                "tags": {"type": "ARRAY", "minItems": 1,
                         "items": {"type": "STRING", "maxLength": 9}},
                "tuple": {"type": "ARRAY"},
                "when": {"type": "STRING", "format": "date-time", "default": "now"},
                "count": {"type": "INTEGER", "maximum": 10},
                "choice": {"anyOf": [{"type": "STRING"},
                                     {"type": "OBJECT", "properties": {"k": {"type": "NUMBER"}}}]},
                "either": {"anyOf": [{"type": "STRING"}]},
                "multi": {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}], "nullable": true},
                "opt": {"type": "STRING", "nullable": true},
                "empty": {"type": "OBJECT"},
                "all": {}
            },
            "required": ["path"]
        })
    );
}

#[test]
fn property_names_that_look_like_keywords_survive() {
    // Keys of `properties` are parameter names, not schema keywords.
    let schema = json!({"type": "object", "properties": {
        "additionalProperties": {"type": "boolean"},
        "$schema": {"type": "string"},
        "type": {"type": "string", "enum": ["a"]}
    }});
    assert_eq!(
        narrow(schema),
        json!({"type": "OBJECT", "properties": {
            "additionalProperties": {"type": "BOOLEAN"},
            "$schema": {"type": "STRING"},
            "type": {"type": "STRING", "enum": ["a"]}
        }})
    );
}

#[test]
fn local_refs_are_inlined_and_recursion_is_bounded() {
    let schema = json!({
        "type": "object",
        "$defs": {
            "Pet": {"type": "object", "properties": {"name": {"type": "string"}}},
            "Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}
        },
        "definitions": {"Id": {"type": "integer"}},
        "properties": {
            "pet": {"$ref": "#/$defs/Pet", "description": "ignored beside $ref"},
            "id": {"$ref": "#/definitions/Id"},
            "remote": {"$ref": "https://example.com/schema.json"},
            "missing": {"$ref": "#/$defs/Nope"},
            "list": {"$ref": "#/$defs/Node"}
        }
    });
    let out = narrow(schema);
    let props = &out["properties"];
    assert_eq!(
        props["pet"],
        json!({"type": "OBJECT", "properties": {"name": {"type": "STRING"}}})
    );
    assert_eq!(props["id"], json!({"type": "INTEGER"}));
    assert_eq!(props["remote"], json!({}));
    assert_eq!(props["missing"], json!({}));
    assert!(out.get("$defs").is_none() && out.get("definitions").is_none());
    // The self-referencing schema is unrolled REF_DEPTH_MAX times, then `{}`.
    let mut depth = 0;
    let mut node = &props["list"];
    while let Some(next) = node.get("properties").and_then(|p| p.get("next")) {
        depth += 1;
        node = next;
    }
    assert_eq!(depth, usize::from(REF_DEPTH_MAX));
    assert_eq!(*node, json!({}));
}

#[test]
fn boolean_and_garbage_schemas_become_any() {
    assert_eq!(narrow(json!(true)), json!({}));
    assert_eq!(narrow(json!({"type": 5, "items": "x"})), json!({}));
    assert_eq!(narrow(json!({"type": "weird"})), json!({}));
}

#[test]
fn empty_object_detection() {
    for v in [
        json!({}),
        json!({"type": "object"}),
        json!({"type": "object", "properties": {}, "required": []}),
        json!({"type": "OBJECT", "additionalProperties": false, "properties": {}}),
    ] {
        assert!(is_empty_object(&v), "{v}");
    }
    for v in [
        json!({"type": "object", "properties": {"a": {}}}),
        json!({"type": "string"}),
        json!({"anyOf": [{"type": "object"}]}),
        json!({"$ref": "#/$defs/A"}),
        json!(true),
    ] {
        assert!(!is_empty_object(&v), "{v}");
    }
}
