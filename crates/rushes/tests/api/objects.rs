//! `/objects/{id}`: information across flows (edit by reference), init objects, and
//! `/objects/{id}/instances`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{assert_error, expect_json, expect_status, TestServer};
use crate::schema;
use crate::segments::{allocate, list, new_flow, put_bytes, register, upload};

async fn get_bytes(url: &str) -> (StatusCode, Vec<u8>) {
    let resp = reqwest::Client::new().get(url).send().await.unwrap();
    let status = resp.status();
    (status, resp.bytes().await.unwrap().to_vec())
}

fn flows_of(obj: &Value) -> Vec<String> {
    let mut v: Vec<String> = obj["referenced_by_flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn an_object_reused_by_another_flow_keeps_its_timerange_and_outlives_the_first_flow() {
    let server = TestServer::start().await;
    let a = new_flow(&server).await;
    let b = new_flow(&server).await;
    let obj = upload(&server, &a, b"ten seconds of media").await;
    register(
        &server,
        &a,
        &json!({"object_id": obj, "timerange": "[100:0_110:0)", "ts_offset": "100:0"}),
    )
    .await;
    // Flow b uses seconds 2..4 of the object at 50 s on its own timeline.
    register(
        &server,
        &b,
        &json!({"object_id": obj, "timerange": "[50:0_52:0)", "ts_offset": "48:0"}),
    )
    .await;
    // Outside the object's timerange: refused.
    let resp = server
        .post(
            &format!("/flows/{b}/segments"),
            &json!({"object_id": obj, "timerange": "[60:0_71:0)", "ts_offset": "60:0"}),
        )
        .await;
    assert_error(resp, StatusCode::BAD_REQUEST).await;
    // Changing the object's timerange on reuse: refused.
    let resp = server.post(&format!("/flows/{b}/segments"), &json!({"object_id": obj, "timerange": "[80:0_81:0)", "ts_offset": "80:0", "object_timerange": "[0:0_1:0)"})).await;
    assert_error(resp, StatusCode::BAD_REQUEST).await;

    let o = server.get_json(&format!("/objects/{obj}")).await;
    schema::assert_valid("object.json", &o);
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!(flows_of(&o), both);
    assert_eq!(o["first_referenced_by_flow"], a.as_str());
    assert_eq!(o["timerange"], "[0:0_10:0)");
    assert_eq!(o["get_urls"].as_array().unwrap().len(), 1);
    let head = expect_status(
        server.head(&format!("/objects/{obj}")).await,
        StatusCode::OK,
    )
    .await;
    assert!(head.bytes().await.unwrap().is_empty());

    // b's listing shows the object's own timerange, not the part b uses.
    let (segs, _) = list(
        &server,
        &format!("/flows/{b}/segments?include_object_timerange=true"),
    )
    .await;
    assert_eq!(segs[0]["object_timerange"], "[0:0_10:0)");
    assert_eq!(segs[0]["timerange"], "[50:0_52:0)");

    // flow_tag filters on referenced_by_flows.
    server
        .put(&format!("/flows/{b}/tags/genre"), &json!("news"))
        .await;
    let o = server
        .get_json(&format!("/objects/{obj}?flow_tag.genre=news"))
        .await;
    assert_eq!(flows_of(&o), [b.as_str()]);
    let o = server
        .get_json(&format!("/objects/{obj}?flow_tag_exists.genre=false"))
        .await;
    assert_eq!(flows_of(&o), [a.as_str()]);
    // Paging of referenced_by_flows.
    let resp = expect_status(
        server.get(&format!("/objects/{obj}?limit=1")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(resp.headers()["x-paging-limit"], "1");
    let link = resp.headers()["link"].to_str().unwrap().to_owned();
    let first: Value = resp.json().await.unwrap();
    assert_eq!(first["referenced_by_flows"].as_array().unwrap().len(), 1);
    let next_url = link
        .trim_start_matches('<')
        .split(">;")
        .next()
        .unwrap()
        .to_owned();
    let second = expect_json(server.get(&next_url).await, StatusCode::OK).await;
    schema::assert_valid("object.json", &second);
    assert_ne!(first["referenced_by_flows"], second["referenced_by_flows"]);

    // Deleting flow a leaves b and the object intact.
    let resp = server.delete(&format!("/flows/{a}")).await;
    assert!(resp.status().is_success(), "{}", resp.status());
    let o = server.get_json(&format!("/objects/{obj}")).await;
    assert_eq!(flows_of(&o), [b.as_str()]);
    let (segs, _) = list(&server, &format!("/flows/{b}/segments")).await;
    let (status, bytes) = get_bytes(segs[0]["get_urls"][0]["url"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, b"ten seconds of media");

    assert_error(
        server.get("/objects/no-such-object").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        server
            .get(&format!("/objects/{obj}?presigned=perhaps"))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn init_objects_are_shared_by_segments_and_returned_with_urls() {
    let server = TestServer::start().await;
    let flow = new_flow(&server).await;
    let (init, url, ct) = allocate(
        &server,
        &flow,
        json!({"limit": 1, "content_type": "video/mp4"}),
    )
    .await
    .remove(0);
    put_bytes(&server, &url, &ct, b"init segment").await;
    let m1 = upload(&server, &flow, b"media 1").await;
    let m2 = upload(&server, &flow, b"media 2").await;
    register(
        &server,
        &flow,
        &json!([
            {"object_id": m1, "init_object_id": init, "timerange": "[0:0_1:0)"},
            {"object_id": m2, "init_object_id": init, "timerange": "[1:0_2:0)", "ts_offset": "1:0"},
        ]),
    )
    .await;
    let (segs, _) = list(&server, &format!("/flows/{flow}/segments")).await;
    for s in segs.as_array().unwrap() {
        assert_eq!(s["init_object"]["object_id"], init.as_str());
        let u = s["init_object"]["get_urls"][0]["url"].as_str().unwrap();
        let resp = reqwest::Client::new().get(u).send().await.unwrap();
        assert_eq!(resp.headers()["content-type"], "video/mp4");
        assert_eq!(resp.bytes().await.unwrap().as_ref(), b"init segment");
    }
    let o = server.get_json(&format!("/objects/{m1}")).await;
    schema::assert_valid("object.json", &o);
    assert_eq!(o["init_object"]["id"], init.as_str());
    let io = server.get_json(&format!("/objects/{init}")).await;
    schema::assert_valid("object.json", &io);
    assert!(
        io.get("timerange").is_none(),
        "an init object has no timerange: {io}"
    );
    assert_eq!(flows_of(&io), [flow.as_str()]);
    // An init object cannot become a media object, nor a media object an init object.
    let m3 = upload(&server, &flow, b"media 3").await;
    for bad in [
        json!({"object_id": init, "timerange": "[5:0_6:0)"}),
        json!({"object_id": m3, "init_object_id": m1, "timerange": "[6:0_7:0)"}),
    ] {
        assert_error(
            server.post(&format!("/flows/{flow}/segments"), &bad).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
}

#[tokio::test]
async fn instances_can_be_added_and_removed_but_not_the_last() {
    let server = TestServer::start().await;
    let flow = new_flow(&server).await;
    let obj = upload(&server, &flow, b"copied elsewhere").await;
    register(
        &server,
        &flow,
        &json!({"object_id": obj, "timerange": "[0:0_1:0)"}),
    )
    .await;
    let path = format!("/objects/{obj}/instances");

    let body = json!({"url": "https://mirror.example.com/media/obj", "label": "mirror"});
    schema::assert_valid("objects-instances-post.json", &body);
    expect_status(server.post(&path, &body).await, StatusCode::CREATED).await;
    let o = server
        .get_json(&format!("/objects/{obj}?verbose_storage=true"))
        .await;
    schema::assert_valid("object.json", &o);
    let urls = o["get_urls"].as_array().unwrap();
    assert_eq!(urls.len(), 2);
    let mirror = urls.iter().find(|u| u["label"] == "mirror").unwrap();
    assert_eq!(mirror["url"], "https://mirror.example.com/media/obj");
    assert_eq!(mirror["controlled"], false);
    let controlled = urls
        .iter()
        .find(|u| u["controlled"] == true)
        .unwrap()
        .clone();
    // Segment listings show it too, and filter by label.
    let (segs, _) = list(
        &server,
        &format!("/flows/{flow}/segments?accept_get_urls=mirror"),
    )
    .await;
    assert_eq!(segs[0]["get_urls"].as_array().unwrap().len(), 1);
    assert_eq!(segs[0]["get_urls"][0]["label"], "mirror");
    // The same URL twice: refused.
    assert_error(server.post(&path, &body).await, StatusCode::BAD_REQUEST).await;
    for bad in [
        json!({"url": "https://x"}),
        json!({}),
        json!({"storage_id": "nope"}),
    ] {
        assert_error(server.post(&path, &bad).await, StatusCode::BAD_REQUEST).await;
    }
    // A controlled copy on a backend this store does not know: refused.
    assert_error(
        server
            .post(
                &path,
                &json!({"storage_id": uuid::Uuid::new_v4().to_string()}),
            )
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    // Delete the controlled instance: its bytes go, the mirror stays.
    let sid = controlled["storage_id"].as_str().unwrap();
    let signed = controlled["url"].as_str().unwrap();
    assert_eq!(get_bytes(signed).await.0, StatusCode::OK);
    expect_status(
        server.delete(&format!("{path}?storage_id={sid}")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(get_bytes(signed).await.0, StatusCode::NOT_FOUND);
    let o = server.get_json(&format!("/objects/{obj}")).await;
    assert_eq!(o["get_urls"].as_array().unwrap().len(), 1);
    // The last instance cannot be deleted.
    assert_error(
        server.delete(&format!("{path}?label=mirror")).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(
        server.delete(&format!("{path}?label=nothing")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(server.delete(&path).await, StatusCode::BAD_REQUEST).await;
    assert_error(
        server
            .post("/objects/unknown-object/instances", &body)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}
