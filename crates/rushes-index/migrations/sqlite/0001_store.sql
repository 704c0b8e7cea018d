-- The metadata of a Rushes store. Time is integer nanoseconds on the TAMS timeline,
-- normalised to half-open [start_ns, end_ns); the text a client registered is kept in the
-- row's JSON so that it comes back in the form it was given. Wall-clock times (created,
-- updated, leases) are integer milliseconds since the Unix epoch (*_ms) or RFC 3339 text
-- inside the JSON documents.

-- Name, description and the store's other settings (key -> JSON value).
CREATE TABLE service_settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Flow profiles (/service/profiles): doc is the profile JSON.
CREATE TABLE profiles (
    pk  INTEGER PRIMARY KEY,
    id  TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL
);

-- Sources are created implicitly by flows. doc holds label, description, tags and the
-- created/updated metadata; format is the source's format URN.
CREATE TABLE sources (
    pk     INTEGER PRIMARY KEY,            -- insertion order: the keyset of listings
    id     TEXT NOT NULL UNIQUE,
    format TEXT NOT NULL,
    label  TEXT,
    doc    TEXT NOT NULL
);

-- Flows. doc is the flow as last PUT (plus its sub-resources), without derived fields
-- (timerange, collected_by, segments_updated). The columns repeat what listings filter on.
CREATE TABLE flows (
    pk             INTEGER PRIMARY KEY,    -- insertion order: the keyset of listings; segments refer to it
    id             TEXT NOT NULL UNIQUE,
    source_id      TEXT NOT NULL REFERENCES sources(id),
    format         TEXT NOT NULL,
    codec          TEXT,
    label          TEXT,
    frame_width    INTEGER,
    frame_height   INTEGER,
    read_only      INTEGER NOT NULL DEFAULT 0,
    doc            TEXT NOT NULL,
    -- Longest segment ever registered (never decreases): bounds overlap queries so that
    -- they use the (flow_pk, start_ns) index and touch only the rows they return.
    max_segment_ns INTEGER NOT NULL DEFAULT 0,
    segments_updated TEXT,                 -- RFC 3339, set when segments are added or deleted
    -- Set while a deletion request is removing the flow: the flow refuses new segments.
    deleting       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX flows_source ON flows(source_id);

-- Flow collections: parent flow -> member flows, with the member's role.
CREATE TABLE flow_collection_members (
    parent_pk  INTEGER NOT NULL REFERENCES flows(pk) ON DELETE CASCADE,
    member_id  TEXT NOT NULL,              -- may name a flow not (yet) in the store
    role       TEXT NOT NULL,
    position   INTEGER NOT NULL,
    PRIMARY KEY (parent_pk, member_id)
) WITHOUT ROWID;
CREATE INDEX flow_collection_by_member ON flow_collection_members(member_id);

-- Segments: the hot path. One row per registered segment, keyed by (flow, start).
-- doc holds the segment's other fields as registered (timerange text, ts_offset,
-- last_duration, sample_offset, sample_count, key_frame_count, uncontrolled get_urls...).
CREATE TABLE segments (
    flow_pk        INTEGER NOT NULL,
    start_ns       INTEGER NOT NULL,       -- inclusive
    end_ns         INTEGER NOT NULL,       -- exclusive
    object_id      TEXT NOT NULL,
    init_object_id TEXT,
    doc            TEXT NOT NULL,
    PRIMARY KEY (flow_pk, start_ns)
) WITHOUT ROWID;
CREATE INDEX segments_by_object ON segments(object_id, flow_pk);
CREATE INDEX segments_by_init_object ON segments(init_object_id) WHERE init_object_id IS NOT NULL;

-- Media objects. ref_count counts the segments (of any flow) that reference the object,
-- as media or as init object. An object whose ref_count is 0 is collected once
-- collect_after_ms has passed (allocation timeout, or grace period after the last
-- reference went away).
CREATE TABLE objects (
    id                       TEXT PRIMARY KEY NOT NULL,
    allocated_for_flow       TEXT,         -- flow that allocated it through /flows/{id}/storage
    first_referenced_by_flow TEXT,
    object_timerange         TEXT,         -- as first registered
    content_type             TEXT,
    ref_count                INTEGER NOT NULL DEFAULT 0,
    collect_after_ms         INTEGER,      -- NULL while referenced
    created_ms               INTEGER NOT NULL,
    doc                      TEXT NOT NULL DEFAULT '{}'
) WITHOUT ROWID;
CREATE INDEX objects_collectable ON objects(collect_after_ms) WHERE ref_count = 0;

-- Where an object's bytes are: controlled instances in a storage backend the store
-- manages (storage_id), or uncontrolled ones at a URL the store does not manage.
CREATE TABLE object_instances (
    pk         INTEGER PRIMARY KEY,
    object_id  TEXT NOT NULL,
    storage_id TEXT,                       -- set for controlled instances
    url        TEXT,                       -- set for uncontrolled instances
    label      TEXT,
    controlled INTEGER NOT NULL,
    doc        TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX object_instances_controlled ON object_instances(object_id, storage_id) WHERE storage_id IS NOT NULL;
CREATE UNIQUE INDEX object_instances_uncontrolled ON object_instances(object_id, url) WHERE storage_id IS NULL;

-- Webhook registrations. doc is the registration as given (api_key_value included; it is
-- never returned to clients), status/error are kept up to date by delivery.
CREATE TABLE webhooks (
    pk     INTEGER PRIMARY KEY,
    id     TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    doc    TEXT NOT NULL
);

-- Flow deletion requests, completed by a background worker that claims them under a lease.
CREATE TABLE deletion_requests (
    pk             INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    flow_id        TEXT NOT NULL,
    status         TEXT NOT NULL,          -- created | started | done | error
    doc            TEXT NOT NULL,
    lease_owner    TEXT,
    lease_until_ms INTEGER
);
CREATE INDEX deletion_requests_pending ON deletion_requests(status, lease_until_ms);

-- The outbox: every observable change writes its event here in the same transaction.
-- Delivery (webhooks, event streams) reads it in seq order, off the request path.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    flow_id    TEXT,
    source_id  TEXT,
    timestamp  TEXT NOT NULL,              -- RFC 3339
    payload    TEXT NOT NULL
);
