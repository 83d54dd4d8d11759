-- Leases of background work (audit export, checkpoints): the replica
-- holding a name runs that work until its lease runs out unrenewed; then
-- another takes it over (Lease).
CREATE TABLE leases (
    name text COLLATE "C" PRIMARY KEY,
    holder text NOT NULL,
    until_ts timestamp with time zone NOT NULL
);
