package main

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/safeconnection/gateway/internal/opsclient"
)

func (a *app) outboxCommand() *cobra.Command {
	return group(&cobra.Command{
		Use:   "outbox",
		Short: "What the force's incident system is told: list the messages and how far each got, replay one",
	}, a.outboxList(), a.outboxReplay())
}

func (a *app) outboxList() *cobra.Command {
	var f opsclient.OutboxFilter
	cmd := &cobra.Command{
		Use:   "list [--state pending|delivered|dead] [--verification ID] [--limit N]",
		Short: "The messages to the incident system, oldest first, with their state and last error",
		Example: `  gatewayctl outbox list --state dead
  gatewayctl outbox list --verification v_0a1b2c`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			switch f.State {
			case "", "pending", "delivered", "dead":
			default:
				return usagef("--state must be pending, delivered or dead")
			}
			if f.Limit < 0 {
				return usagef("--limit must be positive")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			l, raw, err := c.Outbox(a.ctx(), f)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			if len(l.Entries) == 0 {
				return a.none("messages")
			}
			t := newTable(a.stdout, "ID", "VERIFICATION", "TYPE", "STATE", "TRIES", "NEXT", "LAST ERROR")
			for _, e := range l.Entries {
				next := ""
				if e.State == "pending" {
					next = a.when(e.NextAt)
				}
				t.row(e.ID, e.Verification, strings.TrimPrefix(e.Type, "verification."), e.State, strconv.Itoa(e.Attempts), next, e.LastError)
			}
			return t.flush()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.State, "state", "", "only those pending, delivered or dead")
	fl.StringVar(&f.Verification, "verification", "", "only this verification's")
	fl.IntVar(&f.Limit, "limit", 0, "at most this many (default: the gateway's)")
	return cmd
}

func (a *app) outboxReplay() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:     "replay MESSAGE --reason WHY",
		Short:   "Deliver a dead (or delivered) message again, with its id; the reason goes into the ops record",
		Example: `  gatewayctl outbox replay msg_0a1b2c --reason "the incident system is back"`,
		Args:    oneArg("message's ID"),
		RunE: func(_ *cobra.Command, args []string) error {
			c, err := a.clientWithReason(reason)
			if err != nil {
				return err
			}
			e, raw, err := c.ReplayOutbox(a.ctx(), args[0], reason)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			t := newTable(a.stdout, "ID", "VERIFICATION", "TYPE", "STATE", "TRIES")
			t.row(e.ID, e.Verification, strings.TrimPrefix(e.Type, "verification."), e.State, strconv.Itoa(e.Attempts))
			return t.flush()
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the ops record (required)")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}
