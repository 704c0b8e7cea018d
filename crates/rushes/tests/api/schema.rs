//! Validation of response bodies against the TAMS spec's JSON Schemas (draft 2020-12).
//!
//! Every file in the spec's `schemas/` directory is loaded into one registry under its
//! `file://` URI, so the relative `$ref`s between files ("timerange.json") resolve without
//! touching the network or the disk again. Validators are built once per schema and cached.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use jsonschema::{Draft, Registry, Validator};
use serde_json::{json, Value};

/// The spec directory (`shared/tams-spec`), found relative to this crate so that it works
/// both in the main work tree and in a CI clone that has `shared/` beside the repository.
pub fn spec_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tams-spec");
    dir.canonicalize()
        .unwrap_or_else(|e| panic!("TAMS spec directory {} not found: {e}", dir.display()))
}

/// The directory of the spec's JSON Schemas.
pub fn schemas_dir() -> PathBuf {
    spec_dir().join("schemas")
}

/// One example body from the spec's `examples/` directory, e.g. `example("flow-put.json")`.
pub fn example(name: &str) -> Value {
    let path = spec_dir().join("examples").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read example {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("example {} is not JSON: {e}", path.display()))
}

/// The base URI under which the schema files are registered (ends with `/`).
fn base_uri() -> &'static str {
    static BASE: OnceLock<String> = OnceLock::new();
    BASE.get_or_init(|| format!("file://{}/", schemas_dir().display()))
}

fn registry() -> &'static Registry<'static> {
    static REGISTRY: OnceLock<Registry<'static>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let dir = schemas_dir();
        let mut resources = Vec::new();
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("file name");
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let value: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("schema {} is not JSON: {e}", path.display()));
            resources.push((format!("{}{name}", base_uri()), value));
        }
        assert!(!resources.is_empty(), "no schemas in {}", dir.display());
        Registry::new()
            .draft(Draft::Draft202012)
            .extend(resources)
            .expect("schema URIs are valid")
            .prepare()
            .unwrap_or_else(|e| panic!("cannot prepare the schema registry: {e}"))
    })
}

/// Builds a validator for `schema`, whose `$ref`s may name schema files ("flow.json").
fn build(schema: &Value) -> Result<Validator, String> {
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .with_base_uri(base_uri())
        .with_registry(registry())
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| format!("cannot build a validator for {schema}: {e}"))
}

/// The cached validator of one schema file, e.g. `"flow-get.json"`.
fn validator(schema_file: &str) -> Arc<Validator> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Validator>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().expect("cache lock").get(schema_file) {
        return v.clone();
    }
    assert!(
        schemas_dir().join(schema_file).is_file(),
        "no schema file {schema_file} in {}",
        schemas_dir().display()
    );
    let v = Arc::new(
        build(&json!({ "$ref": format!("{}{schema_file}", base_uri()) }))
            .unwrap_or_else(|e| panic!("{e}")),
    );
    cache
        .lock()
        .expect("cache lock")
        .insert(schema_file.to_owned(), v.clone());
    v
}

fn collect_errors(validator: &Validator, value: &Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|e| format!("at '{}': {e}", e.instance_path()))
        .collect()
}

/// Every validation error of `value` against the schema file `schema_file` (empty if valid).
pub fn validation_errors(schema_file: &str, value: &Value) -> Vec<String> {
    collect_errors(&validator(schema_file), value)
}

/// Every validation error of `value` against an inline schema (e.g. a response schema written
/// inline in the OpenAPI document); its `$ref`s may name schema files ("flow-segment.json").
pub fn validation_errors_inline(schema: &Value, value: &Value) -> Vec<String> {
    let validator = build(schema).unwrap_or_else(|e| panic!("{e}"));
    collect_errors(&validator, value)
}

fn report(what: &str, errors: &[String], value: &Value) -> ! {
    let body = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    panic!(
        "body is not a valid {what} ({} error(s)):\n  {}\nbody:\n{body}",
        errors.len(),
        errors.join("\n  ")
    );
}

/// Panics with every validation error and the body if `value` is not valid against the
/// schema file `schema_file`, e.g. `assert_valid("flow-get.json", &body)`.
pub fn assert_valid(schema_file: &str, value: &Value) {
    let errors = validation_errors(schema_file, value);
    if !errors.is_empty() {
        report(schema_file, &errors, value);
    }
}

