//! Flow deletion over HTTP: at once for small Flows (204), through a deletion request and
//! the background worker for large ones (202), and the deletion request resources.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::flows::{create_flow, new_id, video_flow};
use crate::harness::{assert_error, expect_json, expect_status, header, TestServer};
use crate::schema;

/// Registers `n` one-second segments `[i:0_i+1:0)` on flow `fid`, all referencing one
/// allocated object (segments may share an object; `ts_offset` maps each onto it).
async fn add_segments(server: &TestServer, fid: &str, n: usize) {
    let storage = expect_json(
        server
            .post(&format!("/flows/{fid}/storage"), &json!({"limit": 1}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let object_id = storage["media_objects"][0]["object_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let segments: Vec<Value> =
        (0..n)
            .map(|i| json!({"object_id": object_id, "ts_offset": format!("{i}:0"), "timerange": format!("[{i}:0_{}:0)", i + 1)}))
            .collect();
    let resp = server
        .post(&format!("/flows/{fid}/segments"), &Value::Array(segments))
        .await;
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert!(
        status == StatusCode::CREATED || status == StatusCode::OK,
        "registering {n} segments: {status} {body}"
    );
    assert!(
        !body.contains("failed_segments"),
        "registering {n} segments: {body}"
    );
}

#[tokio::test]
async fn a_small_flow_is_deleted_at_once_and_its_source_with_its_last_flow() {
    let server = TestServer::start().await;
    let sid = new_id();
    let (a, b) = (new_id(), new_id());
    create_flow(&server, &video_flow(&a, &sid)).await;
    create_flow(&server, &video_flow(&b, &sid)).await;
    add_segments(&server, &a, 3).await;
    let with = server
        .get_json(&format!("/flows/{a}?include_timerange=true"))
        .await;
    schema::assert_valid("flow-get.json", &with);
    assert_eq!(with["timerange"], "[0:0_3:0)");
    let within = server
        .get_json(&format!("/flows/{a}?timerange=[1:500000000_1:600000000)"))
        .await;
    assert_eq!(within["timerange"], "[1:0_2:0)");
    // Listing by timerange: overlap with the flow's content, or no content at all.
    let ids = |v: Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(server.get_json("/flows?timerange=[2:0_10:0)").await),
        vec![a.clone()]
    );
    assert!(ids(server.get_json("/flows?timerange=[3:0_10:0)").await).is_empty());
    assert_eq!(
        ids(server.get_json("/flows?timerange=()").await),
        vec![b.clone()]
    );

    expect_status(
        server.delete(&format!("/flows/{a}")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_error(
        server.get(&format!("/flows/{a}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        server.delete(&format!("/flows/{a}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // The Source still has a Flow.
    schema::assert_valid(
        "source.json",
        &server.get_json(&format!("/sources/{sid}")).await,
    );
    expect_status(
        server.delete(&format!("/flows/{b}")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_error(
        server.get(&format!("/sources/{sid}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(server
        .get_json("/flows")
        .await
        .as_array()
        .unwrap()
        .is_empty());
    assert!(server
        .get_json("/sources")
        .await
        .as_array()
        .unwrap()
        .is_empty());
    assert_error(
        server.delete("/flows/not-a-uuid").await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn a_large_flow_is_deleted_through_a_deletion_request() {
    let server = TestServer::start_with(&["--worker-interval", "1"]).await;
    let sid = new_id();
    let fid = new_id();
    create_flow(&server, &video_flow(&fid, &sid)).await;
    add_segments(&server, &fid, 1500).await;

    let resp = expect_status(
        server.delete(&format!("/flows/{fid}")).await,
        StatusCode::ACCEPTED,
    )
    .await;
    let location = header(&resp, "location").expect("a Location header");
    let request = crate::harness::json(resp).await;
    schema::assert_valid("deletion-request.json", &request);
    assert_eq!(request["flow_id"], json!(fid));
    assert_eq!(request["delete_flow"], true);
    let rid = request["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/flow-delete-requests/{rid}"));

    // A second DELETE answers with the same request.
    let again = expect_status(
        server.delete(&format!("/flows/{fid}")).await,
        StatusCode::ACCEPTED,
    )
    .await;
    let again = crate::harness::json(again).await;
    if again["status"] != "done" {
        assert_eq!(again["id"], json!(rid));
    }

    let list = server.get_json("/flow-delete-requests").await;
    schema::assert_valid_list("deletion-request.json", &list);
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == json!(rid)));

    let mut last = Value::Null;
    for _ in 0..100 {
        last = server.get_json(&location).await;
        schema::assert_valid("deletion-request.json", &last);
        if last["status"] == "done" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last["status"], "done", "deletion did not finish: {last}");
    assert_eq!(last["timerange_remaining"], "()");
    assert!(last["expiry"].is_string());
    assert_error(
        server.get(&format!("/flows/{fid}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        server.get(&format!("/sources/{sid}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn deletion_requests_list_sorts_and_unknown_requests_are_not_found() {
    let server = TestServer::start().await;
    let list = server.get_json("/flow-delete-requests").await;
    schema::assert_valid_list("deletion-request.json", &list);
    assert!(list.as_array().unwrap().is_empty());
    schema::assert_valid_list(
        "deletion-request.json",
        &server
            .get_json("/flow-delete-requests?sort_by=expiry&reverse_order=true")
            .await,
    );
    assert_error(
        server
            .get(&format!("/flow-delete-requests/{}", new_id()))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        server.get("/flow-delete-requests/anything").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        server.get("/flow-delete-requests?sort_by=size").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_error(
        server.get("/flow-delete-requests?reverse_order=yes").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let head = expect_status(server.head("/flow-delete-requests").await, StatusCode::OK).await;
    assert!(head.bytes().await.unwrap().is_empty());
}
