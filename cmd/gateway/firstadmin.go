package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/records"
)

// The admin token of a first start. One gateway on its own index makes it
// when there is no token. Replicas started at once on one empty database
// (issue 21) must make exactly one: each would otherwise find no token and
// print its own, and an operator reading one replica's output would not
// know of the others. The replica holding the lease firstAdminLease makes
// it, checking again under the lease that there is still none, and records
// which replica showed it (kindFirstStart); the others wait for that record
// and say where the token was shown, as does a replica that starts within
// firstAdminWait of it and finds it made.

const (
	firstAdminLease = "first-admin-token"
	// firstAdminTTL outlives the few writes of the holder; a holder that
	// dies leaves the lease to another replica after it.
	firstAdminTTL = 30 * time.Second
	// firstAdminWait bounds how long a replica waits for another's token
	// (two lease periods: the first holder may have died).
	firstAdminWait = 2*firstAdminTTL + 10*time.Second
	kindFirstStart = "first-start"
	idFirstAdmin   = "admin-token"
)

// firstAdmin is the record of who made the first admin token.
type firstAdmin struct {
	TokenID string    `json:"token_id"`
	Replica string    `json:"replica"` // host/pid/random, as in leases
	Site    string    `json:"site"`    // the address its box named
	Created time.Time `json:"created"`
}

// firstStart is what makeFirstAdmin needs of the gateway.
type firstStart struct {
	tokens *auth.Tokens
	rec    *records.Store
	lease  index.Leaser // nil: one gateway on its own index
	site   string
	// announce shows the new token (a box on the terminal, never the log).
	announce func(token string)
	// elsewhere says, on the terminal, that another replica showed it.
	elsewhere func(made firstAdmin)
	log       *slog.Logger
}

// makeFirstAdmin makes the admin token of a first start, or on a shared
// index finds the one another replica made at the same time.
func (f firstStart) makeFirstAdmin(ctx context.Context) error {
	empty, err := f.tokens.Empty(ctx)
	switch {
	case err != nil:
		return err
	case !empty && f.lease != nil:
		return f.startedTogether(ctx)
	case !empty:
		return nil
	case f.lease == nil:
		return f.create(ctx, "")
	}
	holder := holderName()
	ctx, cancel := context.WithTimeout(ctx, firstAdminWait)
	defer cancel()
	for {
		ok, err := f.lease.Lease(firstAdminLease, holder, firstAdminTTL)
		if err != nil {
			return fmt.Errorf("first admin token: %w", err)
		}
		if ok {
			err := f.createIfNone(ctx, holder)
			return errors.Join(err, f.lease.Release(firstAdminLease, holder))
		}
		if empty, err := f.tokens.Empty(ctx); err != nil {
			return err
		} else if !empty {
			return f.madeElsewhere(ctx)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("first admin token: another replica holds %s and made none within %v", firstAdminLease, firstAdminWait)
		}
	}
}

// createIfNone runs under the lease: a replica that held it before may
// have made the token while this one waited.
func (f firstStart) createIfNone(ctx context.Context, holder string) error {
	empty, err := f.tokens.Empty(ctx)
	if err != nil {
		return err
	}
	if !empty {
		return f.madeElsewhere(ctx)
	}
	return f.create(ctx, holder)
}

func (f firstStart) create(ctx context.Context, holder string) error {
	if holder == "" {
		holder = holderName()
	}
	clear, tok, err := f.tokens.Create(ctx, auth.Principal{Role: auth.RoleAdmin, User: "admin"}, 0)
	if err != nil {
		return err
	}
	made := firstAdmin{TokenID: tok.ID, Replica: holder, Site: f.site, Created: tok.Created}
	if err := f.rec.Put(ctx, kindFirstStart, idFirstAdmin, made); err != nil {
		return fmt.Errorf("record the first admin token: %w", err)
	}
	f.log.Info("first start: admin token created (shown on this replica's terminal)", "token_id", tok.ID)
	f.announce(clear)
	return nil
}

// startedTogether tells of the first admin token when this replica
// starts within firstAdminWait of it (it was started with the one that
// made it, and found it made); a later start says nothing.
func (f firstStart) startedTogether(ctx context.Context) error {
	var made firstAdmin
	err := f.rec.Get(ctx, kindFirstStart, idFirstAdmin, &made)
	if errors.Is(err, records.ErrNotFound) {
		// The token may be one another replica is making right now, its
		// record not written yet: that replica still holds the lease.
		if n, lerr := f.lease.Live(firstAdminLease); lerr == nil && n > 0 {
			return f.madeElsewhere(ctx)
		}
		return nil
	}
	if err == nil && time.Since(made.Created) > firstAdminWait {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the first admin token's record: %w", err)
	}
	f.elsewhere(made)
	return nil
}

// madeElsewhere tells of the token another replica made. Its record
// follows its token by one write: a moment's wait covers that.
func (f firstStart) madeElsewhere(ctx context.Context) error {
	var made firstAdmin
	for range 50 {
		err := f.rec.Get(ctx, kindFirstStart, idFirstAdmin, &made)
		if err == nil {
			break
		}
		if !errors.Is(err, records.ErrNotFound) {
			return fmt.Errorf("read the first admin token's record: %w", err)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			break
		}
	}
	f.log.Info("first start: another replica created the admin token", "token_id", made.TokenID, "replica", made.Replica)
	f.elsewhere(made)
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// elsewhereNote is what a replica prints when another made the admin
// token of a first start (made is zero when its record was not found).
func elsewhereNote(w io.Writer, made firstAdmin, data string) {
	if made.TokenID == "" {
		fmt.Fprintf(w, "\nFirst start: another replica created the admin token at the same time and showed it in its own output (terminal or container log); this one shows none.\nLost it?  gateway token reset-admin --data %s (with the replicas' --index)\n\n", data)
		return
	}
	fmt.Fprintf(w, "\nFirst start: the admin token %s was created by another replica (%s, %s) at %s\nand shown only in that replica's output (terminal or container log); this one shows none.\nLost it?  gateway token reset-admin --data %s (with the replicas' --index)\n\n",
		made.TokenID, made.Replica, made.Site, made.Created.Format(time.RFC3339), data)
}
