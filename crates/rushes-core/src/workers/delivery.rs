//! Webhook delivery: the outbox, read in seq order, POSTed to each registered webhook.
//!
//! One dispatcher per node finds the webhooks that deliver (status `created` or
//! `started`), claims each under a lease (`webhook_delivery.lease_owner/lease_until_ms`, so
//! several nodes can share the work) and runs one task per claimed webhook. A task reads
//! the events after its webhook's cursor, keeps those its filters select, and POSTs them
//! one at a time, in order; the cursor moves only after a 2xx answer, so delivery is at
//! least once and survives a crash. Cursors are kept in memory and written lazily (every
//! 500 ms, all webhooks in one index write, and as a task stops); a failure, a cleared
//! retry state and a first delivery write at once. A failure is retried with exponential
//! backoff (capped); an event that keeps failing for `give_up_after` puts the webhook in
//! status `error` with the reason. A task wakes as soon as a commit writes an event its
//! webhook selects, with a periodic poll as a fallback (which also renews its lease).
//! Each webhook has its own task and cursor, so a slow or dead receiver delays nobody
//! else, and never the writes.
//!
//! The tasks share one [`Hub`]: the outbox is read once per batch for all of them (a
//! window of recent events in memory), each event's body is built and serialised once per
//! shape (the `get_urls` options), and all POSTs go through one HTTP client whose
//! keep-alive connections are reused. So N webhooks asking for the same shape cost one
//! set of index reads and one signing per event, plus N small POSTs. One router follows
//! the commits (the index's `committed_events`): it reads each new batch once (into the
//! window), matches it against every task's filter and wakes only the tasks with at least
//! one event to deliver; the others sleep, and their cursors pass the skipped events at
//! their next round.
//!
//! The dispatcher also prunes the outbox: events older than the retention that every
//! delivering webhook has had.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rushes_index::{DeliveryRow, EventRow};
use rushes_model::{ErrorBody, WebhookPut};
use tokio::sync::{watch, Notify, OnceCell};
use tokio::task::JoinHandle;

use crate::ops::events::{
    EventFilter, EventSettings, EventShape, FilterCache, TargetPolicy, EVENT_ID_HEADER,
    EVENT_SEQ_HEADER, READ_BATCH, WEBHOOK_ID_HEADER,
};
use crate::{now_ms, now_rfc3339, CoreError, Result, Store};

/// Longest answer body read from a receiver (the rest is dropped).
const MAX_ANSWER: usize = 64 * 1024;
/// Most events the shared window keeps in memory.
const WINDOW_EVENTS: usize = 4 * READ_BATCH as usize;
/// Most built bodies kept (each event times each shape asked for).
const MAX_BODIES: usize = 8192;
/// How long a built body is reused: its signed `get_urls` must stay fresh, and a
/// retried event is rebuilt after this.
const BODY_TTL: Duration = Duration::from_secs(30);

/// How often the cursors that moved in memory are written to the index: one write for
/// every webhook of the node.
const CURSOR_FLUSH: Duration = Duration::from_millis(500);

/// How old a read of the webhooks' state may be when a round starts. A round already
/// works from the state read at its start, so this only widens that by a little, and
/// tasks that wake for a commit share one read.
const STATE_FRESH: Duration = Duration::from_millis(25);

/// Least time between two looks for webhooks to claim (commits wake the dispatcher).
const DISPATCH_EVERY: Duration = Duration::from_millis(100);

/// A body ready to POST: the JSON text, built and serialised once per event and shape.
struct Prepared {
    seq: i64,
    id: String,
    json: bytes::Bytes,
}

/// A body being built (or built) once for every task that wants it.
type BodyCell = Arc<OnceCell<Arc<Prepared>>>;

/// What the delivery tasks of a node share: recent outbox events and built bodies.
#[derive(Default)]
struct Hub {
    /// Serialises outbox reads, so tasks at the same cursor make one read.
    reading: tokio::sync::Mutex<()>,
    window: Mutex<Window>,
    bodies: Mutex<BTreeMap<(i64, String), (Instant, BodyCell)>>,
    /// Cursors moved in memory and not yet written: webhook pk to (lease owner, seq).
    cursors: Mutex<HashMap<i64, (String, i64)>>,
    /// The delivering webhooks with their state, as last read (and when that read began).
    deliveries: tokio::sync::Mutex<Option<(Instant, Deliveries)>>,
    /// The running tasks, by webhook pk, as the router sees them.
    slots: Mutex<HashMap<i64, Slot>>,
}

