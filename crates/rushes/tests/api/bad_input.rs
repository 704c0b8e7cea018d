//! Bad input across all resources, table-driven: malformed ids, timeranges, booleans, tag
//! filters, paging and other query values; malformed, mistyped, untyped and oversized JSON
//! bodies; unknown ids; writes to a read-only Flow; URIs over the limit.
//!
//! Every case asserts what holds whatever the status: never a 5xx, an error body in the
//! spec's `error.json` shape (no body for HEAD, and the status of the GET), and a store
//! whose state (read back over HTTP) has not changed. The status itself is compared with
//! what the spec gives; an answer the spec does not give is a finding, and each finding
//! must be listed in the test's `KNOWN_*` table (so a new one fails, and so does a fixed one
//! that is still listed). `cargo nextest run ... bad_input --no-capture` prints them.

use std::collections::BTreeSet;

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::coverage::{
    fill_template, new_id, operation, spec_operations, success_body, Answer, Fixture, Operation,
};
use crate::harness::TestServer;
use crate::schema;

/// The JSON body limit the servers of these tests run with.
const MAX_BODY: usize = 4096;

/// Starts a server with a small body limit and creates the fixture.
async fn start() -> (TestServer, Fixture) {
    let server = TestServer::start_with(&["--max-body", &MAX_BODY.to_string()]).await;
    let fx = Fixture::create(&server).await;
    (server, fx)
}

/// A request body.
#[derive(Debug, Clone)]
enum Payload {
    None,
    Json(Value),
    /// Bytes with this content type (none if `None`).
    Raw(Option<&'static str>, Vec<u8>),
    /// JSON-typed bytes sent chunked, without a Content-Length.
    Chunked(Vec<u8>),
}

/// One bad request and the statuses the spec gives for it.
#[derive(Debug, Clone)]
struct Case {
    method: Method,
    /// The operation's path template in the spec.
    path: String,
    /// What is sent: the filled path and any query.
    url: String,
    payload: Payload,
    /// The class of bad input, e.g. "malformed id" (what [`Known`] entries match).
    kind: &'static str,
    /// The bad value itself, for the report.
    input: String,
    /// The statuses the spec gives for it.
    want: Vec<u16>,
}

impl Case {
    fn new(method: Method, path: &str, url: String, kind: &'static str, input: &str) -> Case {
        Case {
            method,
            path: path.to_owned(),
            url,
            payload: Payload::None,
            kind,
            input: input.to_owned(),
            want: vec![400],
        }
    }

    fn want(mut self, want: &[u16]) -> Case {
        self.want = want.to_vec();
        self
    }

    fn payload(mut self, payload: Payload) -> Case {
        self.payload = payload;
        self
    }
}

/// An answer the spec does not give, accepted for now: `"*"` matches any method or path.
struct Known {
    method: &'static str,
    path: &'static str,
    kind: &'static str,
    got: u16,
}

#[allow(
    dead_code,
    reason = "every known deviation is fixed; a new one is recorded with this"
)]
const fn known(method: &'static str, path: &'static str, kind: &'static str, got: u16) -> Known {
    Known {
        method,
        path,
        kind,
        got,
    }
}

impl Known {
    fn matches(&self, f: &Finding) -> bool {
        (self.method == "*" || self.method == f.method)
            && (self.path == "*" || self.path == f.path)
            && self.kind == f.kind
            && self.got == f.got
    }
}

/// An answer the spec does not give.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Finding {
    method: String,
    path: String,
    kind: &'static str,
    got: u16,
    want: Vec<u16>,
    input: String,
}

/// Runs cases against one server and collects what is wrong.
struct Run<'a> {
    server: &'a TestServer,
    ops: Vec<Operation>,
    /// The GETs whose answers make up the store's observable state.
    state_paths: Vec<String>,
    baseline: Value,
    findings: Vec<Finding>,
    failures: Vec<String>,
    /// Cases answered 400 on operations whose `responses` list no 400.
    unlisted_400: BTreeSet<String>,
    cases: usize,
}

/// Drops the query of every `url` (signed URLs carry an expiry that moves with the clock).
fn normalise(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                if k == "url" {
                    if let Value::String(s) = item {
                        if let Some(q) = s.find('?') {
                            s.truncate(q);
                        }
                    }
                } else {
                    normalise(item);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise),
        _ => {}
    }
}

