//! Segments for HLS playlists: a flow's segments in a window, with one media URL each.
//!
//! [`Store::hls_segments`] reads a timerange (on demand) or the last `n` segments (a
//! live window, read in reverse order so that a growing flow is never scanned) in large
//! pages straight from the index, signs one URL per object, and counts the segments
//! before the window (the playlist's media sequence number).

use rushes_index::{SegmentPage, SegmentSelection};
use rushes_model::{FlowId, Segment};
use rushes_time::TimeRange;

use crate::ops::objects::{UrlBuilder, UrlFilter};
use crate::ops::segments::query_bounds;
use crate::{CoreError, Permission, Principal, Result, Store};

/// Rows read per index query when a playlist covers many segments.
const HLS_PAGE: u32 = 4096;

/// Which segments of a flow a playlist shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HlsWindow {
    /// Every segment overlapping the range (the whole flow: [`TimeRange::ETERNITY`]).
    Range(TimeRange),
    /// The last `n` segments of the flow (`n` > 0).
    Last(u32),
}

/// One segment as a playlist needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsSegment {
    /// Flow time, half-open `[start_ns, end_ns)`.
    pub start_ns: i64,
    pub end_ns: i64,
    pub object_id: String,
    /// The media URL chosen (a presigned one first); `None` when no instance has a URL
    /// that passed the filter.
    pub url: Option<String>,
    pub init_object_id: Option<String>,
    /// The init object's URL, chosen as `url`.
    pub init_url: Option<String>,
    /// Flow time minus the object's own time, in nanoseconds.
    pub ts_offset_ns: i64,
    /// The segment uses only part of its object (`sample_offset` or `sample_count` set).
    pub partial: bool,
}

/// The segments of a playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsSegments {
    /// In timeline order.
    pub segments: Vec<HlsSegment>,
    /// How many segments of the flow start before the first one (0 when none).
    pub sequence: u64,
}

impl Store {
    /// The segments of flow `flow_id` in `window`, with their media URLs (as `filter`
    /// selects them) and the number of segments before them. An unknown flow, or one the
    /// principal may not read, is `NotFound`.
    pub async fn hls_segments(
        &self,
        principal: &Principal,
        flow_id: &FlowId,
        window: HlsWindow,
        filter: &UrlFilter,
    ) -> Result<HlsSegments> {
        let not_found = || CoreError::NotFound(format!("flow {flow_id} does not exist"));
        let flow_text = flow_id.to_string();
        let (range, reverse, wanted) = match window {
            HlsWindow::Range(r) => (r, false, u64::MAX),
            HlsWindow::Last(n) => (TimeRange::ETERNITY, true, u64::from(n.max(1))),
        };
        let Some((lo, hi)) = query_bounds(range) else {
            // An empty range selects nothing; the flow must still exist.
            self.flow_checked(principal, *flow_id, Permission::Read)
                .await?;
            return Ok(HlsSegments {
                segments: Vec::new(),
                sequence: 0,
            });
        };
        let mut position: Option<i64> = None;
        let mut rows = Vec::new();
        let mut instances = Vec::new();
        let mut flow = None;
        loop {
            let left = wanted.saturating_sub(rows.len() as u64);
            let limit = u32::try_from(left.min(u64::from(HLS_PAGE))).unwrap_or(HLS_PAGE);
            let page = SegmentPage {
                selection: SegmentSelection {
                    lo,
                    hi,
                    covered: false,
                    object_id: None,
                },
                position,
                reverse,
                limit,
            };
            let checked = flow.is_none() && principal.is_class_limited();
            // Instances of the whole page in one statement: a playlist may hold 86,400
            // objects, and one statement per object would be most of its cost.
            let found = if filter.wants_none() {
                self.index
                    .flow_segment_page(&flow_text, &page, false, checked)
                    .await?
            } else {
                self.index
                    .flow_segment_page_bulk(&flow_text, &page, checked)
                    .await?
            }
            .ok_or_else(not_found)?;
            if let Some(classes) = &found.classes {
                self.check_classes(principal, classes, Permission::Read, not_found)?;
            }
            instances.extend(found.instances);
            if flow.is_none() {
                flow = Some(found.flow);
            }
            let mut page_rows = found.rows;
            let more = page_rows.len() > limit as usize;
            page_rows.truncate(limit as usize);
            position = page_rows.last().map(|r| {
                if reverse {
                    r.start_ns
                } else {
                    r.start_ns.saturating_add(1)
                }
            });
            rows.extend(page_rows);
            if !more || rows.len() as u64 >= wanted {
                break;
            }
        }
        if reverse {
            rows.reverse();
        }
        let Some(flow) = flow else {
            return Err(not_found());
        };
        // The flow's container is the content type of objects that record none.
        let mut urls = UrlBuilder::new(self, filter, flow.container.as_deref());
        urls.add(&instances).await?;
        let mut segments = Vec::with_capacity(rows.len());
        for r in rows {
            let seg: Segment = serde_json::from_str(&r.doc).map_err(|e| {
                CoreError::Internal(format!("stored segment of flow {flow_id} is damaged: {e}"))
            })?;
            let init_url = r
                .init_object_id
                .as_deref()
                .and_then(|i| urls.pick(i))
                .map(str::to_owned);
            segments.push(HlsSegment {
                start_ns: r.start_ns,
                end_ns: r.end_ns,
                url: urls.pick(&r.object_id).map(str::to_owned),
                object_id: r.object_id,
                init_object_id: r.init_object_id,
                init_url,
                ts_offset_ns: seg.ts_offset.map_or(0, |t| t.as_nanos()),
                partial: seg.sample_offset.is_some() || seg.sample_count.is_some(),
            });
        }
        let sequence = match segments.first() {
            Some(first) => self.index.segments_before(flow.pk, first.start_ns).await?,
            None => 0,
        };
        Ok(HlsSegments { segments, sequence })
    }
}