/// What a task is doing, as the router sees it ([`Slot::state`]).
const BUSY: u8 = 0;
/// Asleep until a wake-up or the poll.
const WAITING: u8 = 1;
/// Asleep until its next retry; a wake-up would change nothing.
const BACKOFF: u8 = 2;

/// A running task as the router sees it: how to wake it and what its webhook selects.
struct Slot {
    wake: Arc<Notify>,
    /// [`BUSY`], [`WAITING`] or [`BACKOFF`].
    state: Arc<AtomicU8>,
    /// `None` until the task has parsed its registration: woken for every batch.
    parsed: Option<Arc<Parsed>>,
}

/// The delivering webhooks (status `created` or `started`) by pk, as read at one time.
type Deliveries = Arc<HashMap<i64, DeliveryRow>>;

/// Every outbox event with seq in `(from, through]` (the outbox may have holes).
#[derive(Default)]
struct Window {
    from: i64,
    through: i64,
    events: BTreeMap<i64, Arc<EventRow>>,
}

impl Window {
    /// Up to a batch of events after `after`, if the window holds all of them up to `head`.
    fn after(&self, after: i64, head: i64) -> Option<Vec<Arc<EventRow>>> {
        if after < self.from || after > self.through || self.through < head {
            return None;
        }
        Some(
            self.events
                .range(after + 1..)
                .take(READ_BATCH as usize)
                .map(|(_, e)| e.clone())
                .collect(),
        )
    }

    /// Adds `rows`, read as every event in `(after, through]`.
    fn add(&mut self, after: i64, through: i64, rows: &[Arc<EventRow>]) {
        let overlaps = after <= self.through && through >= self.from;
        if overlaps {
            self.from = self.from.min(after);
            self.through = self.through.max(through);
        } else if through > self.through {
            self.events.clear();
            self.from = after;
            self.through = through;
        } else {
            // An older stretch that does not join the window: not worth keeping.
            return;
        }
        for r in rows {
            self.events.insert(r.seq, r.clone());
        }
        while self.events.len() > WINDOW_EVENTS {
            if let Some((seq, _)) = self.events.pop_first() {
                self.from = seq;
            }
        }
    }
}

impl Hub {
    /// Up to [`READ_BATCH`] events after `after`, from memory when the window covers
    /// them and the outbox head has not moved past it; otherwise read once for everyone.
    async fn events_after(
        &self,
        store: &Store,
        after: i64,
        head: i64,
    ) -> Result<Vec<Arc<EventRow>>> {
        if let Some(rows) = self.window().after(after, head) {
            return Ok(rows);
        }
        let _one = self.reading.lock().await;
        if let Some(rows) = self.window().after(after, head) {
            return Ok(rows);
        }
        // Everything committed by `seen` is in the outbox when read after it.
        let seen = *store.index.committed_events().borrow();
        let rows: Vec<Arc<EventRow>> = store
            .index
            .events_after(after, READ_BATCH)
            .await?
            .into_iter()
            .map(Arc::new)
            .collect();
        let last = rows.last().map_or(after, |r| r.seq);
        let through = if rows.len() < READ_BATCH as usize {
            last.max(seen)
        } else {
            last
        };
        self.window().add(after, through, &rows);
        Ok(rows)
    }

    /// The delivering webhooks, from a read that began at most [`STATE_FRESH`] before
    /// now: tasks that wake together for a commit share one read.
    async fn deliveries(&self, store: &Store) -> Result<Deliveries> {
        let asked = Instant::now();
        let mut last = self.deliveries.lock().await;
        if let Some((at, rows)) = last.as_ref() {
            if asked.saturating_duration_since(*at) <= STATE_FRESH {
                return Ok(rows.clone());
            }
        }
        let at = Instant::now();
        let rows: Deliveries = Arc::new(
            store
                .index
                .active_deliveries()
                .await?
                .into_iter()
                .map(|r| (r.pk, r))
                .collect(),
        );
        *last = Some((at, rows.clone()));
        Ok(rows)
    }