/// Panics unless `value` is a JSON array whose every item is valid against `schema_file`,
/// e.g. `assert_valid_list("source.json", &body)` for `GET /sources`.
pub fn assert_valid_list(schema_file: &str, value: &Value) {
    let Some(items) = value.as_array() else {
        report(
            &format!("array of {schema_file}"),
            &["not an array".to_owned()],
            value,
        );
    };
    let v = validator(schema_file);
    let errors: Vec<String> = items
        .iter()
        .enumerate()
        .flat_map(|(i, item)| {
            collect_errors(&v, item)
                .into_iter()
                .map(move |e| format!("item {i}: {e}"))
        })
        .collect();
    if !errors.is_empty() {
        report(&format!("array of {schema_file}"), &errors, value);
    }
}

/// Panics unless `value` is valid against an inline schema whose `$ref`s may name schema
/// files, e.g. `assert_valid_inline(&json!({"type": "array", "items": {"$ref": "tags.json"}}), &v)`.
pub fn assert_valid_inline(schema: &Value, value: &Value) {
    let errors = validation_errors_inline(schema, value);
    if !errors.is_empty() {
        report(&format!("instance of {schema}"), &errors, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_file_compiles() {
        let mut names: Vec<String> = std::fs::read_dir(schemas_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        assert!(
            names.len() > 30,
            "expected the spec's schemas, found {names:?}"
        );
        for name in names {
            // Panics if a file or one of its references does not resolve.
            validator(&name);
        }
    }

    #[test]
    fn valid_examples_pass() {
        for (schema, example_file) in [
            ("flow-get.json", "flow-get-200-video-h264.json"),
            ("flow-get.json", "flow-get-200-audio-aac.json"),
            ("flow-put.json", "flow-put.json"),
            ("service.json", "service-get-200.json"),
            ("source.json", "source-get-200-basic.json"),
            ("flow-storage.json", "flow-storage-post-201.json"),
            ("flow-segment-post.json", "flow-segment-post.json"),
        ] {
            assert_valid(schema, &example(example_file));
        }
        assert_valid_list("flow-segment.json", &example("flow-segments-get-200.json"));
        assert_valid_list("source.json", &example("sources-get-200.json"));
        assert_valid_list("flow-get.json", &example("flows-get-200.json"));
    }

    #[test]
    fn corrupted_examples_fail() {
        // A wrong type deep inside a referenced schema (timerange.json via flow-segment.json).
        let mut segment = example("flow-segment-post.json");
        segment["timerange"] = json!(12);
        assert!(!validation_errors("flow-segment-post.json", &segment).is_empty());

        // A missing required property.
        let mut flow = example("flow-get-200-video-h264.json");
        flow.as_object_mut().unwrap().remove("source_id");
        let errors = validation_errors("flow-get.json", &flow);
        assert!(
            errors.iter().any(|e| e.contains("source_id")),
            "errors: {errors:?}"
        );

        // A malformed timerange string and a malformed uuid.
        let mut segment = example("flow-segment-post.json");
        segment["timerange"] = json!("[0:0-1:0)");
        assert!(!validation_errors("flow-segment-post.json", &segment).is_empty());
        let mut source = example("source-get-200-basic.json");
        source["id"] = json!("not-a-uuid");
        assert!(!validation_errors("source.json", &source).is_empty());

        // Formats are checked: error.json's `time` is a date-time.
        let good =
            json!({"type": "NotFound", "summary": "no such flow", "time": "2024-01-02T03:04:05Z"});
        assert!(validation_errors("error.json", &good).is_empty());
        let bad = json!({"type": "NotFound", "summary": "no such flow", "time": "yesterday"});
        assert!(!validation_errors("error.json", &bad).is_empty());
    }

    #[test]
    #[should_panic(expected = "item 1")]
    fn list_validation_names_the_bad_item() {
        let mut list = example("flow-segments-get-200.json");
        list[1]["object_id"] = json!(42);
        assert_valid_list("flow-segment.json", &list);
    }

    #[test]
    #[should_panic(expected = "not an array")]
    fn list_validation_rejects_an_object() {
        assert_valid_list("source.json", &example("source-get-200-basic.json"));
    }

    #[test]
    fn inline_schemas_resolve_file_references() {
        let schema = json!({"type": "array", "items": {"$ref": "flow-segment.json"}});
        assert_valid_inline(&schema, &example("flow-segments-get-200.json"));
        let bad = json!([{"object_id": "x"}]);
        assert!(!validation_errors_inline(&schema, &bad).is_empty());
    }
}
