//! Events out of the outbox: which events a webhook or stream selects ([`EventFilter`]),
//! the body each receives ([`Store::event_body`], `get_urls` signed at delivery), where
//! webhooks may point ([`TargetPolicy`]) and the live stream of [`Store::event_stream`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use futures::Stream;
use rushes_index::EventRow;
use rushes_model::{
    ErrorBody, EventStreamMechanism, EventType, FlowId, Segment, SourceId, StorageBackendId,
    Webhook, WebhookGet, WebhookStatus,
};
use serde_json::{Map, Value};

use crate::classes;
use crate::ops::objects::{UrlBuilder, UrlFilter};
use crate::{CoreError, Principal, Result, Store};

/// The extension path of the Server-Sent Events stream.
pub const EVENT_STREAM_PATH: &str = "/x-rushes/events";
/// Header carrying an event's stable id on webhook POSTs.
pub const EVENT_ID_HEADER: &str = "X-Rushes-Event-Id";
/// Header carrying an event's outbox sequence number on webhook POSTs.
pub const EVENT_SEQ_HEADER: &str = "X-Rushes-Event-Seq";
/// Header naming the webhook a POST is for.
pub const WEBHOOK_ID_HEADER: &str = "X-Rushes-Webhook-Id";

/// Settings of event delivery and retention.
#[derive(Debug, Clone)]
pub struct EventSettings {
    /// Whether this node runs the webhook delivery worker.
    pub deliver: bool,
    /// This node's name in delivery leases. Stable across restarts, so a node that
    /// crashed takes its leases back at once; distinct per node sharing an index.
    pub node_id: String,
    /// Time allowed to connect to a webhook.
    pub connect_timeout: Duration,
    /// Time allowed for a whole webhook request (connect, send, answer).
    pub request_timeout: Duration,
    /// First retry delay; doubled on each failure up to `retry_max`.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// How long an event may keep failing before the webhook goes to status `error`.
    pub give_up_after: Duration,
    /// Lease a node takes on a webhook's delivery; renewed while it works.
    pub lease: Duration,
    /// Fallback poll for new events and webhooks (commits wake the worker at once).
    pub poll_interval: Duration,
    /// Events older than this, delivered to every delivering webhook, are pruned.
    pub retention: Duration,
    /// Events deleted per pruning transaction.
    pub prune_batch: u32,
    /// Comment lines sent on idle event streams.
    pub heartbeat: Duration,
    /// Where webhooks may point.
    pub targets: TargetPolicy,
}

