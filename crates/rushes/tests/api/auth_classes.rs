//! Auth classes: principals see and change only what their classes allow, in gets,
//! listings (pages stay full), segments, objects and signed URLs; created_by/updated_by
//! name the principal.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::AUTHORIZATION;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::flows::{new_id, video_flow};
use crate::harness::{expect_json, expect_status, header, TestServer};
use crate::schema;

const AUDIENCE: &str = "rushes-classes-test";
const ISSUER: &str = "https://idp.classes.test";
const SECRET: &str = "auth-classes-test-secret-only-for-tests";
const ALL: &[&str] = &["tams-api/read", "tams-api/write", "tams-api/delete"];

/// A store that takes HS256 tokens with an `auth_classes` claim.
async fn server() -> (TestServer, tempfile::TempDir) {
    server_with("").await
}

/// The configuration of [`server`], followed by `extra` (more TOML).
fn config_text(extra: &str) -> String {
    format!(
        r#"
[auth.jwt]
audience = ["{AUDIENCE}"]
issuer = "{ISSUER}"
auth_classes_claim = "auth_classes"

[[auth.jwt.keys]]
kid = "hs"
alg = "HS256"
secret = "{SECRET}"
{extra}
"#
    )
}

/// A store like [`server`]'s whose configuration file also holds `extra`.
async fn server_with(extra: &str) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rushes.toml");
    std::fs::write(&path, config_text(extra)).unwrap();
    let server = TestServer::start_with(&["--config", path.to_str().unwrap()]).await;
    (server, dir)
}

/// A caller: its `Authorization` header.
#[derive(Clone)]
struct Caller(String);

fn caller(name: &str, scopes: &[&str], classes: Option<&[&str]>) -> Caller {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": name,
        "iat": now, "exp": now + 3600, "scope": scopes.join(" "),
    });
    if let Some(c) = classes {
        claims["auth_classes"] = json!(c);
    }
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("hs".into());
    let token =
        jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap();
    Caller(format!("Bearer {token}"))
}

fn admin() -> Caller {
    caller("ops", &["tams-api/admin"], Some(&["news"]))
}

fn news() -> Caller {
    caller("news-editor", ALL, Some(&["news"]))
}

fn sport() -> Caller {
    caller("sport-editor", ALL, Some(&["sport"]))
}

async fn send(
    server: &TestServer,
    who: &Caller,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut req = server.request(method, path).header(AUTHORIZATION, &who.0);
    if let Some(b) = body {
        req = req.json(b);
    }
    req.send().await.unwrap()
}

async fn get(server: &TestServer, who: &Caller, path: &str) -> reqwest::Response {
    send(server, who, Method::GET, path, None).await
}

