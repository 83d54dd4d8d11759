package idleread_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/internal/idleread"
)

// TestIdleRead runs a real HTTP server with the middleware: a handler that
// works between reads for longer than the idle timeout still gets the
// whole body (only the client's time counts), and a client that stops
// sending gets ErrIdle in the handler and its connection closed.
func TestIdleRead(t *testing.T) {
	const idle = 200 * time.Millisecond
	e := echo.New()
	e.Use(idleread.Middleware(idle))
	got := make(chan error, 1)
	e.POST("/", func(c echo.Context) error {
		buf := make([]byte, 2048)
		if _, err := io.ReadFull(c.Request().Body, buf); err != nil {
			got <- err
			return err
		}
		if c.QueryParam("pause") != "" {
			time.Sleep(3 * idle) // the handler's own work
		}
		rest, err := io.ReadAll(c.Request().Body)
		got <- err
		if err != nil {
			return err
		}
		return c.String(200, fmt.Sprint(len(buf)+len(rest)))
	})
	srv := httptest.NewServer(e)
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/?pause=1", "application/octet-stream", strings.NewReader(strings.Repeat("x", 10000)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "10000" || <-got != nil {
		t.Fatalf("handler pausing between reads: %d %s", resp.StatusCode, b)
	}

	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second)) // a safety net only
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n%s", strings.Repeat("x", 3000))
	if err := <-got; !errors.Is(err, idleread.ErrIdle) {
		t.Fatalf("stalled client: handler read %v, want ErrIdle", err)
	}
	br := bufio.NewReader(conn)
	if resp, err := http.ReadResponse(br, nil); err == nil {
		io.Copy(io.Discard, resp.Body)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("connection of a stalled client left open: %v", err)
	}
}