impl Default for EventSettings {
    fn default() -> EventSettings {
        EventSettings {
            deliver: true,
            node_id: "rushes".to_owned(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            retry_initial: Duration::from_millis(500),
            retry_max: Duration::from_secs(60),
            give_up_after: Duration::from_secs(24 * 3600),
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(5),
            retention: Duration::from_secs(24 * 3600),
            prune_batch: 1000,
            heartbeat: Duration::from_secs(15),
            targets: TargetPolicy::default(),
        }
    }
}

/// A network (`10.0.0.0/8`, `fd00::/8`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Parses `ip` or `ip/prefix`.
    pub fn parse(text: &str) -> Option<Network> {
        let (ip, prefix) = match text.split_once('/') {
            Some((ip, p)) => (ip, Some(p.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let addr: IpAddr = ip.trim_matches(['[', ']']).parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Network { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Host names of cloud metadata services, always refused.
const METADATA_HOSTS: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.azure.internal",
];

/// Networks always refused: cloud metadata addresses (AWS, GCP, Azure, OpenStack:
/// 169.254.169.254; AWS IPv6 fd00:ec2::254; ECS 169.254.170.2; Alibaba 100.100.100.200;
/// Oracle 192.0.0.192), the rest of link-local, and addresses that name no host.
fn always_denied() -> Vec<Network> {
    [
        "169.254.0.0/16",
        "fe80::/10",
        "fd00:ec2::254/128",
        "100.100.100.200/32",
        "192.0.0.192/32",
        "0.0.0.0/8",
        "::/128",
        "224.0.0.0/4",
        "ff00::/8",
        "255.255.255.255/32",
    ]
    .iter()
    .filter_map(|n| Network::parse(n))
    .collect()
}

/// Where webhooks may point. A target passes when its scheme is http or https, its host
/// and every address it resolves to are on no deny list (the built-in one of cloud
/// metadata and link-local addresses, then `deny`), and, when `allow` is not empty, the
/// host name or each address matches an entry of `allow`. Loopback is allowed unless
/// denied: a store and its tools on one machine is the default set-up.
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    pub allow_hosts: Vec<String>,
    pub allow_networks: Vec<Network>,
    pub deny_hosts: Vec<String>,
    pub deny_networks: Vec<Network>,
}

impl TargetPolicy {
    /// Builds a policy from entries that are networks (`10.0.0.0/8`, `::1`) or host names
    /// (`hooks.example`, `*.example`). An entry that is neither is an error.
    pub fn new(allow: &[String], deny: &[String]) -> std::result::Result<TargetPolicy, String> {
        let mut p = TargetPolicy::default();
        for (list, hosts, nets) in [
            (allow, &mut p.allow_hosts, &mut p.allow_networks),
            (deny, &mut p.deny_hosts, &mut p.deny_networks),
        ] {
            for entry in list {
                let e = entry.trim().to_ascii_lowercase();
                if let Some(n) = Network::parse(&e) {
                    nets.push(n);
                } else if !e.is_empty()
                    && e.trim_start_matches("*.")
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                {
                    hosts.push(e);
                } else {
                    return Err(format!("{entry:?} is neither a network nor a host name"));
                }
            }
        }
        Ok(p)
    }

    fn host_matches(list: &[String], host: &str) -> bool {
        list.iter().any(|h| match h.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => h == host,
        })
    }

    /// Checks a URL without resolving its host: scheme, host names, literal addresses.
    /// Returns the host and whether it is a literal address.
    pub fn check_url(&self, url: &str) -> std::result::Result<url::Url, String> {
        let parsed =
            url::Url::parse(url).map_err(|e| format!("{url:?} is not an absolute URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("{url:?} must be an http:// or https:// URL"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(format!(
                "{url:?} must not carry credentials; use api_key_name and api_key_value"
            ));
        }
        match parsed.host() {
            None => return Err(format!("{url:?} names no host")),
            Some(url::Host::Domain(d)) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                if METADATA_HOSTS.contains(&d.as_str()) || Self::host_matches(&self.deny_hosts, &d)
                {
                    return Err(format!("webhooks may not point at host {d}"));
                }
            }
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip), None)?,
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip), None)?,
        }
        Ok(parsed)
    }

    /// Checks one address the target's host (`host`, when it is a name) resolves to.
    pub fn check_ip(&self, ip: IpAddr, host: Option<&str>) -> std::result::Result<(), String> {
        let denied = always_denied().iter().any(|n| n.contains(ip))
            || self.deny_networks.iter().any(|n| n.contains(ip));
        if denied {
            return Err(format!("webhooks may not point at address {ip}"));
        }
        let allow_empty = self.allow_hosts.is_empty() && self.allow_networks.is_empty();
        let allowed = allow_empty
            || self.allow_networks.iter().any(|n| n.contains(ip))
            || host.is_some_and(|h| Self::host_matches(&self.allow_hosts, h));
        if allowed {
            Ok(())
        } else {
            Err(format!(
                "webhook address {ip} is not in the allowed hosts and networks"
            ))
        }
    }

    /// Checks a URL and, for a host name, every address it resolves to now. A name that
    /// does not resolve passes (delivery checks again, and retries).
    pub async fn check_target(&self, url: &str) -> std::result::Result<(), String> {
        let parsed = self.check_url(url)?;
        if let Some(url::Host::Domain(d)) = parsed.host() {
            let host = d.trim_end_matches('.').to_ascii_lowercase();
            let port = parsed.port_or_known_default().unwrap_or(80);
            let lookup = tokio::net::lookup_host((host.clone(), port));
            if let Ok(Ok(addrs)) = tokio::time::timeout(Duration::from_secs(2), lookup).await {
                for a in addrs {
                    self.check_ip(a.ip(), Some(&host))?;
                }
            }
        }
        Ok(())
    }
}

/// Which events a webhook or a stream receives (the spec's webhook filters).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    /// `None`: every type.
    pub event_types: Option<Vec<EventType>>,
    /// Flow and segment events of these flows only.
    pub flow_ids: Option<Vec<FlowId>>,
    /// Flow, segment and source events of these sources only.
    pub source_ids: Option<Vec<SourceId>>,
    /// Flow and segment events of flows collected by one of these (empty: by none).
    pub flow_collected_by_ids: Option<Vec<FlowId>>,
    /// Flow, segment and source events of sources collected by one of these (empty: by none).
    pub source_collected_by_ids: Option<Vec<SourceId>>,
    /// The auth classes the receiver holds (`None`: not limited); an event is sent only
    /// if its resource's classes at commit time allow it ([`classes::may_deliver`]).
    pub receiver_classes: Option<Vec<String>>,
}

