package postgres

import (
	"fmt"
	"time"
)

// Lease takes or renews the lease of name for holder for ttl, and reports
// whether holder has it: background work that must run on one replica at
// a time runs where Lease says true, and moves to another replica once
// the holder stops renewing (it died) and ttl has passed. The server's
// clock decides, so replicas' clocks need not agree.
func (db *DB) Lease(name, holder string, ttl time.Duration) (bool, error) {
	ctx, cancel := db.ctx()
	defer cancel()
	tag, err := db.pool.Exec(ctx, `INSERT INTO leases (name, holder, until_ts)
		VALUES ($1, $2, CURRENT_TIMESTAMP + CAST($3 AS double precision) * INTERVAL '1 millisecond')
		ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until_ts = EXCLUDED.until_ts
		WHERE leases.holder = EXCLUDED.holder OR leases.until_ts < CURRENT_TIMESTAMP`,
		name, holder, float64(ttl.Milliseconds()))
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", name, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Release gives up holder's lease of name; another holder's is left.
func (db *DB) Release(name, holder string) error {
	ctx, cancel := db.ctx()
	defer cancel()
	if _, err := db.pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return fmt.Errorf("release %s: %w", name, err)
	}
	return nil
}

// Live counts the leases whose names start with prefix and that have not
// run out: replicas that each renew one ("replica/" + holder) count the
// gateways alive on this database.
func (db *DB) Live(prefix string) (int, error) {
	ctx, cancel := db.ctx()
	defer cancel()
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM leases WHERE substr(name, 1, length($1)) = $1 AND until_ts > CURRENT_TIMESTAMP`, prefix).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count leases %s: %w", prefix, err)
	}
	return n, nil
}
