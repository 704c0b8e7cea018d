-- Catalog slice: columns that listings of sources, flows, webhooks and deletion requests
-- filter and sort on, so that keyset pagination runs on indexed columns rather than on
-- the JSON documents.

ALTER TABLE sources ADD COLUMN created_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sources ADD COLUMN updated_ms INTEGER NOT NULL DEFAULT 0;
CREATE INDEX sources_by_created ON sources(created_ms, pk);
CREATE INDEX sources_by_updated ON sources(updated_ms, pk);
CREATE INDEX sources_by_label ON sources((label IS NULL), COALESCE(label, id), pk);

ALTER TABLE flows ADD COLUMN created_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE flows ADD COLUMN updated_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE flows ADD COLUMN profile_id TEXT;
ALTER TABLE flows ADD COLUMN status TEXT;
ALTER TABLE flows ADD COLUMN init_segments INTEGER NOT NULL DEFAULT 0;
CREATE INDEX flows_by_created ON flows(created_ms, pk);
CREATE INDEX flows_by_updated ON flows(updated_ms, pk);
CREATE INDEX flows_by_label ON flows((label IS NULL), COALESCE(label, id), pk);

ALTER TABLE webhooks ADD COLUMN url TEXT NOT NULL DEFAULT '';
CREATE INDEX webhooks_by_url ON webhooks(url, pk);

ALTER TABLE deletion_requests ADD COLUMN created_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deletion_requests ADD COLUMN expiry_ms INTEGER;
ALTER TABLE deletion_requests ADD COLUMN flow_pk INTEGER;
CREATE INDEX deletion_requests_by_created ON deletion_requests(created_ms, pk);
