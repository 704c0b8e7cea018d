//! The flows and sources an import or an ingest creates (application note 0001): one mono
//! flow per elementary stream, each under its own source, collected by a multi-essence
//! flow under a multi-essence source; metadata read from the media.

use rushes_client::model::{FlowId, SourceId};
use rushes_client::Client;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::{RunError, StreamInfo, StreamKind};

/// The MIME type of the segments both tools write.
pub const MPEG_TS: &str = "video/mp2t";

/// The MIME type of fragmented MP4 segments.
pub const MP4: &str = "video/mp4";

/// Codecs ffmpeg's MP4 muxer carries as they are.
pub fn fmp4_can_carry(stream: &StreamInfo) -> bool {
    matches!(
        stream.codec_name.as_deref(),
        Some(
            "h264"
                | "hevc"
                | "av1"
                | "vp9"
                | "mpeg2video"
                | "mpeg4"
                | "aac"
                | "mp3"
                | "ac3"
                | "eac3"
                | "opus"
                | "flac"
                | "alac"
        )
    )
}

/// What a codec needs to be carried in MPEG-TS segments without re-encoding.
pub fn ts_can_carry(stream: &StreamInfo) -> bool {
    matches!(
        stream.codec_name.as_deref(),
        Some(
            "h264"
                | "hevc"
                | "mpeg2video"
                | "mpeg1video"
                | "aac"
                | "mp3"
                | "mp2"
                | "ac3"
                | "eac3"
                | "opus"
        )
    )
}

/// One elementary stream and the flow it becomes.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedFlow {
    /// The stream's index in the input (ffmpeg's `0:N`).
    pub stream_index: u32,
    /// `video`, `audio`, `audio_2`, ... (its role in the multi-essence flow).
    pub role: String,
    pub flow_id: FlowId,
    pub source_id: SourceId,
    /// The flow's body for `PUT /flows/{id}`.
    #[serde(skip)]
    pub body: Value,
}

/// The multi-essence flow and source that collect the mono flows.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedCollection {
    pub flow_id: FlowId,
    pub source_id: SourceId,
    #[serde(skip)]
    pub body: Value,
}

/// The codec's MIME name, or ffmpeg's own name under `x-ffmpeg/` when TAMS has none.
fn codec_of(stream: &StreamInfo, transcoded: bool) -> String {
    if transcoded {
        return match stream.kind {
            StreamKind::Video => "video/h264".into(),
            _ => "audio/aac".into(),
        };
    }
    stream.codec_mime().map(str::to_owned).unwrap_or_else(|| {
        format!(
            "x-ffmpeg/{}",
            stream.codec_name.as_deref().unwrap_or("unknown")
        )
    })
}

fn rate_json(r: rushes_time::Rational) -> Value {
    json!({"numerator": r.numerator(), "denominator": r.denominator()})
}

/// Bit depth and chroma subsampling from an ffmpeg pixel format, e.g. `yuv420p10le`.
fn pix_fmt_params(pix_fmt: &str, e: &mut Map<String, Value>) {
    let depth = if pix_fmt.contains("p10") {
        10
    } else if pix_fmt.contains("p12") {
        12
    } else {
        8
    };
    e.insert("bit_depth".into(), json!(depth));
    let subs = if pix_fmt.starts_with("yuv420")
        || pix_fmt.starts_with("yuvj420")
        || pix_fmt.starts_with("nv12")
    {
        Some((2, 2))
    } else if pix_fmt.starts_with("yuv422") || pix_fmt.starts_with("yuvj422") {
        Some((2, 1))
    } else if pix_fmt.starts_with("yuv444") || pix_fmt.starts_with("yuvj444") {
        Some((1, 1))
    } else {
        None
    };
    if let Some((h, v)) = subs {
        e.insert("component_type".into(), json!("YCbCr"));
        e.insert("horiz_chroma_subs".into(), json!(h));
        e.insert("vert_chroma_subs".into(), json!(v));
    }
}

