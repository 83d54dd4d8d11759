package main

import (
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultMemoryLimit is the soft memory limit of serve, reindex and fsck
// (Go's runtime/debug.SetMemoryLimit) when neither --memory-limit,
// GOMEMLIMIT nor a cgroup limit says otherwise. The row caches and
// Badger's caches are bounded (about 100 MB together by default), but
// Badger's flushes and compactions hold their table buffers live for
// seconds after a large ingest (about 430 MB right after 20,000 instances
// STOWed at once): below that the collector runs without pause and
// queries cost five times their CPU (13.4 against 2.3 ms per QIDO
// request, BENCHMARKS.md), so the default leaves room above it. 192 MiB
// keeps a 1 M archive under 300 MB of RSS where ingest comes in small
// batches. The index's memory-mapped tables come on top, as file-backed
// RSS.
const DefaultMemoryLimit = 512 << 20

// cgroupShare is the part of a cgroup's memory limit the Go heap may use:
// the rest is for Badger's memory-mapped tables and the page cache.
const cgroupShare = 0.75

// memoryLimit returns the soft memory limit serve sets for a
// --memory-limit value (> 0: that; < 0: none; 0: automatic), and where it
// came from; ok false leaves the runtime's (GOMEMLIMIT) as it is.
// Automatic is three quarters of the cgroup's memory limit under root
// (cgroup v2 memory.max or v1 memory.limit_in_bytes) when there is one,
// else DefaultMemoryLimit.
func memoryLimit(flagValue int64, gomemlimit, root string) (limit int64, source string, ok bool) {
	switch {
	case flagValue > 0:
		return flagValue, "--memory-limit", true
	case flagValue < 0:
		return math.MaxInt64, "off", true
	case gomemlimit != "":
		return 0, "GOMEMLIMIT", false
	}
	if n, found := cgroupMemory(root); found {
		return int64(float64(n) * cgroupShare), "cgroup", true
	}
	return DefaultMemoryLimit, "default", true
}

// cgroupMemory reads the memory limit of the process's cgroup, as the
// container sees it mounted under root (normally /sys/fs/cgroup).
func cgroupMemory(root string) (int64, bool) {
	for _, f := range []string{"memory.max", "memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		// "max" (v2) or a page-rounded MaxInt64 (v1) mean no limit.
		if err != nil || n <= 0 || n > 1<<60 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// applyMemoryLimit sets the soft memory limit cfg asks for and logs it.
func applyMemoryLimit(cfg Config, log *slog.Logger) {
	if limit, source, ok := memoryLimit(cfg.MemoryLimit, os.Getenv("GOMEMLIMIT"), "/sys/fs/cgroup"); ok {
		debug.SetMemoryLimit(limit)
		log.Info("memory limit", "bytes", limit, "from", source)
	}
}