impl<'a> Run<'a> {
    async fn new(server: &'a TestServer, fx: &Fixture) -> Run<'a> {
        let state_paths: Vec<String> = [
            "/service".to_owned(),
            "/service/storage-backends".to_owned(),
            "/service/profiles".to_owned(),
            "/service/webhooks".to_owned(),
            "/sources".to_owned(),
            "/flows".to_owned(),
            "/flow-delete-requests".to_owned(),
            format!("/flows/{}?include_timerange=true", fx.flow),
            format!("/flows/{}/segments?include_object_timerange=true", fx.flow),
            format!("/objects/{}?verbose_storage=true", fx.object),
        ]
        .into();
        let mut run = Run {
            server,
            ops: spec_operations(),
            state_paths,
            baseline: Value::Null,
            findings: Vec::new(),
            failures: Vec::new(),
            unlisted_400: BTreeSet::new(),
            cases: 0,
        };
        run.baseline = run.state().await;
        run
    }

    /// The store's observable state: the answers of `state_paths`, signed URLs normalised.
    async fn state(&self) -> Value {
        let answers = join_all(self.state_paths.iter().map(|p| async move {
            let resp = self.server.get(p).await;
            let status = resp.status();
            let mut body: Value = resp.json().await.unwrap_or(Value::Null);
            normalise(&mut body);
            json!({"path": p, "status": status.as_u16(), "body": body})
        }))
        .await;
        Value::Array(answers)
    }

    fn op(&self, method: &Method, path: &str) -> Operation {
        operation(&self.ops, method, path)
    }

    async fn send(&self, method: &Method, url: &str, payload: &Payload) -> Answer {
        // Each request on its own connection: a server may close one it answered early
        // (a body over the limit), which must not fail the next request that reuses it.
        let mut req = self
            .server
            .request(method.clone(), url)
            .header("connection", "close");
        req = match payload {
            Payload::None => req,
            Payload::Json(v) => req.json(v),
            Payload::Raw(ct, bytes) => {
                let req = match ct {
                    Some(ct) => req.header("content-type", *ct),
                    None => req,
                };
                req.body(bytes.clone())
            }
            Payload::Chunked(bytes) => {
                let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                    bytes.chunks(1000).map(|c| Ok(c.to_vec())).collect();
                req.header("content-type", "application/json")
                    .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            }
        };
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: request failed: {e}"));
        Answer::of(resp).await
    }

    /// Sends `case` and checks the answer.
    async fn check(&mut self, case: Case) {
        self.cases += 1;
        let op = self.op(&case.method, &case.path);
        let answer = self.send(&case.method, &case.url, &case.payload).await;
        let what = format!(
            "{} {} [{}: {}] ({})",
            case.method,
            case.path,
            case.kind,
            case.input,
            short(&case.url)
        );
        let status = answer.status;
        if status.is_server_error() {
            self.failures
                .push(format!("{what}: server error {status}: {}", answer.text()));
        }
        if case.method == Method::HEAD {
            if !answer.body.is_empty() {
                self.failures
                    .push(format!("{what}: HEAD answered a body: {:?}", answer.text()));
            }
            let get = self.send(&Method::GET, &case.url, &Payload::None).await;
            if get.status != status {
                self.failures.push(format!(
                    "{what}: HEAD answered {status}, GET {}",
                    get.status
                ));
            }
        } else if status.is_client_error() || status.is_server_error() {
            match answer.json() {
                Ok(body) => {
                    let errors = schema::validation_errors("error.json", &body);
                    if !errors.is_empty() {
                        self.failures.push(format!(
                            "{what}: {status} body is not an error.json: {}; body {body}",
                            errors.join("; ")
                        ));
                    }
                }
                Err(e) => self.failures.push(format!(
                    "{what}: {status} without a JSON error body: {e}: {:?}",
                    answer.text()
                )),
            }
            if answer.is_router_not_found() {
                self.failures
                    .push(format!("{what}: the router has no route for it"));
            }
        }
        let now = self.state().await;
        if now != self.baseline {
            self.failures.push(format!(
                "{what}: answered {status} and changed the store:\n    {}",
                state_diff(&self.baseline, &now)
            ));
            self.baseline = now;
        }
        let got = status.as_u16();
        if got == 400 && !op.lists(400) && case.want.contains(&got) {
            self.unlisted_400.insert(op.to_string());
        }
        if !case.want.contains(&got) {
            self.findings.push(Finding {
                method: case.method.to_string(),
                path: case.path.clone(),
                kind: case.kind,
                got,
                want: case.want.clone(),
                input: case.input.clone(),
            });
        }
    }

    /// Fails with every problem; prints every finding.
    fn finish(self, known_list: &[Known]) {
        let mut failures = self.failures;
        let log = self.server.log();
        if log.contains("panicked") {
            failures.push(format!("the server panicked:\n{log}"));
        }
        let mut findings = self.findings;
        findings.sort();
        findings.dedup();
        for f in &findings {
            if !known_list.iter().any(|k| k.matches(f)) {
                failures.push(format!(
                    "not in KNOWN: {} {} [{}: {}]: the spec gives {:?}, the server answered {}",
                    f.method, f.path, f.kind, f.input, f.want, f.got
                ));
            }
        }
        for k in known_list {
            if !findings.iter().any(|f| k.matches(f)) {
                failures.push(format!(
                    "KNOWN entry no longer observed (remove it): {} {} [{}] -> {}",
                    k.method, k.path, k.kind, k.got
                ));
            }
        }
        eprintln!("{} cases, {} finding(s):", self.cases, findings.len());
        for f in &findings {
            eprintln!(
                "  FINDING {} {} [{}: {}]: spec gives {:?}, server answered {}",
                f.method, f.path, f.kind, f.input, f.want, f.got
            );
        }
        for op in &self.unlisted_400 {
            eprintln!("  NOTE 400 answered for a bad query where the spec lists no 400: {op}");
        }
        assert!(
            failures.is_empty(),
            "{} failure(s) over {} cases:\n{}",
            failures.len(),
            self.cases,
            failures.join("\n")
        );
    }
}

/// The first 120 characters of a URL.
fn short(url: &str) -> String {
    if url.len() > 120 {
        format!("{}... ({} bytes)", &url[..120], url.len())
    } else {
        url.to_owned()
    }
}

/// The state paths whose answers differ.
fn state_diff(before: &Value, after: &Value) -> String {
    let (Some(b), Some(a)) = (before.as_array(), after.as_array()) else {
        return "state is not a list".to_owned();
    };
    b.iter()
        .zip(a)
        .filter(|(x, y)| x != y)
        .map(|(x, y)| format!("{}: {} -> {}", x["path"], x["body"], y["body"]))
        .collect::<Vec<_>>()
        .join("\n    ")
}

/// The path parameters whose spec schema is `uuid.json`.
const UUID_PARAMS: [&str; 4] = ["flowId", "sourceId", "profileId", "webhookId"];

/// Malformed ids (none matches the spec's `uuid.json` pattern).
const BAD_UUIDS: [&str; 6] = [
    "not-a-uuid",
    "1234",
    "00000000-0000-0000-0000-000000000000",
    "6ba7b810-9dad-11d1-80b4-00c04fd430cg",
    "6ba7b8109dad11d180b400c04fd430c8",
    "6ba7b810-9dad-11d1-80b4-00c04fd430c8-0",
];

fn uuid_param(path: &str) -> Option<&'static str> {
    UUID_PARAMS
        .into_iter()
        .find(|p| path.contains(&format!("{{{p}}}")))
}

