package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

// WriteFaulter is a store whose writes can be made to fail, as a read-only
// disk or database would, for tests and fault injection.
type WriteFaulter interface {
	gateway.Store
	FailWrites(err error)
}

// FailWrites checks a store's FailWrites on s, a fresh store: while writes
// fail, every write and Ping answer EUNAVAILABLE with the safe message,
// carry the injected error, and (Ping aside) are the database's own
// refusal, as refused tells; reads go on and nothing is half written;
// after FailWrites(nil) every write and Ping work again.
func FailWrites(t *testing.T, s WriteFaulter, message string, refused func(error) bool) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.CreateDevice(ctx, gateway.Device{ID: "d1", RoomID: "r1"}); err != nil {
		t.Fatal(err)
	}
	injected := errors.New("read-only: writes refused")
	s.FailWrites(injected)
	writes := map[string]func() error{
		"CreateDevice": func() error { _, err := s.CreateDevice(ctx, gateway.Device{ID: "d2", RoomID: "r1"}); return err },
		"Heartbeat":    func() error { _, err := s.Heartbeat(ctx, "d1", 50, nil); return err },
		"CreateVerification": func() error {
			_, _, err := s.CreateVerification(ctx, gateway.Verification{ID: "v1", Reference: "AAAA-BBBB", RoomID: "r1"}, "",
				gateway.Event{Type: gateway.EventState, Message: "requested"})
			return err
		},
		"Remember": func() error { _, err := s.Remember(ctx, "twilio:k", time.Hour); return err },
		"Ping":     func() error { return s.Ping(ctx) },
	}
	for name, write := range writes {
		err := write()
		if gateway.ErrorCode(err) != gateway.EUNAVAILABLE {
			t.Errorf("%s while writes fail: %v, want %s", name, err, gateway.EUNAVAILABLE)
			continue
		}
		if msg := gateway.ErrorMessage(err); msg != message {
			t.Errorf("%s: message %q, want %q", name, msg, message)
		}
		if !errors.Is(err, injected) {
			t.Errorf("%s: %v does not carry the injected error", name, err)
		}
		if name != "Ping" && !refused(err) {
			t.Errorf("%s: %v is not the database refusing the write", name, err)
		}
	}
	if _, err := s.Device(ctx, "d1"); err != nil {
		t.Errorf("a read while writes fail: %v", err)
	}
	if _, err := s.Device(ctx, "d2"); gateway.ErrorCode(err) != gateway.ENOTFOUND {
		t.Errorf("a refused write was stored: %v", err)
	}
	s.FailWrites(nil)
	for name, write := range writes {
		if err := write(); err != nil {
			t.Errorf("%s after recovery: %v", name, err)
		}
	}
}