    /// Notes that webhook `pk` (leased by `owner`) has had every event through `seq`;
    /// the next [`Hub::flush`] writes it.
    fn note_cursor(&self, pk: i64, owner: &str, seq: i64) {
        let mut cursors = self.cursors.lock().unwrap_or_else(|p| p.into_inner());
        let entry = cursors.entry(pk).or_insert_with(|| (owner.to_owned(), seq));
        if entry.1 <= seq {
            *entry = (owner.to_owned(), seq);
        }
    }

    /// Writes every cursor noted since the last flush, in one index write. A cursor the
    /// index already has (or that a failure record wrote meanwhile) is left as it is.
    async fn flush(&self, store: &Store) -> Result<()> {
        let taken: Vec<(i64, String, i64)> = {
            let mut cursors = self.cursors.lock().unwrap_or_else(|p| p.into_inner());
            cursors
                .drain()
                .map(|(pk, (owner, seq))| (pk, owner, seq))
                .collect()
        };
        if taken.is_empty() {
            return Ok(());
        }
        let again = taken.clone();
        let written = store
            .index
            .write(move |tx| tx.advance_cursors(&taken))
            .await;
        if let Err(e) = written {
            // Keep them for the next flush (a newer note wins).
            for (pk, owner, seq) in again {
                self.note_cursor(pk, &owner, seq);
            }
            return Err(e.into());
        }
        Ok(())
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes every task (when routing failed, each finds its own events).
    fn wake_all(&self) {
        for slot in self.slots().values() {
            slot.wake.notify_one();
        }
    }

    /// Routes the events after `after` (up to a batch, committed by `head`): reads them
    /// once, into the window, and wakes each task whose webhook selects at least one of
    /// them, or whose registration changed or is not parsed yet. Returns the seq routed
    /// through.
    async fn route(&self, store: &Store, after: i64, head: i64) -> Result<i64> {
        let mut slots: Vec<(i64, Arc<Notify>, Option<Arc<Parsed>>)> = Vec::new();
        for (pk, s) in self.slots().iter() {
            match s.state.load(Ordering::SeqCst) {
                // It reads past these events by itself at its next round.
                BACKOFF => {}
                WAITING => slots.push((*pk, s.wake.clone(), s.parsed.clone())),
                // Busy: it looks again after this round (the permit is kept).
                _ => s.wake.notify_one(),
            }
        }
        if slots.is_empty() {
            // No task is waiting for a wake-up: nothing to read.
            return Ok(head);
        }
        let rows = self.events_after(store, after, head).await?;
        let through = match rows.last() {
            Some(last) if rows.len() >= READ_BATCH as usize => last.seq,
            Some(last) => last.seq.max(head),
            None => head,
        };
        if rows.is_empty() {
            return Ok(through);
        }
        let state = if slots.iter().any(|(_, _, p)| p.is_some()) {
            Some(self.deliveries(store).await?)
        } else {
            None
        };
        let mut cache = FilterCache::default();
        for (pk, wake, parsed) in slots {
            let wanted = match (parsed, &state) {
                (Some(p), Some(state)) => {
                    // A registration changed (or the webhook stopped delivering): the
                    // task looks again.
                    if state.get(&pk).is_none_or(|r| r.doc != p.doc) {
                        true
                    } else {
                        let mut any = false;
                        for ev in &rows {
                            if store.event_matches(&p.filter, ev, &mut cache).await? {
                                any = true;
                                break;
                            }
                        }
                        any
                    }
                }
                _ => true,
            };
            if wanted {
                wake.notify_one();
            }
        }
        Ok(through)
    }

    fn window(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The body of `ev` shaped by `shape` (whose key is `key`), built once for every
    /// task that asks within [`BODY_TTL`].
    async fn body(
        &self,
        store: &Store,
        ev: &EventRow,
        shape: &EventShape,
        key: &str,
    ) -> Result<Arc<Prepared>> {
        let cell = {
            let mut bodies = self.bodies.lock().unwrap_or_else(|p| p.into_inner());
            let k = (ev.seq, key.to_owned());
            let fresh = bodies
                .get(&k)
                .filter(|(at, _)| at.elapsed() < BODY_TTL)
                .map(|(_, c)| c.clone());
            match fresh {
                Some(c) => c,
                None => {
                    let c = Arc::new(OnceCell::new());
                    bodies.insert(k, (Instant::now(), c.clone()));
                    while bodies.len() > MAX_BODIES {
                        bodies.pop_first();
                    }
                    c
                }
            }
        };
        let built = cell
            .get_or_try_init(|| async {
                let out = store.event_body(ev, shape).await?;
                let json = serde_json::to_vec(&out.body)
                    .map_err(|e| CoreError::Internal(e.to_string()))?;
                Ok::<_, CoreError>(Arc::new(Prepared {
                    seq: out.seq,
                    id: out.id,
                    json: json.into(),
                }))
            })
            .await?;
        Ok(built.clone())
    }
}

/// Runs the delivery dispatcher until `shutdown` turns true.
pub async fn run(store: Arc<Store>, mut shutdown: watch::Receiver<bool>) {
    let settings = store.settings.events.clone();
    if !settings.deliver {
        return;
    }
    let client = match client(&settings) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook HTTP client; no delivery");
            return;
        }
    };
    let owner = settings.node_id.clone();
    let hub = Arc::new(Hub::default());
    let mut head = store.index.committed_events();
    let mut tasks: HashMap<i64, JoinHandle<()>> = HashMap::new();
    let mut last_prune: Option<Instant> = None;
    let flusher = tokio::spawn(flush_cursors(store.clone(), hub.clone(), shutdown.clone()));
    let router = tokio::spawn(route_commits(store.clone(), hub.clone(), shutdown.clone()));
    loop {
        if *shutdown.borrow() {
            break;
        }
        tasks.retain(|_, t| !t.is_finished());
        if let Err(e) = dispatch(&store, &hub, &client, &owner, &shutdown, &mut tasks).await {
            tracing::warn!(error = %e, "webhook dispatch failed; retrying");
        }
        if last_prune.is_none_or(|t| t.elapsed() >= settings.poll_interval) {
            last_prune = Some(Instant::now());
            if let Err(e) = prune(&store, &settings).await {
                tracing::warn!(error = %e, "outbox pruning failed; retrying later");
            }
        }
        // A webhook's task may start a little after its first commit: its events wait in
        // the outbox, from the cursor set at registration.
        let dispatched = Instant::now();
        tokio::select! {
            _ = tokio::time::sleep_until((dispatched + DISPATCH_EVERY).into()) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            break;
        }
        tokio::select! {
            changed = head.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            _ = tokio::time::sleep(settings.poll_interval) => {}
            _ = shutdown.changed() => {}
        }
    }
    for (_, t) in tasks {
        let _ = t.await;
    }
    let _ = flusher.await;
    let _ = router.await;
    if let Err(e) = hub.flush(&store).await {
        tracing::warn!(error = %e, "webhook cursors not written at shutdown");
    }
}

