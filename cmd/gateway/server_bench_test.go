package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// BenchmarkHealthzUnderHeldConnections measures /healthz through the whole
// gateway (Main on 127.0.0.1:0, the default server limits) while 500
// clients hold idle keep-alive connections and 200 send a request body a
// byte every half second, as a hostile network or a stuck load balancer
// would. Each op is one GET /healthz, on a kept-alive connection or on a new
// connection each time. It runs with the default connection cap (4096, all
// held connections open) and with a cap of 256, under the 700 held (as a
// file descriptor limit of 400 would need): the slow clients keep their
// slots, the idle ones give way. p50-ms and p99-ms are the latency.
// Loopback only; the held connections end with each sub-benchmark.
func BenchmarkHealthzUnderHeldConnections(b *testing.B) {
	for _, c := range []struct {
		name string
		env  []string
	}{{"cap-default", nil}, {"cap-256", []string{"GATEWAY_MAX_CONNS=256"}}} {
		b.Run(c.name, func(b *testing.B) { benchHealthzHeld(b, c.env) })
	}
}

func benchHealthzHeld(b *testing.B, env []string) {
	const idle, slow = 500, 200
	g := startGateway(b, testEnv(b, env...), nil)
	addr := g.m.listener.Addr().String()
	var conns []net.Conn
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.Cleanup(func() { stop(); wg.Wait() })
	// The slow ones first, so that under a cap they hold their slots and
	// the idle ones are the ones to give way.
	for range slow {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "POST /v1/devices HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n", g.ops)
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(500 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
	}
	for range idle {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		c.SetDeadline(time.Time{})
	}
	for _, mode := range []struct {
		name      string
		keepAlive bool
	}{{"kept-alive", true}, {"new-connection", false}} {
		b.Run(mode.name, func(b *testing.B) {
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.DisableKeepAlives = !mode.keepAlive
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			get := func() error {
				resp, err := client.Get(g.m.URL() + "/healthz")
				if err != nil {
					return err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("status %d", resp.StatusCode)
				}
				return nil
			}
			if err := get(); err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if err := get(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			benchPercentiles(b, lat)
		})
	}
}
