// Package audit keeps the gateway's audit trail: one event per request that
// touches patient data, hash-chained so that any edit or deletion is
// detectable (Verify), queryable, exportable as JSON lines, and exported
// periodically to object storage.
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
	"strconv"
	"sync"
	"time"

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
	Prev        string    `json:"prev"`
	Hash        string    `json:"hash"`
}

// KV is where events are kept (index.DB implements it).
type KV interface {
	PutRecord(kind, id string, v []byte) error
	PutRecords(kind string, ids []string, values [][]byte) error
	GetRecord(kind, id string) ([]byte, error)
	Records(kind string, fn func(id string, v []byte) error) error
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
	Logger      *slog.Logger
	Now         func() time.Time
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
	mu     sync.Mutex // guards seq/head during writes and exports
	seq    uint64
	head   string
	cancel context.CancelFunc
}

// Open loads the head of the chain and starts the writer.
func Open(kv KV, obj storage.Store, opt Options) (*Log, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Log{kv: kv, obj: obj, opt: opt, ch: make(chan Event, 4096), flush: make(chan chan error), done: make(chan struct{})}
	if b, err := kv.GetRecord(kindMeta, "head"); err == nil {
		var h struct {
			Seq  uint64 `json:"seq"`
			Hash string `json:"hash"`
		}
		if err := json.Unmarshal(b, &h); err != nil {
			return nil, fmt.Errorf("audit head: %w", err)
		}
		l.seq, l.head = h.Seq, h.Hash
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.wg.Add(1)
	go l.run(ctx)
	return l, nil
}

// Record queues an event. It blocks when the queue is full rather than
// drop an event.
func (l *Log) Record(e Event) {
	select {
	case l.ch <- e:
	case <-l.done:
	}
}

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

// Close flushes, exports what is new and stops the writer.
func (l *Log) Close(ctx context.Context) error {
	err := l.Flush(ctx)
	close(l.done)
	l.cancel()
	l.wg.Wait()
	if l.opt.ExportEvery > 0 {
		if _, xerr := l.Export(ctx); xerr != nil && err == nil {
			err = xerr
		}
	}
	return err
}

func (l *Log) run(ctx context.Context) {
	defer l.wg.Done()
	var tick <-chan time.Time
	if l.opt.ExportEvery > 0 {
		t := time.NewTicker(l.opt.ExportEvery)
		defer t.Stop()
		tick = t.C
	}
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
		case <-tick:
			if _, err := l.Export(ctx); err != nil {
				l.opt.Logger.Warn("audit export", "err", err)
			}
		case <-l.done:
			return
		}
	}
}

// chainHash is the hash of an event given the previous hash.
func chainHash(e Event) (string, error) {
	_, h, err := seal(e)
	return h, err
}

// seal encodes e with its chain hash in one encoding: the hash covers the
// event encoded with an empty "hash", its last field, which then receives
// the hash.
func seal(e Event) (b []byte, hash string, err error) {
	e.Hash = ""
	if b, err = json.Marshal(e); err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(b)
	hash = hex.EncodeToString(sum[:])
	if !bytes.HasSuffix(b, []byte(`"hash":""}`)) {
		return nil, "", fmt.Errorf("event encoding does not end with its hash field")
	}
	// `"hash":""}` becomes `"hash":"<hash>"}`.
	b = append(b[:len(b)-len(`"}`)], hash...)
	return append(b, `"}`...), hash, nil
}

func seqID(n uint64) string { return fmt.Sprintf("%016d", n) }

func (l *Log) write(batch []Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	seq, head := l.seq, l.head
	ids := make([]string, 0, len(batch))
	vals := make([][]byte, 0, len(batch))
	for _, e := range batch {
		e.Seq = seq + 1
		if e.Time.IsZero() {
			e.Time = l.opt.Now().UTC()
		}
		e.Prev = head
		b, h, err := seal(e)
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		e.Hash = h
		ids, vals = append(ids, seqID(e.Seq)), append(vals, b)
		seq, head = e.Seq, e.Hash
	}
	// One transaction per batch; the head moves only once the batch is in.
	if err := l.kv.PutRecords(kindEvents, ids, vals); err != nil {
		return err
	}
	l.seq, l.head = seq, head
	hb, _ := json.Marshal(map[string]any{"seq": l.seq, "hash": l.head})
	return l.kv.PutRecord(kindMeta, "head", hb)
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

// Verify walks the whole chain: each event's hash must match its content,
// each event must name the previous hash, sequence numbers must have no
// gap, and the last event must be the recorded head. It returns the number
// of events checked.
func (l *Log) Verify() (int, error) {
	l.mu.Lock()
	head, last := l.head, l.seq
	l.mu.Unlock()
	var prev string
	var want uint64 = 1
	n := 0
	err := l.kv.Records(kindEvents, func(id string, v []byte) error {
		var e Event
		if err := json.Unmarshal(v, &e); err != nil {
			return &VerifyError{Seq: want, Reason: "undecodable event " + id}
		}
		if e.Seq != want || seqID(e.Seq) != id {
			return &VerifyError{Seq: want, Reason: fmt.Sprintf("event %d is missing (found %d)", want, e.Seq)}
		}
		if e.Prev != prev {
			return &VerifyError{Seq: e.Seq, Reason: "previous hash does not match"}
		}
		h, err := chainHash(e)
		if err != nil || h != e.Hash {
			return &VerifyError{Seq: e.Seq, Reason: "content does not match its hash (edited)"}
		}
		prev, want = e.Hash, want+1
		n++
		return nil
	})
	if err != nil {
		return n, err
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
	if err != nil || last == 0 {
		return 0, err
	}
	key := fmt.Sprintf("audit/%s-%s.jsonl", seqID(first), seqID(last))
	if err := l.obj.Put(ctx, key, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
		return 0, fmt.Errorf("export %s: %w", key, err)
	}
	if err := l.kv.PutRecord(kindMeta, "exported", []byte(strconv.FormatUint(last, 10))); err != nil {
		return 0, err
	}
	return int(last - first + 1), nil
}
