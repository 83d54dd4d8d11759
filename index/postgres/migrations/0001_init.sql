-- The index of the gateway on PostgreSQL: the rows and secondary keys the
-- Badger index keeps (index/keys.go, index/secondary.go), as tables and
-- B-tree indexes. Text that is sorted or compared is COLLATE "C" (byte
-- order, as in Badger, whatever the database's locale); values that may
-- hold any byte (order keys, key values) are bytea. Rows are the JSON the
-- Badger index stores, as bytea.

-- Study rows; ord is the order key (index.OrderOf): ascending ord is the
-- QIDO order (newest StudyDate and StudyTime first, then UID).
CREATE TABLE studies (
    uid text COLLATE "C" PRIMARY KEY,
    ord bytea NOT NULL,
    row_json bytea NOT NULL
);
CREATE UNIQUE INDEX studies_ord ON studies (ord);

CREATE TABLE series (
    study text COLLATE "C" NOT NULL,
    uid text COLLATE "C" NOT NULL,
    row_json bytea NOT NULL,
    PRIMARY KEY (study, uid)
);

-- Instance rows and their precomputed DICOM JSON; the primary key on the
-- SOP Instance UID alone is what makes a second store of one instance a
-- duplicate, across replicas too.
CREATE TABLE instances (
    sop text COLLATE "C" PRIMARY KEY,
    study text COLLATE "C" NOT NULL,
    series text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    row_json bytea NOT NULL,
    meta bytea NOT NULL
);
CREATE INDEX instances_path ON instances (study, series, sop);
CREATE UNIQUE INDEX instances_seq ON instances (seq);

-- Secondary keys of studies (index.KeysOf): one row per kind and value,
-- in QIDO order within a value.
CREATE TABLE study_keys (
    kind text COLLATE "C" NOT NULL,
    val bytea NOT NULL,
    ord bytea NOT NULL,
    uid text COLLATE "C" NOT NULL,
    PRIMARY KEY (kind, val, ord)
);

-- Domain records (tokens, consents, shares, decisions, audit events).
CREATE TABLE records (
    kind text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    val bytea NOT NULL,
    PRIMARY KEY (kind, id)
);

-- One row: the archive's totals, kept by every write, and the checkpoint.
CREATE TABLE totals (
    one integer PRIMARY KEY CHECK (one = 1),
    studies bigint NOT NULL,
    series bigint NOT NULL,
    instances bigint NOT NULL,
    checkpoint bigint NOT NULL
);
INSERT INTO totals VALUES (1, 0, 0, 0, 0);

-- Sequence numbers of writes (index.Instance.Seq, row versions).
CREATE SEQUENCE row_seq;
