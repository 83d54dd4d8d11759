package miniotest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Timeouts of the server's life cycle.
const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 5 * time.Second
)

// process is one run of the MinIO binary.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// Restart stops the server if it runs and starts it again on the same
// ports, data directory and credentials; it returns once the server is
// ready to serve requests.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.stopLocked(false); err != nil {
		return err
	}
	log, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("start MinIO: %w", err)
	}
	defer log.Close() // the child has its own descriptor
	fmt.Fprintf(log, "--- miniotest: starting %s on %s at %s\n", s.bin, s.Endpoint, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(s.bin, "server", "--address", s.Endpoint, "--console-address", s.console, s.dir)
	cmd.Env = append(withoutMinioEnv(os.Environ()),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start MinIO: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	if err := waitReady(p, s.Endpoint); err != nil {
		p.kill()
		return fmt.Errorf("start MinIO on %s: %w\nlog tail (%s):\n%s", s.Endpoint, err, s.logPath, s.LogTail(30))
	}
	s.proc = p
	return nil
}

// Stop stops the server with SIGTERM, then SIGKILL if it is still running
// after 5 s. Stopping a stopped server does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked(false)
}

// Kill stops the server at once with SIGKILL, as a crash would. Killing a
// stopped server does nothing.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked(true)
}

// stopLocked stops the running process, if any, with s.mu held.
func (s *Server) stopLocked(kill bool) error {
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	if kill {
		return p.kill()
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop MinIO: %w", err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
		return p.kill()
	}
}

// kill sends SIGKILL and waits for the process to exit.
func (p *process) kill() error {
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill MinIO: %w", err)
	}
	<-p.done
	return nil
}

// waitReady polls the health endpoints until the server is live and ready,
// the process exits or readyTimeout passes.
func waitReady(p *process, endpoint string) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	ready := func(path string) bool {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+endpoint+path, nil)
		if err != nil {
			return false
		}
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if ready("/minio/health/live") && ready("/minio/health/ready") {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("server exited: %v", p.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v", readyTimeout)
		case <-tick.C:
		}
	}
}

// freePorts returns n distinct loopback addresses whose ports were free a
// moment ago.
func freePorts(n int) ([]string, error) {
	var addrs []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

// withoutMinioEnv drops MINIO_* variables so the caller's environment cannot
// change the test server's configuration.
func withoutMinioEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "MINIO_") {
			out = append(out, kv)
		}
	}
	return out
}
