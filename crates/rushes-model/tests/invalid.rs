//! Invalid input is refused with a message that names the problem.

#![allow(clippy::unwrap_used)]

use rushes_model::*;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

fn spec_example(name: &str) -> Value {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/tams-spec/examples")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Parses `text` as `T`, expects a failure, and checks the message contains every `needle`.
#[track_caller]
fn refused<T: DeserializeOwned + std::fmt::Debug>(text: &str, needles: &[&str]) -> String {
    let e = serde_json::from_str::<T>(text)
        .expect_err("input should be refused")
        .to_string();
    for n in needles {
        assert!(e.contains(n), "message {e:?} does not mention {n:?}");
    }
    e
}

#[track_caller]
fn refused_value<T: DeserializeOwned + std::fmt::Debug>(v: &Value, needles: &[&str]) -> String {
    refused::<T>(&v.to_string(), needles)
}

#[test]
fn bad_uuids() {
    let mut v = spec_example("flow-get-200-video-h264.json");
    v["id"] = json!("not-a-uuid");
    refused_value::<Flow>(&v, &["invalid flow id", "not-a-uuid"]);
    v["id"] = json!("4F79CFD1-C057-47F4-8E4D-1B126CA7BF34");
    refused_value::<Flow>(&v, &["lowercase"]);
    let mut s = spec_example("source-get-200-basic.json");
    s["collected_by"] = json!(["86761f3a-5998-4cfe-9a89"]);
    refused_value::<Source>(&s, &["invalid source id"]);
    refused::<ObjectInstancesPost>(r#"{"storage_id":"x"}"#, &["invalid storage backend id"]);
}

#[test]
fn bad_timeranges_and_timestamps() {
    refused::<Segment>(
        r#"{"object_id":"a","timerange":"[0:0_10:0)x"}"#,
        &["invalid timerange"],
    );
    refused::<Segment>(
        r#"{"object_id":"a","timerange":"[00:0_1:0)"}"#,
        &["invalid timerange"],
    );
    let e = refused::<SegmentPost>(
        r#"{"object_id":"a","timerange":"yesterday"}"#,
        &["invalid timerange", "yesterday"],
    );
    assert!(e.contains("line 1"), "serde_json adds the position: {e}");
    refused::<SegmentPost>(
        r#"{"object_id":"a","timerange":"[0:0_1:0)","ts_offset":"1.5"}"#,
        &["invalid timestamp", "1.5"],
    );
    refused::<SegmentPost>(
        r#"{"object_id":"a","timerange":"[0:0_1:0)","last_duration":"-1:0"}"#,
        &["must not be negative"],
    );
    refused::<SegmentPost>(r#"{"object_id":"a","timerange":5}"#, &["invalid type"]);
    let mut d = spec_example("deletion-request-get-200.json");
    d["timerange_to_delete"] = json!("[x:0_1:0)");
    refused_value::<DeletionRequest>(&d, &["invalid timerange"]);
    let mut s = spec_example("service-get-200.json");
    s["min_object_timeout"] = json!("600");
    refused_value::<Service>(&s, &["invalid timestamp"]);
}

#[test]
fn unknown_format() {
    let mut v = spec_example("flow-get-200-video-h264.json");
    v["format"] = json!("urn:x-nmos:format:smell");
    refused_value::<Flow>(
        &v,
        &[
            "unknown variant",
            "urn:x-nmos:format:smell",
            "urn:x-nmos:format:video",
        ],
    );
    let mut s = spec_example("source-get-200-basic.json");
    s["format"] = json!("video");
    refused_value::<Source>(&s, &["unknown variant"]);
    assert!("video".parse::<Format>().is_err());
    assert_eq!(
        "urn:x-tam:format:image".parse::<Format>().unwrap(),
        Format::Image
    );
}

#[test]
fn missing_required_fields() {
    for field in ["id", "source_id", "format", "codec", "essence_parameters"] {
        let mut v = spec_example("flow-get-200-video-h264.json");
        v.as_object_mut().unwrap().remove(field);
        refused_value::<Flow>(&v, &["missing field", field]);
    }
    let mut v = spec_example("flow-put.json");
    v.as_object_mut().unwrap().remove("format");
    refused_value::<FlowPut>(&v, &["missing field `format`", "profile_id"]);
    refused::<SegmentPost>(
        r#"{"timerange":"[0:0_1:0)"}"#,
        &["missing field `object_id`"],
    );
    refused::<Segment>(r#"{"object_id":"a"}"#, &["missing field `timerange`"]);
    refused::<WebhookPost>(r#"{"url":"https://x"}"#, &["missing field `events`"]);
    refused::<WebhookPut>(
        r#"{"id":"e85efab4-993b-4ad6-9af3-4cd8d0d38860","url":"https://x","events":[]}"#,
        &["missing field `status`"],
    );
    refused::<ErrorBody>(r#"{"type":"x","summary":"y"}"#, &["missing field `time`"]);
    refused::<StorageBackend>(
        r#"{"id":"60af2ab4-e8a5-4c65-a09b-d35983680315","store_type":"http_object_store","provider":"p"}"#,
        &["missing field `store_product`"],
    );
    let mut audio = spec_example("flow-get-200-audio-wav.json");
    audio["essence_parameters"]
        .as_object_mut()
        .unwrap()
        .remove("channels");
    refused_value::<Flow>(
        &audio,
        &["essence_parameters", "audio", "missing field `channels`"],
    );
}

#[test]
fn wrong_enum_values() {
    let mut w = spec_example("webhook-get-200.json");
    w["status"] = json!("sleeping");
    refused_value::<WebhookGet>(&w, &["unknown variant `sleeping`", "started"]);
    let mut p = spec_example("webhook-put.json");
    p["status"] = json!("started");
    refused_value::<WebhookPut>(&p, &["unknown variant `started`"]);
    let mut e = spec_example("webhook-post.json");
    e["events"] = json!(["flows/exploded"]);
    refused_value::<WebhookPost>(&e, &["unknown variant `flows/exploded`"]);
    let mut v = spec_example("flow-get-200-video-h264.json");
    v["essence_parameters"]["colorspace"] = json!("bt709");
    refused_value::<Flow>(&v, &["unknown variant `bt709`"]);
    let mut d = spec_example("deletion-request-get-200.json");
    d["status"] = json!("finished");
    refused_value::<DeletionRequest>(&d, &["unknown variant `finished`"]);
    let mut f = spec_example("flow-get-200-video-h264.json");
    f["status"] = json!("live");
    refused_value::<Flow>(&f, &["unknown variant `live`"]);
}

#[test]
fn closed_objects_refuse_unknown_fields() {
    let mut v = spec_example("flow-get-200-audio-wav.json");
    v["essence_parameters"]["frame_width"] = json!(1920);
    refused_value::<Flow>(&v, &["unknown field `frame_width`"]);
    let mut o = spec_example("objects-get-200.json");
    o["extra"] = json!(1);
    refused_value::<Object>(&o, &["unknown field `extra`"]);
    let mut s = spec_example("flow-segments-get-200.json");
    s[0]["get_urls"][0]["colour"] = json!("red");
    refused_value::<Vec<Segment>>(&s, &["unknown field `colour`"]);
    refused::<FlowStorage>(
        r#"{"media_objects":[],"next":1}"#,
        &["unknown field `next`"],
    );
}

#[test]
fn schema_rules_beyond_types() {
    // frame_rate is required unless vfr is true, and forbidden when it is.
    let mut v = spec_example("flow-get-200-video-h264.json");
    v["essence_parameters"]
        .as_object_mut()
        .unwrap()
        .remove("frame_rate");
    refused_value::<Flow>(&v, &["frame_rate", "required"]);
    v["essence_parameters"]["vfr"] = json!(true);
    serde_json::from_value::<Flow>(v.clone()).unwrap();
    v["essence_parameters"]["frame_rate"] = json!({"numerator": 25});
    refused_value::<Flow>(&v, &["must not be set"]);
    // Positive integers.
    let mut z = spec_example("flow-get-200-video-h264.json");
    z["essence_parameters"]["frame_width"] = json!(0);
    refused_value::<Flow>(&z, &["nonzero"]);
    // MIME type pattern.
    let mut m = spec_example("flow-get-200-video-h264.json");
    m["codec"] = json!("h264");
    refused_value::<Flow>(&m, &["invalid MIME type", "h264"]);
    refused::<FlowStoragePost>(r#"{"content_type":"weird/x"}"#, &["invalid MIME type"]);
    // Profile and technical metadata together.
    let mut p = spec_example("flow-put-profile.json");
    p["codec"] = json!("audio/aac");
    refused_value::<FlowPut>(&p, &["Profile", "technical metadata"]);
    // A Profile cannot describe a multi Flow.
    let mut pr = spec_example("profile-put.json");
    pr["flow_metadata"] = json!({"format": "urn:x-nmos:format:multi"});
    refused_value::<Profile>(&pr, &["multi"]);
    // limit and object_ids are exclusive.
    refused::<FlowStoragePost>(r#"{"limit":1,"object_ids":["a"]}"#, &["not both"]);
    // Object instances: one form or the other.
    refused::<ObjectInstancesPost>(
        r#"{"storage_id":"60af2ab4-e8a5-4c65-a09b-d35983680315","url":"https://x","label":"l"}"#,
        &["not both"],
    );
    refused::<ObjectInstancesPost>(r#"{"url":"https://x"}"#, &["missing field `label`"]);
    // Service type and version.
    let mut s = spec_example("service-get-200.json");
    s["type"] = json!("urn:x-other");
    refused_value::<Service>(&s, &["urn:x-tams:service"]);
    let mut s = spec_example("service-get-200.json");
    s["api_version"] = json!("8.02");
    refused_value::<Service>(&s, &["api_version"]);
    // Channel mapping.
    refused::<ContainerMapping>(
        r#"{"audio_track":{"channel_range":"0-1"}}"#,
        &["channel_range"],
    );
    refused::<ContainerMapping>(
        r#"{"audio_track":{"channel_numbers":[]}}"#,
        &["at least one"],
    );
}

#[test]
fn object_ids_must_be_safe() {
    refused::<SegmentPost>(
        r#"{"object_id":"../etc/passwd","timerange":"[0:0_1:0)"}"#,
        &["invalid object id", "'/'"],
    );
    refused::<SegmentPost>(
        r#"{"object_id":"","timerange":"[0:0_1:0)"}"#,
        &["must not be empty"],
    );
    refused::<FlowStoragePost>(r#"{"object_ids":["ok","a b"]}"#, &["invalid object id"]);
}

#[test]
fn segment_lists_say_which_item_failed() {
    refused::<SegmentPostBody>(
        r#"[{"object_id":"a","timerange":"[0:0_1:0)"},{"object_id":"b","timerange":"nope"}]"#,
        &["segment [1]", "invalid timerange"],
    );
    refused::<SegmentPostBody>(
        r#""a string""#,
        &["expected a Flow Segment object or an array"],
    );
}

#[test]
fn tags_must_be_strings_or_lists_of_strings() {
    let mut v = spec_example("flow-get-200-video-h264.json");
    v["tags"]["n"] = json!(5);
    refused_value::<Flow>(&v, &["a string or an array of strings"]);
}
