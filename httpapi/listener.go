package httpapi

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/handle"
)

// Listener is the gateway's listener: it holds at most Max client
// connections open at once, and answers the errors that net/http writes by
// itself, before any handler runs (431 for headers over the server's
// MaxHeaderBytes, 400 for a malformed request), in the JSON of every other
// error instead of plain text.
//
// A connection over the cap waits in the kernel's backlog to be accepted.
// Idle keep-alive connections give way first: when every slot is taken,
// the connection that has been idle longest is closed (as the server's
// IdleTimeout would close it later), so that idle clients cannot keep
// /healthz or the API from being served. Set the http.Server's ConnState
// to the Listener's ConnState so that it knows which connections are idle.
type Listener struct {
	net.Listener
	// Max is the cap given to Listen.
	Max int

	slots  chan struct{}
	closed chan struct{}
	once   sync.Once

	mu   sync.Mutex
	idle map[*conn]time.Time // idle connections, since when
}

// Listen wraps l with a cap of max connections (max <= 0: no cap).
func Listen(l net.Listener, max int) *Listener {
	ln := &Listener{Listener: l, Max: max, closed: make(chan struct{}), idle: map[*conn]time.Time{}}
	if max > 0 {
		ln.slots = make(chan struct{}, max)
	}
	return ln
}

// shedEvery is how often a full Listener looks again for an idle
// connection to close.
const shedEvery = 50 * time.Millisecond

// Accept waits for a free slot, closing the longest idle connection when
// there is none, then accepts the next connection.
func (l *Listener) Accept() (net.Conn, error) {
	if l.slots != nil {
		if err := l.acquire(); err != nil {
			return nil, err
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		if l.slots != nil {
			<-l.slots
		}
		return nil, err
	}
	return &conn{Conn: c, l: l}, nil
}

func (l *Listener) acquire() error {
	for {
		select {
		case l.slots <- struct{}{}:
			return nil
		default:
		}
		l.shedIdle()
		t := time.NewTimer(shedEvery)
		select {
		case l.slots <- struct{}{}:
			t.Stop()
			return nil
		case <-l.closed:
			t.Stop()
			return net.ErrClosed
		case <-t.C:
		}
	}
}

// shedIdle closes the connection idle longest, if any.
func (l *Listener) shedIdle() {
	l.mu.Lock()
	var oldest *conn
	var since time.Time
	for c, t := range l.idle {
		if oldest == nil || t.Before(since) {
			oldest, since = c, t
		}
	}
	if oldest != nil {
		delete(l.idle, oldest)
	}
	l.mu.Unlock()
	if oldest != nil {
		oldest.Close()
	}
}

// Close closes the listener; connections already accepted stay open.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// ConnState is the http.Server's ConnState hook: it notes which of the
// Listener's connections are idle.
func (l *Listener) ConnState(nc net.Conn, state http.ConnState) {
	c, ok := nc.(*conn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if state == http.StateIdle {
		l.idle[c] = time.Now()
	} else {
		delete(l.idle, c)
	}
}

// conn is one accepted connection: it frees its slot when closed and
// rewrites net/http's own plain-text error answers as JSON.
type conn struct {
	net.Conn
	l    *Listener
	once sync.Once
}

// Close closes the connection and frees its slot, once.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.idle, c)
		c.l.mu.Unlock()
		if c.l.slots != nil {
			<-c.l.slots
		}
	})
	return err
}

// CloseWrite half-closes a TCP connection: net/http does so before it
// closes a connection whose request it did not read to the end, so that
// the client reads the answer rather than a reset.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// plainErrorHeaders are the headers net/http writes after the status line
// of the errors it answers by itself. Its ordinary answers always carry a
// Date header, so no handler's answer ends its headers like this.
var plainErrorHeaders = []byte("\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n")

// Write passes b through, unless it is one of net/http's own error
// answers, which it writes as the API's JSON error.
func (c *conn) Write(b []byte) (int, error) {
	if out, ok := jsonServerError(b); ok {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// jsonServerError returns net/http's plain-text error answer b as a JSON
// one, and whether b was such an answer.
func jsonServerError(b []byte) ([]byte, bool) {
	if !bytes.HasPrefix(b, []byte("HTTP/1.1 ")) || len(b) < 12 {
		return nil, false
	}
	i := bytes.Index(b, plainErrorHeaders)
	if i < 0 || bytes.IndexByte(b[:i], '\n') >= 0 {
		return nil, false
	}
	status, err := strconv.Atoi(string(b[9:12]))
	if err != nil || status < 400 {
		return nil, false
	}
	// Every one of these is the request's fault (a malformed request, an
	// unsupported transfer coding or protocol version), 5xx included.
	code, msg := gateway.EINVALID, genericMessage[gateway.EINVALID]
	if status == http.StatusRequestHeaderFieldsTooLarge {
		code, msg = codeHeadersTooLarge, genericMessage[codeHeadersTooLarge]
	} else if text := string(bytes.TrimSpace(b[i+len(plainErrorHeaders):])); text != "" && handle.Printable(text) && len(text) <= 200 {
		// net/http's own fixed text, such as "Bad Request: malformed
		// Host header": it never repeats the request.
		msg = text
	}
	var body ErrorBody
	body.Error.Code, body.Error.Message = code, msg
	js, err := marshal(body)
	if err != nil {
		return nil, false
	}
	var out bytes.Buffer
	out.Write(b[:i])
	out.WriteString("\r\nContent-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: ")
	out.WriteString(strconv.Itoa(len(js)))
	out.WriteString("\r\n\r\n")
	out.Write(js)
	return out.Bytes(), true
}

// Interface guards
var _ net.Listener = (*Listener)(nil)
