package main

import (
	"encoding/csv"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/safeconnection/gateway/internal/opsclient"
)

func (a *app) verificationsCommand() *cobra.Command {
	return group(&cobra.Command{
		Use:     "verifications",
		Aliases: []string{"verification", "v"},
		Short:   "Verifications: list and export with filters, show one with its attempts",
	}, a.verificationsList(), a.verificationsShow(), a.verificationsExport())
}

// verificationFlags are the history's filters, shared by list and export.
type verificationFlags struct {
	f            opsclient.VerificationFilter
	since, until string
}

func (v *verificationFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&v.f.Room, "room", "", "only this room's")
	fs.StringVar(&v.since, "since", "", "only those created at or after this: "+timeHelp)
	fs.StringVar(&v.until, "until", "", "only those created before this (same forms as --since)")
	fs.StringVar(&v.f.Outcome, "outcome", "", "only those with this outcome: verified or refused")
	fs.StringVar(&v.f.Channel, "channel", "", "only those connected on this channel: facetime, whatsapp, zoom, meet, teams, webrtc, pstn")
	fs.StringVar(&v.f.Origin, "origin", "", "only those of this origin: officer, or public (she called the room)")
	fs.IntVar(&v.f.Limit, "limit", 0, "at most this many (default: the gateway's)")
}

// filter checks the flags and returns the filter they make.
func (v *verificationFlags) filter(a *app) (opsclient.VerificationFilter, error) {
	f := v.f
	var err error
	if f.Since, err = a.parseWhen("since", v.since); err != nil {
		return f, err
	}
	if f.Until, err = a.parseWhen("until", v.until); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return f, usagef("--until must be after --since")
	}
	if f.Limit < 0 {
		return f, usagef("--limit must be positive")
	}
	return f, nil
}

func (a *app) verificationsList() *cobra.Command {
	var vf verificationFlags
	cmd := &cobra.Command{
		Use:   "list [filters]",
		Short: "List verifications, with filters",
		Example: `  gatewayctl verifications list --room AW --since 24h
  gatewayctl verifications list --origin public --outcome verified --since 2026-12-01 --until 2026-12-02`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			f, err := vf.filter(a)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			vs, raw, err := c.Verifications(a.ctx(), f)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			return a.verificationTable(vs.Verifications)
		},
	}
	vf.add(cmd.Flags())
	return cmd
}

// verificationTable prints verifications one a row.
func (a *app) verificationTable(vs []opsclient.Verification) error {
	if len(vs) == 0 {
		return a.none("verifications")
	}
	t := newTable(a.stdout, "CREATED", "ID", "REFERENCE", "ORIGIN", "ROOM", "STATE", "CHANNEL", "DEVICE", "ATTEMPTS", "OUTCOME")
	for _, v := range vs {
		t.row(a.when(v.CreatedAt), v.ID, v.Reference, v.Origin, v.Room, v.State, v.Channel, v.Device,
			strconv.Itoa(len(v.Attempts)), outcome(v.Outcome))
	}
	return t.flush()
}

func outcome(o *opsclient.Outcome) string {
	if o == nil {
		return "-"
	}
	return strings.TrimSpace(o.Outcome + " " + o.Supervisor)
}

func (a *app) verificationsShow() *cobra.Command {
	return &cobra.Command{
		Use:   "show VERIFICATION",
		Short: "Show one verification with its attempts",
		Args:  oneArg("verification's ID"),
		RunE: func(_ *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			v, raw, err := c.Verification(a.ctx(), args[0])
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			t := newTable(a.stdout)
			t.row("ID", v.ID)
			t.row("Reference", v.Reference)
			t.row("State", v.State)
			t.row("Origin", v.Origin)
			if v.Caller != "" {
				t.row("Caller", v.Caller)
			}
			t.row("Room", v.Room)
			t.row("Device", v.Device)
			t.row("Channel", v.Channel)
			t.row("Created", a.when(v.CreatedAt))
			t.row("Updated", a.when(v.UpdatedAt))
			t.row("Deadline", a.when(v.Deadline))
			if v.Reason != "" {
				t.row("Reason", v.Reason)
			}
			if v.Advice != "" {
				t.row("Advice", v.Advice)
			}
			if o := v.Outcome; o != nil {
				t.row("Outcome", o.Outcome)
				t.row("Supervisor", o.Supervisor)
				t.row("Note", o.Note)
				t.row("Outcome at", a.when(o.At))
			} else {
				t.row("Outcome", "-")
			}
			if err := t.flush(); err != nil {
				return err
			}
			if len(v.Attempts) == 0 {
				return nil
			}
			if _, err := a.stdout.Write([]byte("\nAttempts:\n")); err != nil {
				return outputError{err}
			}
			at := newTable(a.stdout, "STARTED", "ENDED", "CHANNEL", "ROOM", "DEVICE", "TRIES", "RESULT", "ERROR")
			for _, x := range v.Attempts {
				result := x.Result
				if result == "" {
					result = "pending"
				}
				at.row(a.when(x.StartedAt), a.whenPtr(x.EndedAt), x.Channel, x.Room, x.Device, strconv.Itoa(x.Tries), result, x.Error)
			}
			return at.flush()
		},
	}
}

