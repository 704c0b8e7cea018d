//! Per-format `essence_parameters` of Flows and Profiles (`flow-video.json` … `flow-multi.json`).
//!
//! Essence parameter objects are closed in the spec: unknown fields are refused. The
//! smaller objects nested in them (`avc_parameters`, `codec_parameters`, `unc_parameters`)
//! are open and keep unknown fields in `extra`. Rationals ignore unknown fields.

use std::num::{NonZeroU32, NonZeroU64};

use rushes_time::{Rational, TimeError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A rate or duration whose denominator defaults to 1 (`frame_rate`, `segment_duration`).
///
/// The denominator is kept as given (absent stays absent) so that documents round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rate {
    pub numerator: NonZeroU64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominator: Option<NonZeroU64>,
}

impl Rate {
    pub fn new(numerator: NonZeroU64, denominator: Option<NonZeroU64>) -> Rate {
        Rate {
            numerator,
            denominator,
        }
    }

    /// The denominator, 1 when absent.
    pub fn denominator_or_one(&self) -> u64 {
        self.denominator.map_or(1, NonZeroU64::get)
    }

    /// The exact value, in lowest terms.
    pub fn to_rational(&self) -> Result<Rational, TimeError> {
        Rational::new(self.numerator.get(), self.denominator_or_one())
    }
}

/// A ratio with both parts required (`aspect_ratio`, `pixel_aspect_ratio`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ratio {
    pub numerator: NonZeroU64,
    pub denominator: NonZeroU64,
}

impl Ratio {
    pub fn to_rational(&self) -> Result<Rational, TimeError> {
        Rational::new(self.numerator.get(), self.denominator.get())
    }
}

/// The essence of a Flow, one variant per format.
#[derive(Debug, Clone, PartialEq)]
pub enum Essence {
    Video(VideoEssence),
    Audio(AudioEssence),
    Image(ImageEssence),
    Data(DataEssence),
    /// Multi-essence Flows may omit `essence_parameters`.
    Multi(Option<MultiEssence>),
}

impl Essence {
    pub fn format(&self) -> crate::Format {
        match self {
            Essence::Video(_) => crate::Format::Video,
            Essence::Audio(_) => crate::Format::Audio,
            Essence::Image(_) => crate::Format::Image,
            Essence::Data(_) => crate::Format::Data,
            Essence::Multi(_) => crate::Format::Multi,
        }
    }

    /// Whether the Flow's Media Objects carry initialisation segments (`false` if unset).
    pub fn init_segments(&self) -> bool {
        match self {
            Essence::Video(v) => v.init_segments,
            Essence::Audio(a) => a.init_segments,
            Essence::Image(_) => None,
            Essence::Data(d) => d.init_segments,
            Essence::Multi(m) => m.as_ref().and_then(|m| m.init_segments),
        }
        .unwrap_or(false)
    }

    /// Parses `essence_parameters` for `format`; `None` when the document has none.
    pub(crate) fn from_parts(
        format: crate::Format,
        params: Option<Value>,
    ) -> Result<Essence, String> {
        use crate::Format;
        let Some(params) = params else {
            return match format {
                Format::Multi => Ok(Essence::Multi(None)),
                f => Err(format!(
                    "missing field `essence_parameters` (required for {f} flows)"
                )),
            };
        };
        let what = format.short_name();
        let bad =
            |e: serde_json::Error| format!("invalid essence_parameters for a {what} flow: {e}");
        Ok(match format {
            Format::Video => {
                let v: VideoEssence = serde_json::from_value(params).map_err(bad)?;
                v.check()?;
                Essence::Video(v)
            }
            Format::Audio => Essence::Audio(serde_json::from_value(params).map_err(bad)?),
            Format::Image => Essence::Image(serde_json::from_value(params).map_err(bad)?),
            Format::Data => Essence::Data(serde_json::from_value(params).map_err(bad)?),
            Format::Multi => Essence::Multi(Some(serde_json::from_value(params).map_err(bad)?)),
        })
    }
}

/// A borrowed view used when writing `essence_parameters`.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum EssenceRef<'a> {
    Video(&'a VideoEssence),
    Audio(&'a AudioEssence),
    Image(&'a ImageEssence),
    Data(&'a DataEssence),
    Multi(&'a MultiEssence),
}

impl Essence {
    pub(crate) fn params(&self) -> Option<EssenceRef<'_>> {
        Some(match self {
            Essence::Video(v) => EssenceRef::Video(v),
            Essence::Audio(a) => EssenceRef::Audio(a),
            Essence::Image(i) => EssenceRef::Image(i),
            Essence::Data(d) => EssenceRef::Data(d),
            Essence::Multi(m) => EssenceRef::Multi(m.as_ref()?),
        })
    }
}

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// The spec's text for this value.
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }
        }
    };
}
pub(crate) use wire_enum;

