package httpapi

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ClientLimiter limits each client, by its address, to a rate of requests
// with a small burst: the public's routes need no credential, so the
// address is what a limit can hold on to. The zero value is not usable;
// build one with NewClientLimiter. Safe for concurrent use.
type ClientLimiter struct {
	// Proxies are the networks of the reverse proxies in front of the
	// gateway. Only a request from one of them has its client address read
	// from Header; from anywhere else the header is ignored, so a client
	// cannot pick its own address.
	Proxies []netip.Prefix
	// Header names the header a trusted proxy puts the client's address in
	// ("X-Forwarded-For", or a single-address one such as "X-Real-IP").
	// Empty: the connection's address is always the client's.
	Header string

	rate  rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	clients map[netip.Addr]*clientRate
	swept   time.Time
}

type clientRate struct {
	lim  *rate.Limiter
	seen time.Time
}

// MaxClients bounds the addresses a ClientLimiter remembers (see sweep).
const MaxClients = 100_000

// NewClientLimiter returns a limiter of perMinute requests a minute for
// each client, with burst requests at once.
func NewClientLimiter(perMinute float64, burst int) *ClientLimiter {
	return &ClientLimiter{
		rate: rate.Limit(perMinute / 60), burst: burst, now: time.Now,
		clients: map[netip.Addr]*clientRate{},
	}
}

// Allow takes one request of r's client and reports whether it may go on;
// when not, it returns how long the client should wait before the next.
func (l *ClientLimiter) Allow(r *http.Request) (bool, time.Duration) {
	addr := l.ClientAddr(r)
	now := l.now()
	l.mu.Lock()
	c := l.clients[addr]
	if c == nil {
		l.sweep(now)
		c = &clientRate{lim: rate.NewLimiter(l.rate, l.burst)}
		l.clients[addr] = c
	}
	c.seen = now
	res := c.lim.ReserveN(now, 1)
	l.mu.Unlock()
	if !res.OK() {
		return false, time.Minute
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now) // a refused request takes nothing from the bucket
		return false, d
	}
	return true, 0
}

// sweep forgets clients whose bucket is full again, once a minute or when
// there are MaxClients; if a flood of addresses leaves too many still, it
// forgets half of them, whichever they are (a client forgotten has its
// burst again: the cost of bounded memory). l.mu is held.
func (l *ClientLimiter) sweep(now time.Time) {
	if len(l.clients) < MaxClients && now.Sub(l.swept) < time.Minute {
		return
	}
	l.swept = now
	full := time.Minute
	if l.rate > 0 && !math.IsInf(float64(l.rate), 1) {
		full = time.Duration(float64(l.burst) / float64(l.rate) * float64(time.Second))
	}
	for a, c := range l.clients {
		if now.Sub(c.seen) > full {
			delete(l.clients, a)
		}
	}
	if len(l.clients) >= MaxClients {
		drop := len(l.clients) / 2
		for a := range l.clients {
			if drop == 0 {
				break
			}
			delete(l.clients, a)
			drop--
		}
	}
}

// ClientAddr returns the address of r's client: the connection's, or, when
// the connection comes from a trusted proxy, the one the proxy gives in
// Header (for X-Forwarded-For, the nearest address that is not itself a
// trusted proxy). An IPv6 client is taken by its /64, which one home or
// phone holds entirely.
func (l *ClientLimiter) ClientAddr(r *http.Request) netip.Addr {
	addr := remoteAddr(r)
	if l.Header == "" || !l.trusted(addr) {
		return network(addr)
	}
	values := r.Header.Values(l.Header)
	var hops []string
	for _, v := range values {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: stop at the last proxy's own address
		}
		addr = a.Unmap()
		if !l.trusted(addr) {
			break
		}
	}
	return network(addr)
}

func (l *ClientLimiter) trusted(a netip.Addr) bool {
	for _, p := range l.Proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// remoteAddr is the address of the connection r came on; the unspecified
// address when it cannot be read (a test's request, say).
func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.IPv4Unspecified()
	}
	return a.Unmap()
}

// network is the address a limit holds: an IPv4 address, or an IPv6 /64.
func network(a netip.Addr) netip.Addr {
	if a.Is4() {
		return a
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a
	}
	return p.Addr()
}

// ParseProxies parses a comma-separated list of addresses and networks in
// CIDR form ("10.0.0.0/8, 192.168.1.4").
func ParseProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
