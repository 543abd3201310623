package config

import (
	"net"
	"strconv"
	"time"
)

// validateServer checks the HTTP server's limits.
func (c Config) validateServer(p *problems) {
	v := func(name string) string { return Prefix + "_" + name }
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{"READ_HEADER_TIMEOUT", c.ReadHeaderTimeout}, {"READ_TIMEOUT", c.ReadTimeout},
		{"WRITE_TIMEOUT", c.WriteTimeout}, {"IDLE_TIMEOUT", c.IdleTimeout},
	} {
		if d.d <= 0 {
			p.add(v(d.name), "%s is not a positive duration", d.d)
		}
	}
	if c.ReadHeaderTimeout > 0 && c.ReadTimeout > 0 && c.ReadHeaderTimeout > c.ReadTimeout {
		p.add(v("READ_HEADER_TIMEOUT"), "%s is more than GATEWAY_READ_TIMEOUT (%s), which covers the headers too", c.ReadHeaderTimeout, c.ReadTimeout)
	}
	if c.MaxHeaderBytes < 4096 || c.MaxHeaderBytes > 1<<20 {
		p.add(v("MAX_HEADER_BYTES"), "%d bytes is not between 4096 and 1048576", c.MaxHeaderBytes)
	}
	if c.MaxConns < 16 {
		p.add(v("MAX_CONNS"), "%d is too few connections: at least 16", c.MaxConns)
	}
	if c.MaxStreams < 1 {
		p.add(v("MAX_STREAMS"), "%d: at least one event stream per credential", c.MaxStreams)
	}
	if c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil || port == "" {
			p.add(v("METRICS_ADDR"), "%q is not host:port", c.MetricsAddr)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			p.add(v("METRICS_ADDR"), "port %q is not a number from 0 to 65535", port)
		} else if c.MetricsAddr == c.Addr && port != "0" {
			p.add(v("METRICS_ADDR"), "%q is GATEWAY_ADDR itself: leave it empty to serve /metrics there", c.MetricsAddr)
		}
	}
}
