package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/federation"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/secretfile"
	"github.com/imgcloud/gateway/recognition"
	"github.com/imgcloud/gateway/share"
)

// Key files across replicas. With an index shared by several gateways
// (one that is an index.Leaser: PostgreSQL) the replicas must hold the
// same keys: a share link signed by one is opened through another, and
// the audit chain they write together verifies with one keyring. The
// first replica to start publishes its key file in the index with a
// create-only write (kindSecrets, one record per file); every other takes
// that copy, and one whose own file holds other keys refuses to start. A
// rotation on one replica (a new key file) is published and reaches the
// others' files and keyrings within secretPoll.

const (
	kindSecrets = "secrets"
	// secretPoll is how often a replica compares its key files with the
	// shared copies.
	secretPoll = 250 * time.Millisecond
	// secretSettle times secretSettleEvery is how long a replica waits
	// for a key file that differs from the shared copy to become it.
	secretSettle      = 20
	secretSettleEvery = 100 * time.Millisecond
)

// errSecretDiffers refuses the start of a replica whose key file holds
// other keys than the ones its replicas share.
var errSecretDiffers = errors.New("differs from the keys the other replicas share")

// sharedSecret is a key file's record in the index: its content, and the
// SHA-256 of every earlier content (a file left behind by a rotation is
// replaced, not refused).
type sharedSecret struct {
	Content []byte   `json:"content"`
	Earlier []string `json:"earlier,omitempty"`
}

func digest(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// secretFile is one key file kept equal to its shared copy.
type secretFile struct {
	name, path string
	// reload makes the running part read the file again (nil: read at
	// start only).
	reload func() error
	last   []byte // the content last agreed with the shared copy
}

// secrets keeps the key files of a gateway on a shared index equal to the
// shared copies. The zero value (one gateway per index) does nothing.
type secrets struct {
	db    index.Records
	log   *slog.Logger
	mu    sync.Mutex
	files []*secretFile
}

// newSecrets returns the key file keeper of db, which does nothing
// when db serves one gateway (it is no index.Leaser).
func newSecrets(db index.Store, log *slog.Logger) *secrets {
	if _, shared := db.(index.Leaser); !shared {
		return &secrets{log: log}
	}
	return &secrets{db: db, log: log}
}

// open makes the key file at path the replicas' shared copy before the
// caller loads it: the file of the first replica is published (create
// makes it when there is none), later replicas take it. A file holding
// other keys stops the start (errSecretDiffers).
func (s *secrets) open(name, path string, create func() error) error {
	if s.db == nil {
		return nil
	}
	for attempt := 0; ; attempt++ {
		shared, err := s.get(name)
		if err != nil {
			return err
		}
		local, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read %s: %w", path, err)
		}
		agreed := local
		switch {
		case shared == nil:
			created := local == nil
			if created { // the first replica makes the keys
				cerr := create()
				// A replica on the same folder may have made them first.
				if local, err = os.ReadFile(path); err != nil {
					return errors.Join(cerr, fmt.Errorf("read %s: %w", path, err))
				}
				agreed = local
			}
			b, _ := json.Marshal(sharedSecret{Content: local})
			err := s.db.CreateRecord(kindSecrets, name, b)
			if errors.Is(err, index.ErrExists) && attempt == 0 {
				if created { // another replica published its keys first: take theirs
					theirs, err := s.get(name)
					if err != nil || theirs == nil {
						return errors.Join(err, fmt.Errorf("read shared %s: it vanished", name))
					}
					// Replaced atomically: a replica sharing the folder may
					// be reading it.
					if err := secretfile.Write(path, theirs.Content); err != nil {
						return fmt.Errorf("%s: %w", name, err)
					}
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("publish %s: %w", name, err)
			}
		case bytes.Equal(local, shared.Content):
		case local == nil || slices.Contains(shared.Earlier, digest(local)):
			if err := secretfile.Write(path, shared.Content); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			agreed = shared.Content
		case attempt < secretSettle:
			// Replicas started at once on one folder: the file may be
			// another's, made before it lost the race to publish and
			// about to be replaced by the shared copy. A file that still
			// differs a moment later is refused.
			time.Sleep(secretSettleEvery)
			continue
		default:
			return fmt.Errorf("%s: %s %w (in the index): give every replica the same file, or remove this one to take theirs", name, path, errSecretDiffers)
		}
		s.mu.Lock()
		s.files = append(s.files, &secretFile{name: name, path: path, last: agreed})
		s.mu.Unlock()
		return nil
	}
}

// onChange sets what reloads name's file when another replica rotated it.
func (s *secrets) onChange(name string, reload func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.files {
		if f.name == name {
			f.reload = reload
		}
	}
}

// get returns the shared copy of name, nil when there is none yet.
func (s *secrets) get(name string) (*sharedSecret, error) {
	b, err := s.db.GetRecord(kindSecrets, name)
	if errors.Is(err, index.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read shared %s: %w", name, err)
	}
	var v sharedSecret
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("shared %s: %w", name, err)
	}
	return &v, nil
}