/// The `PUT /flows/{id}` body of the flow a stream becomes.
#[allow(clippy::too_many_arguments)]
pub fn mono_flow_body(
    stream: &StreamInfo,
    flow_id: FlowId,
    source_id: SourceId,
    label: &str,
    transcoded: bool,
    tags: &Map<String, Value>,
) -> Result<Value, RunError> {
    let mut essence = Map::new();
    let format = match stream.kind {
        StreamKind::Video => {
            let (Some(w), Some(h)) = (stream.width, stream.height) else {
                return Err(RunError::Refused(format!(
                    "video stream {} has no frame size",
                    stream.index
                )));
            };
            essence.insert("frame_width".into(), json!(w));
            essence.insert("frame_height".into(), json!(h));
            if let Some(r) = stream.avg_frame_rate.or(stream.r_frame_rate) {
                essence.insert("frame_rate".into(), rate_json(r));
            }
            let pix_fmt = if transcoded {
                Some("yuv420p")
            } else {
                stream.pix_fmt.as_deref()
            };
            if let Some(p) = pix_fmt {
                pix_fmt_params(p, &mut essence);
            }
            "urn:x-nmos:format:video"
        }
        StreamKind::Audio => {
            let (Some(rate), Some(channels)) = (stream.sample_rate, stream.channels) else {
                return Err(RunError::Refused(format!(
                    "audio stream {} has no sample rate or channel count",
                    stream.index
                )));
            };
            essence.insert("sample_rate".into(), json!(rate));
            essence.insert("channels".into(), json!(channels));
            "urn:x-nmos:format:audio"
        }
        _ => {
            return Err(RunError::Refused(format!(
                "stream {} is neither video nor audio",
                stream.index
            )))
        }
    };
    let mut body = json!({
        "id": flow_id.to_string(),
        "source_id": source_id.to_string(),
        "format": format,
        "codec": codec_of(stream, transcoded),
        "container": MPEG_TS,
        "label": label,
        "essence_parameters": essence,
        "tags": tags,
    });
    if let (Some(bits), false) = (stream.bit_rate, transcoded) {
        body["avg_bit_rate"] = json!(bits.div_ceil(1000));
    }
    Ok(body)
}

/// The multi-essence flow collecting `flows`.
pub fn collection_body(
    flow_id: FlowId,
    source_id: SourceId,
    label: &str,
    flows: &[PlannedFlow],
    tags: &Map<String, Value>,
) -> Value {
    let collection: Vec<Value> = flows
        .iter()
        .map(|f| json!({"id": f.flow_id.to_string(), "role": f.role}))
        .collect();
    json!({
        "id": flow_id.to_string(),
        "source_id": source_id.to_string(),
        "format": "urn:x-nmos:format:multi",
        "container": MPEG_TS,
        "label": label,
        "flow_collection": collection,
        "tags": tags,
    })
}

/// Roles for the streams in order: `video`, `audio`, then `video_2`, `audio_2`, ...
pub fn roles(kinds: &[StreamKind]) -> Vec<String> {
    let (mut v, mut a) = (0, 0);
    kinds
        .iter()
        .map(|k| {
            let (name, n) = match k {
                StreamKind::Video => {
                    v += 1;
                    ("video", v)
                }
                _ => {
                    a += 1;
                    ("audio", a)
                }
            };
            if n == 1 {
                name.to_owned()
            } else {
                format!("{name}_{n}")
            }
        })
        .collect()
}

/// `PUT /flows/{id}` with `body`, its `status` set.
pub async fn put_flow(client: &Client, body: &Value, status: Option<&str>) -> Result<(), RunError> {
    let mut body = body.clone();
    if let Some(s) = status {
        body["status"] = json!(s);
    }
    let id = body["id"].as_str().unwrap_or_default().to_owned();
    client.put_json(&["flows", &id], &body).await?;
    Ok(())
}

/// The source's label and description (`PUT /sources/{id}/label`).
pub async fn label_source(client: &Client, source: SourceId, label: &str) -> Result<(), RunError> {
    client
        .put_json(&["sources", &source.to_string(), "label"], &json!(label))
        .await?;
    Ok(())
}