impl EventFilter {
    /// The filter of a webhook registration.
    pub fn of_webhook(w: &Webhook) -> EventFilter {
        EventFilter {
            event_types: Some(w.events.clone()),
            flow_ids: w.flow_ids.clone(),
            source_ids: w.source_ids.clone(),
            flow_collected_by_ids: w.flow_collected_by_ids.clone(),
            source_collected_by_ids: w.source_collected_by_ids.clone(),
            receiver_classes: classes::webhook_classes(w),
        }
    }
}

/// How an event's `get_urls` and `object_timerange` are shaped (webhook options or the
/// stream's query parameters, as for `GET /flows/{id}/segments`).
#[derive(Debug, Clone, Default)]
pub struct EventShape {
    pub urls: UrlFilter,
    pub include_object_timerange: bool,
}

impl EventShape {
    /// The shape a webhook registration asks for.
    pub fn of_webhook(w: &Webhook) -> EventShape {
        EventShape {
            urls: UrlFilter {
                verbose: w.verbose_storage.unwrap_or(false),
                accept_labels: w.accept_get_urls.clone(),
                accept_storage_ids: w
                    .accept_storage_ids
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .collect::<Vec<StorageBackendId>>(),
                presigned: w.presigned,
                backend_tags: Vec::new(),
                backend_tag_exists: Vec::new(),
            },
            include_object_timerange: w.include_object_timerange.unwrap_or(false),
        }
    }
}

/// Collection lookups made while filtering, shared by the events of one batch.
#[derive(Debug, Default)]
pub struct FilterCache {
    flow_collected_by: HashMap<String, Vec<String>>,
    source_collected_by: HashMap<String, Vec<String>>,
}

/// One event ready to send: its ids and the body (`{event_timestamp, event_type, event}`).
#[derive(Debug, Clone)]
pub struct OutEvent {
    pub seq: i64,
    pub id: String,
    pub event_type: String,
    pub body: Value,
}

fn listed<T: std::fmt::Display>(list: &[T], id: &str) -> bool {
    list.iter().any(|x| x.to_string() == id)
}

fn collected_by_matches<T: std::fmt::Display>(wanted: &[T], by: &[String]) -> bool {
    if wanted.is_empty() {
        by.is_empty()
    } else {
        by.iter().any(|b| listed(wanted, b))
    }
}

