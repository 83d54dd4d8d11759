package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manually advanced clock for deterministic output.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func withClock(b *Bar) *fakeClock {
	c := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	b.now = c.now
	b.start = c.now()
	return c
}

func TestPlainPrintsEveryTenth(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, 100, "upload")
	if b.tty {
		t.Fatal("bytes.Buffer detected as terminal")
	}
	c := withClock(b)
	for i := 0; i < 100; i++ {
		c.advance(100 * time.Millisecond)
		b.Add(1)
	}
	b.Finish()
	b.Finish() // second call is a no-op
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 10 {
		t.Fatalf("got %d lines, want 9 tenths + done:\n%s", len(lines), buf.String())
	}
	if strings.Contains(buf.String(), "\r") {
		t.Error("plain output contains carriage return")
	}
	want := "upload  10/100   10%  10.0/s  elapsed 0:01  ETA 0:09"
	if lines[0] != want {
		t.Errorf("first line = %q, want %q", lines[0], want)
	}
	if !strings.Contains(lines[4], " 50%") {
		t.Errorf("fifth line = %q, want 50%%", lines[4])
	}
	if got, want := lines[9], "upload  done 100 in 0:10 (10.0/s)"; got != want {
		t.Errorf("done line = %q, want %q", got, want)
	}
}

func TestPlainBigStepsPrintOnce(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, 10, "")
	withClock(b)
	b.Add(7) // jumps from 0% to 70%: one line only
	b.Add(1)
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", n, buf.String())
	}
}

func TestBytesMode(t *testing.T) {
	var buf bytes.Buffer
	b := NewBytes(&buf, 10<<20, "push")
	c := withClock(b)
	c.advance(2 * time.Second)
	b.Add(3 << 20)
	got := buf.String()
	for _, want := range []string{"3.0 MiB/10.0 MiB", " 30%", "1.5 MiB/s", "ETA 0:05"} {
		if !strings.Contains(got, want) {
			t.Errorf("output %q lacks %q", got, want)
		}
	}
}

func TestTerminalRedrawThrottled(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, 1000, "gen")
	b.tty = true
	c := withClock(b)
	for i := 0; i < 999; i++ {
		c.advance(time.Millisecond)
		b.Add(1)
	}
	// 999 ms of work: first draw plus one every 100 ms.
	if n := strings.Count(buf.String(), "\r"); n < 9 || n > 11 {
		t.Errorf("got %d redraws, want about 10", n)
	}
	b.Add(1) // completion always draws
	b.Finish()
	out := buf.String()
	if !strings.HasSuffix(out, "\n") {
		t.Error("Finish did not end the line")
	}
	last := out[strings.LastIndex(out, "\r")+1:]
	if !strings.HasPrefix(last, "gen  1000/1000  100%") {
		t.Errorf("last frame = %q", last)
	}
}

func TestTerminalPadsShorterLine(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, 0, "x")
	b.tty = true
	c := withClock(b)
	b.Add(123456)
	c.advance(time.Hour)
	b.Add(-123455)
	frames := strings.Split(buf.String(), "\r")
	if len(frames) != 3 {
		t.Fatalf("frames = %q", frames)
	}
	if len(frames[2]) < len(frames[1]) {
		t.Errorf("shorter frame not padded: %q then %q", frames[1], frames[2])
	}
}

func TestSetTotal(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, 0, "")
	withClock(b)
	b.Add(5)
	if buf.Len() != 0 {
		t.Fatalf("unknown total printed %q", buf.String())
	}
	b.SetTotal(10)
	b.Add(1)
	if !strings.Contains(buf.String(), "6/10") {
		t.Errorf("output %q lacks 6/10", buf.String())
	}
}

func TestConcurrentAdd(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, 8000, "c")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				b.Add(1)
			}
		}()
	}
	wg.Wait()
	b.Finish()
	if !strings.Contains(buf.String(), "done 8000") {
		t.Errorf("output %q lacks done 8000", buf.String())
	}
}

func TestNilBar(t *testing.T) {
	b := New(nil, 10, "x")
	if b != nil {
		t.Fatal("New(nil) should return nil")
	}
	b.Add(1)
	b.SetTotal(3)
	b.Finish()
}

func TestSize(t *testing.T) {
	cases := map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536 << 10: "1.5 MiB", 3 << 30: "3.0 GiB"}
	for n, want := range cases {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestClock(t *testing.T) {
	if got := clock(3725 * time.Second); got != "1:02:05" {
		t.Errorf("clock = %q", got)
	}
	if got := clock(65 * time.Second); got != "1:05" {
		t.Errorf("clock = %q", got)
	}
}

// TestFailedWorkIsNotDone: work that failed moves the bar but is neither
// counted as done nor in the rate (an all-refused upload is not "100 %
// at 1.7 GiB/s").
func TestFailedWorkIsNotDone(t *testing.T) {
	var buf bytes.Buffer
	b := NewBytes(&buf, 100<<20, "push")
	c := withClock(b)
	for range 10 {
		c.advance(time.Second)
		b.AddFailed(10 << 20)
	}
	b.Finish()
	out := buf.String()
	for _, bad := range []string{"100%", "MiB/s"} {
		if strings.Contains(out, bad) {
			t.Errorf("all-failed bar shows %q:\n%s", bad, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got, want := lines[len(lines)-1], "push  done 0 B, 100.0 MiB failed in 0:10 (0 B/s)"; got != want {
		t.Errorf("last line = %q, want %q", got, want)
	}
	if !strings.Contains(lines[0], "  0%") || !strings.Contains(lines[0], "10.0 MiB failed") {
		t.Errorf("first line = %q, want 0%% and 10.0 MiB failed", lines[0])
	}
}
