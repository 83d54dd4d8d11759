package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/imgcloud/gateway/storage"
)

// Checkpoint is a MAC'd statement of the chain's head at a time, kept in
// object storage (outside the index) under a key never written twice, so
// that moving the head back (truncating the tail) or rewriting the chain
// contradicts it.
type Checkpoint struct {
	Seq  uint64    `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
	Key  string    `json:"kid"`
	MAC  string    `json:"mac"`
}

// anchorPrefix holds one object per checkpoint, named by its sequence.
const anchorPrefix = "audit-anchors/"

func anchorKey(seq uint64) string { return anchorPrefix + seqID(seq) + ".json" }

// macInput is what a checkpoint's MAC covers: a domain label, so that no
// event MAC can pass for a checkpoint MAC, and every field but the MAC.
func (c Checkpoint) macInput() []byte {
	return []byte("audit-checkpoint\n" + strconv.FormatUint(c.Seq, 10) + "\n" + c.Hash + "\n" + c.Time.UTC().Format(time.RFC3339Nano) + "\n" + c.Key)
}

// Anchor writes a checkpoint of the current head to object storage, unless
// one for that head already exists (objects are never overwritten).
func (l *Log) Anchor(ctx context.Context) error {
	l.anchorM.Lock()
	defer l.anchorM.Unlock()
	l.mu.Lock()
	cp := Checkpoint{Seq: l.seq, Hash: l.head, Time: l.opt.Now().UTC(), Key: l.keys.currentID()}
	l.mu.Unlock()
	if cp.Seq == 0 {
		return nil
	}
	key := anchorKey(cp.Seq)
	if _, err := l.obj.Stat(ctx, key); err == nil {
		return nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("checkpoint %s: %w", key, err)
	}
	mac, err := l.keys.sum(cp.Key, cp.macInput())
	if err != nil {
		return err
	}
	cp.MAC = mac
	b, _ := json.Marshal(cp)
	// Under object lock where the store has it: then not even the
	// gateway's own credentials can delete or replace this version.
	if r, ok := l.obj.(storage.Retainer); ok && l.opt.RetainFor > 0 {
		err := r.PutRetained(ctx, key, bytes.NewReader(b), int64(len(b)), cp.Time.Add(l.opt.RetainFor))
		if err == nil {
			return nil
		}
		if !errors.Is(err, storage.ErrNoRetention) {
			return fmt.Errorf("checkpoint %s: %w", key, err)
		}
		l.noLock.Do(func() {
			l.opt.Logger.Warn("audit checkpoints are not under object lock: someone with the bucket's credentials can delete them", "err", err)
		})
	}
	if err := l.obj.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("checkpoint %s: %w", key, err)
	}
	return nil
}

// checkpoints reads and checks every checkpoint; a checkpoint whose MAC
// fails is an error (someone wrote it without the key).
func (l *Log) checkpoints(ctx context.Context) (map[uint64]Checkpoint, uint64, error) {
	out := map[uint64]Checkpoint{}
	var last uint64
	var keys []string
	if err := l.obj.List(ctx, anchorPrefix, func(oi storage.ObjectInfo) error {
		keys = append(keys, oi.Key)
		return nil
	}); err != nil {
		return nil, 0, fmt.Errorf("list audit checkpoints: %w", err)
	}
	for _, key := range keys {
		rc, err := l.obj.Get(ctx, key, 0, 1<<16)
		if err != nil {
			return nil, 0, fmt.Errorf("read checkpoint %s: %w", key, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, 0, fmt.Errorf("read checkpoint %s: %w", key, err)
		}
		var cp Checkpoint
		if err := json.Unmarshal(b, &cp); err != nil || key != anchorKey(cp.Seq) {
			return nil, 0, &VerifyError{Seq: cp.Seq, Reason: "checkpoint " + strings.TrimPrefix(key, anchorPrefix) + " is malformed"}
		}
		if !l.keys.has(cp.Key) {
			return nil, 0, &VerifyError{Seq: cp.Seq, Reason: "checkpoint " + strings.TrimPrefix(key, anchorPrefix) + " is MAC'd with key " + strconv.Quote(cp.Key) + ", which the key file lacks (key file replaced or lost, or a forged checkpoint)"}
		}
		if err := l.keys.check(cp.Key, cp.macInput(), cp.MAC); err != nil {
			return nil, 0, &VerifyError{Seq: cp.Seq, Reason: "checkpoint " + strings.TrimPrefix(key, anchorPrefix) + " is not authentic: " + err.Error()}
		}
		out[cp.Seq] = cp
		last = max(last, cp.Seq)
	}
	return out, last, nil
}
