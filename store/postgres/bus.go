package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/safeconnection/gateway"
)

// MaxBusMessage is the largest topic plus payload that Publish sends, in
// bytes: PostgreSQL refuses a NOTIFY payload of 8000 bytes or more, and the
// store adds its origin tag and two separators.
const MaxBusMessage = 7900

// sep separates the origin, the topic and the payload in a notification.
const sep = "\x1f"

// The bus listener's reconnection backoff: it doubles from the first to the
// last after every failed attempt.
const (
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 5 * time.Second
)

// busChannel returns the NOTIFY channel for a schema: "gateway_bus" for
// public, "gateway_bus_<schema>" otherwise, cut to PostgreSQL's 63-byte
// identifiers.
func busChannel(schema string) string {
	c := "gateway_bus"
	if schema != "" && schema != "public" {
		c += "_" + schema
	}
	if len(c) > 63 {
		c = c[:63]
	}
	return c
}

// Publish sends payload to the subscribers of topic on this instance at once
// and, through pg_notify, on every other instance sharing the database.
// EINVALID when the topic holds the separator 0x1F or the message is longer
// than MaxBusMessage; EUNAVAILABLE when the notification could not be sent
// (this instance's subscribers have had it).
func (s *Store) Publish(ctx context.Context, topic, payload string) error {
	const op = "postgres.Publish"
	if strings.Contains(topic, sep) {
		return invalid(op, "bus topic must not contain 0x1F")
	}
	if len(topic)+len(payload) > MaxBusMessage {
		return invalid(op, "bus message of %d bytes is over the limit of %d", len(topic)+len(payload), MaxBusMessage)
	}
	s.bus.Publish(ctx, topic, payload)
	if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, s.channel, s.notifyPrefix(topic)+payload); err != nil {
		e := s.fail(op, err)
		if gateway.ErrorCode(e) == gateway.EINTERNAL {
			return &gateway.Error{Op: op, Code: gateway.EUNAVAILABLE, Message: "bus notification not sent", Err: err}
		}
		return e
	}
	return nil
}

// notifyPrefix is what a notification's payload starts with on topic: the
// payload follows it.
func (s *Store) notifyPrefix(topic string) string { return s.origin + sep + topic + sep }

// Subscribe returns a channel of the payloads published on topic, by any
// instance, from now on, and a function that ends the subscription and
// closes the channel. A subscriber whose buffer is full misses messages.
func (s *Store) Subscribe(topic string) (<-chan string, func()) {
	return s.bus.Subscribe(topic)
}

// publishAfterCommit publishes a wake-up for something already committed. A
// failure is logged, not returned: the data is in the tables, and readers
// poll as well as listen.
func (s *Store) publishAfterCommit(ctx context.Context, topic, payload string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.Publish(ctx, topic, payload); err != nil {
		s.log.WithField("topic", topic).WithError(err).Warn("bus publish after commit failed")
	}
}

// connectListener opens the dedicated connection and LISTENs on the channel.
func (s *Store) connectListener(ctx context.Context) (*pgx.Conn, error) {
	cfg := s.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "gateway-bus"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	s.listenMu.Lock()
	s.listenPID = conn.PgConn().PID()
	s.listenMu.Unlock()
	return conn, nil
}

// listen receives notifications on conn and hands the other instances'
// messages to local subscribers until ctx ends, reconnecting with backoff
// when the connection drops.
func (s *Store) listen(ctx context.Context, conn *pgx.Conn) {
	defer close(s.done)
	log := s.log.WithField("channel", s.channel)
	backoff := listenBackoffMin
	for {
		if conn == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			c, err := s.connectListener(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				log.WithError(err).WithField("retry_in", min(2*backoff, listenBackoffMax).String()).Warn("bus listener cannot reconnect")
				backoff = min(2*backoff, listenBackoffMax)
				continue
			}
			log.Info("bus listener reconnected")
			conn, backoff = c, listenBackoffMin
		}
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			s.listenMu.Lock()
			s.listenPID = 0
			s.listenMu.Unlock()
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			conn.Close(cctx)
			cancel()
			conn = nil
			if ctx.Err() != nil {
				return
			}
			log.WithError(err).Warn("bus listener lost its connection: messages from other instances are lost until it reconnects")
			continue
		}
		origin, rest, ok := strings.Cut(n.Payload, sep)
		if !ok || origin == s.origin {
			continue // malformed, or this store's own: delivered at publish
		}
		topic, payload, ok := strings.Cut(rest, sep)
		if !ok {
			continue
		}
		s.bus.Publish(ctx, topic, payload)
	}
}

// listenerPID returns the backend PID of the listening connection, 0 while
// it is down.
func (s *Store) listenerPID() uint32 {
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	return s.listenPID
}
