-- Facts about the stored index: key_format, the index.KeyFormat the
-- study_keys were computed with (Open rebuilds them when it changes).
CREATE TABLE index_meta (
    name text COLLATE "C" PRIMARY KEY,
    value text NOT NULL
);
