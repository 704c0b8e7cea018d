//! Every path and method of the spec, driven over HTTP against a store holding one of each
//! resource: the route exists, answers the spec's success status, and any JSON it returns
//! validates against the spec's schema; every HEAD answers like its GET, with no body.
//!
//! The operations are read from the spec itself by [`spec_operations`] (a line scanner,
//! no YAML parser), so a path or method added to the spec fails this test until the server
//! serves it and the table in [`expectation`] says what it answers.

use std::fmt;

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{header, TestServer};
use crate::schema;

/// One operation of the spec: a method on a path template, with the status codes its
/// `responses` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub method: Method,
    /// The path template as the spec writes it, e.g. `/flows/{flowId}/tags/{name}`.
    pub path: String,
    /// The status codes listed under the operation's `responses`.
    pub responses: Vec<u16>,
}

impl Operation {
    /// Whether the spec lists `status` for this operation.
    pub fn lists(&self, status: u16) -> bool {
        self.responses.contains(&status)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// The methods an OpenAPI path item may hold; any of them in the spec is an operation.
const METHODS: [&str; 8] = [
    "head", "get", "put", "post", "delete", "patch", "options", "trace",
];

/// Reads every operation under `paths:` of an OpenAPI document written in the spec's
/// layout: paths at two spaces of indent (`  /flows:`), methods at four (`    get:`), and
/// response codes at eight (`        "200":`). Stops at the next top-level key
/// (`webhooks:`, whose callbacks are not served by the store).
pub fn scan_operations(yaml: &str) -> Vec<Operation> {
    let mut ops: Vec<Operation> = Vec::new();
    let mut path: Option<String> = None;
    let mut in_paths = false;
    let mut in_op = false;
    for line in yaml.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() && !line.starts_with('#') {
            in_paths = line.trim_end() == "paths:";
            path = None;
            in_op = false;
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(rest) = line.strip_prefix("  /") {
            let template = rest.trim_end().trim_end_matches(':');
            path = Some(format!("/{template}"));
            in_op = false;
        } else if let Some(rest) = line.strip_prefix("    ") {
            if rest.starts_with(' ') {
                if in_op {
                    if let Some(code) = response_code(line) {
                        if let Some(op) = ops.last_mut() {
                            op.responses.push(code);
                        }
                    }
                }
                continue;
            }
            let key = rest.trim_end().trim_end_matches(':');
            in_op = false;
            if METHODS.contains(&key) && rest.trim_end().ends_with(':') {
                let path = path
                    .clone()
                    .unwrap_or_else(|| panic!("method {key} outside a path"));
                let method = Method::from_bytes(key.to_ascii_uppercase().as_bytes())
                    .unwrap_or_else(|e| panic!("method {key}: {e}"));
                ops.push(Operation {
                    method,
                    path,
                    responses: Vec::new(),
                });
                in_op = true;
            }
        }
    }
    ops
}

/// `        "404":` (a response code at eight spaces of indent) as 404.
fn response_code(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("        ")?;
    if rest.starts_with(' ') {
        return None;
    }
    let code = rest.trim_end().strip_suffix(':')?.trim_matches('"');
    (code.len() == 3).then(|| code.parse().ok()).flatten()
}

/// Every operation of the TAMS spec the tests run against.
pub fn spec_operations() -> Vec<Operation> {
    let file = schema::spec_dir().join("TimeAddressableMediaStore.yaml");
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let ops = scan_operations(&text);
    assert!(
        ops.len() > 50,
        "the scanner found only {} operations in {}",
        ops.len(),
        file.display()
    );
    ops
}

/// The spec's operation for `method` on the path template `path`.
pub fn operation(ops: &[Operation], method: &Method, path: &str) -> Operation {
    ops.iter()
        .find(|o| o.method == *method && o.path == path)
        .cloned()
        .unwrap_or_else(|| panic!("the spec has no operation {method} {path}"))
}

pub fn new_id() -> String {
    Uuid::new_v4().to_string()
}

/// A store holding one of each resource, made over HTTP.
pub struct Fixture {
    /// A video Flow with every optional property set and one Segment.
    pub flow: String,
    /// The Flow's body as PUT.
    pub flow_body: Value,
    /// The Source of `flow`, with a tag, label and description.
    pub source: String,
    /// The audio Flow that `flow` collects.
    pub member: String,
    /// The Object of `flow`'s Segment `[0:0_1:0)`.
    pub object: String,
    pub profile: String,
    /// A disabled webhook (it never sends: its URL is a closed port on loopback).
    pub webhook: String,
    /// The tag every tagged resource carries.
    pub tag: &'static str,
}

/// The name of the fixture's tags.
pub const TAG: &str = "genre";

/// Sends a request and reads the answer: status, content type and body bytes.
pub struct Answer {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Answer {
    pub async fn of(resp: Response) -> Answer {
        let status = resp.status();
        let content_type = header(&resp, "content-type");
        let body = resp.bytes().await.expect("read the body").to_vec();
        Answer {
            status,
            content_type,
            body,
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, if the answer says it is JSON and it parses.
    pub fn json(&self) -> Result<Value, String> {
        let ct = self.content_type.as_deref().unwrap_or("");
        if !ct.starts_with("application/json") {
            return Err(format!("content-type is {ct:?}, not application/json"));
        }
        serde_json::from_slice(&self.body).map_err(|e| format!("body is not JSON ({e})"))
    }

    /// Whether this is the router's answer for a path it does not know.
    pub fn is_router_not_found(&self) -> bool {
        self.status == StatusCode::NOT_FOUND
            && self
                .json()
                .ok()
                .and_then(|v| v["summary"].as_str().map(str::to_owned))
                .is_some_and(|s| s.starts_with("no resource at"))
    }
}

async fn must(server: &TestServer, method: Method, path: &str, body: Option<&Value>) -> Answer {
    let mut req = server.request(method.clone(), path);
    if let Some(b) = body {
        req = req.json(b);
    }
    let answer = Answer::of(req.send().await.expect("send")).await;
    assert!(
        answer.status.is_success(),
        "fixture: {method} {path} answered {}: {}",
        answer.status,
        answer.text()
    );
    answer
}

impl Fixture {
    /// Creates the resources: a member Flow, a Flow collecting it (with label, description,
    /// tags and bit rates), its Source's tag/label/description, an uploaded Object
    /// registered as the Flow's Segment `[0:0_1:0)`, a Profile and a disabled webhook.
    pub async fn create(server: &TestServer) -> Fixture {
        let (flow, source, member) = (new_id(), new_id(), new_id());
        let member_body = json!({
            "id": member,
            "source_id": new_id(),
            "format": "urn:x-nmos:format:audio",
            "codec": "audio/aac",
            "container": "video/mp2t",
            "essence_parameters": {"sample_rate": 48000, "channels": 2}
        });
        must(
            server,
            Method::PUT,
            &format!("/flows/{member}"),
            Some(&member_body),
        )
        .await;
        let flow_body = json!({
            "id": flow,
            "source_id": source,
            "format": "urn:x-nmos:format:video",
            "codec": "video/h264",
            "container": "video/mp2t",
            "label": "camera one",
            "description": "the first camera",
            "tags": {TAG: "news", "crew": ["a", "b"]},
            "max_bit_rate": 6000,
            "avg_bit_rate": 5000,
            "flow_collection": [{"id": member, "role": "audio"}],
            "essence_parameters": {"frame_width": 1920, "frame_height": 1080, "frame_rate": {"numerator": 25}}
        });
        must(
            server,
            Method::PUT,
            &format!("/flows/{flow}"),
            Some(&flow_body),
        )
        .await;
        for (path, value) in [
            (format!("/sources/{source}/tags/{TAG}"), json!("news")),
            (format!("/sources/{source}/label"), json!("camera one")),
            (
                format!("/sources/{source}/description"),
                json!("the first camera"),
            ),
        ] {
            must(server, Method::PUT, &path, Some(&value)).await;
        }

        let storage = must(
            server,
            Method::POST,
            &format!("/flows/{flow}/storage"),
            Some(&json!({"limit": 1})),
        )
        .await
        .json()
        .expect("storage JSON");
        let media = &storage["media_objects"][0];
        let object = media["object_id"].as_str().expect("object_id").to_owned();
        let put_url = media["put_url"]["url"].as_str().expect("put_url");
        let ct = media["put_url"]["content-type"]
            .as_str()
            .unwrap_or("video/mp2t");
        let up = server
            .client
            .put(put_url)
            .header("content-type", ct)
            .body(b"one second of media".to_vec())
            .send()
            .await
            .expect("upload");
        assert!(up.status().is_success(), "upload: {}", up.status());
        must(
            server,
            Method::POST,
            &format!("/flows/{flow}/segments"),
            Some(&json!({"object_id": object, "timerange": "[0:0_1:0)"})),
        )
        .await;

        let profile = new_id();
        let mut profile_body = schema::example("profile-put.json");
        profile_body["id"] = json!(profile);
        must(
            server,
            Method::POST,
            &format!("/service/profiles/{profile}"),
            Some(&profile_body),
        )
        .await;

        let hook = must(
            server,
            Method::POST,
            "/service/webhooks",
            Some(&json!({
                "url": "http://127.0.0.1:9/hook",
                "api_key_name": "x-key",
                "api_key_value": "secret",
                "events": ["flows/created", "flows/updated"],
                "tags": {TAG: "news"},
                "status": "disabled"
            })),
        )
        .await
        .json()
        .expect("webhook JSON");
        let webhook = hook["id"].as_str().expect("webhook id").to_owned();

        Fixture {
            flow,
            flow_body,
            source,
            member,
            object,
            profile,
            webhook,
            tag: TAG,
        }
    }

    /// A Flow with more Segments than are deleted within a request, deleted: answers the
    /// id of its deletion request (202).
    pub async fn deletion_request(server: &TestServer) -> String {
        let flow = new_id();
        let body = json!({
            "id": flow,
            "source_id": new_id(),
            "format": "urn:x-nmos:format:audio",
            "codec": "audio/aac",
            "container": "video/mp2t",
            "essence_parameters": {"sample_rate": 48000, "channels": 2}
        });
        must(server, Method::PUT, &format!("/flows/{flow}"), Some(&body)).await;
        let storage = must(
            server,
            Method::POST,
            &format!("/flows/{flow}/storage"),
            Some(&json!({"limit": 1})),
        )
        .await
        .json()
        .expect("storage JSON");
        let object = storage["media_objects"][0]["object_id"]
            .as_str()
            .expect("object_id")
            .to_owned();
        // More than DELETE_AT_ONCE_MAX_SEGMENTS (1000), all of one object.
        let segments: Vec<Value> = (0..1001)
            .map(|i| {
                json!({"object_id": object, "ts_offset": format!("{i}:0"),
                       "timerange": format!("[{i}:0_{}:0)", i + 1)})
            })
            .collect();
        let registered = must(
            server,
            Method::POST,
            &format!("/flows/{flow}/segments"),
            Some(&Value::Array(segments)),
        )
        .await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{}",
            registered.text()
        );
        let deleted = must(server, Method::DELETE, &format!("/flows/{flow}"), None).await;
        assert_eq!(deleted.status, StatusCode::ACCEPTED, "{}", deleted.text());
        deleted.json().expect("deletion request JSON")["id"]
            .as_str()
            .expect("request id")
            .to_owned()
    }
}

/// What a response body must be.
#[derive(Debug, Clone)]
enum Shape {
    /// No body (204, or HEAD).
    Empty,
    /// A JSON body valid against this schema file.
    File(&'static str),
    /// A JSON array of items valid against this schema file.
    ListOf(&'static str),
    /// A JSON body valid against this inline schema.
    Inline(Value),
    /// A body the spec does not describe; if it is JSON, it is valid against this file.
    Optional(&'static str),
}

/// What the spec says an operation answers when it succeeds, and the request that makes
/// it succeed against the fixture.
#[derive(Debug, Clone)]
struct Expect {
    status: StatusCode,
    shape: Shape,
    /// A query string (with the leading `?`) to add.
    query: String,
    body: Option<Value>,
}

fn ok(shape: Shape) -> Expect {
    Expect {
        status: StatusCode::OK,
        shape,
        query: String::new(),
        body: None,
    }
}

fn with_body(status: StatusCode, shape: Shape, body: Value) -> Expect {
    Expect {
        status,
        shape,
        query: String::new(),
        body: Some(body),
    }
}

fn no_content() -> Expect {
    Expect {
        status: StatusCode::NO_CONTENT,
        shape: Shape::Empty,
        query: String::new(),
        body: None,
    }
}

fn string_schema() -> Shape {
    Shape::Inline(json!({"type": "string"}))
}

fn tag_value_schema() -> Shape {
    Shape::Inline(json!({"oneOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}}
    ]}))
}

fn bit_rate_schema() -> Shape {
    Shape::Inline(json!({"type": "integer", "minimum": 0}))
}

/// The success answer of each operation (the non-HEAD ones; a HEAD answers as its GET),
/// per the spec's `responses`, and a request body that succeeds against `fx`.
/// `None` for an operation this table does not know yet.
fn expectation(fx: &Fixture, method: &Method, path: &str, fresh_profile: &str) -> Option<Expect> {
    use StatusCode as S;
    let m = method.as_str();
    Some(match (m, path) {
        ("GET", "/") => ok(Shape::Inline(
            json!({"type": "array", "items": {"type": "string"}}),
        )),
        ("GET", "/service") => ok(Shape::File("service.json")),
        ("POST", "/service") => with_body(
            S::OK,
            Shape::Optional("service.json"),
            json!({"name": "Rushes under test", "description": "every path and method"}),
        ),
        ("GET", "/service/storage-backends") => ok(Shape::File("storage-backends-list.json")),
        ("GET", "/service/profiles") => ok(Shape::ListOf("profile.json")),
        ("GET", "/service/profiles/{profileId}") => ok(Shape::File("profile.json")),
        ("POST", "/service/profiles/{profileId}") => {
            let mut body = schema::example("profile-put.json");
            body["id"] = json!(fresh_profile);
            with_body(S::CREATED, Shape::File("profile.json"), body)
        }
        ("GET", "/service/webhooks") => ok(Shape::ListOf("webhook-get.json")),
        ("POST", "/service/webhooks") => with_body(
            S::CREATED,
            Shape::File("webhook-get.json"),
            json!({"url": "http://127.0.0.1:9/second", "events": ["sources/created"], "status": "disabled"}),
        ),
        ("GET", "/service/webhooks/{webhookId}") => ok(Shape::File("webhook-get.json")),
        ("PUT", "/service/webhooks/{webhookId}") => with_body(
            S::CREATED,
            Shape::File("webhook-get.json"),
            json!({"id": fx.webhook, "url": "http://127.0.0.1:9/hook", "events": ["flows/deleted"], "status": "disabled"}),
        ),
        ("DELETE", "/service/webhooks/{webhookId}") => no_content(),
        ("GET", "/sources") => ok(Shape::ListOf("source.json")),
        ("GET", "/sources/{sourceId}") => ok(Shape::File("source.json")),
        ("GET", "/sources/{sourceId}/tags") | ("GET", "/flows/{flowId}/tags") => {
            ok(Shape::File("tags.json"))
        }
        ("GET", "/sources/{sourceId}/tags/{name}") | ("GET", "/flows/{flowId}/tags/{name}") => {
            ok(tag_value_schema())
        }
        ("PUT", "/sources/{sourceId}/tags/{name}") | ("PUT", "/flows/{flowId}/tags/{name}") => {
            with_body(S::NO_CONTENT, Shape::Empty, json!(["news", "sport"]))
        }
        ("GET", "/sources/{sourceId}/description")
        | ("GET", "/sources/{sourceId}/label")
        | ("GET", "/flows/{flowId}/description")
        | ("GET", "/flows/{flowId}/label") => ok(string_schema()),
        ("PUT", "/sources/{sourceId}/description")
        | ("PUT", "/sources/{sourceId}/label")
        | ("PUT", "/flows/{flowId}/description")
        | ("PUT", "/flows/{flowId}/label") => {
            with_body(S::NO_CONTENT, Shape::Empty, json!("camera one, again"))
        }
        ("DELETE", "/sources/{sourceId}/tags/{name}")
        | ("DELETE", "/sources/{sourceId}/description")
        | ("DELETE", "/sources/{sourceId}/label")
        | ("DELETE", "/flows/{flowId}/tags/{name}")
        | ("DELETE", "/flows/{flowId}/description")
        | ("DELETE", "/flows/{flowId}/label")
        | ("DELETE", "/flows/{flowId}/flow_collection")
        | ("DELETE", "/flows/{flowId}/max_bit_rate")
        | ("DELETE", "/flows/{flowId}/avg_bit_rate")
        | ("DELETE", "/flows/{flowId}") => no_content(),
        ("GET", "/flows") => ok(Shape::ListOf("flow-get.json")),
        ("GET", "/flows/{flowId}") => Expect {
            query: "?include_timerange=true".into(),
            ..ok(Shape::File("flow-get.json"))
        },
        // An existing Flow is replaced: 204.
        ("PUT", "/flows/{flowId}") => with_body(S::NO_CONTENT, Shape::Empty, fx.flow_body.clone()),
        ("GET", "/flows/{flowId}/read_only") => ok(Shape::Inline(json!({"type": "boolean"}))),
        ("PUT", "/flows/{flowId}/read_only") => {
            with_body(S::NO_CONTENT, Shape::Empty, json!(false))
        }
        ("GET", "/flows/{flowId}/flow_collection") => ok(Shape::File("flow-collection.json")),
        ("PUT", "/flows/{flowId}/flow_collection") => with_body(
            S::NO_CONTENT,
            Shape::Empty,
            json!([{"id": fx.member, "role": "commentary"}]),
        ),
        ("GET", "/flows/{flowId}/max_bit_rate") | ("GET", "/flows/{flowId}/avg_bit_rate") => {
            ok(bit_rate_schema())
        }
        ("PUT", "/flows/{flowId}/max_bit_rate") | ("PUT", "/flows/{flowId}/avg_bit_rate") => {
            with_body(S::NO_CONTENT, Shape::Empty, json!(4000))
        }
        ("GET", "/flows/{flowId}/segments") => ok(Shape::ListOf("flow-segment.json")),
        // The fixture's Object reused at 5 s (ts_offset maps it onto the Object's [0:0_1:0)).
        ("POST", "/flows/{flowId}/segments") => with_body(
            S::CREATED,
            Shape::Empty,
            json!({"object_id": fx.object, "timerange": "[5:0_6:0)", "ts_offset": "5:0"}),
        ),
        ("DELETE", "/flows/{flowId}/segments") => Expect {
            query: "?timerange=[5:0_6:0)".into(),
            ..no_content()
        },
        ("POST", "/flows/{flowId}/storage") => with_body(
            S::CREATED,
            Shape::File("flow-storage.json"),
            json!({"limit": 2}),
        ),
        ("GET", "/objects/{objectId}") => ok(Shape::File("object.json")),
        ("POST", "/objects/{objectId}/instances") => with_body(
            S::CREATED,
            Shape::Empty,
            json!({"url": "http://127.0.0.1:9/copy", "label": "coverage-copy"}),
        ),
        ("DELETE", "/objects/{objectId}/instances") => Expect {
            query: "?label=coverage-copy".into(),
            ..no_content()
        },
        ("GET", "/flow-delete-requests") => ok(Shape::ListOf("deletion-request.json")),
        ("GET", "/flow-delete-requests/{request-id}") => ok(Shape::File("deletion-request.json")),
        _ => return None,
    })
}

/// Replaces each `{param}` of `template` with `value(param)`; an error names a parameter
/// without a value.
pub fn fill_template(
    template: &str,
    value: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("unclosed parameter in {template}"))?
            + open;
        let name = &rest[open + 1..close];
        let v = value(name)
            .ok_or_else(|| format!("no value for path parameter {{{name}}} in {template}"))?;
        out.push_str(&v);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Fixture {
    /// The fixture's value for a path parameter of the spec (`None` for `request-id` and
    /// any parameter it does not know).
    pub fn param(&self, name: &str) -> Option<String> {
        Some(
            match name {
                "flowId" => &self.flow,
                "sourceId" => &self.source,
                "name" => self.tag,
                "profileId" => &self.profile,
                "webhookId" => &self.webhook,
                "objectId" => &self.object,
                _ => return None,
            }
            .to_owned(),
        )
    }
}

/// Fills the path parameters of `template` with the fixture's ids; a Profile POST gets
/// `fresh_profile` (it creates one), `{request-id}` gets `request`.
fn fill(
    template: &str,
    fx: &Fixture,
    method: &Method,
    request: &str,
    fresh_profile: &str,
) -> Result<String, String> {
    fill_template(template, |name| match name {
        "profileId" if method == Method::POST => Some(fresh_profile.to_owned()),
        "request-id" => Some(request.to_owned()),
        other => fx.param(other),
    })
}

/// Checks `answer` against `shape`; returns what is wrong.
fn check_shape(answer: &Answer, shape: &Shape) -> Vec<String> {
    let problems = |errors: Vec<String>, body: &Value| {
        if errors.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "body is not valid: {}\n  body: {body}",
                errors.join("; ")
            )]
        }
    };
    match shape {
        Shape::Empty => {
            if answer.body.is_empty() {
                Vec::new()
            } else {
                vec![format!("expected no body, got {:?}", answer.text())]
            }
        }
        Shape::Optional(file) => {
            if answer.body.is_empty() {
                return Vec::new();
            }
            match answer.json() {
                Ok(v) => problems(schema::validation_errors(file, &v), &v),
                Err(e) => vec![e],
            }
        }
        Shape::File(file) => match answer.json() {
            Ok(v) => problems(schema::validation_errors(file, &v), &v),
            Err(e) => vec![e],
        },
        Shape::ListOf(file) => match answer.json() {
            Ok(v) => {
                let schema = json!({"type": "array", "items": {"$ref": file}});
                problems(schema::validation_errors_inline(&schema, &v), &v)
            }
            Err(e) => vec![e],
        },
        Shape::Inline(schema) => match answer.json() {
            Ok(v) => problems(schema::validation_errors_inline(schema, &v), &v),
            Err(e) => vec![e],
        },
    }
}

/// What is wrong with an answer whatever the operation: the router's 404 for an unknown
/// path, a 405, a 5xx.
fn route_problems(answer: &Answer) -> Vec<String> {
    let mut out = Vec::new();
    if answer.is_router_not_found() {
        out.push("the server has no route for it (router 404)".to_owned());
    }
    if answer.status == StatusCode::METHOD_NOT_ALLOWED {
        out.push("the server does not allow the method (405)".to_owned());
    }
    if answer.status.is_server_error() {
        out.push(format!("server error {}: {}", answer.status, answer.text()));
    }
    out
}

/// The body of a request that succeeds for `method` on the path template `path` against
/// `fx` (a Profile POST creates `fresh_profile`); `None` for operations without a body.
pub fn success_body(
    fx: &Fixture,
    method: &Method,
    path: &str,
    fresh_profile: &str,
) -> Option<Value> {
    expectation(fx, method, path, fresh_profile).and_then(|e| e.body)
}

/// The order of the DELETEs, which run after every other operation (in the spec's order):
/// properties first, then the Object's extra instance, the Segment, and the Flow itself.
fn delete_rank(path: &str) -> u8 {
    match path {
        "/objects/{objectId}/instances" => 1,
        "/flows/{flowId}/segments" => 2,
        "/flows/{flowId}" => 3,
        _ => 0,
    }
}

#[test]
fn the_scanner_reads_paths_methods_and_responses() {
    let yaml = "openapi: 3.1.0\npaths:\n  /a/{id}:\n    parameters:\n      - name: id\n    head:\n      responses:\n        \"200\":\n          $ref: x\n        \"404\":\n          description: no\n    get:\n      responses:\n        \"200\":\n          content:\n            application/json:\n              schema:\n                type: string\n  /b:\n    post:\n      responses:\n        \"201\":\n          description: made\nwebhooks:\n  flows/created:\n    post:\n      requestBody: {}\n";
    let ops = scan_operations(yaml);
    let seen: Vec<(String, String, Vec<u16>)> = ops
        .iter()
        .map(|o| (o.method.to_string(), o.path.clone(), o.responses.clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("HEAD".into(), "/a/{id}".into(), vec![200, 404]),
            ("GET".into(), "/a/{id}".into(), vec![200]),
            ("POST".into(), "/b".into(), vec![201]),
        ]
    );
    // The real spec, read in full: the 29 paths of v8.2 and their 27 HEADs (update these
    // counts with the spec's version).
    let ops = spec_operations();
    let paths: std::collections::BTreeSet<&str> = ops.iter().map(|o| o.path.as_str()).collect();
    assert_eq!(paths.len(), 29, "paths: {paths:?}");
    let heads = ops.iter().filter(|o| o.method == Method::HEAD).count();
    assert_eq!(heads, 27);
    let get_flow_segments = operation(&ops, &Method::GET, "/flows/{flowId}/segments");
    assert_eq!(get_flow_segments.responses, vec![200, 400, 404]);
}

#[tokio::test]
async fn every_path_and_method_of_the_spec_is_served_and_answers_valid_json() {
    let server = TestServer::start().await;
    let fx = Fixture::create(&server).await;
    let request = Fixture::deletion_request(&server).await;
    let fresh_profile = new_id();
    let ops = spec_operations();

    let mut order: Vec<&Operation> = ops.iter().filter(|o| o.method != Method::DELETE).collect();
    let mut deletes: Vec<&Operation> = ops.iter().filter(|o| o.method == Method::DELETE).collect();
    deletes.sort_by_key(|o| delete_rank(&o.path));
    order.extend(deletes);

    let mut problems: Vec<String> = Vec::new();
    let mut untabled: Vec<String> = Vec::new();
    for op in order {
        let url = match fill(&op.path, &fx, &op.method, &request, &fresh_profile) {
            Ok(u) => u,
            Err(e) => {
                problems.push(format!("{op}: {e}"));
                continue;
            }
        };
        if op.method == Method::HEAD {
            // A HEAD answers as the GET of the same path and query, with no body.
            let expect = expectation(&fx, &Method::GET, &op.path, &fresh_profile);
            let query = expect.as_ref().map(|e| e.query.clone()).unwrap_or_default();
            let target = format!("{url}{query}");
            let head = Answer::of(server.head(&target).await).await;
            let get = Answer::of(server.get(&target).await).await;
            let mut p = route_problems(&head);
            if head.status != get.status {
                p.push(format!("HEAD answered {}, GET {}", head.status, get.status));
            }
            if let Some(e) = &expect {
                if head.status != e.status {
                    p.push(format!("expected {}, got {}", e.status, head.status));
                }
            }
            if !head.body.is_empty() {
                p.push(format!("HEAD has a body: {:?}", head.text()));
            }
            if head.content_type != get.content_type {
                p.push(format!(
                    "HEAD content-type {:?}, GET {:?}",
                    head.content_type, get.content_type
                ));
            }
            problems.extend(p.into_iter().map(|m| format!("{op} ({target}): {m}")));
            continue;
        }
        let expect = expectation(&fx, &op.method, &op.path, &fresh_profile);
        if expect.is_none() {
            untabled.push(op.to_string());
        }
        let query = expect.as_ref().map(|e| e.query.clone()).unwrap_or_default();
        let target = format!("{url}{query}");
        let mut req = server.request(op.method.clone(), &target);
        match expect.as_ref().and_then(|e| e.body.as_ref()) {
            Some(body) => req = req.json(body),
            None if op.method == Method::PUT || op.method == Method::POST => {
                req = req.json(&json!({}))
            }
            None => {}
        }
        let answer = Answer::of(req.send().await.expect("send")).await;
        let mut p = route_problems(&answer);
        if let Some(e) = &expect {
            if !op.lists(e.status.as_u16()) {
                p.push(format!(
                    "the table expects {}, which the spec does not list ({:?})",
                    e.status, op.responses
                ));
            }
            if answer.status != e.status {
                p.push(format!(
                    "expected {}, got {}: {}",
                    e.status,
                    answer.status,
                    answer.text()
                ));
            } else {
                p.extend(check_shape(&answer, &e.shape));
            }
        }
        problems.extend(p.into_iter().map(|m| format!("{op} ({target}): {m}")));
    }
    if server.log().contains("panicked") {
        problems.push(format!("the server panicked:\n{}", server.log()));
    }
    if !untabled.is_empty() {
        problems.push(format!(
            "operations of the spec with no expectation in coverage.rs: {}",
            untabled.join(", ")
        ));
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) over {} operations:\n{}",
        problems.len(),
        ops.len(),
        problems.join("\n")
    );
}

/// The route check fails for what the server does not serve: an unknown path (the router's
/// 404, not a handler's) and a method a path does not take (405).
#[tokio::test]
async fn a_path_or_method_the_server_does_not_serve_is_reported() {
    let server = TestServer::start().await;
    let fx = Fixture::create(&server).await;
    let unknown_path =
        Answer::of(server.get(&format!("/flows/{}/thumbnails", fx.flow)).await).await;
    assert!(!route_problems(&unknown_path).is_empty());
    let unknown_method = Answer::of(server.delete("/service").await).await;
    assert!(!route_problems(&unknown_method).is_empty());
    // A handler's 404 for an unknown Flow is not the router's.
    let unknown_flow = Answer::of(server.get(&format!("/flows/{}", new_id())).await).await;
    assert_eq!(unknown_flow.status, StatusCode::NOT_FOUND);
    assert!(route_problems(&unknown_flow).is_empty());
}