/// Creates a video flow (its implicit source takes its auth_classes tag) as `who`.
async fn flow_with(server: &TestServer, who: &Caller, classes: Option<&[&str]>) -> Value {
    let id = new_id();
    let mut flow = video_flow(&id, &new_id());
    if let Some(c) = classes {
        flow["tags"]["auth_classes"] = json!(c);
    }
    let created = expect_json(
        send(
            server,
            who,
            Method::PUT,
            &format!("/flows/{id}"),
            Some(&flow),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    schema::assert_valid("flow-get.json", &created);
    created
}

/// Every id of a paged listing at `path` (with `limit`) as `who`; asserts that every page
/// but the last is full and that only pages with more after them have a Link.
async fn all_pages(server: &TestServer, who: &Caller, path: &str, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut next = format!("{path}?limit={limit}");
    loop {
        let resp = expect_status(get(server, who, &next).await, StatusCode::OK).await;
        let link = header(&resp, "link");
        let key = header(&resp, "x-paging-nextkey");
        let page: Value = resp.json().await.unwrap();
        let page = page.as_array().unwrap().clone();
        ids.extend(page.iter().map(|v| v["id"].as_str().unwrap().to_owned()));
        match key {
            Some(k) => {
                assert_eq!(page.len(), limit, "a page before the last is full");
                assert!(link.is_some(), "a page with more after it has a Link");
                next = format!("{path}?limit={limit}&page={k}");
            }
            None => {
                assert!(page.len() <= limit);
                assert!(link.is_none(), "the last page has no Link: {link:?}");
                return ids;
            }
        }
    }
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn principals_see_only_their_classes_in_gets_and_listings() {
    let (server, _cfg) = server().await;
    let ops = admin();
    let mut news_flows = Vec::new();
    let mut sport_flows = Vec::new();
    let mut open_flows = Vec::new();
    // Interleaved, so that hidden rows fall inside every page.
    for i in 0..5 {
        news_flows.push(id_of(&flow_with(&server, &ops, Some(&["news"])).await));
        sport_flows.push(id_of(&flow_with(&server, &ops, Some(&["sport"])).await));
        sport_flows.push(id_of(
            &flow_with(&server, &ops, Some(&["sport", "archive"])).await,
        ));
        if i % 2 == 0 {
            open_flows.push(id_of(&flow_with(&server, &ops, None).await));
        }
    }
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let (n, s) = (news(), sport());
    let news_sees = sorted([news_flows.clone(), open_flows.clone()].concat());
    let sport_sees = sorted([sport_flows.clone(), open_flows.clone()].concat());
    for limit in [1, 2, 3, 7, 100] {
        assert_eq!(
            sorted(all_pages(&server, &n, "/flows", limit).await),
            news_sees
        );
        assert_eq!(
            sorted(all_pages(&server, &s, "/flows", limit).await),
            sport_sees
        );
    }
    let everything = sorted([news_flows.clone(), sport_flows.clone(), open_flows.clone()].concat());
    assert_eq!(
        sorted(all_pages(&server, &ops, "/flows", 4).await),
        everything
    );
    // A client's own tag filter is intersected with the principal's classes.
    let asked = all_pages(&server, &n, "/flows?tag.auth_classes=sport", 2).await;
    assert!(asked.is_empty(), "{asked:?}");

    // Sources took the classes of the flows that made them.
    let news_sources = all_pages(&server, &n, "/sources", 2).await;
    assert_eq!(news_sources.len(), news_sees.len());
    let sport_sources = all_pages(&server, &s, "/sources", 3).await;
    assert_eq!(sport_sources.len(), sport_sees.len());

    // Single gets: a hidden flow or source is not found, exactly as an unknown one.
    for f in &sport_flows {
        let resp = get(&server, &n, &format!("/flows/{f}")).await;
        expect_status(resp, StatusCode::NOT_FOUND).await;
        let resp = get(&server, &n, &format!("/flows/{f}/tags")).await;
        expect_status(resp, StatusCode::NOT_FOUND).await;
        expect_status(
            get(&server, &s, &format!("/flows/{f}")).await,
            StatusCode::OK,
        )
        .await;
    }
    let sport_flow = expect_json(
        get(&server, &s, &format!("/flows/{}", sport_flows[0])).await,
        StatusCode::OK,
    )
    .await;
    let sport_source = sport_flow["source_id"].as_str().unwrap();
    expect_status(
        get(&server, &n, &format!("/sources/{sport_source}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_status(
        get(&server, &s, &format!("/sources/{sport_source}")).await,
        StatusCode::OK,
    )
    .await;
    for f in news_flows.iter().chain(&open_flows) {
        expect_status(
            get(&server, &n, &format!("/flows/{f}")).await,
            StatusCode::OK,
        )
        .await;
    }
}

#[tokio::test]
async fn writes_need_the_class_and_class_changes_are_checked() {
    let (server, _cfg) = server().await;
    let (n, s) = (news(), sport());
    let sport_flow = id_of(&flow_with(&server, &s, Some(&["sport"])).await);
    let news_flow = flow_with(&server, &n, Some(&["news"])).await;
    let news_id = id_of(&news_flow);

    // A flow of a foreign class: every write is 404, as if it did not exist.
    let label = json!("taken over");
    for (method, path, body) in [
        (
            Method::PUT,
            format!("/flows/{sport_flow}/label"),
            Some(&label),
        ),
        (Method::DELETE, format!("/flows/{sport_flow}/label"), None),
        (
            Method::PUT,
            format!("/flows/{sport_flow}/tags/x"),
            Some(&label),
        ),
        (Method::DELETE, format!("/flows/{sport_flow}"), None),
        (
            Method::POST,
            format!("/flows/{sport_flow}/storage"),
            Some(&json!({})),
        ),
    ] {
        let resp = send(&server, &n, method.clone(), &path, body).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    let mut replaced = video_flow(&sport_flow, &new_id());
    replaced["tags"]["auth_classes"] = json!(["news"]);
    let resp = send(
        &server,
        &n,
        Method::PUT,
        &format!("/flows/{sport_flow}"),
        Some(&replaced),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // Still the sport editor's, unchanged.
    let still = expect_json(
        get(&server, &s, &format!("/flows/{sport_flow}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(still["tags"]["auth_classes"], json!(["sport"]));
    assert_eq!(still["label"], json!("camera one"));

    // Seeing without the permission asked for is 403.
    let reader = caller("news-reader", &["tams-api/read"], Some(&["news"]));
    let resp = send(
        &server,
        &reader,
        Method::PUT,
        &format!("/flows/{news_id}/label"),
        Some(&label),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // Its own flow: writable; but it may not add a class it does not hold, nor make the
    // flow unclassified.
    let resp = send(
        &server,
        &n,
        Method::PUT,
        &format!("/flows/{news_id}/label"),
        Some(&label),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = send(
        &server,
        &n,
        Method::PUT,
        &format!("/flows/{news_id}/tags/auth_classes"),
        Some(&json!(["news", "sport"])),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // Without its own tag the flow takes its source's classes (news, from the flow
    // that made it); the source itself may not be made unclassified.
    let resp = send(
        &server,
        &n,
        Method::DELETE,
        &format!("/flows/{news_id}/tags/auth_classes"),
        None,
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let news_source = news_flow["source_id"].as_str().unwrap();
    let resp = send(
        &server,
        &n,
        Method::DELETE,
        &format!("/sources/{news_source}/tags/auth_classes"),
        None,
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    expect_status(
        get(&server, &s, &format!("/flows/{news_id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // An admin shares it with sport: now sport sees it, through the tag endpoint.
    let resp = send(
        &server,
        &admin(),
        Method::PUT,
        &format!("/flows/{news_id}/tags/auth_classes"),
        Some(&json!(["news", "sport"])),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    expect_status(
        get(&server, &s, &format!("/flows/{news_id}")).await,
        StatusCode::OK,
    )
    .await;

    // A flow made without the tag takes its maker's classes, so it is not open to all.
    let untagged = flow_with(&server, &n, None).await;
    assert_eq!(untagged["tags"]["auth_classes"], json!(["news"]));
    let uid = id_of(&untagged);
    expect_status(
        get(&server, &s, &format!("/flows/{uid}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // Nobody attaches a flow to a source it may not write.
    let sport_source = still["source_id"].as_str().unwrap().to_owned();
    let intruder_id = new_id();
    let intruder = video_flow(&intruder_id, &sport_source);
    let resp = send(
        &server,
        &n,
        Method::PUT,
        &format!("/flows/{intruder_id}"),
        Some(&intruder),
    )
    .await;
    assert!(resp.status().is_client_error(), "{}", resp.status());
    expect_status(
        get(&server, &admin(), &format!("/flows/{intruder_id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // A source's tag change reaches the flows that take their classes from it.
    let open = flow_with(&server, &admin(), None).await;
    let (oid, osrc) = (id_of(&open), open["source_id"].as_str().unwrap().to_owned());
    expect_status(
        get(&server, &s, &format!("/flows/{oid}")).await,
        StatusCode::OK,
    )
    .await;
    let resp = send(
        &server,
        &admin(),
        Method::PUT,
        &format!("/sources/{osrc}/tags/auth_classes"),
        Some(&json!("news")),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    expect_status(
        get(&server, &s, &format!("/flows/{oid}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_status(
        get(&server, &s, &format!("/sources/{osrc}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_status(
        get(&server, &n, &format!("/flows/{oid}")).await,
        StatusCode::OK,
    )
    .await;
    assert!(!all_pages(&server, &s, "/flows", 10).await.contains(&oid));
}

/// Allocates one object on `flow` as `who` and registers it as the segment `[0:0_1:0)`.
async fn segment_on(server: &TestServer, who: &Caller, flow: &str) -> String {
    let alloc = expect_json(
        send(
            server,
            who,
            Method::POST,
            &format!("/flows/{flow}/storage"),
            Some(&json!({"limit": 1})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let object = alloc["media_objects"][0]["object_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let seg = json!({"object_id": object, "timerange": "[0:0_1:0)"});
    let resp = send(
        server,
        who,
        Method::POST,
        &format!("/flows/{flow}/segments"),
        Some(&seg),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    object
}

#[tokio::test]
async fn segments_objects_and_signed_urls_follow_their_flows() {
    let (server, _cfg) = server().await;
    let (n, s) = (news(), sport());
    let news_flow = id_of(&flow_with(&server, &n, Some(&["news"])).await);
    let object = segment_on(&server, &n, &news_flow).await;

    // The news editor gets the segment with a signed URL, and the object.
    let segs = expect_json(
        get(&server, &n, &format!("/flows/{news_flow}/segments")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(segs.as_array().unwrap().len(), 1);
    server.assert_signed_media_url(segs[0]["get_urls"][0]["url"].as_str().unwrap(), &object);
    let obj = expect_json(
        get(&server, &n, &format!("/objects/{object}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(obj["referenced_by_flows"], json!([news_flow]));
    assert_eq!(obj["first_referenced_by_flow"], json!(news_flow));

    // Sport sees no segments (as of an unknown flow), no object and no URL.
    let segs = expect_json(
        get(&server, &s, &format!("/flows/{news_flow}/segments")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(segs, json!([]));
    expect_status(
        get(&server, &s, &format!("/objects/{object}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let seg = json!({"object_id": object, "timerange": "[0:0_1:0)"});
    let resp = send(
        &server,
        &s,
        Method::POST,
        &format!("/flows/{news_flow}/segments"),
        Some(&seg),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = send(
        &server,
        &s,
        Method::DELETE,
        &format!("/flows/{news_flow}/segments"),
        None,
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = send(
        &server,
        &s,
        Method::POST,
        &format!("/objects/{object}/instances"),
        Some(&json!({"url": "https://elsewhere.test/x", "label": "copy"})),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // Knowing the id does not let sport register the object on its own flow.
    let sport_flow = id_of(&flow_with(&server, &s, Some(&["sport"])).await);
    let resp = send(
        &server,
        &s,
        Method::POST,
        &format!("/flows/{sport_flow}/segments"),
        Some(&seg),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let segs = expect_json(
        get(&server, &s, &format!("/flows/{sport_flow}/segments")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(segs, json!([]));
    expect_status(
        get(&server, &s, &format!("/objects/{object}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // Shared with a flow sport can read, the object is visible to sport, listing only
    // that flow; the first flow stays hidden.
    let shared = id_of(&flow_with(&server, &admin(), Some(&["news", "sport"])).await);
    let resp = send(
        &server,
        &n,
        Method::POST,
        &format!("/flows/{shared}/segments"),
        Some(&seg),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let obj = expect_json(
        get(&server, &s, &format!("/objects/{object}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(obj["referenced_by_flows"], json!([shared]));
    assert!(
        obj.get("first_referenced_by_flow")
            .is_none_or(Value::is_null),
        "{obj}"
    );
    let obj = expect_json(
        get(&server, &n, &format!("/objects/{object}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(obj["referenced_by_flows"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn created_by_and_updated_by_name_the_principal() {
    let (server, _cfg) = server().await;
    let n = news();
    let id = new_id();
    let mut flow = video_flow(&id, &new_id());
    flow["created_by"] = json!("someone else");
    flow["updated_by"] = json!("someone else");
    let created = expect_json(
        send(
            &server,
            &n,
            Method::PUT,
            &format!("/flows/{id}"),
            Some(&flow),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["created_by"], json!("news-editor"));
    assert_eq!(created["updated_by"], json!("news-editor"));
    let source = created["source_id"].as_str().unwrap().to_owned();
    let src = expect_json(
        get(&server, &n, &format!("/sources/{source}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(src["created_by"], json!("news-editor"));

    // Another principal's change: updated_by names it, created_by stays.
    let other = caller("news-producer", ALL, Some(&["news"]));
    let resp = send(
        &server,
        &other,
        Method::PUT,
        &format!("/flows/{id}/label"),
        Some(&json!("x")),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let got = expect_json(
        get(&server, &n, &format!("/flows/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got["created_by"], json!("news-editor"));
    assert_eq!(got["updated_by"], json!("news-producer"));
    let mut again = video_flow(&id, &source);
    again["created_by"] = json!("forged");
    let resp = send(
        &server,
        &other,
        Method::PUT,
        &format!("/flows/{id}"),
        Some(&again),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let got = expect_json(
        get(&server, &n, &format!("/flows/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got["created_by"], json!("news-editor"));
    assert_eq!(got["updated_by"], json!("news-producer"));
    let resp = send(
        &server,
        &other,
        Method::PUT,
        &format!("/sources/{source}/label"),
        Some(&json!("y")),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let src = expect_json(
        get(&server, &n, &format!("/sources/{source}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(src["updated_by"], json!("news-producer"));

    // An admin may record another name.
    let aid = new_id();
    let mut imported = video_flow(&aid, &new_id());
    imported["created_by"] = json!("archive-import");
    let created = expect_json(
        send(
            &server,
            &admin(),
            Method::PUT,
            &format!("/flows/{aid}"),
            Some(&imported),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["created_by"], json!("archive-import"));
    assert_eq!(created["updated_by"], json!("ops"));

    // Profiles record their maker too.
    let pid = new_id();
    let mut profile = schema::example("profile-put.json");
    profile["id"] = json!(pid);
    profile["created_by"] = json!("someone else");
    let created = expect_json(
        send(
            &server,
            &n,
            Method::POST,
            &format!("/service/profiles/{pid}"),
            Some(&profile),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["created_by"], json!("news-editor"));
}

/// `PUT /flows/{id}` of `flow` (a video flow of `source` tagged `classes`) as `who`.
async fn put_flow(
    server: &TestServer,
    who: &Caller,
    id: &str,
    source: &str,
    classes: &[&str],
    label: &str,
) -> reqwest::Response {
    let mut flow = video_flow(id, source);
    flow["tags"]["auth_classes"] = json!(classes);
    flow["label"] = json!(label);
    send(
        server,
        who,
        Method::PUT,
        &format!("/flows/{id}"),
        Some(&flow),
    )
    .await
}

#[tokio::test]
async fn a_class_ceiling_from_the_configuration_file_limits_what_the_class_grants() {
    let (server, _cfg) = server_with("[auth.classes]\nsport_ro = [\"read\"]\n").await;
    let ops = admin();
    // The appnote's example: open to news, read-only to sport_ro.
    let shared = flow_with(&server, &ops, Some(&["news", "sport_ro"])).await;
    let (id, source) = (
        id_of(&shared),
        shared["source_id"].as_str().unwrap().to_owned(),
    );
    let reader = caller("sport-viewer", ALL, Some(&["sport_ro"]));

    // Read is within the ceiling: the flow and its source can be read.
    let got = expect_json(
        get(&server, &reader, &format!("/flows/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got["id"], json!(id));
    expect_status(
        get(&server, &reader, &format!("/sources/{source}")).await,
        StatusCode::OK,
    )
    .await;
    let listed = all_pages(&server, &reader, "/flows", 10).await;
    assert_eq!(listed, vec![id.clone()]);

    // Write and delete are not, although the token has their scopes: 403, not 404.
    crate::harness::assert_error(
        put_flow(
            &server,
            &reader,
            &id,
            &source,
            &["news", "sport_ro"],
            "changed",
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    crate::harness::assert_error(
        send(
            &server,
            &reader,
            Method::DELETE,
            &format!("/flows/{id}"),
            None,
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let unchanged = expect_json(
        get(&server, &ops, &format!("/flows/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_ne!(unchanged["label"], json!("changed"));

    // A class without a ceiling still grants what the scopes give.
    let n = news();
    expect_status(
        put_flow(&server, &n, &id, &source, &["news", "sport_ro"], "by news").await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let changed = expect_json(
        get(&server, &ops, &format!("/flows/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed["label"], json!("by news"));
}

#[tokio::test]
async fn an_unknown_permission_in_a_class_ceiling_stops_the_store_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rushes.toml");
    std::fs::write(
        &path,
        config_text("[auth.classes]\nsport_ro = [\"raed\"]\n"),
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_rushes"));
    cmd.arg("serve")
        .args(["--config", path.to_str().unwrap()])
        .args([
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RUSHES_") {
            cmd.env_remove(&key);
        }
    }
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        cmd.spawn().unwrap().wait_with_output(),
    )
    .await
    .expect("the server should exit on its own")
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{}: {stderr}", out.status);
    assert!(stderr.contains("[auth.classes] sport_ro"), "{stderr}");
    assert!(stderr.contains("unknown permission \"raed\""), "{stderr}");
    assert!(!data.exists(), "nothing is created before the refusal");
}
