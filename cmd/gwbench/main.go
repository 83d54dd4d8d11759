// Command gwbench holds the measurements scripts/bench.sh adds to the shared
// DICOMweb harness (../shared/bench): what dwbench's corpus does not cover.
//
//	gwbench freeport                       print a free 127.0.0.1 TCP port
//	gwbench wait -url URL [-timeout 30s]   wait until GET URL answers 2xx
//	gwbench rss -pid PID                   print VmRSS and VmHWM (MB)
//	gwbench bigstow -base URL -pid PID     one STOW request of N instances
//	                                       derived from the 7.5 MB CR (4.dcm),
//	                                       streamed; samples the server's RSS
//	gwbench series -base URL               500-instance series, then its
//	                                       /metadata fetched N times
//	gwbench frame -base URL                /frames/2 and /frames/1 of the
//	                                       2-frame enhanced CT (5.dcm)
//	gwbench summary -dir DIR               markdown tables of the results
//	                                       scripts/bench.sh wrote to DIR
//	gwbench index gen -dir DIR [flags]     index rows for N instances through
//	                                       index.PutInstance (no objects)
//	gwbench index query -dir DIR           archive searches of each kind on
//	                                       that index, p50/p99, RSS, open time
//	gwbench cfind -addr HOST:PORT -corpus corpus.json [-n 400 -c 1]
//	                                       study-level C-FIND p50/p99 over c
//	                                       associations, answers checked
//	gwbench bigstudy -out DIR [-bytes 1e9] one study of instances derived
//	                                       from the 7.5 MB CR, as files
//	gwbench corpus -out DIR [flags]        test studies derived from the
//	                                       real files (internal/corpus), or
//	                                       -phantom ones
//
// Every subcommand talks to 127.0.0.1 only, and every loop is bounded by a
// count and a time limit. With -json FILE the figures are also written as
// JSON. The source files come from the module cache
// (github.com/suyashkumar/dicom@v1.1.0 testdata) or -src DIR.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/imgcloud/gateway/internal/corpus"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "freeport":
		err = freePort()
	case "wait":
		err = waitCmd(ctx, args)
	case "rss":
		err = rssCmd(args)
	case "bigstow":
		err = bigStowCmd(ctx, args)
	case "series":
		err = seriesCmd(ctx, args)
	case "frame":
		err = frameCmd(ctx, args)
	case "summary":
		err = summaryCmd(args)
	case "corpus":
		err = corpus.Main(args, os.Stdout, os.Stderr)
	case "index":
		err = indexBenchCmd(ctx, args)
	case "cfind":
		err = cfindCmd(ctx, args)
	case "bigstudy":
		err = bigStudyCmd(args)
	case "-h", "-help", "--help", "help":
		usage()
		return
	default:
		usage()
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gwbench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: gwbench freeport | wait -url URL | rss -pid PID | bigstow -base URL [-pid PID] | series -base URL | frame -base URL | summary -dir DIR | corpus -out DIR | index gen|query -dir DIR | cfind -addr HOST:PORT -corpus FILE | bigstudy -out DIR
run "gwbench SUBCOMMAND -h" for the flags of one subcommand`)
}

// freePort prints a TCP port that was free on 127.0.0.1 a moment ago.
func freePort() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	return nil
}

func waitCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	u := fs.String("url", "", "URL that must answer 2xx (loopback only)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkLoopback(*u); err != nil {
		return err
	}
	deadline := time.Now().Add(*timeout)
	c := loopbackClient(5 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := c.Get(*u)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after %s", *u, *timeout)
}

func rssCmd(args []string) error {
	fs := flag.NewFlagSet("rss", flag.ContinueOnError)
	pid := fs.Int("pid", 0, "process to read")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := readMem(*pid)
	if err != nil {
		return err
	}
	fmt.Printf("pid %d: VmRSS %.1f MB, VmHWM %.1f MB\n", *pid, mb(m.RSS), mb(m.HWM))
	return nil
}

// checkLoopback refuses any URL whose host is not a loopback address.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("bad URL %q", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing non-loopback URL %s", raw)
	}
	return nil
}

// loopbackClient returns an HTTP client that can only dial loopback
// addresses, with a per-request timeout.
func loopbackClient(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				return nil, fmt.Errorf("refusing to dial non-loopback %s", addr)
			}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 16,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// writeJSON writes v to path when path is set.
func writeJSON(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func mb(n int64) float64 { return float64(n) / 1e6 }

// httpError describes a non-2xx answer with the start of its body.
func httpError(what string, resp *http.Response, body []byte) error {
	s := strings.TrimSpace(string(body))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return fmt.Errorf("%s: HTTP %d: %s", what, resp.StatusCode, s)
}

var errMismatch = errors.New("mismatch")
