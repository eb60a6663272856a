package testenv

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The binary is built once per test process; every test of the process
// shares it.
var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// Binary returns the path of a stacklens binary built from this working
// tree (plain `go build ./cmd/stacklens`), building it on first use.
func Binary(t testing.TB) string {
	t.Helper()
	root := RepoRoot(t)
	binaryOnce.Do(func() { binaryPath, binaryErr = buildBinary(root) })
	if binaryErr != nil {
		t.Fatalf("building stacklens: %v", binaryErr)
	}
	return binaryPath
}

// buildBinary builds into a directory named after the repository root, via
// a temporary name and a rename, so that concurrent test processes (go test
// runs packages in parallel) never see a half-written file and nothing
// accumulates in the temp directory.
func buildBinary(root string) (string, error) {
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(os.TempDir(), "stacklens-testbin-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	final := filepath.Join(dir, "stacklens")
	tmp := final + ".tmp" + strconv.Itoa(os.Getpid())
	cmd := exec.Command("go", "build", "-o", tmp, "./cmd/stacklens")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build ./cmd/stacklens: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return final, nil
}

// Server is a running `stacklens serve` child process.
type Server struct {
	URL     string // http://127.0.0.1:PORT
	DataDir string // --data
	Cmd     *exec.Cmd
	Args    []string // extra serve arguments, reused by Restart
	Env     []string // extra environment, reused by Restart

	t      testing.TB
	addr   string
	logs   *SyncBuffer
	exited chan struct{}
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers, for the output
// of a process or a logger read by the test.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// StartServer runs `stacklens serve --listen 127.0.0.1:FREEPORT --data
// t.TempDir() args...` and waits until /healthz answers. The process is
// killed when the test ends; its output is logged if the test failed.
// STACKLENS_* variables of the test's own environment are not passed on.
func StartServer(t testing.TB, args ...string) *Server {
	t.Helper()
	return StartServerWithEnv(t, nil, args...)
}

// StartServerWithEnv is StartServer with extra environment variables
// ("KEY=value"), e.g. STACKLENS_TOKENS.
func StartServerWithEnv(t testing.TB, env []string, args ...string) *Server {
	t.Helper()
	s := &Server{
		DataDir: t.TempDir(),
		Args:    args,
		Env:     env,
		t:       t,
		addr:    "127.0.0.1:" + strconv.Itoa(FreePort(t)),
		logs:    &SyncBuffer{},
	}
	s.URL = "http://" + s.addr
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("stacklens serve output:\n%s", s.Logs())
		}
	})
	s.start()
	return s
}

func (s *Server) start() {
	s.t.Helper()
	args := append([]string{"serve", "--listen", s.addr, "--data", s.DataDir}, s.Args...)
	cmd := exec.Command(Binary(s.t), args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STACKLENS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, s.Env...)
	cmd.Stdout = s.logs
	cmd.Stderr = s.logs
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting stacklens: %v", err)
	}
	s.Cmd = cmd
	exited := make(chan struct{})
	s.exited = exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.waitHealthy()
}

// waitHealthy polls /healthz until it answers 200, the process exits, or
// 30 s pass.
func (s *Server) waitHealthy() {
	s.t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.exited:
			s.t.Fatalf("stacklens serve exited during startup (%v); output:\n%s", s.Cmd.ProcessState, s.Logs())
		default:
		}
		resp, err := client.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("stacklens serve not healthy after 30s (last error %v); output:\n%s", err, s.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Logs returns everything the process printed so far (all runs).
func (s *Server) Logs() string { return s.logs.String() }

// Running reports whether the process is still alive.
func (s *Server) Running() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL and waits for the process to be gone. Safe to call on
// a stopped server.
func (s *Server) Kill() {
	if s.Cmd == nil || !s.Running() {
		return
	}
	_ = s.Cmd.Process.Kill()
	<-s.exited
}

// Signal sends sig to the process.
func (s *Server) Signal(sig os.Signal) error { return s.Cmd.Process.Signal(sig) }

// Wait waits up to timeout for the process to exit and returns its exit
// status (nil for 0).
func (s *Server) Wait(timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-s.exited:
	case <-timer.C:
		return fmt.Errorf("stacklens serve still running after %s", timeout)
	}
	return s.exitStatus()
}

func (s *Server) exitStatus() error {
	if !s.Cmd.ProcessState.Success() {
		return errors.New("stacklens serve: " + s.Cmd.ProcessState.String())
	}
	return nil
}

// Stop sends SIGTERM and waits (30 s at most) for a clean exit.
func (s *Server) Stop() error {
	if !s.Running() {
		return s.exitStatus()
	}
	if err := s.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	return s.Wait(30 * time.Second)
}

// Restart kills the process if it still runs and starts it again on the
// same address and data directory, with the same arguments.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}
