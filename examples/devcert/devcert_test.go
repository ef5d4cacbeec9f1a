package devcert_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxreplace/mx/examples/devcert"
)

// TestSelfSigned: the self-signed configuration serves HTTP/2 to a client
// that trusts the certificate, for 127.0.0.1.
func TestSelfSigned(t *testing.T) {
	cfg, note, err := devcert.Config("", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(note, "self-signed") || !strings.Contains(note, "SHA-256") {
		t.Errorf("note %q", note)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	srv.TLS = cfg
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	leaf, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "HTTP/2.0" {
		t.Errorf("served %q, want HTTP/2.0", body)
	}
}

// TestFiles: a key pair from files is loaded; one file alone is an error.
func TestFiles(t *testing.T) {
	cfg, _, err := devcert.Config("", "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	key, err := x509.MarshalPKCS8PrivateKey(cfg.Certificates[0].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cfg.Certificates[0].Certificate[0]}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600)
	if _, note, err := devcert.Config(certFile, keyFile); err != nil || !strings.Contains(note, certFile) {
		t.Errorf("Config from files: %q, %v", note, err)
	}
	if _, _, err := devcert.Config(certFile, ""); err == nil {
		t.Error("a certificate without a key: no error")
	}
	if _, _, err := devcert.Config(filepath.Join(dir, "missing"), keyFile); err == nil {
		t.Error("a missing file: no error")
	}
}