/// Writes the cursors the tasks moved in memory every [`CURSOR_FLUSH`], until shutdown.
async fn flush_cursors(store: Arc<Store>, hub: Arc<Hub>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(CURSOR_FLUSH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if *shutdown.borrow() {
            break;
        }
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => {}
        }
        if let Err(e) = hub.flush(&store).await {
            tracing::warn!(error = %e, "webhook cursors not written; retrying");
        }
    }
}

/// Follows the commits that write events and routes each new batch to the tasks that
/// have something to deliver in it, until shutdown.
async fn route_commits(store: Arc<Store>, hub: Arc<Hub>, mut shutdown: watch::Receiver<bool>) {
    let mut head = store.index.committed_events();
    // A task routes nothing before its first round, which reads from its own cursor.
    let mut routed = *head.borrow_and_update();
    loop {
        if *shutdown.borrow() {
            break;
        }
        tokio::select! {
            changed = head.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            break;
        }
        let target = *head.borrow_and_update();
        while routed < target {
            match hub.route(&store, routed, target).await {
                // Always past `routed`: a full batch ends at its last event.
                Ok(through) => routed = through,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook event routing failed; waking every task");
                    hub.wake_all();
                    routed = target;
                }
            }
        }
    }
}

/// Starts a task for each delivering webhook this node can claim and does not run yet.
async fn dispatch(
    store: &Arc<Store>,
    hub: &Arc<Hub>,
    client: &reqwest::Client,
    owner: &str,
    shutdown: &watch::Receiver<bool>,
    tasks: &mut HashMap<i64, JoinHandle<()>>,
) -> Result<()> {
    let rows = hub.deliveries(store).await?;
    let now = now_ms();
    for row in rows.values() {
        if tasks.contains_key(&row.pk) {
            continue;
        }
        let held_elsewhere = row.lease_owner.as_deref().is_some_and(|o| o != owner)
            && row.lease_until_ms.is_some_and(|u| u >= now);
        if held_elsewhere {
            continue;
        }
        let until = now + lease_ms(&store.settings.events);
        let (pk, me) = (row.pk, owner.to_owned());
        if !store
            .index
            .write(move |tx| tx.claim_delivery(pk, &me, now, until))
            .await?
        {
            continue;
        }
        let wake = Arc::new(Notify::new());
        let state = Arc::new(AtomicU8::new(BUSY));
        hub.slots().insert(
            row.pk,
            Slot {
                wake: wake.clone(),
                state: state.clone(),
                parsed: None,
            },
        );
        let task = WebhookTask {
            store: store.clone(),
            hub: hub.clone(),
            wake,
            state,
            client: client.clone(),
            owner: owner.to_owned(),
            pk: row.pk,
            shutdown: shutdown.clone(),
            head: store.index.committed_events(),
            renewed: Instant::now(),
            cursor: row.cursor_seq,
            parsed: None,
        };
        tasks.insert(row.pk, tokio::spawn(task.run()));
    }
    Ok(())
}

