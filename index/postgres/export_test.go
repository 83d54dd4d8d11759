package postgres

import "context"

// Exec runs a statement on the index's database, for tests that set up
// what an older gateway left.
func (db *DB) Exec(sql string) error {
	_, err := db.pool.Exec(context.Background(), sql)
	return err
}
