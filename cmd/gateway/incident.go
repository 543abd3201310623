package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/mocks/incident"
	"github.com/safeconnection/gateway/outbox"
)

// writesOutbox reports whether the store is to write the outbox: when
// there is an incident system to deliver it to (in the demo, its fake).
func writesOutbox(m *Main) bool { return m.Config.IncidentURL != "" || m.Demo }

// wireOutbox starts delivering the outbox to GATEWAY_INCIDENT_URL, or in
// the demo to a fake incident system on loopback (its received messages
// at /fake/incident/received, its faults at POST /demo/faults/incident).
func (m *Main) wireOutbox(log logrus.FieldLogger, instance string) error {
	url, secret := m.Config.IncidentURL, m.Config.IncidentSecret
	if url == "" && m.demo != nil {
		var err error
		if url, secret, err = m.demo.startIncident(); err != nil {
			return err
		}
	}
	if url == "" {
		return nil
	}
	key, err := outbox.ParseSecret(secret)
	if err != nil {
		return fmt.Errorf("GATEWAY_INCIDENT_SECRET: %w", err)
	}
	sched := outbox.DefaultSchedule()
	sched.For = m.Config.IncidentRetryFor
	d := &outbox.Deliverer{Store: m.Store, Sender: outbox.NewSender(url, key), Schedule: sched,
		Instance: instance, Log: log, Observer: m.Metrics}
	if u := m.Config.StandardsURL; u != "" {
		skey, err := outbox.ParseSecret(m.Config.StandardsSecret)
		if err != nil {
			return fmt.Errorf("GATEWAY_STANDARDS_SECRET: %w", err)
		}
		d.Routes = map[string]*outbox.Sender{gateway.OutboxMisconduct: outbox.NewSender(u, skey)}
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	m.closers = append(m.closers, func() error { stop(); <-done; return nil })
	return nil
}

// startIncident starts the demo's fake incident system with a new secret
// and returns its endpoint and the secret.
func (d *demo) startIncident() (string, string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", "", err
	}
	secret := outbox.SecretPrefix + base64.StdEncoding.EncodeToString(raw)
	fake, err := incident.New(secret)
	if err != nil {
		return "", "", err
	}
	u, stop, err := d.faults.serve("incident", fake)
	if err != nil {
		return "", "", fmt.Errorf("demo incident system: %w", err)
	}
	d.providers = append(d.providers, stop)
	d.incident = u
	return u + "/incidents", secret, nil
}