impl Store {
    /// Whether `ev` passes `filter`. Collections are looked up now (through `cache`), so a
    /// deleted flow or source counts as collected by nothing.
    pub async fn event_matches(
        &self,
        filter: &EventFilter,
        ev: &EventRow,
        cache: &mut FilterCache,
    ) -> Result<bool> {
        let event_classes = classes::event_classes(ev.auth_classes.as_deref());
        if !classes::may_deliver(filter.receiver_classes.as_deref(), event_classes.as_deref()) {
            return Ok(false);
        }
        if let Some(types) = &filter.event_types {
            if !types.iter().any(|t| t.as_str() == ev.event_type) {
                return Ok(false);
            }
        }
        let about_flow = ev.event_type.starts_with("flows/");
        let flow = ev.flow_id.as_deref().unwrap_or("");
        let source = ev.source_id.as_deref().unwrap_or("");
        if about_flow {
            if let Some(ids) = &filter.flow_ids {
                if !listed(ids, flow) {
                    return Ok(false);
                }
            }
        }
        if let Some(ids) = &filter.source_ids {
            if !listed(ids, source) {
                return Ok(false);
            }
        }
        if about_flow {
            if let Some(wanted) = &filter.flow_collected_by_ids {
                if !cache.flow_collected_by.contains_key(flow) {
                    let by = self.index.flow_collected_by(flow).await?;
                    cache.flow_collected_by.insert(flow.to_owned(), by);
                }
                let by = cache
                    .flow_collected_by
                    .get(flow)
                    .map_or(&[][..], Vec::as_slice);
                if !collected_by_matches(wanted, by) {
                    return Ok(false);
                }
            }
        }
        if let Some(wanted) = &filter.source_collected_by_ids {
            if !cache.source_collected_by.contains_key(source) {
                let by = self.index.source_collected_by(source).await?;
                cache.source_collected_by.insert(source.to_owned(), by);
            }
            let by = cache
                .source_collected_by
                .get(source)
                .map_or(&[][..], Vec::as_slice);
            if !collected_by_matches(wanted, by) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The body of `ev` as the spec's webhook payload. For `flows/segments_added` the
    /// `get_urls` are built now, signed fresh, by the code that serves
    /// `GET /flows/{id}/segments`, and `object_timerange` is kept only if asked for.
    pub async fn event_body(&self, ev: &EventRow, shape: &EventShape) -> Result<OutEvent> {
        let mut payload: Value = serde_json::from_str(&ev.payload)
            .map_err(|e| CoreError::Internal(format!("stored event {} is damaged: {e}", ev.seq)))?;
        if ev.event_type == EventType::FlowsSegmentsAdded.as_str() {
            self.shape_segments(ev, &mut payload, shape).await?;
        }
        let mut body = Map::with_capacity(3);
        body.insert(
            "event_timestamp".into(),
            Value::String(ev.timestamp.clone()),
        );
        body.insert("event_type".into(), Value::String(ev.event_type.clone()));
        body.insert("event".into(), payload);
        Ok(OutEvent {
            seq: ev.seq,
            id: ev.id.clone(),
            event_type: ev.event_type.clone(),
            body: Value::Object(body),
        })
    }

    async fn shape_segments(
        &self,
        ev: &EventRow,
        payload: &mut Value,
        shape: &EventShape,
    ) -> Result<()> {
        let Some(list) = payload.get_mut("segments").and_then(Value::as_array_mut) else {
            return Ok(());
        };
        let mut segments = Vec::with_capacity(list.len());
        for v in list.iter() {
            let seg: Segment = serde_json::from_value(v.clone()).map_err(|e| {
                CoreError::Internal(format!("stored event {} is damaged: {e}", ev.seq))
            })?;
            segments.push(seg);
        }
        let container = match (&ev.flow_id, shape.urls.wants_none()) {
            (Some(f), false) => self.index.segment_flow(f).await?.and_then(|f| f.container),
            _ => None,
        };
        let mut urls = UrlBuilder::new(self, &shape.urls, container.as_deref());
        let ids: Vec<&str> = segments
            .iter()
            .flat_map(|s| {
                std::iter::once(s.object_id.as_str())
                    .chain(s.init_object.as_ref().map(|i| i.object_id.as_str()))
            })
            .collect();
        urls.load(&ids).await?;
        let mut out = Vec::with_capacity(segments.len());
        for mut seg in segments {
            if !shape.include_object_timerange {
                seg.object_timerange = None;
            }
            seg.get_urls = urls.get(seg.object_id.as_str());
            if let Some(init) = &mut seg.init_object {
                init.get_urls = urls.get(init.object_id.as_str());
            }
            out.push(serde_json::to_value(&seg).map_err(|e| CoreError::Internal(e.to_string()))?);
        }
        *list = out;
        Ok(())
    }

    /// Checks a webhook URL at registration: a 400 unless [`TargetPolicy`] allows it.
    pub async fn check_webhook_target(&self, url: &str) -> Result<()> {
        self.settings
            .events
            .targets
            .check_target(url)
            .await
            .map_err(|e| CoreError::BadRequest(format!("webhook url refused: {e}")))
    }

    /// `w` with the error that put it in status `error`, if any (recorded by delivery).
    pub(crate) async fn with_delivery_error(&self, mut w: WebhookGet) -> Result<WebhookGet> {
        if w.status == WebhookStatus::Error {
            if let Some(text) = self.index.webhook_error(&w.id.to_string()).await? {
                w.error = serde_json::from_str::<ErrorBody>(&text).ok();
            }
        }
        Ok(w)
    }

    /// [`Store::with_delivery_error`] of each of `items`.
    pub(crate) async fn with_delivery_errors(
        &self,
        items: Vec<WebhookGet>,
    ) -> Result<Vec<WebhookGet>> {
        let mut out = Vec::with_capacity(items.len());
        for w in items {
            out.push(self.with_delivery_error(w).await?);
        }
        Ok(out)
    }

    /// The event streams this store offers (`/service`'s `event_stream_mechanisms`).
    pub fn event_stream_mechanisms(&self) -> Vec<EventStreamMechanism> {
        let mut sse = Map::new();
        sse.insert("path".into(), Value::String(EVENT_STREAM_PATH.into()));
        sse.insert(
            "query_parameters".into(),
            serde_json::json!([
                "event_types",
                "flow_ids",
                "source_ids",
                "flow_collected_by_ids",
                "source_collected_by_ids",
                "accept_get_urls",
                "accept_storage_ids",
                "presigned",
                "verbose_storage",
                "include_object_timerange"
            ]),
        );
        sse.insert(
            "resume_header".into(),
            Value::String("Last-Event-ID".into()),
        );
        vec![
            EventStreamMechanism {
                name: "webhooks".to_owned(),
                docs: Some("https://github.com/bbc/tams (webhooks); docs/EVENTS.md".to_owned()),
                config: None,
                extra: Map::new(),
            },
            EventStreamMechanism {
                name: "urn:x-rushes:event-stream:sse".to_owned(),
                docs: Some("docs/EVENTS.md".to_owned()),
                config: Some(sse),
                extra: Map::new(),
            },
        ]
    }

    /// The live stream of events after `after` (the outbox head when `None`) that pass
    /// `filter`, shaped by `shape`: first what the outbox holds, then each commit as it
    /// happens, without gaps. A [`StreamItem::Gap`] says that events after the resume
    /// point were pruned before they could be sent (it was older than the retention).
    ///
    /// Events are limited to those `principal`'s auth classes may read (the stream
    /// replaces `filter.receiver_classes` with them).
    pub fn event_stream(
        self: &std::sync::Arc<Self>,
        principal: &Principal,
        mut filter: EventFilter,
        shape: EventShape,
        after: Option<i64>,
    ) -> impl Stream<Item = Result<StreamItem>> + Send + 'static {
        filter.receiver_classes = classes::principal_classes(principal).map(<[String]>::to_vec);
        let mut head = self.index.committed_events();
        let cursor = after.unwrap_or_else(|| *head.borrow_and_update());
        let state = StreamState {
            store: self.clone(),
            filter,
            shape,
            head,
            cursor,
            pending: Vec::new().into_iter(),
            failed: false,
        };
        futures::stream::unfold(state, |mut st| async move {
            if st.failed {
                return None;
            }
            loop {
                if let Some(item) = st.pending.next() {
                    return Some((Ok(item), st));
                }
                let batch = match next_batch(&st.store, &st.filter, &st.shape, st.cursor).await {
                    Ok(b) => b,
                    Err(e) => {
                        st.failed = true;
                        return Some((Err(e), st));
                    }
                };
                if let Some(last) = batch.last_seq {
                    st.cursor = last;
                    st.pending = batch.items.into_iter();
                    continue;
                }
                // Nothing new: wait for the next commit that wrote events.
                if *st.head.borrow_and_update() > st.cursor {
                    continue;
                }
                if st.head.changed().await.is_err() {
                    return None;
                }
            }
        })
    }
}

struct StreamState {
    store: std::sync::Arc<Store>,
    filter: EventFilter,
    shape: EventShape,
    head: tokio::sync::watch::Receiver<i64>,
    cursor: i64,
    pending: std::vec::IntoIter<StreamItem>,
    failed: bool,
}

/// What the event stream yields.
#[derive(Debug, Clone)]
pub enum StreamItem {
    Event(OutEvent),
    /// Events after the resume point, up to and including this seq, are no longer held.
    Gap(i64),
}

struct Batch {
    items: Vec<StreamItem>,
    last_seq: Option<i64>,
}

/// Events read per query by streams and delivery.
pub(crate) const READ_BATCH: u32 = 256;

async fn next_batch(
    store: &Store,
    filter: &EventFilter,
    shape: &EventShape,
    cursor: i64,
) -> Result<Batch> {
    let rows = store.index.events_after(cursor, READ_BATCH).await?;
    let mut items = Vec::new();
    if let Some(first) = rows.first() {
        if first.seq > cursor + 1 && store.index.oldest_event().await? == Some(first.seq) {
            // Anything between was pruned (or belonged to rolled-back writes, which the
            // outbox never held): only a resume point before the oldest event is a gap.
            if cursor > 0 {
                items.push(StreamItem::Gap(first.seq - 1));
            }
        }
    }
    let mut cache = FilterCache::default();
    for ev in &rows {
        if store.event_matches(filter, ev, &mut cache).await? {
            items.push(StreamItem::Event(store.event_body(ev, shape).await?));
        }
    }
    Ok(Batch {
        items,
        last_seq: rows.last().map(|r| r.seq),
    })
}