// run compares the key files with their shared copies every secretPoll
// until ctx ends.
func (s *secrets) run(ctx context.Context) {
	if s.db == nil {
		return
	}
	t := time.NewTicker(secretPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		files := slices.Clone(s.files)
		s.mu.Unlock()
		// One query reads every shared copy.
		shared := map[string][]byte{}
		if err := s.db.Records(kindSecrets, func(id string, v []byte) error {
			shared[id] = v
			return nil
		}); err != nil {
			s.log.Warn("key files across replicas", "err", err)
			continue
		}
		for _, f := range files { // f's fields are this goroutine's after open
			if err := s.sync(f, shared[f.name]); err != nil {
				s.log.Warn("key file across replicas", "key", f.name, "err", err)
			}
		}
	}
}

// sync publishes a rotation made here (the file changed) or applies one
// made on another replica (the shared copy changed). Two rotations at
// once: the first published wins, the other replica's file is replaced.
func (s *secrets) sync(f *secretFile, record []byte) error {
	local, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("read %s: %w", f.path, err)
	}
	if !bytes.Equal(local, f.last) {
		published := false
		err := s.db.UpdateRecord(kindSecrets, f.name, func(old []byte) ([]byte, error) {
			var v sharedSecret
			if err := json.Unmarshal(old, &v); err != nil {
				return nil, err
			}
			if !bytes.Equal(v.Content, f.last) {
				published = false
				return old, nil // another replica rotated first
			}
			published = true
			return json.Marshal(sharedSecret{Content: local, Earlier: append(v.Earlier, digest(v.Content))})
		})
		if err != nil {
			return fmt.Errorf("publish %s: %w", f.name, err)
		}
		if published {
			f.last = local
			return nil
		}
		s.log.Warn("a key file rotated here was overtaken by another replica's rotation, whose keys replace it", "key", f.name)
	}
	var shared sharedSecret
	if record == nil {
		return nil
	}
	if err := json.Unmarshal(record, &shared); err != nil {
		return fmt.Errorf("shared %s: %w", f.name, err)
	}
	if bytes.Equal(shared.Content, f.last) {
		return nil
	}
	if err := secretfile.Write(f.path, shared.Content); err != nil {
		return err
	}
	f.last = shared.Content
	s.mu.Lock()
	reload := f.reload
	s.mu.Unlock()
	if reload != nil {
		return reload()
	}
	s.log.Warn("a key file changed on another replica; restart this one to use it", "key", f.name)
	return nil
}

// openSecrets agrees on every key file of cfg with the other replicas of
// db, filling in the default paths, and keeps them agreed until the
// gateway closes.
func (g *gateway) openSecrets(cfg *Config, db index.Store, log *slog.Logger) (*secrets, error) {
	s := newSecrets(db, log.With("component", "secrets"))
	secrets := filepath.Join(cfg.Data, "secrets")
	if cfg.Recognition.PersonKeySecret == "" {
		path := filepath.Join(secrets, "person-key")
		if err := s.open("person-key", path, func() error { _, err := recognition.LoadOrCreateSecret(path); return err }); err != nil {
			return nil, err
		}
	}
	if cfg.Access.AuditKeyFile == "" {
		cfg.Access.AuditKeyFile = filepath.Join(secrets, "audit-keys.json")
	}
	if err := s.open("audit-keys", cfg.Access.AuditKeyFile, func() error {
		return audit.CreateKeyFile(db, cfg.Access.AuditKeyFile, time.Now())
	}); err != nil {
		return nil, err
	}
	if cfg.Access.Share.KeyFile == "" {
		cfg.Access.Share.KeyFile = filepath.Join(secrets, "share-keys.json")
	}
	if err := s.open("share-keys", cfg.Access.Share.KeyFile, func() error {
		_, err := share.LoadKeyring(cfg.Access.Share.KeyFile, nil)
		return err
	}); err != nil {
		return nil, err
	}
	if cfg.Federation.Name != "" {
		if cfg.Federation.KeyFile == "" {
			cfg.Federation.KeyFile = filepath.Join(secrets, "federation.key")
		}
		if err := s.open("federation-key", cfg.Federation.KeyFile, func() error {
			_, _, err := federation.LoadOrCreateKey(cfg.Federation.KeyFile)
			return err
		}); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.run(ctx) }()
	g.closers = append(g.closers, func() error { cancel(); <-done; return nil })
	return s, nil
}
