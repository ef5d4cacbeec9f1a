// Package devcert gives an example server a TLS configuration for HTTP/2:
// a certificate from files, or a self-signed one made at start.
//
// Browsers open at most 6 HTTP/1.1 connections per host, so a page with
// more live streams than that leaves the rest waiting. Over HTTP/2 they
// share one connection. Browsers speak HTTP/2 over TLS only.
//
// A self-signed certificate is for trying things out: browsers warn about
// it once, and curl needs -k.
package devcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Config returns a TLS configuration that offers HTTP/2 and HTTP/1.1. With
// certFile and keyFile it loads that key pair. With both empty it makes a
// self-signed certificate for localhost, 127.0.0.1 and ::1, valid for 30
// days, and describes it in note (with its SHA-256 fingerprint).
func Config(certFile, keyFile string) (cfg *tls.Config, note string, err error) {
	var cert tls.Certificate
	switch {
	case certFile != "" && keyFile != "":
		cert, err = tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, "", fmt.Errorf("devcert: %w", err)
		}
		note = "certificate from " + certFile
	case certFile == "" && keyFile == "":
		cert, err = selfSigned(time.Now())
		if err != nil {
			return nil, "", fmt.Errorf("devcert: %w", err)
		}
		sum := sha256.Sum256(cert.Certificate[0])
		note = fmt.Sprintf("self-signed certificate for localhost, SHA-256 %X", sum)
	default:
		return nil, "", fmt.Errorf("devcert: give both a certificate and a key file, or neither")
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
		MinVersion:   tls.VersionTLS12,
	}, note, nil
}

// selfSigned makes an ECDSA P-256 certificate for local addresses.
func selfSigned(now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
