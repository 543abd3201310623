package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/safeconnection/gateway/internal/opsclient"
)

func (a *app) recordCommand() *cobra.Command {
	var (
		f            opsclient.OpsEventFilter
		since, until string
	)
	cmd := &cobra.Command{
		Use:     "record [--room ROOM] [--device DEVICE] [--since T] [--until T] [--limit N]",
		Aliases: []string{"audit", "ops-events"},
		Short:   "The ops record: who changed which room, handset or credential, when, and why",
		Long: `The ops record: every change ops staff made (rooms, handsets, credentials), oldest first,
with who made it, what it changed from and to, and the reason given.`,
		Example: `  gatewayctl record --room AW --since 24h
  gatewayctl record --device AW-1`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			var err error
			if f.Since, err = a.parseWhen("since", since); err != nil {
				return err
			}
			if f.Until, err = a.parseWhen("until", until); err != nil {
				return err
			}
			if f.Limit < 0 {
				return usagef("--limit must be positive")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			es, raw, err := c.OpsEvents(a.ctx(), f)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			if len(es.Events) == 0 {
				return a.none("entries")
			}
			t := newTable(a.stdout, "AT", "ACTOR", "ACTION", "ROOM", "DEVICE", "CHANGE", "REASON")
			for _, e := range es.Events {
				t.row(a.when(e.At), e.Actor.String(), e.Action, e.Room, e.Device, change(e.Before, e.After), e.Reason)
			}
			return t.flush()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Room, "room", "", "only this room's")
	fl.StringVar(&f.Device, "device", "", "only this handset's")
	fl.StringVar(&since, "since", "", "only from this time: "+timeHelp)
	fl.StringVar(&until, "until", "", "only before this time (same forms as --since)")
	fl.IntVar(&f.Limit, "limit", 0, "at most this many (default: the gateway's)")
	return cmd
}

// change shows what an entry changed: for two objects, each field that
// differs as "field: before → after"; else the values themselves.
func change(before, after json.RawMessage) string {
	var b, a map[string]json.RawMessage
	if json.Unmarshal(before, &b) == nil && json.Unmarshal(after, &a) == nil && (b != nil || a != nil) {
		keys := make([]string, 0, len(a)+len(b))
		for k := range b {
			keys = append(keys, k)
		}
		for k := range a {
			if _, ok := b[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		var parts []string
		for _, k := range keys {
			if bytes.Equal(b[k], a[k]) {
				continue
			}
			parts = append(parts, k+": "+value(b[k])+" → "+value(a[k]))
		}
		return strings.Join(parts, "; ")
	}
	if isNull(before) && isNull(after) {
		return ""
	}
	return value(before) + " → " + value(after)
}

func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}

// value is one JSON value for a cell: "-" for none.
func value(raw json.RawMessage) string {
	if isNull(raw) {
		return "-"
	}
	return compact(raw)
}

func (a *app) flagsCommand() *cobra.Command {
	var (
		room  string
		hours int
	)
	cmd := &cobra.Command{
		Use:   "flags [--room ROOM] [--hours N]",
		Short: "Verifications that never connected (failed, or cancelled before connecting)",
		Long: `Verifications of the last hours (24 by default, up to 168) that ended without ever connecting:
failed, or cancelled by the officer before they connected. A supervisor must see these.`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			if hours < 0 {
				return usagef("--hours must be positive")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			fl, raw, err := c.Flags(a.ctx(), room, hours)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			if len(fl.Flags) == 0 {
				return a.none("verifications that never connected since " + a.when(fl.Since))
			}
			if err := a.verificationTable(fl.Flags); err != nil {
				return err
			}
			if fl.Truncated {
				if _, err := a.stdout.Write([]byte("(more than " + strconv.Itoa(len(fl.Flags)) + ": the oldest are shown)\n")); err != nil {
					return outputError{err}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "only this room's")
	cmd.Flags().IntVar(&hours, "hours", 0, "how many hours back, 1 to 168 (default: 24)")
	return cmd
}
