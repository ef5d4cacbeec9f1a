package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Client profiles for Config.Client: how the viewers connect and read.
const (
	// ClientRaw reads large pieces (Config.BufSize, 64 KiB) straight off
	// an HTTP/1.1 connection with the fast parser: the lightest viewer.
	ClientRaw = "raw"
	// ClientNetHTTP is Go's net/http client as most consumers and relays
	// use it: a transport like http.DefaultTransport (keep-alive, 4 KiB
	// read buffer) shared by all viewers, and the body read through
	// core.ReadResponse, which reads 4 KiB at a time and allocates each
	// part. With ParserFast the body is read 4 KiB at a time instead.
	ClientNetHTTP = "nethttp"
	// ClientSmall reads 2 KiB at a time off an HTTP/1.1 connection, as a
	// browser's network stack reads a stream, with the fast parser.
	ClientSmall = "small"
)

// Clients lists the client profiles.
var Clients = []string{ClientRaw, ClientNetHTTP, ClientSmall}

// DefaultH2Streams is the default of Config.H2Streams.
const DefaultH2Streams = 100

// profile is a resolved client profile.
type profile struct {
	name     string
	parser   string
	readSize int // bytes per read from the body, at most
}

// resolveProfile fills in cfg's client defaults and checks them.
func resolveProfile(cfg *Config) (profile, error) {
	p := profile{name: cfg.Client}
	switch cfg.Client {
	case "", ClientRaw:
		p.name, p.parser, p.readSize = ClientRaw, ParserFast, cfg.BufSize
	case ClientNetHTTP:
		p.parser, p.readSize = ParserCore, 4096
	case ClientSmall:
		p.parser, p.readSize = ParserFast, 2048
	default:
		return p, fmt.Errorf("unknown client %q (want %s, %s or %s)", cfg.Client, ClientRaw, ClientNetHTTP, ClientSmall)
	}
	if cfg.Parser != "" {
		p.parser = cfg.Parser
	}
	if cfg.ReadSize > 0 {
		p.readSize = cfg.ReadSize
	}
	p.readSize = min(p.readSize, cfg.BufSize)
	if p.parser == ParserCore && cfg.ReadSize == 0 {
		p.readSize = 4096 // core.Read's buffer
	}
	return p, nil
}

// dialer opens TCP connections and counts them.
type dialer struct {
	d     net.Dialer
	dials atomic.Int64
}

func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.dials.Add(1)
	return d.d.DialContext(ctx, network, addr)
}

// newTransport returns the transport of one group of viewers. Certificates
// are not verified: mxload measures servers, often with a self-signed
// certificate, and sends nothing secret.
func newTransport(p profile, h2 bool, d *dialer) *http.Transport {
	var t *http.Transport
	if p.name == ClientNetHTTP {
		t = http.DefaultTransport.(*http.Transport).Clone()
	} else {
		t = &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			TLSHandshakeTimeout: 10 * time.Second,
			DisableKeepAlives:   !h2,
			DisableCompression:  true,
			ReadBufferSize:      min(p.readSize, 4096),
		}
	}
	t.DialContext = d.DialContext
	t.ResponseHeaderTimeout = 10 * time.Second
	t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	var protos http.Protocols
	if h2 {
		protos.SetHTTP2(true)
		t.ForceAttemptHTTP2 = true
	} else {
		protos.SetHTTP1(true)
	}
	t.Protocols = &protos
	return t
}

// group is the viewers that share one transport: over HTTP/2, the streams
// of one connection. Its first viewer connects alone; the others wait for
// it, so that they find its connection and open no other.
type group struct {
	client *http.Client
	tr     *http.Transport
	once   sync.Once
	ready  chan struct{} // closed after the first viewer's first request
}

func newGroup(tr *http.Transport) *group {
	return &group{client: &http.Client{Transport: tr}, tr: tr, ready: make(chan struct{})}
}

func (g *group) connected() { g.once.Do(func() { close(g.ready) }) }

// wait waits for the group's first viewer to connect.
func (g *group) wait(ctx context.Context) error {
	select {
	case <-g.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
