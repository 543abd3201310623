package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
)

// heartbeatBody is the wire form of a device agent's heartbeat.
type heartbeatBody struct {
	Battery  *int     `json:"battery"`
	Apps     []string `json:"apps"`
	Charging bool     `json:"charging"` // optional; absent: not charging
}

// HeartbeatReply answers a heartbeat: the device and the gateway's time.
type HeartbeatReply struct {
	Device string    `json:"device"`
	Time   time.Time `json:"time"`
}

// OrdersReply answers a poll for orders.
type OrdersReply struct {
	Orders []gateway.Order `json:"orders"`
}

// reportBody is the wire form of a device agent's report on an order.
type reportBody struct {
	Status string `json:"status"`
	Fate   string `json:"fate"`
	Detail string `json:"detail"`
}

// MaxDetail bounds a report's detail.
const MaxDetail = 200

// agentStatuses are the statuses a device agent may report, and whether
// each is final for the order.
var agentStatuses = map[gateway.ReportStatus]bool{
	gateway.ReportDialling: false,
	gateway.ReportRinging:  false,
	gateway.ReportAnswered: false,
	gateway.ReportJoined:   false,
	gateway.ReportRejected: true,
	gateway.ReportNoAnswer: true,
	gateway.ReportFailed:   true,
	gateway.ReportEnded:    true,
}

// deviceOf returns the device an agent credential speaks for.
func deviceOf(tok gateway.Token) (string, error) {
	if tok.Subject == "" {
		return "", gateway.Errorf(gateway.EFORBIDDEN, "this agent credential names no device")
	}
	return tok.Subject, nil
}

// POST /v1/agent/heartbeat
func (s *Server) agentHeartbeat(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	dev, err := deviceOf(tok)
	if err != nil {
		return err
	}
	var body heartbeatBody
	if err := s.decodeBody(w, r, &body); err != nil {
		return err
	}
	battery := -1
	if body.Battery != nil {
		if *body.Battery < 0 || *body.Battery > 100 {
			return invalid("battery must be between 0 and 100")
		}
		battery = *body.Battery
	}
	if len(body.Apps) > len(s.Channels.Channels()) {
		return invalid("apps lists more apps than there are channels")
	}
	apps := make([]gateway.Channel, 0, len(body.Apps))
	for i, a := range body.Apps {
		c, err := s.Channels.Parse(a)
		if err != nil {
			return invalid("apps[%d]: %s", i, gateway.ErrorMessage(err))
		}
		if gateway.HasChannel(apps, c) {
			return invalid("apps[%d]: %s is listed twice", i, c)
		}
		apps = append(apps, c)
	}
	d, err := s.Devices.RecordHeartbeat(r.Context(), dev, gateway.HeartbeatReport{Battery: battery, Charging: body.Charging, Apps: apps})
	if err != nil {
		return err
	}
	at := d.LastSeen
	if at.IsZero() {
		at = s.now()
	}
	s.writeJSON(w, r, http.StatusOK, HeartbeatReply{Device: d.ID, Time: at})
	return nil
}

// GET /v1/agent/orders?wait=seconds
//
// A long poll: it subscribes to the device's order topic before it first
// takes orders, so an order put in between wakes it.
func (s *Server) agentOrders(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	dev, err := deviceOf(tok)
	if err != nil {
		return err
	}
	wait, err := parseWait(r.URL.Query().Get("wait"), s.agentWait())
	if err != nil {
		return err
	}
	ctx := r.Context()
	wake, stop := s.Bus.Subscribe(gateway.TopicOrders + dev)
	defer stop()
	if wait > 0 {
		// The poll outlasts the server's write timeout.
		s.extendWrite(http.NewResponseController(w), wait+time.Second)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		orders, err := s.Orders.TakeOrders(ctx, dev)
		if err != nil {
			return err
		}
		if len(orders) > 0 || wait == 0 {
			if orders == nil {
				orders = []gateway.Order{}
			}
			s.writeJSON(w, r, http.StatusOK, OrdersReply{Orders: orders})
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			wait = 0 // take once more, then answer
		case _, ok := <-wake:
			if !ok {
				wake = nil // the bus has closed: wait out the timer
			}
		}
	}
}

// parseWait reads a long poll's wait, whole seconds, and holds it at most:
// a wait too long for a time.Duration (or for a uint64) is the most, not
// an overflow into the past. "" is no wait. EINVALID.
func parseWait(q string, most time.Duration) (time.Duration, error) {
	if q == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(q, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return most, nil
		}
		return 0, invalid("wait must be a whole number of seconds")
	}
	if n >= uint64(most/time.Second)+1 {
		return most, nil
	}
	return min(time.Duration(n)*time.Second, most), nil
}

// POST /v1/agent/orders/{id}/report
func (s *Server) agentReport(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	dev, err := deviceOf(tok)
	if err != nil {
		return err
	}
	var body reportBody
	if err := s.decodeBody(w, r, &body); err != nil {
		return err
	}
	status, err := gateway.ParseReportStatus(body.Status)
	final, allowed := agentStatuses[status]
	if body.Status == "" {
		return invalid("status is required")
	}
	if err != nil || !allowed {
		return invalid("status must be one of dialling, ringing, answered, rejected, no_answer, failed, ended, joined")
	}
	var fate gateway.Fate
	switch body.Fate {
	case "":
		if status == gateway.ReportFailed {
			fate = gateway.PlacedFailed // the careful reading: it may have rung
		}
	case gateway.NotPlaced.String():
		fate = gateway.NotPlaced
	case gateway.PlacedFailed.String():
		fate = gateway.PlacedFailed
	default:
		return invalid("fate must be not_placed or placed_failed")
	}
	if fate != 0 && status != gateway.ReportFailed {
		return invalid("fate goes only with status failed")
	}
	detail, err := checkOptionalText("detail", body.Detail, MaxDetail)
	if err != nil {
		return err
	}

	id := r.PathValue("id")
	o, err := s.Orders.Order(r.Context(), id)
	if err == nil && o.DeviceID != dev {
		err = gateway.Errorf(gateway.ENOTFOUND, "another device's order")
	}
	if gateway.ErrorCode(err) == gateway.ENOTFOUND {
		// One answer for missing and another device's alike.
		return &gateway.Error{Code: gateway.ENOTFOUND, Message: fmt.Sprintf("no order %q for this device", id), Err: err}
	}
	if err != nil {
		return err
	}
	err = s.Router.Report(r.Context(), gateway.Report{
		AttemptID:   o.AttemptID,
		Channel:     o.Channel,
		ProviderRef: o.ID,
		Status:      status,
		Fate:        fate,
		Party:       "device",
		Detail:      detail,
		At:          s.now(),
	})
	if err != nil {
		return err
	}
	if final && o.Status != gateway.OrderDone {
		if err := s.Orders.SetOrderStatus(r.Context(), o.ID, gateway.OrderDone); err != nil {
			// The report is recorded; the order's status is bookkeeping.
			s.logger().WithFields(logrus.Fields{"order": o.ID, "device": dev}).WithError(err).Warn("could not mark the order done")
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
