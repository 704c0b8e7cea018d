//! Every example JSON document of the spec parses into its type and writes back equal.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use rushes_model::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

fn spec_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tams-spec")
}

fn read(name: &str) -> String {
    let p = spec_dir().join("examples").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Parses `name` as `T` from its text and checks that writing it back gives the same JSON.
fn round_trip<T: DeserializeOwned + Serialize>(name: &str) -> T {
    let text = read(name);
    let value: T = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let written = serde_json::to_value(&value).unwrap();
    let original: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(written, original, "{name} did not round-trip");
    value
}

/// The type of every example file, by name.
fn check(name: &str) {
    match name {
        "deletion-request-get-200.json" => drop(round_trip::<DeletionRequest>(name)),
        "deletion-requests-get-200.json" => drop(round_trip::<Vec<DeletionRequest>>(name)),
        "flow-collection-get-200.json" | "flow-collection-put.json" => {
            drop(round_trip::<Vec<FlowCollectionItem>>(name))
        }
        "flow-put-201.json" => drop(round_trip::<Flow>(name)),
        "flow-put.json" | "flow-put-multi.json" | "flow-put-profile.json" => {
            drop(round_trip::<FlowPut>(name))
        }
        "flow-segment-partial-failure.json" => drop(round_trip::<BulkFailure>(name)),
        "flow-segment-post.json" => {
            drop(round_trip::<SegmentPost>(name));
            assert!(matches!(
                round_trip::<SegmentPostBody>(name),
                SegmentPostBody::One(_)
            ));
        }
        "flow-storage-post.json" | "flow-storage-post-object_ids.json" => {
            drop(round_trip::<FlowStoragePost>(name))
        }
        "flow-tags-get-200.json" => drop(round_trip::<Tags>(name)),
        "flows-get-200.json" => drop(round_trip::<Vec<Flow>>(name)),
        "objects-get-200.json" | "objects-get-200-init.json" => drop(round_trip::<Object>(name)),
        "objects-instances-controlled-post.json" | "objects-instances-uncontrolled-post.json" => {
            drop(round_trip::<ObjectInstancesPost>(name))
        }
        "profiles-get-200.json" => drop(round_trip::<Vec<Profile>>(name)),
        "service-get-200.json" => drop(round_trip::<Service>(name)),
        "service-post.json" => drop(round_trip::<ServicePost>(name)),
        "sources-get-200.json" => drop(round_trip::<Vec<Source>>(name)),
        "storage-backends-get-200.json" => drop(round_trip::<Vec<StorageBackend>>(name)),
        "webhook-get-200-list.json" => drop(round_trip::<Vec<WebhookGet>>(name)),
        "webhook-get-200.json" => {
            drop(round_trip::<WebhookGet>(name));
            drop(round_trip::<WebhookWithId>(name));
        }
        "webhook-post.json" => drop(round_trip::<WebhookPost>(name)),
        "webhook-put.json" => drop(round_trip::<WebhookPut>(name)),
        n if n.starts_with("flow-get-200-") => drop(round_trip::<Flow>(name)),
        n if n.starts_with("flow-segments-get-200") => drop(round_trip::<Vec<Segment>>(name)),
        n if n.starts_with("flow-storage-post-201") => drop(round_trip::<FlowStorage>(name)),
        n if n.starts_with("profile-") => drop(round_trip::<Profile>(name)),
        n if n.starts_with("source-get-200-") => drop(round_trip::<Source>(name)),
        other => panic!("example {other} has no type in this test; add it"),
    }
}

#[test]
fn every_example_round_trips() {
    let dir = spec_dir().join("examples");
    let names: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert!(
        names.len() >= 56,
        "expected the spec's examples, found {}",
        names.len()
    );
    for name in &names {
        check(name);
    }
}

#[test]
fn examples_parse_into_the_expected_values() {
    let flow: Flow = round_trip("flow-get-200-video-h264.json");
    assert_eq!(
        flow.id(),
        FlowId::parse("4f79cfd1-c057-47f4-8e4d-1b126ca7bf34").unwrap()
    );
    assert_eq!(
        flow.source_id(),
        SourceId::parse("2aa143ac-0ab7-4d75-bc32-5c00c13d186f").unwrap()
    );
    assert_eq!(flow.format(), Format::Video);
    assert_eq!(flow.codec().unwrap().as_str(), "video/h264");
    assert_eq!(flow.container().unwrap().as_str(), "video/mp2t");
    assert!(!flow.read_only());
    let Essence::Video(v) = flow.essence() else {
        panic!("not video")
    };
    assert_eq!(v.frame_rate.unwrap().to_rational().unwrap().numerator(), 24);
    assert_eq!(v.colorspace, Some(Colorspace::Bt709));
    assert_eq!(flow.media.segment_duration.unwrap().denominator, None);

    let multi: Flow = round_trip("flow-get-200-multi.json");
    assert_eq!(multi.format(), Format::Multi);
    assert_eq!(multi.flow_collection().len(), 4);
    assert_eq!(
        multi.flow_collection()[2].role.as_deref(),
        Some("audio_description")
    );
    assert!(multi.codec().is_none());

    let fmp4: Flow = round_trip("flow-get-200-video-h264-fmp4.json");
    assert!(fmp4.essence().init_segments());
    assert!(!flow.essence().init_segments());

    let segs: Vec<Segment> = round_trip("flow-segments-get-200-object-timerange.json");
    assert_eq!(segs[1].ts_offset, Some("-100:0".parse().unwrap()));
    assert_eq!(
        segs[1].object_timerange.as_ref().unwrap().as_str(),
        "[150:0_200:0)"
    );
    assert_eq!(segs[0].ts_offset_or_zero(), Timestamp::default());
    assert_eq!(
        segs[0].timerange.range(),
        "[0:0_10:0)".parse::<TimeRange>().unwrap()
    );

    let put: FlowPut = round_trip("flow-put-profile.json");
    let profile_id = ProfileId::parse("329b98d6-adeb-418c-8eaf-eca14edc1706").unwrap();
    assert_eq!(put.definition, FlowDefinition::Profile(profile_id));
    let profile: Profile = round_trip("profile-get-200-video-h264.json");
    let from_profile = put.into_flow(|id| {
        if id == profile.id {
            Ok(profile.flow_metadata.media.clone())
        } else {
            Err(id)
        }
    });
    let from_profile = from_profile.unwrap();
    assert_eq!(from_profile.profile_id, Some(profile_id));
    assert_eq!(from_profile.format(), Format::Video);
    assert_eq!(from_profile.common.label.as_deref(), Some("capture_1"));

    let storage: FlowStoragePost = round_trip("flow-storage-post.json");
    assert_eq!(storage.allocation(), Allocation::Count(Some(50)));
    let storage: FlowStoragePost = round_trip("flow-storage-post-object_ids.json");
    assert!(matches!(storage.allocation(), Allocation::Ids(ids) if ids.len() == 2));

    let profiles: Vec<Profile> = round_trip("profiles-get-200.json");
    assert_eq!(
        profiles[1].extra.get("urn"),
        Some(&Value::from("urn:x-tam:profile:image_1920_1080_jpg"))
    );

    let service: Service = round_trip("service-get-200.json");
    assert_eq!(service.min_object_timeout, "600:0".parse().unwrap());
}

#[test]
fn unknown_fields_of_open_objects_are_kept() {
    let mut v: Value = serde_json::from_str(&read("flow-get-200-audio-aac.json")).unwrap();
    v["x_custom"] = serde_json::json!({"a": [1, 2]});
    let flow: Flow = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(flow.extra.len(), 1);
    assert_eq!(serde_json::to_value(&flow).unwrap(), v);

    let mut s: Value = serde_json::from_str(&read("source-get-200-basic.json")).unwrap();
    s["x_custom"] = Value::from(true);
    let source: Source = serde_json::from_value(s.clone()).unwrap();
    assert_eq!(serde_json::to_value(&source).unwrap(), s);

    let mut w: Value = serde_json::from_str(&read("webhook-get-200.json")).unwrap();
    w["x_custom"] = Value::from("kept");
    let hook: WebhookGet = serde_json::from_value(w.clone()).unwrap();
    assert_eq!(hook.extra.len(), 1);
    assert_eq!(serde_json::to_value(&hook).unwrap(), w);
}

#[test]
fn flow_put_drops_store_managed_fields() {
    let mut v: Value = serde_json::from_str(&read("flow-put.json")).unwrap();
    v["created"] = Value::from("2020-01-01T00:00:00Z");
    v["metadata_updated"] = Value::from("2020-01-01T00:00:00Z");
    v["segments_updated"] = Value::from("2020-01-01T00:00:00Z");
    v["timerange"] = Value::from("[0:0_10:0)");
    v["collected_by"] = serde_json::json!(["e85efab4-993b-4ad6-9af3-4cd8d0d38860"]);
    let put: FlowPut = serde_json::from_value(v).unwrap();
    assert_eq!(put.common.created, None);
    assert_eq!(put.common.timerange, None);
    assert_eq!(put.common.collected_by, None);
    assert!(put.extra.is_empty());
    let original: Value = serde_json::from_str(&read("flow-put.json")).unwrap();
    assert_eq!(serde_json::to_value(&put).unwrap(), original);
    let flow = put.into_flow(|_| Err("not a profile")).unwrap();
    assert_eq!(flow.format(), Format::Audio);
}

#[test]
fn flow_put_with_empty_profile_id_unlinks_the_profile() {
    let mut v: Value = serde_json::from_str(&read("flow-put.json")).unwrap();
    v["profile_id"] = Value::from("");
    let put: FlowPut = serde_json::from_value(v.clone()).unwrap();
    assert!(matches!(
        put.definition,
        FlowDefinition::Media {
            unlink_profile: true,
            ..
        }
    ));
    assert_eq!(serde_json::to_value(&put).unwrap(), v);
}

#[test]
fn segment_lists_post() {
    let body: SegmentPostBody = serde_json::from_str(
        r#"[{"object_id":"a","timerange":"[0:0_1:0)","init_object_id":"i","last_duration":"0:40000000",
            "get_urls":[{"url":"https://x/a","label":"ext"}]},
           {"object_id":"b","timerange":"[1:0_2:0)","ts_offset":"-1:0","key_frame_count":1}]"#,
    )
    .unwrap();
    assert_eq!(body.len(), 2);
    let segs = body.into_vec();
    assert_eq!(segs[0].init_object_id.as_ref().unwrap().as_str(), "i");
    assert_eq!(segs[0].get_urls.as_ref().unwrap()[0].label, "ext");
    assert_eq!(segs[1].ts_offset, Some("-1:0".parse().unwrap()));
}

