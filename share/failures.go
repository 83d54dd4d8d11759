package share

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/imgcloud/gateway/index"
)

// AddressFailures counts the failures of client addresses at share links
// (invalid links, wrong PINs) in an index that several gateways share, so
// that a guesser spreading its attempts over N replicas is stopped after
// the same number as by one gateway (a link's own PIN lock-out is counted
// in its record). An address has a token bucket in the index: Burst
// failures, then PerMinute; each failure is one update under the record's
// lock, each check one read. Addresses are stored as a hash.
type AddressFailures struct {
	kv    FailureKV
	rate  float64 // per second
	burst float64
	now   func() time.Time

	mu    sync.Mutex
	swept time.Time
}

// FailureKV is what AddressFailures needs of the index (index.Store).
type FailureKV interface {
	GetRecord(kind, id string) ([]byte, error)
	CreateRecord(kind, id string, v []byte) error
	UpdateRecord(kind, id string, fn func(old []byte) ([]byte, error)) error
	DeleteRecord(kind, id string) error
	Records(kind string, fn func(id string, v []byte) error) error
}

// kindFailures holds the buckets: in the index only (they are not worth
// object storage, and a reindex may forget them).
const kindFailures = "share-failures"

// failureSweep is how often a gateway removes the buckets that have
// filled up again (the addresses it would have forgotten).
const failureSweep = 10 * time.Minute

// NewAddressFailures returns the shared counts of kv: burst failures,
// then perMinute (now nil: time.Now).
func NewAddressFailures(kv FailureKV, perMinute float64, burst int, now func() time.Time) *AddressFailures {
	if now == nil {
		now = time.Now
	}
	return &AddressFailures{kv: kv, rate: perMinute / 60, burst: float64(burst), now: now}
}

// failBucket is an address's bucket: the failures it may still make at At.
type failBucket struct {
	Tokens float64   `json:"tokens"`
	At     time.Time `json:"at"`
}

func (f *AddressFailures) level(b failBucket, now time.Time) float64 {
	return min(f.burst, b.Tokens+max(0, now.Sub(b.At).Seconds())*f.rate)
}

func addressID(addr string) string {
	h := sha256.Sum256([]byte(addr))
	return hex.EncodeToString(h[:16])
}

// Blocked reports whether addr has used up its failures.
func (f *AddressFailures) Blocked(addr string) (bool, error) {
	raw, err := f.kv.GetRecord(kindFailures, addressID(addr))
	if errors.Is(err, index.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read share failures: %w", err)
	}
	var b failBucket
	if err := json.Unmarshal(raw, &b); err != nil {
		return false, fmt.Errorf("decode share failures: %w", err)
	}
	return f.level(b, f.now()) < 1, nil
}

// Fail counts one failure of addr (none when its bucket is empty: a
// blocked address is answered before it can fail again).
func (f *AddressFailures) Fail(addr string) error {
	now := f.now()
	f.sweep(now)
	id := addressID(addr)
	for range 3 {
		err := f.kv.UpdateRecord(kindFailures, id, func(old []byte) ([]byte, error) {
			var b failBucket
			if err := json.Unmarshal(old, &b); err != nil {
				return nil, fmt.Errorf("decode share failures: %w", err)
			}
			t := f.level(b, now)
			if t >= 1 {
				t--
			}
			return json.Marshal(failBucket{Tokens: t, At: now})
		})
		if !errors.Is(err, index.ErrNotFound) {
			return err
		}
		b, _ := json.Marshal(failBucket{Tokens: f.burst - 1, At: now})
		if err := f.kv.CreateRecord(kindFailures, id, b); !errors.Is(err, index.ErrExists) {
			return err
		}
		// Another replica counted this address's first failure: update.
	}
	return fmt.Errorf("count a share failure: the record kept changing")
}

// sweep removes, every failureSweep, the buckets full again. A failure
// another replica counts between the read and the removal is lost: at
// most one per idle address and sweep.
func (f *AddressFailures) sweep(now time.Time) {
	f.mu.Lock()
	due := now.Sub(f.swept) >= failureSweep
	if due {
		f.swept = now
	}
	f.mu.Unlock()
	if !due {
		return
	}
	var full []string
	_ = f.kv.Records(kindFailures, func(id string, v []byte) error {
		var b failBucket
		if json.Unmarshal(v, &b) != nil || f.level(b, now) >= f.burst {
			full = append(full, id)
		}
		return nil
	})
	for _, id := range full {
		_ = f.kv.DeleteRecord(kindFailures, id)
	}
}