wire_enum!(
    /// `interlace_mode`.
    InterlaceMode { Progressive = "progressive", InterlacedTff = "interlaced_tff", InterlacedBff = "interlaced_bff", InterlacedPsf = "interlaced_psf" }
);
wire_enum!(
    /// `colorspace`.
    Colorspace { Bt601 = "BT601", Bt709 = "BT709", Bt2020 = "BT2020", Bt2100 = "BT2100" }
);
wire_enum!(
    /// `transfer_characteristic`.
    TransferCharacteristic { Sdr = "SDR", Hlg = "HLG", Pq = "PQ" }
);
wire_enum!(
    /// `component_type`.
    ComponentType { YCbCr = "YCbCr", Rgb = "RGB" }
);
wire_enum!(
    /// Uncompressed picture packing, `unc_parameters.unc_type` of video.
    VideoUncType {
        Planar = "planar", Yuyv = "YUYV", Uyvy = "UYVY", Ayuv = "AYUV", V210 = "v210", V216 = "v216",
        Rgb = "RGB", Rgbx = "RGBx", Xrgb = "xRGB", Bgrx = "BGRx", Xbgr = "xBGR", Rgba = "RGBA",
        Argb = "ARGB", Bgra = "BGRA", Abgr = "ABGR", Alpha = "alpha",
    }
);
wire_enum!(
    /// Uncompressed multi-channel audio representation, `unc_parameters.unc_type` of audio.
    AudioUncType { Interleaved = "interleaved", Planar = "planar", Pairs = "pairs" }
);

/// Video `essence_parameters`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoEssence {
    pub frame_width: NonZeroU32,
    pub frame_height: NonZeroU32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bit_depth: Option<NonZeroU32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interlace_mode: Option<InterlaceMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colorspace: Option<Colorspace>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_characteristic: Option<TransferCharacteristic>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<Ratio>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_aspect_ratio: Option<Ratio>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_type: Option<ComponentType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horiz_chroma_subs: Option<NonZeroU32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vert_chroma_subs: Option<NonZeroU32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unc_parameters: Option<VideoUncParameters>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avc_parameters: Option<AvcParameters>,
    /// Set exactly when `vfr` is not `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_rate: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vfr: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_segments: Option<bool>,
}

impl VideoEssence {
    /// A fixed-rate video essence with only the required fields.
    pub fn new(
        frame_width: NonZeroU32,
        frame_height: NonZeroU32,
        frame_rate: Rate,
    ) -> VideoEssence {
        VideoEssence {
            frame_width,
            frame_height,
            bit_depth: None,
            interlace_mode: None,
            colorspace: None,
            transfer_characteristic: None,
            aspect_ratio: None,
            pixel_aspect_ratio: None,
            component_type: None,
            horiz_chroma_subs: None,
            vert_chroma_subs: None,
            unc_parameters: None,
            avc_parameters: None,
            frame_rate: Some(frame_rate),
            vfr: None,
            init_segments: None,
        }
    }

    /// The schema's rule: `frame_rate` is required unless `vfr` is `true`, and forbidden if it is.
    pub(crate) fn check(&self) -> Result<(), String> {
        match (self.vfr == Some(true), self.frame_rate.is_some()) {
            (false, false) => {
                Err("invalid essence_parameters for a video flow: `frame_rate` is required unless `vfr` is true".into())
            }
            (true, true) => {
                Err("invalid essence_parameters for a video flow: `frame_rate` must not be set when `vfr` is true".into())
            }
            _ => Ok(()),
        }
    }
}

/// Video `unc_parameters`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoUncParameters {
    pub unc_type: VideoUncType,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `avc_parameters`: the H.264 profile, level and flags bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AvcParameters {
    pub profile: i64,
    pub level: i64,
    pub flags: i64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Audio `essence_parameters`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioEssence {
    pub sample_rate: NonZeroU32,
    pub channels: NonZeroU32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bit_depth: Option<NonZeroU32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec_parameters: Option<AudioCodecParameters>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unc_parameters: Option<AudioUncParameters>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_segments: Option<bool>,
}

impl AudioEssence {
    pub fn new(sample_rate: NonZeroU32, channels: NonZeroU32) -> AudioEssence {
        AudioEssence {
            sample_rate,
            channels,
            bit_depth: None,
            codec_parameters: None,
            unc_parameters: None,
            init_segments: None,
        }
    }
}

/// Audio `codec_parameters`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioCodecParameters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coded_frame_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mp4_oti: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Audio `unc_parameters`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioUncParameters {
    pub unc_type: AudioUncType,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Image `essence_parameters`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageEssence {
    pub frame_width: NonZeroU32,
    pub frame_height: NonZeroU32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<Ratio>,
}

/// Data `essence_parameters`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataEssence {
    /// A URN such as `urn:x-tams:data:subtitle`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_segments: Option<bool>,
}

/// Multi-essence `essence_parameters`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiEssence {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_segments: Option<bool>,
}
