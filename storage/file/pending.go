package file

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// maxTargeted is how many files a Sync fsyncs one by one; beyond, one
// syncfs(2) of the volume is cheaper.
const maxTargeted = 128

// syncWorkers bounds the fsyncs a Sync runs at once: the disk queues
// them together, so a group of objects costs about one fsync.
const syncWorkers = 8

// pending are the files that WriteIn and MoveIn renamed into place, and
// the directories whose entries they (or mkdir) changed, since the last
// Sync. Sync fsyncs exactly these rather than the whole volume: on a
// volume that other programs also write, syncfs(2) waits for their data
// too (5-10 ms per commit measured on a busy machine, against about 1.5
// ms for one file's fsync).
type pending struct {
	mu    sync.Mutex
	files map[string]struct{}
	dirs  map[string]struct{}
	// syncing serialises Syncs: a commit that returns must find every
	// object written before it started durable, including those another
	// Sync is still flushing.
	syncing sync.Mutex
}

func (p *pending) addFile(path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.files == nil {
		p.files, p.dirs = map[string]struct{}{}, map[string]struct{}{}
	}
	p.files[path] = struct{}{}
	p.dirs[filepath.Dir(path)] = struct{}{}
}

func (p *pending) addDir(dir string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.files == nil {
		p.files, p.dirs = map[string]struct{}{}, map[string]struct{}{}
	}
	p.dirs[dir] = struct{}{}
}

// take returns the pending sets and starts new ones.
func (p *pending) take() (files, dirs map[string]struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	files, dirs = p.files, p.dirs
	p.files, p.dirs = nil, nil
	return files, dirs
}

// putBack returns sets a failed Sync could not make durable, so that the
// next Sync tries them again.
func (p *pending) putBack(files, dirs map[string]struct{}) {
	for f := range files {
		p.addFile(f)
	}
	for d := range dirs {
		p.addDir(d)
	}
}

// syncPending makes the pending files and directories durable: each one
// fsynced (a file or directory removed since is skipped: its removal was
// synced by Delete), or the whole volume with syncfs when there are many.
func (s *Store) syncPending() error {
	s.pend.syncing.Lock()
	defer s.pend.syncing.Unlock()
	files, dirs := s.pend.take()
	if len(files)+len(dirs) == 0 {
		return nil
	}
	if len(files) > maxTargeted {
		if err := syncfs(s.root); err != nil {
			s.pend.putBack(files, dirs)
			return err
		}
		return nil
	}
	paths := make(chan string)
	errc := make(chan error, syncWorkers)
	var wg sync.WaitGroup
	for range min(syncWorkers, len(files)+len(dirs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var first error
			for p := range paths {
				if err := syncPath(p); err != nil && first == nil {
					first = err
				}
			}
			errc <- first
		}()
	}
	for f := range files {
		paths <- f
	}
	for d := range dirs {
		paths <- d
	}
	close(paths)
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			s.pend.putBack(files, dirs)
			return err
		}
	}
	return nil
}

// syncPath fsyncs one file or directory.
func syncPath(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