#[test]
fn timerange_text_keeps_the_registered_form() {
    // `[5:0]` and `[5:0_5:0]` are the same range; each is returned as it was given.
    let a: Segment = serde_json::from_str(r#"{"object_id":"a","timerange":"[5:0_5:0]"}"#).unwrap();
    let b: Segment = serde_json::from_str(r#"{"object_id":"a","timerange":"[5:0]"}"#).unwrap();
    assert_eq!(a.timerange.range(), b.timerange.range());
    assert_eq!(serde_json::to_value(&a).unwrap()["timerange"], "[5:0_5:0]");
    assert_eq!(serde_json::to_value(&b).unwrap()["timerange"], "[5:0]");
}

#[test]
fn events_have_the_spec_shape() {
    let flow: Flow = serde_json::from_str(&read("flow-get-200-video-h264.json")).unwrap();
    let source: Source = serde_json::from_str(&read("source-get-200-basic.json")).unwrap();
    let segments: Vec<Segment> = serde_json::from_str(&read("flow-segments-get-200.json")).unwrap();
    let events = vec![
        Event::FlowCreated {
            flow: Box::new(flow.clone()),
        },
        Event::FlowUpdated {
            flow: Box::new(flow.clone()),
        },
        Event::FlowDeleted { flow_id: flow.id() },
        Event::SegmentsAdded {
            flow_id: flow.id(),
            segments,
        },
        Event::SegmentsDeleted {
            flow_id: flow.id(),
            timerange: "[0:0_10:0)".parse().unwrap(),
        },
        Event::SourceCreated {
            source: Box::new(source.clone()),
        },
        Event::SourceUpdated {
            source: Box::new(source.clone()),
        },
        Event::SourceDeleted {
            source_id: source.id,
        },
    ];
    let seen: BTreeSet<&str> = events.iter().map(|e| e.event_type().as_str()).collect();
    assert_eq!(seen.len(), EventType::ALL.len());
    for event in events {
        let kind = event.event_type();
        let e = WebhookEvent {
            event_timestamp: "2024-01-01T00:00:00Z".into(),
            event,
        };
        let v = serde_json::to_value(&e).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), 3, "{v}");
        assert_eq!(obj["event_type"], kind.as_str());
        assert!(obj["event"].is_object());
        let back: WebhookEvent = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(back, e);
        match &back.event {
            Event::FlowCreated { .. } | Event::FlowUpdated { .. } => {
                assert_eq!(v["event"]["flow"]["id"], flow.id().to_string())
            }
            Event::SegmentsDeleted { .. } => assert_eq!(v["event"]["timerange"], "[0:0_10:0)"),
            Event::SourceDeleted { .. } => {
                assert_eq!(v["event"]["source_id"], source.id.to_string())
            }
            _ => {}
        }
    }
}
