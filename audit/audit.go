// Package audit keeps the gateway's audit trail: one event per request that
// touches patient data, chained by a keyed MAC and anchored by checkpoints
// in object storage so that edits, deletions and truncation are detectable
// (Verify), queryable, exportable as JSON lines, and exported periodically
// to object storage.
//
// What Verify detects, for someone who can edit the index (Badger) but has
// neither the key file nor the power to delete checkpoints from object
// storage:
//   - an edited event (its MAC no longer matches);
//   - a rewritten chain, or an event forged or renumbered (MACs cover the
//     sequence number, the previous MAC and every field; without the key
//     none can be recomputed), including an unkeyed rewrite posing as
//     events from before keying (events from the key file's keyed_from on
//     must carry a MAC);
//   - a deleted event in the middle (a gap, or a broken link if renumbered);
//   - a truncated tail with the head moved back, as far back as the last
//     checkpoint (a checkpoint names a later event than the chain holds),
//     and a chain that differs from a checkpoint at the anchored event.
//
// What it cannot detect: anything done by someone holding the key file
// (they can recompute every MAC and checkpoint); deleting the events
// written after the last checkpoint together with the head (the window is
// one checkpoint period, see Options.AnchorEvery); deleting checkpoints
// from a store without object lock; events never written (a request
// served while the writer failed is counted in an "audit lost" event, not
// itemised). Events written before the gateway keyed its chain are only
// hash-chained: editing them is detected only through the first keyed
// event or checkpoint that follows them.
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/storage"
)

// Event is one audited access.
type Event struct {
	Seq         uint64    `json:"seq"`
	Time        time.Time `json:"time"`
	Actor       string    `json:"actor,omitempty"` // user or token id
	Role        string    `json:"role,omitempty"`
	Institution string    `json:"institution,omitempty"`
	PersonKey   string    `json:"person_key,omitempty"`
	Study       string    `json:"study,omitempty"`
	Series      string    `json:"series,omitempty"`
	Instance    string    `json:"instance,omitempty"`
	Action      string    `json:"action"`  // e.g. "GET /dicomweb/studies/:study/metadata"
	Outcome     int       `json:"outcome"` // HTTP status
	Source      string    `json:"source,omitempty"`
	RequestID   string    `json:"request_id,omitempty"`
	Detail      string    `json:"detail,omitempty"`
	// Key names the audit key whose HMAC-SHA256 is in Hash (empty in
	// events written before the chain was keyed: Hash is then a SHA-256).
	Key  string `json:"kid,omitempty"`
	Prev string `json:"prev"`
	Hash string `json:"hash"`
}

// KV is where events are kept (index.DB implements it).
type KV interface {
	PutRecord(kind, id string, v []byte) error
	// WriteRecords runs fn in one transaction: every set and create is
	// stored, or none; a create of an existing record fails it with an
	// error wrapping index.ErrExists (another gateway appended first).
	WriteRecords(fn func(set, create func(kind, id string, v []byte) error) error) error
	GetRecord(kind, id string) ([]byte, error)
	// LastRecord returns the record of a kind with the greatest id (an
	// empty id when there is none).
	LastRecord(kind string) (id string, v []byte, err error)
	Records(kind string, fn func(id string, v []byte) error) error
	// CheckSpace returns an error when a write could fill the disk.
	CheckSpace() error
}

const (
	kindEvents = "audit"
	kindMeta   = "audit-meta"
)

// Options configure a Log.
type Options struct {
	// ExportEvery is the period of exports to object storage (0: never
	// automatically; Export can still be called).
	ExportEvery time.Duration
	// AnchorEvery is the period of checkpoints of the head written to
	// object storage (0: only at exports and on Close). Events written
	// since the last checkpoint can be truncated undetected.
	AnchorEvery time.Duration
	// RetainFor keeps each checkpoint under object lock (compliance mode)
	// that long where the store supports it (storage.Retainer with a
	// bucket created with object lock); 0 writes them plainly.
	RetainFor time.Duration
	// SummaryEvery is the period after which refused requests counted by
	// Refused are written as one event per source (default one minute).
	SummaryEvery time.Duration
	// KeyFile holds the MAC keys (created with mode 0600 on first start).
	// Empty keeps a fresh key in memory only: for tests, since the trail
	// then verifies only in this process.
	KeyFile string
	// Lease, when set, is asked before each periodic export and checkpoint
	// whether this gateway holds that work (name "audit-export" or
	// "audit-anchor") for ttl: with several replicas on one index, one
	// does it, and another takes over when it stops renewing. Nil: this
	// process does it (one gateway per index).
	Lease  func(name string, ttl time.Duration) (bool, error)
	Logger *slog.Logger
	Now    func() time.Time
}