/// `template` with `{target}` set to `value` and the other parameters from the fixture.
fn url_with(template: &str, fx: &Fixture, target: &str, value: &str) -> String {
    fill_template(template, |name| {
        if name == target {
            Some(value.to_owned())
        } else {
            fx.param(name)
        }
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The fixture's URL of `template`.
fn url_of(template: &str, fx: &Fixture) -> String {
    fill_template(template, |name| fx.param(name)).unwrap_or_else(|e| panic!("{e}"))
}

/// The body of a request that would succeed, for the operations that take one.
fn good_payload(fx: &Fixture, op: &Operation, fresh_profile: &str) -> Payload {
    match success_body(fx, &op.method, &op.path, fresh_profile) {
        Some(v) => Payload::Json(v),
        None => Payload::None,
    }
}

/// Malformed ids in the path: a malformed id names nothing, so the spec's answer is its 404
/// ("the ID in the path is invalid"), or 400 where the operation lists a 400.
const KNOWN_MALFORMED_IDS: &[Known] = &[];

#[tokio::test]
async fn malformed_ids_in_every_path_answer_the_specs_status() {
    let (server, fx) = start().await;
    let mut run = Run::new(&server, &fx).await;
    let ops = run.ops.clone();
    let fresh_profile = new_id();
    for op in &ops {
        let Some(param) = uuid_param(&op.path) else {
            continue;
        };
        let mut want = vec![404];
        if op.lists(400) {
            want.push(400);
        }
        let payload = good_payload(&fx, op, &fresh_profile);
        for bad in BAD_UUIDS {
            let url = url_with(&op.path, &fx, param, bad);
            run.check(
                Case::new(op.method.clone(), &op.path, url, "malformed id", bad)
                    .want(&want)
                    .payload(payload.clone()),
            )
            .await;
        }
        // Upper case does not match the spec's pattern (lower-case hex); reads only, so
        // that an answer that takes it for the lower-case id does not change the store.
        if op.method == Method::GET || op.method == Method::HEAD {
            let upper = fx.param(param).unwrap().to_uppercase();
            let url = url_with(&op.path, &fx, param, &upper);
            run.check(
                Case::new(op.method.clone(), &op.path, url, "malformed id", &upper).want(&want),
            )
            .await;
        }
    }
    run.finish(KNOWN_MALFORMED_IDS);
}

/// Unknown ids: 404 everywhere the spec gives it, object ids with special characters
/// included (the store never holds one, so none is found).
const KNOWN_UNKNOWN_IDS: &[Known] = &[];

#[tokio::test]
async fn unknown_ids_answer_404() {
    let (server, fx) = start().await;
    // An Object allocated but never registered: the spec says 404 MUST be answered.
    let allocated = {
        let resp = server
            .post(&format!("/flows/{}/storage", fx.flow), &json!({"limit": 1}))
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let v: Value = resp.json().await.unwrap();
        v["media_objects"][0]["object_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let mut run = Run::new(&server, &fx).await;
    let ops = run.ops.clone();
    let fresh_profile = new_id();
    for op in &ops {
        let m = op.method.as_str();
        let mut unknowns: Vec<(&'static str, &'static str, String)> = Vec::new();
        if let Some(param) = uuid_param(&op.path) {
            // PUT of a Flow and POST of a Profile create what they name; the Segments of an
            // unknown Flow are an empty list (tested below).
            let creates = (m == "PUT" && op.path == "/flows/{flowId}")
                || (m == "POST" && op.path == "/service/profiles/{profileId}")
                || ((m == "GET" || m == "HEAD") && op.path == "/flows/{flowId}/segments");
            if !creates {
                unknowns.push((param, "unknown id", new_id()));
            }
        }
        if op.path.contains("{objectId}") {
            unknowns.push(("objectId", "unknown object id", "no-such-object".into()));
            unknowns.push((
                "objectId",
                "allocated, unregistered object",
                allocated.clone(),
            ));
            for special in ["a%2Fb", "a%20b", "caf%C3%A9", "a.b~c"] {
                unknowns.push((
                    "objectId",
                    "unknown object id with special characters",
                    special.into(),
                ));
            }
        }
        if op.path.contains("{request-id}") {
            unknowns.push(("request-id", "unknown request id", "no-such-request".into()));
            unknowns.push(("request-id", "unknown request id", new_id()));
        }
        if op.path.contains("{name}") && m != "PUT" {
            unknowns.push(("name", "unknown tag name", "no-such-tag".into()));
        }
        for (param, kind, value) in unknowns {
            let url = url_with(&op.path, &fx, param, &value);
            let mut payload = good_payload(&fx, op, &fresh_profile);
            if let (Payload::Json(body), "webhookId") = (&mut payload, param) {
                body["id"] = json!(value);
            }
            // Which instance to delete.
            let url = if op.path == "/objects/{objectId}/instances" && m == "DELETE" {
                format!("{url}?label=local")
            } else {
                url
            };
            run.check(
                Case::new(op.method.clone(), &op.path, url, kind, &value)
                    .want(&[404])
                    .payload(payload),
            )
            .await;
        }
    }
    // An Object instance that does not exist on a known Object.
    run.check(
        Case::new(
            Method::DELETE,
            "/objects/{objectId}/instances",
            format!("/objects/{}/instances?label=no-such-label", fx.object),
            "unknown instance label",
            "no-such-label",
        )
        .want(&[404, 400]),
    )
    .await;
    run.finish(KNOWN_UNKNOWN_IDS);

    // "A request for Segments from a non-existent Flow will return an empty list, not a 404."
    let unknown = new_id();
    let resp = server.get(&format!("/flows/{unknown}/segments")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!([]));
    let resp = server.head(&format!("/flows/{unknown}/segments")).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

/// Bad values of query parameters, per operation: (parameter, values).
fn bad_query_values() -> Vec<(&'static str, &'static str, Vec<String>)> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let timeranges = s(&[
        "garbage",
        "[0:0_1:0_2:0)",
        "[0:1000000000_1:0)",
        "[1.5:0_2:0)",
        "[01:0_2:0)",
        "[0:0__1:0)",
        "[[0:0_1:0)",
        "0:0-1:0",
        "[0:0_1:0)]",
        "[99999999999999999999:0_1:0)",
    ]);
    let booleans = s(&["yes", "1", "TRUE", "", "false,true"]);
    let tag_values = s(&["a,,b", ",", ",a", "a,"]);
    let limits = s(&["0", "-1", "abc", "1.5", ""]);
    let pages = s(&["garbage", "%00"]);
    let bad_uuid = s(&["not-a-uuid", "00000000-0000-0000-0000-000000000000"]);
    let uuid_lists = s(&[
        "not-a-uuid",
        "6ba7b810-9dad-11d1-80b4-00c04fd430c8,",
        ",",
        "a,b",
    ]);
    let mut out: Vec<(&'static str, &'static str, Vec<String>)> = Vec::new();
    let listings = [
        "/service/storage-backends",
        "/service/profiles",
        "/service/webhooks",
        "/sources",
        "/flows",
        "/flows/{flowId}/segments",
        "/objects/{objectId}",
        "/flow-delete-requests",
    ];
    for path in listings {
        out.push((path, "limit", limits.clone()));
        out.push((path, "page", pages.clone()));
    }
    for path in [
        "/service/storage-backends",
        "/service/webhooks",
        "/sources",
        "/flows",
    ] {
        out.push((path, "tag.genre", tag_values.clone()));
        out.push((path, "tag.", s(&["x"])));
        out.push((path, "tag_exists.genre", booleans.clone()));
    }
    for path in [
        "/service/storage-backends",
        "/service/webhooks",
        "/sources",
        "/flows",
        "/flows/{flowId}/segments",
        "/flow-delete-requests",
    ] {
        out.push((path, "reverse_order", booleans.clone()));
    }
    for path in ["/sources", "/flows", "/flow-delete-requests"] {
        out.push((path, "sort_by", s(&["bogus", "CREATED", ""])));
    }
    for path in ["/sources", "/flows", "/service/profiles"] {
        out.push((path, "format", s(&["urn:x-nmos:format:bogus", "video", ""])));
    }
    for path in ["/flows", "/service/profiles"] {
        out.push((path, "codec", s(&["notamime", "video/"])));
    }
    for path in ["/sources", "/flows"] {
        out.push((path, "collected_by_ids", uuid_lists.clone()));
    }
    out.push(("/flows", "source_id", bad_uuid.clone()));
    out.push(("/flows", "profile_id", bad_uuid.clone()));
    out.push(("/flows", "status", s(&["bogus", ""])));
    out.push(("/flows", "frame_width", s(&["abc", "-1", "1.5", ""])));
    out.push(("/flows", "frame_height", s(&["abc", "-1", ""])));
    out.push(("/flows", "init_segments", booleans.clone()));
    out.push(("/flows", "timerange", timeranges.clone()));
    out.push(("/flows/{flowId}", "timerange", timeranges.clone()));
    out.push(("/flows/{flowId}", "include_timerange", booleans.clone()));
    out.push(("/flows/{flowId}/segments", "timerange", timeranges.clone()));
    for path in ["/flows/{flowId}/segments", "/objects/{objectId}"] {
        out.push((path, "verbose_storage", booleans.clone()));
        out.push((path, "presigned", booleans.clone()));
        out.push((path, "storage_backend_tag_exists.x", booleans.clone()));
        out.push((path, "accept_storage_ids", uuid_lists.clone()));
    }
    out.push((
        "/flows/{flowId}/segments",
        "include_object_timerange",
        booleans.clone(),
    ));
    out.push((
        "/objects/{objectId}",
        "flow_tag_exists.genre",
        booleans.clone(),
    ));
    out
}

/// Percent-encodes a query value (everything but unreserved characters).
fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Query parameters whose value does not match the spec's schema: 400 ("Invalid query
/// options").
const KNOWN_QUERY: &[Known] = &[];

#[tokio::test]
async fn malformed_query_values_answer_400() {
    let (server, fx) = start().await;
    let mut run = Run::new(&server, &fx).await;
    for (path, param, values) in bad_query_values() {
        let base = url_of(path, &fx);
        for method in [Method::GET, Method::HEAD] {
            for v in &values {
                // A query key is written as is (`tag.`), its value percent-encoded unless
                // the case is about an encoding (`%00`).
                let value = if v.starts_with('%') {
                    v.clone()
                } else {
                    enc(v)
                };
                let url = format!("{base}?{param}={value}");
                run.check(Case::new(method.clone(), path, url, kind_of(param), v))
                    .await;
            }
        }
    }
    // The timerange of a Segment deletion, and the instance to delete.
    let segments = format!("/flows/{}/segments", fx.flow);
    for v in [
        "garbage",
        "[0:0_1:0_2:0)",
        "[0:1000000000_1:0)",
        "[99999999999999999999:0_1:0)",
    ] {
        run.check(Case::new(
            Method::DELETE,
            "/flows/{flowId}/segments",
            format!("{segments}?timerange={}", enc(v)),
            "timerange",
            v,
        ))
        .await;
    }
    let instances = format!("/objects/{}/instances", fx.object);
    for (query, input) in [
        ("?storage_id=not-a-uuid", "storage_id=not-a-uuid"),
        ("", "neither storage_id nor label"),
    ] {
        run.check(Case::new(
            Method::DELETE,
            "/objects/{objectId}/instances",
            format!("{instances}{query}"),
            "instance to delete",
            input,
        ))
        .await;
    }
    run.finish(KNOWN_QUERY);
}

/// The kind of a query case: the parameter, with a family's name dropped.
fn kind_of(param: &'static str) -> &'static str {
    match param {
        "tag.genre" | "tag." => "tag filter",
        "tag_exists.genre" => "tag_exists filter",
        "storage_backend_tag_exists.x" => "storage_backend_tag_exists filter",
        "flow_tag_exists.genre" => "flow_tag_exists filter",
        other => other,
    }
}

/// Bodies of the right JSON syntax that do not match the operation's schema or rules.
fn invalid_bodies(fx: &Fixture, op: &Operation) -> Option<Vec<Value>> {
    let (f, o) = (&fx.flow, &fx.object);
    let m = op.method.as_str();
    let strings = || vec![json!(5), json!(null), json!(["x"]), json!({})];
    let bit_rates = || vec![json!(-1), json!(1.5), json!("5"), json!(null)];
    let tag_values = || vec![json!(5), json!({"a": 1}), json!(["a", 1]), json!(null)];
    let flow = |edit: &dyn Fn(&mut Value)| {
        let mut b = fx.flow_body.clone();
        edit(&mut b);
        b
    };
    Some(match (m, op.path.as_str()) {
        ("POST", "/service") => vec![json!([]), json!({"name": 5}), json!("name")],
        ("POST", "/service/profiles/{profileId}") => {
            let mut other_id = schema::example("profile-put.json");
            other_id["id"] = json!(new_id());
            let mut bad_id = schema::example("profile-put.json");
            bad_id["id"] = json!("not-a-uuid");
            let mut bad_meta = schema::example("profile-put.json");
            bad_meta["flow_metadata"] = json!(5);
            vec![json!({}), json!([]), other_id, bad_id, bad_meta]
        }
        ("POST", "/service/webhooks") => vec![
            json!({}),
            json!({"url": 5, "events": ["flows/created"]}),
            json!({"url": "http://127.0.0.1:9/x", "events": "flows/created"}),
            json!({"url": "http://127.0.0.1:9/x", "events": ["no/such-event"]}),
            json!({"url": "http://127.0.0.1:9/x", "events": ["flows/created"], "flow_ids": ["not-a-uuid"]}),
            json!({"url": "http://127.0.0.1:9/x", "events": ["flows/created"], "status": "bogus"}),
        ],
        ("PUT", "/service/webhooks/{webhookId}") => {
            let w = &fx.webhook;
            vec![
                json!({}),
                json!({"id": w, "url": "http://127.0.0.1:9/hook", "events": ["flows/created"]}),
                json!({"id": new_id(), "url": "http://127.0.0.1:9/hook", "events": ["flows/created"], "status": "disabled"}),
                json!({"id": "not-a-uuid", "url": "http://127.0.0.1:9/hook", "events": ["flows/created"], "status": "disabled"}),
                json!({"id": w, "url": "http://127.0.0.1:9/hook", "events": ["flows/created"], "status": "started"}),
            ]
        }
        ("PUT", "/sources/{sourceId}/tags/{name}") | ("PUT", "/flows/{flowId}/tags/{name}") => {
            tag_values()
        }
        ("PUT", "/sources/{sourceId}/description")
        | ("PUT", "/sources/{sourceId}/label")
        | ("PUT", "/flows/{flowId}/description")
        | ("PUT", "/flows/{flowId}/label") => strings(),
        ("PUT", "/flows/{flowId}") => vec![
            json!({}),
            json!([]),
            json!({"id": f}),
            flow(&|b| b["id"] = json!(new_id())),
            flow(&|b| b["source_id"] = json!("not-a-uuid")),
            flow(&|b| b["format"] = json!("urn:x-nmos:format:bogus")),
            flow(&|b| b["codec"] = json!(5)),
            flow(&|b| b["timerange"] = json!("garbage")),
            flow(&|b| b["tags"] = json!({"genre": 5})),
            flow(&|b| b["flow_collection"] = json!([{"id": "not-a-uuid"}])),
            flow(&|b| b["essence_parameters"] = json!("wide")),
        ],
        ("PUT", "/flows/{flowId}/read_only") => {
            vec![json!("true"), json!(1), json!(null), json!({})]
        }
        ("PUT", "/flows/{flowId}/flow_collection") => vec![
            json!({}),
            json!(["x"]),
            json!([{"id": "not-a-uuid"}]),
            json!([{"role": "audio"}]),
            json!([{"id": f}]),
            json!([{"id": new_id()}]),
            json!([{"id": fx.member}, {"id": fx.member}]),
        ],
        ("PUT", "/flows/{flowId}/max_bit_rate") | ("PUT", "/flows/{flowId}/avg_bit_rate") => {
            bit_rates()
        }
        ("POST", "/flows/{flowId}/segments") => {
            let seg = |extra: Value| {
                let mut s = json!({"object_id": o, "timerange": "[7:0_8:0)", "ts_offset": "7:0"});
                for (k, v) in extra.as_object().unwrap() {
                    s[k] = v.clone();
                }
                s
            };
            let mut out = vec![
                json!({}),
                json!("segment"),
                json!({"object_id": o}),
                seg(json!({"object_id": 5})),
                seg(json!({"key_frame_count": "x"})),
                seg(json!({"get_urls": "x"})),
                json!([seg(json!({})), seg(json!({"timerange": "garbage"}))]),
            ];
            for bad in [
                "garbage",
                "[0:0_1:0_2:0)",
                "[0:1000000000_1:0)",
                "[99999999999999999999:0_1:0)",
                "",
            ] {
                out.push(seg(json!({"timerange": bad})));
                out.push(seg(json!({"object_timerange": bad})));
            }
            for bad in [
                "1.5",
                "abc",
                "0:1000000000",
                "1:0:0",
                "",
                "99999999999999999999:0",
            ] {
                out.push(seg(json!({"ts_offset": bad})));
                out.push(seg(json!({"last_duration": bad})));
            }
            out
        }
        ("POST", "/flows/{flowId}/storage") => vec![
            json!([]),
            json!({"limit": "x"}),
            json!({"limit": -1}),
            json!({"limit": 0}),
            json!({"object_ids": "x"}),
            json!({"object_ids": [5]}),
            json!({"storage_id": "not-a-uuid"}),
            json!({"storage_id": new_id()}),
            json!({"content_type": "notamime"}),
            json!({"presigned": "yes"}),
        ],
        ("POST", "/objects/{objectId}/instances") => vec![
            json!({}),
            json!([]),
            json!({"storage_id": "not-a-uuid"}),
            json!({"url": 5, "label": "x"}),
            json!({"url": "http://127.0.0.1:9/x"}),
            json!({"url": "", "label": "x"}),
        ],
        _ => return None,
    })
}

/// JSON bodies that are malformed, mistyped, untyped or too large, on every operation of
/// the spec that takes one: 400, 415 for a body that does not say it is JSON (HTTP's
/// answer; the spec lists 400 for an invalid body), 413 over the body limit.
const KNOWN_BODIES: &[Known] = &[];

#[tokio::test]
async fn bad_bodies_on_every_json_operation_answer_400_413_or_415() {
    let (server, fx) = start().await;
    let mut run = Run::new(&server, &fx).await;
    let ops = run.ops.clone();
    let fresh_profile = new_id();
    let oversized = serde_json::to_vec(&json!("a".repeat(MAX_BODY + 1000))).unwrap();
    let mut untabled = Vec::new();
    for op in ops
        .iter()
        .filter(|o| o.method == Method::PUT || o.method == Method::POST)
    {
        let url = fill_template(&op.path, |name| match name {
            "profileId" => Some(fresh_profile.clone()),
            other => fx.param(other),
        })
        .unwrap();
        let good = match success_body(&fx, &op.method, &op.path, &fresh_profile) {
            Some(v) => serde_json::to_vec(&v).unwrap(),
            None => {
                untabled.push(format!("{op}: no valid body in coverage.rs"));
                b"{}".to_vec()
            }
        };
        let case = |kind: &'static str, input: &str, payload: Payload, want: &[u16]| {
            Case::new(op.method.clone(), &op.path, url.clone(), kind, input)
                .payload(payload)
                .want(want)
        };
        let json_ct = Some("application/json");
        for c in [
            case(
                "malformed JSON",
                "{\"not json",
                Payload::Raw(json_ct, b"{\"not json".to_vec()),
                &[400],
            ),
            case(
                "malformed JSON",
                "trailing garbage",
                Payload::Raw(json_ct, [good.as_slice(), b"}x"].concat()),
                &[400],
            ),
            case(
                "malformed JSON",
                "not UTF-8",
                Payload::Raw(json_ct, b"\"\xff\xfe\"".to_vec()),
                &[400],
            ),
            // The storage POST's body is optional: empty means the defaults.
            case(
                "empty body",
                "",
                Payload::Raw(json_ct, Vec::new()),
                if op.path == "/flows/{flowId}/storage" {
                    &[201]
                } else {
                    &[400]
                },
            ),
            case(
                "no content type",
                "valid body, no Content-Type",
                Payload::Raw(None, good.clone()),
                &[400, 415],
            ),
            case(
                "wrong content type",
                "text/plain",
                Payload::Raw(Some("text/plain"), good.clone()),
                &[400, 415],
            ),
            case(
                "wrong content type",
                "application/x-www-form-urlencoded",
                Payload::Raw(Some("application/x-www-form-urlencoded"), good.clone()),
                &[400, 415],
            ),
            case(
                "wrong content type",
                "application/xml",
                Payload::Raw(Some("application/xml"), good.clone()),
                &[400, 415],
            ),
            case(
                "body over the limit",
                &format!("{} bytes", oversized.len()),
                Payload::Raw(json_ct, oversized.clone()),
                &[413],
            ),
            case(
                "chunked body over the limit",
                &format!("{} bytes", oversized.len()),
                Payload::Chunked(oversized.clone()),
                &[413],
            ),
        ] {
            run.check(c).await;
        }
        match invalid_bodies(&fx, op) {
            Some(bodies) => {
                for b in bodies {
                    let input = b.to_string();
                    run.check(case("invalid body", &input, Payload::Json(b), &[400]))
                        .await;
                }
            }
            None => untabled.push(format!("{op}: no invalid bodies in bad_input.rs")),
        }
    }
    // The request body of a storage allocation is optional in the spec: omitting it is
    // not bad input (201). Checked here so that a fix shows; it is not in the state.
    run.check(
        Case::new(
            Method::POST,
            "/flows/{flowId}/storage",
            format!("/flows/{}/storage", fx.flow),
            "omitted optional body",
            "no body, no Content-Type",
        )
        .want(&[201]),
    )
    .await;
    assert!(untabled.is_empty(), "{}", untabled.join("\n"));
    run.finish(KNOWN_BODIES);
}

/// Every write to a read-only Flow: 403 ("It may be marked read-only").
#[tokio::test]
async fn writes_to_a_read_only_flow_answer_403() {
    let (server, fx) = start().await;
    let resp = server
        .put(&format!("/flows/{}/read_only", fx.flow), &json!(true))
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let mut run = Run::new(&server, &fx).await;
    let ops = run.ops.clone();
    let fresh_profile = new_id();
    let mut covered = 0;
    for op in ops.iter().filter(|o| {
        o.path.starts_with("/flows/{flowId}")
            && o.path != "/flows/{flowId}/read_only"
            && [Method::PUT, Method::POST, Method::DELETE].contains(&o.method)
    }) {
        covered += 1;
        let mut url = url_of(&op.path, &fx);
        if op.method == Method::DELETE && op.path == "/flows/{flowId}/segments" {
            url.push_str("?timerange=[0:0_1:0)");
        }
        let payload = good_payload(&fx, op, &fresh_profile);
        run.check(
            Case::new(
                op.method.clone(),
                &op.path,
                url,
                "write to a read-only flow",
                "",
            )
            .payload(payload)
            .want(&[403]),
        )
        .await;
    }
    assert_eq!(covered, 17, "write operations on a Flow");
    run.finish(&[]);
}

/// A request URI over the server's limit (16 KiB): 414 in the error shape, whatever the
/// method and path, before anything else is looked at.
#[tokio::test]
async fn uris_over_the_limit_answer_414() {
    let (server, fx) = start().await;
    let mut run = Run::new(&server, &fx).await;
    let pad = "a".repeat(17 * 1024);
    let f = &fx.flow;
    let cases = [
        (Method::GET, "/flows", format!("/flows?label={pad}")),
        (Method::HEAD, "/flows", format!("/flows?label={pad}")),
        (
            Method::GET,
            "/flows/{flowId}/segments",
            format!("/flows/{f}/segments?object_id={pad}"),
        ),
        (
            Method::GET,
            "/sources/{sourceId}",
            format!("/sources/{pad}"),
        ),
        (
            Method::PUT,
            "/flows/{flowId}/label",
            format!("/flows/{f}/label?pad={pad}"),
        ),
        (
            Method::POST,
            "/flows/{flowId}/segments",
            format!("/flows/{f}/segments?pad={pad}"),
        ),
        (
            Method::DELETE,
            "/flows/{flowId}",
            format!("/flows/{f}?pad={pad}"),
        ),
        (
            Method::DELETE,
            "/flows/{flowId}/tags/{name}",
            format!("/flows/{f}/tags/{pad}"),
        ),
    ];
    let fresh_profile = new_id();
    for (method, path, url) in cases {
        let op = run.op(&method, path);
        let payload = good_payload(&fx, &op, &fresh_profile);
        run.check(
            Case::new(
                method,
                path,
                url,
                "URI too long",
                &format!("{} bytes", pad.len()),
            )
            .payload(payload)
            .want(&[414]),
        )
        .await;
    }
    run.finish(&[]);
}

/// The state the cases compare sees a change to each kind of resource, and nothing when
/// nothing changed: the check of every case above can fail.
#[tokio::test]
async fn the_state_check_sees_each_kind_of_change() {
    let (server, fx) = start().await;
    let run = Run::new(&server, &fx).await;
    assert_eq!(
        run.state().await,
        run.baseline,
        "an unchanged store reads the same"
    );
    let profile = new_id();
    let mut profile_body = schema::example("profile-put.json");
    profile_body["id"] = json!(profile);
    let changes = [
        (
            Method::POST,
            "/service".to_owned(),
            json!({"name": "renamed"}),
        ),
        (
            Method::POST,
            format!("/service/profiles/{profile}"),
            profile_body,
        ),
        (
            Method::PUT,
            format!("/service/webhooks/{}", fx.webhook),
            json!({"id": fx.webhook, "url": "http://127.0.0.1:9/other", "events": ["flows/created"], "status": "disabled"}),
        ),
        (
            Method::PUT,
            format!("/sources/{}/label", fx.source),
            json!("renamed"),
        ),
        (
            Method::PUT,
            format!("/flows/{}/tags/crew", fx.flow),
            json!("c"),
        ),
        (
            Method::PUT,
            format!("/flows/{}/tags/x", fx.member),
            json!("y"),
        ),
        (
            Method::POST,
            format!("/flows/{}/segments", fx.flow),
            json!({"object_id": fx.object, "timerange": "[9:0_10:0)", "ts_offset": "9:0"}),
        ),
        (
            Method::POST,
            format!("/objects/{}/instances", fx.object),
            json!({"url": "http://127.0.0.1:9/copy", "label": "copy"}),
        ),
    ];
    let mut before = run.baseline.clone();
    for (method, path, body) in changes {
        let resp = server
            .request(method.clone(), &path)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "{method} {path}: {}",
            resp.status()
        );
        let now = run.state().await;
        assert_ne!(
            now, before,
            "{method} {path} changed nothing the state shows"
        );
        before = now;
    }
}