// csvColumns are the columns of the CSV export, in order.
var csvColumns = []string{
	"id", "reference", "created_at", "updated_at", "state", "origin", "room", "device", "channel",
	"attempts", "channels_tried", "outcome", "supervisor", "outcome_at", "reason",
}

func (a *app) verificationsExport() *cobra.Command {
	var (
		vf     verificationFlags
		format string
	)
	cmd := &cobra.Command{
		Use:   "export --format csv|json [filters]",
		Short: "Export verifications as CSV or JSON, with the list's filters",
		Long: `Export verifications, in the gateway's order, with the same filters as 'verifications list'.

--format json (or --json) prints the gateway's answer as it came: {"verifications":[...]}.

--format csv (the default) prints a header row, then one row a verification, with the columns:
  id              the verification's ID
  reference       the code the supervisor reads to her
  created_at      when it was asked for (RFC 3339, UTC)
  updated_at      its last change (RFC 3339, UTC)
  state           routing, queued, dialling, connected, verified, refused, failed, cancelled
  origin          officer, or public (she called the room)
  room            the ops room
  device          the handset that connected (empty if none)
  channel         the channel that connected (empty if none)
  attempts        how many attempts were made
  channels_tried  the channels of the attempts in order, space-separated
  outcome         the supervisor's outcome: verified, refused (empty if none)
  supervisor      the supervisor as recorded with the outcome ("PS 42")
  outcome_at      when the outcome was recorded (RFC 3339, UTC)
  reason          why it ended as it did, when it failed or was cancelled
Nothing personal is in the CSV (no caller, no note); a cell a spreadsheet would run as a formula
(one starting with =, +, -, @) is written with a leading '.`,
		Example: `  gatewayctl verifications export --room AW --since 2026-12-01 --until 2026-12-08 > aw-week.csv
  gatewayctl verifications export --format json --origin public --since 24h`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.json {
				if cmd.Flags().Changed("format") && format != "json" {
					return usagef("--json and --format %s together", format)
				}
				format = "json"
			}
			if format != "csv" && format != "json" {
				return usagef("--format %q: want csv or json", format)
			}
			f, err := vf.filter(a)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			vs, raw, err := c.Verifications(a.ctx(), f)
			if err != nil {
				return err
			}
			if format == "json" {
				return a.printJSON(raw)
			}
			return a.writeCSV(vs.Verifications)
		},
	}
	cmd.Flags().StringVar(&format, "format", "csv", "csv or json")
	vf.add(cmd.Flags())
	return cmd
}

// writeCSV writes verifications as the export's CSV.
func (a *app) writeCSV(vs []opsclient.Verification) error {
	w := csv.NewWriter(a.stdout)
	if err := w.Write(csvColumns); err != nil {
		return outputError{err}
	}
	for _, v := range vs {
		tried := make([]string, 0, len(v.Attempts))
		for _, x := range v.Attempts {
			tried = append(tried, x.Channel)
		}
		var result, supervisor, at string
		if o := v.Outcome; o != nil {
			result, supervisor, at = o.Outcome, o.Supervisor, rfc3339(o.At)
		}
		row := []string{
			v.ID, v.Reference, rfc3339(v.CreatedAt), rfc3339(v.UpdatedAt), v.State, v.Origin, v.Room, v.Device,
			v.Channel, strconv.Itoa(len(v.Attempts)), strings.Join(tried, " "), result, supervisor, at, v.Reason,
		}
		for i := range row {
			row[i] = defuse(row[i])
		}
		if err := w.Write(row); err != nil {
			return outputError{err}
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return outputError{err}
	}
	return nil
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// defuse keeps a spreadsheet from running a cell as a formula (OWASP's
// CSV injection advice): a cell starting with =, +, -, @, a tab or a
// carriage return gets a leading apostrophe.
func defuse(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
