package testenv

import (
	"crypto/rand"
	"debug/buildinfo"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MinIO is a running MinIO server on loopback.
type MinIO struct {
	Endpoint  string // "127.0.0.1:PORT", no scheme
	AccessKey string
	SecretKey string
}

// minioReadyTimeout bounds the wait for /minio/health/ready.
const minioReadyTimeout = 30 * time.Second

// errMinIOMissing marks a start failure caused by an absent binary, which
// tests report through missing (loud failure) rather than as a bug.
var errMinIOMissing = errors.New("minio binary not found")

// MinIOBinary returns the MinIO server binary: $STACKLENS_MINIO_BIN, else
// $STACKLENS_TOOLS/bin/minio, else <user cache dir>/stacklens-tools/bin/minio
// (where scripts/install-minio.sh puts it).
func MinIOBinary() (string, error) {
	var p string
	switch {
	case os.Getenv("STACKLENS_MINIO_BIN") != "":
		p = os.Getenv("STACKLENS_MINIO_BIN")
	case os.Getenv("STACKLENS_TOOLS") != "":
		p = filepath.Join(os.Getenv("STACKLENS_TOOLS"), "bin", "minio")
	default:
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("%w: no user cache dir: %v", errMinIOMissing, err)
		}
		p = filepath.Join(cache, "stacklens-tools", "bin", "minio")
	}
	fi, err := os.Stat(p)
	if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%w at %s (install it with scripts/install-minio.sh)", errMinIOMissing, p)
	}
	return p, nil
}

type minioServer struct {
	MinIO
	version string
	cmd     *exec.Cmd
	exited  chan struct{}
	dir     string
	rmDir   bool
	logPath string
}

// sharedMinIO is the one server StartSharedMinIO starts per test binary.
var sharedMinIO struct {
	once sync.Once
	mu   sync.Mutex
	srv  *minioServer
	err  error
}

// StartSharedMinIO starts one MinIO server for the whole test binary, for
// use from TestMain:
//
//	func TestMain(m *testing.M) {
//		stop := testenv.StartSharedMinIO()
//		code := m.Run()
//		stop()
//		os.Exit(code)
//	}
//
// Tests then get that server from StartMinIO and give each test its own
// bucket (MinIO.NewBucketName). A start failure is remembered and reported
// by StartMinIO in every test that asks for the server.
func StartSharedMinIO() (stop func()) {
	sharedMinIO.once.Do(func() {
		dir, err := os.MkdirTemp("", "stacklens-minio-")
		if err != nil {
			sharedMinIO.err = err
			return
		}
		srv, err := startMinIO(dir, true)
		sharedMinIO.mu.Lock()
		sharedMinIO.srv, sharedMinIO.err = srv, err
		sharedMinIO.mu.Unlock()
		if err != nil {
			os.RemoveAll(dir)
		}
	})
	return func() {
		sharedMinIO.mu.Lock()
		defer sharedMinIO.mu.Unlock()
		if sharedMinIO.srv != nil {
			sharedMinIO.srv.stop()
			sharedMinIO.srv = nil
			sharedMinIO.err = errors.New("the shared MinIO server was stopped")
		}
	}
}

// StartMinIO returns a MinIO server for t: the binary's shared one if
// TestMain started it with StartSharedMinIO, else a private server that
// t.Cleanup kills (its data directory removed with it). A missing binary
// fails the test loudly.
func StartMinIO(t testing.TB) MinIO {
	t.Helper()
	sharedMinIO.mu.Lock()
	srv, err, shared := sharedMinIO.srv, sharedMinIO.err, sharedMinIO.srv != nil || sharedMinIO.err != nil
	sharedMinIO.mu.Unlock()
	if !shared {
		srv, err = startMinIO(t.TempDir(), false)
		if err == nil {
			t.Cleanup(srv.stop)
		}
	}
	if errors.Is(err, errMinIOMissing) {
		missing(t, "%v", err)
	}
	if err != nil {
		t.Fatalf("start MinIO: %v", err)
	}
	t.Logf("MinIO %s ready at http://%s", srv.version, srv.Endpoint)
	return srv.MinIO
}

// NewBucketName returns a fresh, valid S3 bucket name, so tests sharing one
// server never see each other's objects.
func (m MinIO) NewBucketName(t testing.TB) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "stacklens-test-" + hex.EncodeToString(b[:])
}

func startMinIO(dir string, rmDir bool) (*minioServer, error) {
	bin, err := MinIOBinary()
	if err != nil {
		return nil, err
	}
	version := "(unknown version)"
	if bi, err := buildinfo.ReadFile(bin); err == nil {
		version = bi.Main.Version
	}
	var lastErr error
	// Ports come free from the kernel but can be taken before MinIO binds
	// them; a few attempts make that race harmless.
	for attempt := range 3 {
		srv, err := startMinIOOnce(bin, version, dir, rmDir, attempt)
		if err == nil {
			return srv, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startMinIOOnce(bin, version, dir string, rmDir bool, attempt int) (*minioServer, error) {
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	consolePort, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	var secret [12]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, err
	}
	srv := &minioServer{
		MinIO: MinIO{
			Endpoint:  fmt.Sprintf("127.0.0.1:%d", port),
			AccessKey: "stacklens",
			SecretKey: hex.EncodeToString(secret[:]),
		},
		version: version,
		exited:  make(chan struct{}),
		dir:     dir,
		rmDir:   rmDir,
		logPath: filepath.Join(dir, fmt.Sprintf("minio-%d.log", attempt)),
	}
	logFile, err := os.Create(srv.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	dataDir := filepath.Join(dir, fmt.Sprintf("data-%d", attempt))
	cmd := exec.Command(bin, "server", "--quiet",
		"--address", srv.Endpoint,
		"--console-address", fmt.Sprintf("127.0.0.1:%d", consolePort),
		"--certs-dir", filepath.Join(dir, "certs"),
		dataDir)
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIO_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"MINIO_ROOT_USER="+srv.AccessKey,
		"MINIO_ROOT_PASSWORD="+srv.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CALLHOME_ENABLE=off",
		"MINIO_CI_CD=on",
		"HOME="+dir, // keep MinIO's config out of the real home
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Die with the test binary even when it is killed (go test -timeout).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	srv.cmd = cmd
	go func() {
		_ = cmd.Wait()
		close(srv.exited)
	}()
	if err := srv.waitReady(); err != nil {
		srv.kill()
		return nil, fmt.Errorf("%w; server log %s:\n%s", err, srv.logPath, tail(srv.logPath, 2000))
	}
	return srv, nil
}

func (s *minioServer) waitReady() error {
	url := "http://" + s.Endpoint + "/minio/health/ready"
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(minioReadyTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && s.apiReady(client) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("MinIO at %s not ready after %v (last: %v)", s.Endpoint, minioReadyTimeout, err)
		}
		select {
		case <-s.exited:
			return fmt.Errorf("MinIO exited before it was ready: %v", s.cmd.ProcessState)
		case <-tick.C:
		}
	}
}

// apiReady reports whether the S3 API answers: /minio/health/ready can
// report 200 while S3 requests still get 503 "Server not initialized yet".
// An anonymous ListBuckets is refused with 403 once the API is up.
func (s *minioServer) apiReady(client *http.Client) bool {
	resp, err := client.Get("http://" + s.Endpoint + "/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode != http.StatusServiceUnavailable
}

func (s *minioServer) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

func (s *minioServer) stop() {
	s.kill()
	if s.rmDir {
		os.RemoveAll(s.dir)
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