// Log is the audit trail. Record queues events; one writer goroutine
// chains and stores them in batches.
type Log struct {
	kv  KV
	obj storage.Store
	opt Options

	ch     chan Event
	flush  chan chan error
	done   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex // guards seq/head/lost during writes and exports
	seq    uint64
	head   string
	lost   int    // events that could not be stored since the last write
	lostBy string // why
	cancel context.CancelFunc

	keys    *Keyring
	anchorM sync.Mutex // serialises checkpoints
	noLock  sync.Once  // warns once that checkpoints are not locked
	refused refusals
}

// Open loads the head of the chain and starts the writer.
func Open(kv KV, obj storage.Store, opt Options) (*Log, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.SummaryEvery <= 0 {
		opt.SummaryEvery = time.Minute
	}
	l := &Log{kv: kv, obj: obj, opt: opt, ch: make(chan Event, 4096), flush: make(chan chan error), done: make(chan struct{}),
		refused: refusals{every: opt.SummaryEvery, m: map[string]*refusal{}}}
	if err := l.loadHead(true); err != nil {
		return nil, err
	}
	keys, err := loadKeyring(opt.KeyFile, l.seq+1, opt.Now())
	if err != nil {
		return nil, err
	}
	l.keys = keys
	if last := l.head; l.seq > 0 && last != "" {
		if b, err := kv.GetRecord(kindEvents, seqID(l.seq)); err == nil {
			var e Event
			if json.Unmarshal(b, &e) == nil && e.Key != "" && !keys.has(e.Key) {
				opt.Logger.Error("the audit trail is MAC'd with a key the key file lacks: restore the key file from a backup, or the trail will not verify",
					"key", e.Key, "key_file", opt.KeyFile)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.wg.Add(1)
	go l.run(ctx)
	return l, nil
}

// Record queues an event, its strings escaped and bounded (see bound). It
// blocks when the queue is full rather than drop an event.
func (l *Log) Record(e Event) {
	e = bound(e)
	select {
	case l.ch <- e:
	case <-l.done:
	}
}

// Writable returns an error (wrapping the disk guard's) when events cannot
// be stored now: the access middleware then refuses the request with 503
// rather than serve patient data unaudited.
func (l *Log) Writable() error { return l.kv.CheckSpace() }

// Flush waits until every queued event is stored.
func (l *Log) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case l.flush <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close writes the pending refusal summaries, flushes, exports what is
// new, checkpoints the head and stops the writer.
func (l *Log) Close(ctx context.Context) error {
	for _, e := range l.refused.take(l.opt.Now(), true) {
		l.Record(e)
	}
	err := l.Flush(ctx)
	close(l.done)
	l.cancel()
	l.wg.Wait()
	if l.opt.ExportEvery > 0 {
		if _, xerr := l.Export(ctx); xerr != nil && err == nil {
			err = xerr
		}
	} else if aerr := l.Anchor(ctx); aerr != nil && err == nil {
		err = aerr
	}
	return err
}

func (l *Log) run(ctx context.Context) {
	defer l.wg.Done()
	every := func(d time.Duration) <-chan time.Time {
		if d <= 0 {
			return nil
		}
		t := time.NewTicker(d)
		context.AfterFunc(ctx, t.Stop)
		return t.C
	}
	exportTick, anchorTick, summaryTick := every(l.opt.ExportEvery), every(l.opt.AnchorEvery), every(l.opt.SummaryEvery/2)
	for {
		select {
		case e := <-l.ch:
			batch := []Event{e}
		more:
			for len(batch) < 512 {
				select {
				case e := <-l.ch:
					batch = append(batch, e)
				default:
					break more
				}
			}
			if err := l.write(batch); err != nil {
				l.opt.Logger.Error("audit write", "err", err, "events", len(batch))
			}
		case reply := <-l.flush:
			var err error
			for n := len(l.ch); n > 0; n-- {
				if werr := l.write([]Event{<-l.ch}); werr != nil {
					err = werr
				}
			}
			reply <- err
		case <-exportTick:
			if !l.holds("audit-export", l.opt.ExportEvery) {
				continue
			}
			if _, err := l.Export(ctx); err != nil {
				l.opt.Logger.Warn("audit export", "err", err)
			}
		case <-anchorTick:
			if !l.holds("audit-anchor", l.opt.AnchorEvery) {
				continue
			}
			if err := l.Anchor(ctx); err != nil {
				l.opt.Logger.Warn("audit checkpoint", "err", err)
			}
		case <-summaryTick:
			if sum := l.refused.take(l.opt.Now(), false); len(sum) > 0 {
				if err := l.write(sum); err != nil {
					l.opt.Logger.Error("audit write", "err", err, "events", len(sum))
				}
			}
		case <-l.done:
			return
		}
	}
}

// holds reports whether this gateway does the periodic work name now
// (Options.Lease). The lease lasts three periods, and at least
// minLease, so that the holder keeps it across a late tick (a loaded
// machine) and a dead holder's work moves on soon.
func (l *Log) holds(name string, every time.Duration) bool {
	if l.opt.Lease == nil {
		return true
	}
	ok, err := l.opt.Lease(name, max(3*every, minLease))
	if err != nil {
		l.opt.Logger.Warn("audit lease", "work", name, "err", err)
		return false
	}
	return ok
}

// minLease is the shortest lease of periodic work.
const minLease = 5 * time.Second

// seal encodes e (its Key set) with its MAC in one encoding: the MAC
// covers the event encoded with an empty "hash", its last field, which
// then receives the MAC. An event without a Key gets a plain SHA-256 (the
// chain of gateways before keying; Verify accepts it only before the key
// file's keyed_from).
func (l *Log) seal(e Event) (b []byte, hash string, err error) {
	e.Hash = ""
	if b, err = json.Marshal(e); err != nil {
		return nil, "", err
	}
	if e.Key == "" {
		sum := sha256.Sum256(b)
		hash = hex.EncodeToString(sum[:])
	} else if hash, err = l.keys.sum(e.Key, b); err != nil {
		return nil, "", err
	}
	if !bytes.HasSuffix(b, []byte(`"hash":""}`)) {
		return nil, "", fmt.Errorf("event encoding does not end with its hash field")
	}
	// `"hash":""}` becomes `"hash":"<hash>"}`.
	b = append(b[:len(b)-len(`"}`)], hash...)
	return append(b, `"}`...), hash, nil
}

func seqID(n uint64) string { return fmt.Sprintf("%016d", n) }

// loadHead reads the head of the chain from the index into l.seq and
// l.head (at Open, and when another gateway sharing the index appended
// events since: replicas on PostgreSQL keep one chain). warn logs a head
// found behind its last event.
func (l *Log) loadHead(warn bool) error {
	seq, hash, err := l.storedHead()
	if err != nil {
		return err
	}
	l.seq, l.head = seq, hash
	// Recovery from a trail written by a gateway that stored events and
	// head in two transactions: events past the head are kept and the head
	// moves to the last of them, so nothing is ever written over them.
	// (A head past the last event is left alone: Verify reports the gap.)
	if id, v, err := l.kv.LastRecord(kindEvents); err != nil {
		return fmt.Errorf("read last audit event: %w", err)
	} else if id != "" {
		var e Event
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("decode last audit event %s: %w", id, err)
		}
		if e.Seq > l.seq {
			if warn {
				l.opt.Logger.Warn("audit head was behind its last event; moved forward", "head", l.seq, "last", e.Seq)
			}
			l.seq, l.head = e.Seq, e.Hash
		}
	}
	return nil
}

const (
	kindHead = "head"
	// ActionLost is the action of the event that counts events which
	// could not be stored (a full disk).
	ActionLost = "AUDIT LOST"
)

func (l *Log) write(batch []Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost > 0 {
		batch = append([]Event{{Action: ActionLost, Outcome: http.StatusServiceUnavailable,
			Detail: clean(fmt.Sprintf("%d audit events could not be stored: %s", l.lost, l.lostBy), maxDetail)}}, batch...)
	}
	// Events are created, never overwritten: when another gateway on the
	// same index appended first, the transaction stores nothing, and the
	// batch is sealed again after the new head.
	var err error
	for attempt := 0; attempt < maxAppendAttempts; attempt++ {
		if attempt > 0 {
			if err = l.loadHead(false); err != nil {
				break
			}
		}
		if err = l.append(batch); !errors.Is(err, index.ErrExists) {
			break
		}
	}
	if err != nil {
		n := len(batch)
		if l.lost > 0 {
			n-- // the "lost" event itself
		}
		l.lost, l.lostBy = l.lost+n, err.Error()
		return err
	}
	l.lost, l.lostBy = 0, ""
	return nil
}

// storedHead reads the head record (0 and "" when there is none).
func (l *Log) storedHead() (seq uint64, hash string, err error) {
	b, err := l.kv.GetRecord(kindMeta, kindHead)
	if errors.Is(err, index.ErrNotFound) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("read audit head: %w", err)
	}
	var h struct {
		Seq  uint64 `json:"seq"`
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return 0, "", fmt.Errorf("audit head: %w", err)
	}
	return h.Seq, h.Hash, nil
}

// maxAppendAttempts bounds the appends of one batch that other gateways
// overtake.
const maxAppendAttempts = 50

// append seals batch after the head l holds and stores it with the new
// head in one transaction.
func (l *Log) append(batch []Event) error {
	seq, head := l.seq, l.head
	ids := make([]string, 0, len(batch))
	vals := make([][]byte, 0, len(batch))
	kid := l.keys.currentID()
	for _, e := range batch {
		e.Seq = seq + 1
		if e.Time.IsZero() {
			e.Time = l.opt.Now().UTC()
		}
		e.Prev, e.Key = head, kid
		b, h, err := l.seal(e)
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		ids, vals = append(ids, seqID(e.Seq)), append(vals, b)
		seq, head = e.Seq, h
	}
	hb, _ := json.Marshal(map[string]any{"seq": seq, "hash": head})
	// Events and head in one transaction: a crash leaves both or neither.
	err := l.kv.WriteRecords(func(set, create func(kind, id string, v []byte) error) error {
		for i, id := range ids {
			if err := create(kindEvents, id, vals[i]); err != nil {
				return err
			}
		}
		return set(kindMeta, kindHead, hb)
	})
	if err != nil {
		return err
	}
	l.seq, l.head = seq, head
	return nil
}

// Filter selects events in Query.
type Filter struct {
	From, To    time.Time
	PersonKey   string
	Study       string
	Institution string
	Actor       string
	// CrossInstitution keeps events where the actor's institution differs
	// from StudyInstitution(study) (for the regulators' report).
	Limit int
}

func (f Filter) match(e Event) bool {
	switch {
	case !f.From.IsZero() && e.Time.Before(f.From):
	case !f.To.IsZero() && e.Time.After(f.To):
	case f.PersonKey != "" && e.PersonKey != f.PersonKey:
	case f.Study != "" && e.Study != f.Study:
	case f.Institution != "" && e.Institution != f.Institution:
	case f.Actor != "" && e.Actor != f.Actor:
	default:
		return true
	}
	return false
}

var errStop = errors.New("stop")

// Query calls fn for the matching events in order.
func (l *Log) Query(f Filter, fn func(Event) error) error {
	n := 0
	err := l.kv.Records(kindEvents, func(id string, v []byte) error {
		var e Event
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("decode audit event %s: %w", id, err)
		}
		if !f.match(e) {
			return nil
		}
		if f.Limit > 0 && n >= f.Limit {
			return errStop
		}
		n++
		return fn(e)
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// VerifyError says where the chain breaks.
type VerifyError struct {
	Seq    uint64
	Reason string
}

func (e *VerifyError) Error() string {
	return "audit chain broken at event " + strconv.FormatUint(e.Seq, 10) + ": " + e.Reason
}

// Verify walks the whole chain and cross-checks it with the checkpoints
// in object storage (see the package comment for what this detects and
// what it cannot): each event's MAC must match its content under its key
// (or, before the key file's keyed_from only, its SHA-256), each event
// must name the previous MAC, sequence numbers must have no gap, the last
// event must be the recorded head, every checkpoint must be authentic and
// name an event the chain holds with the same MAC. It returns the number
// of events checked.
func (l *Log) Verify(ctx context.Context) (int, error) {
	cps, lastCP, err := l.checkpoints(ctx)
	if err != nil {
		return 0, err
	}
	l.mu.Lock()
	head, last := l.head, l.seq
	// Another gateway on the same index may have appended since: the
	// stored head is then further on. One behind this gateway's is not
	// taken (a truncated trail must not verify).
	if seq, hash, err := l.storedHead(); err == nil && seq > last {
		head, last = hash, seq
	}
	l.mu.Unlock()
	var prev string
	var want uint64 = 1
	n := 0
	err = l.kv.Records(kindEvents, func(id string, v []byte) error {
		var e Event
		if err := json.Unmarshal(v, &e); err != nil {
			return &VerifyError{Seq: want, Reason: "undecodable event " + id}
		}
		if e.Seq != want || seqID(e.Seq) != id {
			return &VerifyError{Seq: want, Reason: fmt.Sprintf("event %d is missing (found %d)", want, e.Seq)}
		}
		if e.Prev != prev {
			return &VerifyError{Seq: e.Seq, Reason: "previous hash does not match (events deleted, renumbered or rewritten)"}
		}
		if e.Key == "" && l.keys.keyed(e.Seq) {
			return &VerifyError{Seq: e.Seq, Reason: "event has no MAC although the chain is keyed from event " + strconv.FormatUint(l.keys.keyedFrom, 10) + " (rewritten without the key)"}
		}
		if e.Key != "" && !l.keys.has(e.Key) {
			return &VerifyError{Seq: e.Seq, Reason: "event is MAC'd with key " + strconv.Quote(e.Key) + ", which the key file lacks (key file replaced or lost?)"}
		}
		if _, h, err := l.seal(e); err != nil || h != e.Hash {
			return &VerifyError{Seq: e.Seq, Reason: "content does not match its MAC (edited, or forged without the key)"}
		}
		if cp, ok := cps[e.Seq]; ok && cp.Hash != e.Hash {
			return &VerifyError{Seq: e.Seq, Reason: "event differs from the checkpoint of " + cp.Time.Format(time.RFC3339) + " (chain rewritten)"}
		}
		prev, want = e.Hash, want+1
		n++
		return nil
	})
	if ve := (*VerifyError)(nil); errors.As(err, &ve) {
		return n, ve
	}
	if err != nil {
		return n, err
	}
	if lastCP > uint64(n) {
		return n, &VerifyError{Seq: uint64(n) + 1, Reason: fmt.Sprintf("chain ends at %d but a checkpoint names event %d (tail truncated)", n, lastCP)}
	}
	if uint64(n) != last || prev != head {
		return n, &VerifyError{Seq: uint64(n) + 1, Reason: fmt.Sprintf("chain ends at %d but the head says %d (events deleted)", n, last)}
	}
	return n, nil
}

// WriteJSONLines writes matching events as JSON lines.
func (l *Log) WriteJSONLines(w io.Writer, f Filter) error {
	enc := json.NewEncoder(w)
	return l.Query(f, func(e Event) error { return enc.Encode(e) })
}

// Export writes the events stored since the last export to object storage
// as audit/{first}-{last}.jsonl and returns how many it wrote.
func (l *Log) Export(ctx context.Context) (int, error) {
	var from uint64
	if b, err := l.kv.GetRecord(kindMeta, "exported"); err == nil {
		from, _ = strconv.ParseUint(string(b), 10, 64)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	first, last := uint64(0), uint64(0)
	err := l.kv.Records(kindEvents, func(id string, v []byte) error {
		n, _ := strconv.ParseUint(id, 10, 64)
		if n <= from {
			return nil
		}
		if first == 0 {
			first = n
		}
		last = n
		var e Event
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		return enc.Encode(e)
	})
	if err != nil {
		return 0, err
	}
	if last == 0 {
		return 0, l.Anchor(ctx)
	}
	key := fmt.Sprintf("audit/%s-%s.jsonl", seqID(first), seqID(last))
	if err := l.obj.Put(ctx, key, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
		return 0, fmt.Errorf("export %s: %w", key, err)
	}
	if err := l.kv.PutRecord(kindMeta, "exported", []byte(strconv.FormatUint(last, 10))); err != nil {
		return 0, err
	}
	return int(last - first + 1), l.Anchor(ctx)
}
