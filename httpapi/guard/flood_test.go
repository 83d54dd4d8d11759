package guard_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/httpapi/guard"
)

// TestAnonymousFloodIsLimitedAndSummarised replays the audit flood of
// issue 14 over real HTTP: anonymous clients sending requests that all
// fail (401, some with a 200 KB path) are answered 429 with Retry-After
// once their address has used its failure burst, the refusals are audited
// as one summary event, not one each, and a valid token from the same
// address is still served (a NAT hides many clients behind one address).
func TestAnonymousFloodIsLimitedAndSummarised(t *testing.T) {
	e := startWith(t, guard.Options{FailRatePerSecond: 2, FailBurst: 10}, audit.Options{SummaryEvery: 100 * time.Millisecond})
	long := "/dicomweb/studies/" + strings.Repeat("9", 200000)
	codes := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var retryAfter string
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				path := "/dicomweb/studies"
				if i%10 == 0 {
					path = long
				}
				resp, _ := e.do(t, "GET", path, "", map[string]string{"Authorization": "Bearer gw_nope_nopenopenopenope"}, nil)
				mu.Lock()
				codes[resp.StatusCode]++
				if resp.StatusCode == http.StatusTooManyRequests {
					retryAfter = resp.Header.Get("Retry-After")
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if codes[401] > 14 || codes[429] < 380 || codes[401]+codes[429] != 400 {
		t.Fatalf("answers to 400 failing requests: %v, want at most the burst (10) plus refill as 401, the rest 429", codes)
	}
	if retryAfter == "" {
		t.Fatal("429 without Retry-After")
	}
	// The flooding address stays refused without a valid credential, but
	// a good token from it (a colleague behind the same hospital NAT) is
	// served: the limit costs it a token check, not its service.
	if resp, body := e.do(t, "GET", "/dicomweb/studies", "", map[string]string{"Authorization": "Bearer gw_nope_nopenopenopenope"}, nil); resp.StatusCode != 429 {
		t.Fatalf("bad token from a blocked address: %d %s, want 429", resp.StatusCode, body)
	}
	if resp, body := e.do(t, "GET", "/dicomweb/studies", e.tokens[auth.RoleClinician], nil, nil); resp.StatusCode != 200 {
		t.Fatalf("valid token from a blocked address: %d %s, want 200", resp.StatusCode, body)
	}

	ctx := context.Background()
	time.Sleep(300 * time.Millisecond) // a summary period
	e.audit.Flush(ctx)
	var events, summaries, refused int
	var biggest int
	e.audit.Query(audit.Filter{}, func(ev audit.Event) error {
		events++
		biggest = max(biggest, len(ev.Action)+len(ev.Detail)+len(ev.Study))
		if ev.Action == audit.ActionRefused {
			summaries++
			var n int
			if _, err := fmt.Sscanf(ev.Detail, "%d", &n); err == nil {
				refused += n
			}
		}
		return nil
	})
	if events > 20 || summaries < 1 || refused != codes[429]+1 {
		t.Fatalf("%d events (%d summaries counting %d refusals) for %d answers %v: want one per served request and a few summaries counting every 429", events, summaries, refused, 401, codes)
	}
	if biggest > 2000 {
		t.Fatalf("an event holds %d bytes of request text", biggest)
	}
	if n, err := e.audit.Verify(ctx); err != nil {
		t.Fatalf("verify after the flood: %d %v", n, err)
	}
}

// TestFailKeyGroupsIPv6 checks that IPv6 clients share a failure bucket
// per /64, and IPv4 ones keep their address.
func TestFailKeyGroupsIPv6(t *testing.T) {
	for _, c := range []struct{ ip, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"},
		{"::ffff:203.0.113.7", "::ffff:203.0.113.7"},
		{"not an address", "not an address"},
	} {
		if got := guard.FailKey(c.ip); got != c.want {
			t.Errorf("FailKey(%q) = %q, want %q", c.ip, got, c.want)
		}
	}
}
