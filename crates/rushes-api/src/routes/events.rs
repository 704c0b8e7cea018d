//! `GET /x-rushes/events`: the store's events as Server-Sent Events (an extension; see
//! docs/EVENTS.md). Each message is one event with `id:` its outbox seq and `data:` the
//! body a webhook would receive; `Last-Event-ID` (or `last_event_id`) resumes after a seq.

use std::convert::Infallible;
use std::str::FromStr;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::{Extension, Router};
use futures::{Stream, StreamExt};
use rushes_core::ops::events::{EventFilter, EventShape, StreamItem, EVENT_STREAM_PATH};
use rushes_core::Principal;
use rushes_model::{EventType, FlowId, SourceId};

use super::segments::url_filter;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route(EVENT_STREAM_PATH, get(stream))
}

/// A list query parameter of ids or event types, each parsed, or a 400 naming it.
fn parsed_list<T>(q: &QueryParams, name: &str) -> Result<Option<Vec<T>>, ApiError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    q.list(name)
        .map(|items| {
            items
                .iter()
                .map(|s| {
                    s.trim().parse::<T>().map_err(|e| {
                        ApiError::bad_request(format!("invalid query parameter {name}: {s:?}: {e}"))
                    })
                })
                .collect::<Result<Vec<T>, ApiError>>()
        })
        .transpose()
}

fn event_types(q: &QueryParams) -> Result<Option<Vec<EventType>>, ApiError> {
    q.list("event_types")
        .map(|items| {
            items
                .iter()
                .map(|s| {
                    EventType::ALL
                        .into_iter()
                        .find(|t| t.as_str() == s.trim())
                        .ok_or_else(|| {
                            ApiError::bad_request(format!(
                                "invalid query parameter event_types: unknown event type {s:?}"
                            ))
                        })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
}

/// Where to resume: the `Last-Event-ID` header (sent by browsers on reconnection), else
/// the `last_event_id` query parameter.
fn resume_point(headers: &HeaderMap, q: &QueryParams) -> Result<Option<i64>, ApiError> {
    let header = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("!").to_owned());
    let raw = header.or_else(|| q.get("last_event_id").map(str::to_owned));
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => match v.parse::<i64>() {
            Ok(seq) if seq >= 0 => Ok(Some(seq)),
            _ => Err(ApiError::bad_request(format!(
                "invalid Last-Event-ID {v:?}: expected the seq of an event (a non-negative integer)"
            ))),
        },
    }
}

async fn stream(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    q: QueryParams,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let filter = EventFilter {
        event_types: event_types(&q)?,
        flow_ids: parsed_list::<FlowId>(&q, "flow_ids")?,
        source_ids: parsed_list::<SourceId>(&q, "source_ids")?,
        flow_collected_by_ids: parsed_list::<FlowId>(&q, "flow_collected_by_ids")?,
        source_collected_by_ids: parsed_list::<SourceId>(&q, "source_collected_by_ids")?,
        receiver_classes: None,
    };
    let shape = EventShape {
        urls: url_filter(&q)?,
        include_object_timerange: q.bool("include_object_timerange")?.unwrap_or(false),
    };
    let after = resume_point(&headers, &q)?;
    let heartbeat = state.store.settings().events.heartbeat;
    let events = state
        .store
        .event_stream(&principal, filter, shape, after)
        .map(|item| {
            let event = match item {
                Ok(StreamItem::Event(ev)) => Event::default()
                    .id(ev.seq.to_string())
                    .data(ev.body.to_string()),
                Ok(StreamItem::Gap(seq)) => Event::default()
                    .event("x-rushes-gap")
                    .id(seq.to_string())
                    .data(serde_json::json!({ "through_seq": seq }).to_string()),
                Err(e) => {
                    tracing::warn!(error = %e, "event stream failed");
                    Event::default()
                        .event("x-rushes-error")
                        .data(serde_json::json!({ "summary": e.to_string() }).to_string())
                }
            };
            Ok(event)
        });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(heartbeat).text("heartbeat")))
}