fn lease_ms(s: &EventSettings) -> i64 {
    i64::try_from(s.lease.as_millis()).unwrap_or(i64::MAX)
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The HTTP client of deliveries: no redirects, timeouts, and a resolver that connects
/// only to addresses the target policy allows (so a name cannot be re-pointed at a
/// forbidden address after registration).
fn client(s: &EventSettings) -> std::result::Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(s.connect_timeout)
        .timeout(s.request_timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("rushes/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(CheckedResolver(s.targets.clone())))
        .build()
}

struct CheckedResolver(TargetPolicy);

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_ascii_lowercase();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match policy.check_ip(a.ip(), Some(&host)) {
                    Ok(()) => true,
                    Err(e) => {
                        refused = Some(e);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = refused.unwrap_or_else(|| format!("{host} has no address"));
                return Err(why.into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The delivery of one webhook on this node, while it holds the lease.
struct WebhookTask {
    store: Arc<Store>,
    hub: Arc<Hub>,
    /// Woken by the router when a commit writes an event this webhook selects.
    wake: Arc<Notify>,
    /// What the task is doing, for the router.
    state: Arc<AtomicU8>,
    client: reqwest::Client,
    owner: String,
    pk: i64,
    shutdown: watch::Receiver<bool>,
    head: watch::Receiver<i64>,
    renewed: Instant,
    /// Seq of the last event delivered or passed over; ahead of the stored cursor
    /// until the next flush.
    cursor: i64,
    /// The registration as last parsed, kept while the stored document is the same.
    parsed: Option<Arc<Parsed>>,
}

/// A webhook registration parsed, with its filter and body shape.
struct Parsed {
    doc: String,
    registration: WebhookPut,
    filter: EventFilter,
    shape: EventShape,
    /// `shape` as the key of built bodies.
    key: String,
}

/// What one round of a task did.
enum Round {
    /// Keep going at once.
    Again,
    /// Nothing to do before this long (or a wake-up).
    Wait(Duration),
    /// A retry is due in this long: nothing before then.
    Retry(Duration),
    /// Stop: the webhook no longer delivers here.
    Stop,
}

impl WebhookTask {
    async fn run(mut self) {
        loop {
            if *self.shutdown.borrow() {
                break;
            }
            let round = match self.round().await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(webhook = self.pk, error = %e, "webhook delivery round failed");
                    Round::Wait(Duration::from_secs(1))
                }
            };
            match round {
                Round::Again => {}
                Round::Stop => break,
                Round::Wait(d) => {
                    let settings = &self.store.settings.events;
                    let d = d.min(settings.poll_interval).min(settings.lease / 3);
                    self.state.store(WAITING, Ordering::SeqCst);
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(d) => {}
                        _ = self.shutdown.changed() => {}
                    }
                    self.state.store(BUSY, Ordering::SeqCst);
                }
                Round::Retry(d) => {
                    // The next round reads every event after the cursor, so commits
                    // meanwhile need not wake it.
                    let settings = &self.store.settings.events;
                    let d = d.min(settings.poll_interval).min(settings.lease / 3);
                    self.state.store(BACKOFF, Ordering::SeqCst);
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = self.shutdown.changed() => {}
                    }
                    self.state.store(BUSY, Ordering::SeqCst);
                }
            }
        }
        let (pk, owner, cursor) = (self.pk, self.owner.clone(), self.cursor);
        let _ = self
            .store
            .index
            .write(move |tx| {
                tx.advance_cursors(&[(pk, owner.clone(), cursor)])?;
                tx.release_delivery(pk, &owner)
            })
            .await;
        let mut slots = self.hub.slots();
        if slots
            .get(&self.pk)
            .is_some_and(|s| Arc::ptr_eq(&s.wake, &self.wake))
        {
            slots.remove(&self.pk);
        }
    }

    /// Renews the lease when a third of it has passed; false when it was lost.
    async fn renew(&mut self) -> Result<bool> {
        let settings = &self.store.settings.events;
        if self.renewed.elapsed() < settings.lease / 3 {
            return Ok(true);
        }
        let now = now_ms();
        let until = now + lease_ms(settings);
        let (pk, owner) = (self.pk, self.owner.clone());
        let kept = self
            .store
            .index
            .write(move |tx| tx.claim_delivery(pk, &owner, now, until))
            .await?;
        self.renewed = Instant::now();
        Ok(kept)
    }

    async fn round(&mut self) -> Result<Round> {
        let settings = self.store.settings.events.clone();
        let rows = self.hub.deliveries(&self.store).await?;
        let Some(row) = rows.get(&self.pk).cloned() else {
            return Ok(Round::Stop);
        };
        // The state may have been read just before this task claimed the lease (no owner
        // then); another owner means the lease was lost.
        if !matches!(row.status.as_str(), "created" | "started")
            || row.lease_owner.as_deref().is_some_and(|o| o != self.owner)
        {
            return Ok(Round::Stop);
        }
        if !self.renew().await? {
            return Ok(Round::Stop);
        }
        let now = now_ms();
        if row.next_attempt_ms > now {
            let wait = u64::try_from(row.next_attempt_ms - now).unwrap_or(0);
            return Ok(Round::Retry(Duration::from_millis(wait)));
        }
        // Another node may have moved the stored cursor while it held the lease.
        self.cursor = self.cursor.max(row.cursor_seq);
        let start = self.cursor;
        let head = *self.head.borrow_and_update();
        let events = self.hub.events_after(&self.store, start, head).await?;
        if events.is_empty() {
            return Ok(Round::Wait(settings.poll_interval));
        }
        let parsed = match self.parsed.as_ref().filter(|p| p.doc == row.doc) {
            Some(p) => p.clone(),
            None => match serde_json::from_str::<WebhookPut>(&row.doc) {
                Ok(registration) => {
                    let shape = EventShape::of_webhook(&registration.webhook);
                    let p = Arc::new(Parsed {
                        doc: row.doc.clone(),
                        filter: EventFilter::of_webhook(&registration.webhook),
                        key: format!("{shape:?}"),
                        shape,
                        registration,
                    });
                    self.parsed = Some(p.clone());
                    if let Some(slot) = self.hub.slots().get_mut(&self.pk) {
                        if Arc::ptr_eq(&slot.wake, &self.wake) {
                            slot.parsed = Some(p.clone());
                        }
                    }
                    p
                }
                Err(e) => {
                    let why = format!("the stored registration cannot be read: {e}");
                    self.fail(&why).await?;
                    return Ok(Round::Stop);
                }
            },
        };
        let (cursor, delivered, failure) = self.deliver(&row, start, &parsed, &events).await?;
        self.record(&row, start, cursor, delivered, failure).await
    }

    /// POSTs the events `registration` selects, in order, until one fails. Returns the
    /// new cursor, whether anything was delivered, and the failure, if any.
    async fn deliver(
        &mut self,
        row: &DeliveryRow,
        start: i64,
        parsed: &Parsed,
        events: &[Arc<EventRow>],
    ) -> Result<(i64, bool, Option<String>)> {
        let (registration, filter, shape) = (&parsed.registration, &parsed.filter, &parsed.shape);
        let key = &parsed.key;
        let mut cache = FilterCache::default();
        let mut cursor = start;
        let mut delivered = false;
        for ev in events {
            if *self.shutdown.borrow() {
                break;
            }
            if !self.store.event_matches(filter, ev, &mut cache).await? {
                cursor = ev.seq;
                continue;
            }
            let out = self.hub.body(&self.store, ev, shape, key).await?;
            let sent = tokio::select! {
                r = post(&self.client, &self.store.settings.events.targets, &row.id, registration, &out) => r,
                _ = self.shutdown.changed() => Err("the store is stopping".to_owned()),
            };
            match sent {
                Ok(()) => {
                    cursor = ev.seq;
                    delivered = true;
                }
                Err(why) => return Ok((cursor, delivered, Some(why))),
            }
        }
        Ok((cursor, delivered, None))
    }

    /// Keeps the round's progress and, after a failure, writes the retry state or the
    /// error. Progress alone is written lazily (by the next flush): a crash before it
    /// re-sends delivered events (at least once) and re-filters skipped ones. It is
    /// written at once when it changes the status (`created` to `started`) or clears a
    /// retry state, and always with a failure.
    async fn record(
        &mut self,
        row: &DeliveryRow,
        start: i64,
        cursor: i64,
        delivered: bool,
        failure: Option<String>,
    ) -> Result<Round> {
        let settings = &self.store.settings.events;
        let now = now_ms();
        let until = now + lease_ms(settings);
        // Whether this round got past the event after `start`.
        let moved = cursor > start;
        self.cursor = cursor;
        let Some(why) = failure else {
            if !moved {
                return Ok(Round::Again);
            }
            let retrying = row.attempts > 0 || row.failing_since_ms.is_some();
            if (delivered && row.status == "created") || retrying {
                let (pk, owner) = (self.pk, self.owner.clone());
                let kept = self
                    .store
                    .index
                    .write(move |tx| tx.advance_delivery(pk, &owner, cursor, until, delivered))
                    .await?;
                self.renewed = Instant::now();
                return Ok(if kept { Round::Again } else { Round::Stop });
            }
            self.hub.note_cursor(self.pk, &self.owner, cursor);
            return Ok(Round::Again);
        };
        if *self.shutdown.borrow() {
            // Not the receiver's fault: keep the progress (written as the task ends),
            // count no failure.
            return Ok(Round::Stop);
        }
        // The retry state is written with the cursor it is about.
        let unwritten = cursor > row.cursor_seq;
        let (attempts, since) = match (moved, row.failing_since_ms) {
            (false, Some(since)) => (row.attempts + 1, since),
            _ => (1, now),
        };
        if now - since >= ms(settings.give_up_after) {
            let failed_for = Duration::from_millis(u64::try_from(now - since).unwrap_or(0));
            tracing::warn!(webhook = %row.id, attempts, "webhook put in error: {why}");
            let reason = format!(
                "delivery of event {} failed {attempts} times over {} s: {why}",
                cursor + 1,
                failed_for.as_secs()
            );
            if unwritten {
                let (pk, owner) = (self.pk, self.owner.clone());
                self.store
                    .index
                    .write(move |tx| tx.advance_delivery(pk, &owner, cursor, until, delivered))
                    .await?;
            }
            self.fail(&reason).await?;
            return Ok(Round::Stop);
        }
        let shift = u32::try_from((attempts - 1).clamp(0, 30)).unwrap_or(30);
        let delay = settings
            .retry_initial
            .saturating_mul(1u32 << shift)
            .min(settings.retry_max);
        let next = now + ms(delay);
        tracing::debug!(webhook = %row.id, attempts, ?delay, "webhook delivery failed: {why}");
        let (pk, owner) = (self.pk, self.owner.clone());
        let kept = self
            .store
            .index
            .write(move |tx| {
                if unwritten && !tx.advance_delivery(pk, &owner, cursor, until, delivered)? {
                    return Ok::<_, CoreError>(false);
                }
                Ok(tx.record_delivery_failure(pk, &owner, attempts, since, next, &why)?)
            })
            .await?;
        self.renewed = Instant::now();
        Ok(if kept {
            Round::Retry(delay)
        } else {
            Round::Stop
        })
    }

    /// Puts the webhook in status `error` with `why`.
    async fn fail(&self, why: &str) -> Result<()> {
        let body = ErrorBody {
            error_type: "WebhookDeliveryFailed".to_owned(),
            summary: why.to_owned(),
            traceback: None,
            time: now_rfc3339(),
            extra: serde_json::Map::new(),
        };
        let text = serde_json::to_string(&body).map_err(|e| CoreError::Internal(e.to_string()))?;
        let (pk, owner) = (self.pk, self.owner.clone());
        self.store
            .index
            .write(move |tx| tx.fail_delivery(pk, &owner, &text))
            .await?;
        Ok(())
    }
}

/// One POST of `ev` to the webhook; `Err` says why it did not succeed.
async fn post(
    client: &reqwest::Client,
    targets: &TargetPolicy,
    webhook_id: &str,
    registration: &WebhookPut,
    ev: &Prepared,
) -> std::result::Result<(), String> {
    let url = targets.check_url(&registration.webhook.url)?;
    let mut req = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(EVENT_ID_HEADER, &ev.id)
        .header(EVENT_SEQ_HEADER, ev.seq.to_string())
        .header(WEBHOOK_ID_HEADER, webhook_id)
        .body(ev.json.clone());
    if let (Some(name), Some(value)) = (
        &registration.webhook.api_key_name,
        &registration.api_key_value,
    ) {
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("api_key_name {name:?} is not a valid HTTP header name"))?;
        let mut value = reqwest::header::HeaderValue::from_str(value)
            .map_err(|_| "api_key_value is not a valid HTTP header value".to_owned())?;
        value.set_sensitive(true);
        req = req.header(name, value);
    }
    let mut resp = req.send().await.map_err(describe)?;
    let status = resp.status();
    // Read (a bounded part of) the answer so the connection can be reused.
    let mut read = 0usize;
    while let Ok(Some(chunk)) = resp.chunk().await {
        read += chunk.len();
        if read > MAX_ANSWER {
            break;
        }
    }
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered {status}"))
    }
}

/// A reqwest error as a short reason, without the URL's query (it may hold secrets).
fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "was redirected"
    } else {
        "failed"
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        format!("the request {kind}")
    } else {
        format!("the request {kind}: {detail}")
    }
}

/// Deletes, in batches, the events older than the retention that every delivering
/// webhook has had.
async fn prune(store: &Store, settings: &EventSettings) -> Result<()> {
    let cutoff = time::OffsetDateTime::now_utc() - settings.retention;
    for _ in 0..100 {
        let rows = store.index.delivered_events(settings.prune_batch).await?;
        let mut last = None;
        for (seq, ts) in &rows {
            let at =
                time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339);
            match at {
                Ok(at) if at < cutoff => last = Some(*seq),
                Ok(_) => break,
                Err(_) => last = Some(*seq),
            }
        }
        let Some(last) = last else {
            return Ok(());
        };
        let n = store
            .index
            .write(move |tx| tx.delete_events_through(last))
            .await?;
        tracing::debug!(events = n, through = last, "pruned delivered events");
        if rows.len() < settings.prune_batch as usize {
            return Ok(());
        }
    }
    Ok(())
}
