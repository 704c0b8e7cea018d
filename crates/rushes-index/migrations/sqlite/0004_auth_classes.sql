-- Auth classes (bbc/tams ADR 0035, appnote 0016): the values of the `auth_classes` tag of
-- sources, flows and webhooks, denormalised into rows that listings can join. Written in
-- the same transaction as the tag itself (and as the outbox event of the change).
--
-- kind 1: a source's own classes (its tag);
-- kind 2: a flow's effective classes (its own tag when it has one, else its source's),
--         rewritten for the source's untagged flows when the source's tag changes;
-- kind 3: a webhook's classes (its tag);
-- kind 4: a flow deletion request's classes (its flow's when the request was made).
-- A resource without rows is unclassified.
CREATE TABLE resource_classes (
    kind  INTEGER NOT NULL,
    pk    INTEGER NOT NULL,
    class TEXT NOT NULL,
    PRIMARY KEY (kind, pk, class)
) WITHOUT ROWID;
CREATE INDEX resource_classes_by_class ON resource_classes (kind, class, pk);

-- The classes of an event's resource at commit time (a JSON array; NULL: unclassified),
-- so that delivery can decide per event which webhooks and streams may receive it.
ALTER TABLE events ADD COLUMN auth_classes TEXT;

-- Existing tags become rows.
INSERT OR IGNORE INTO resource_classes (kind, pk, class)
SELECT 1, s.pk, trim(v.value) FROM sources s,
       json_each(CASE json_type(s.doc, '$.tags.auth_classes')
                 WHEN 'array' THEN json_extract(s.doc, '$.tags.auth_classes')
                 WHEN 'text' THEN '["' || replace(replace(replace(json_extract(s.doc, '$.tags.auth_classes'), '\', '\\'), '"', '\"'), ',', '","') || '"]'
                 ELSE '[]' END) v
WHERE trim(v.value) <> '';
INSERT OR IGNORE INTO resource_classes (kind, pk, class)
SELECT 2, f.pk, trim(v.value) FROM flows f,
       json_each(CASE json_type(f.doc, '$.tags.auth_classes')
                 WHEN 'array' THEN json_extract(f.doc, '$.tags.auth_classes')
                 WHEN 'text' THEN '["' || replace(replace(replace(json_extract(f.doc, '$.tags.auth_classes'), '\', '\\'), '"', '\"'), ',', '","') || '"]'
                 ELSE '[]' END) v
WHERE trim(v.value) <> '';
INSERT OR IGNORE INTO resource_classes (kind, pk, class)
SELECT 2, f.pk, c.class FROM flows f JOIN sources s ON s.id = f.source_id
JOIN resource_classes c ON c.kind = 1 AND c.pk = s.pk
WHERE json_type(f.doc, '$.tags.auth_classes') IS NULL;
INSERT OR IGNORE INTO resource_classes (kind, pk, class)
SELECT 3, w.pk, trim(v.value) FROM webhooks w,
       json_each(CASE json_type(w.doc, '$.tags.auth_classes')
                 WHEN 'array' THEN json_extract(w.doc, '$.tags.auth_classes')
                 WHEN 'text' THEN '["' || replace(replace(replace(json_extract(w.doc, '$.tags.auth_classes'), '\', '\\'), '"', '\"'), ',', '","') || '"]'
                 ELSE '[]' END) v
WHERE trim(v.value) <> '';
