package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/safeconnection/gateway/internal/opsclient"
)

func (a *app) devicesCommand() *cobra.Command {
	return group(&cobra.Command{
		Use:     "devices",
		Aliases: []string{"device"},
		Short:   "The rooms' handsets: list with health, add, rotate, take out, return, retire, history",
	}, a.devicesList(), a.devicesShow(), a.devicesAdd(), a.devicesRotate(),
		a.devicesService("out", "Take a handset out of service: it keeps a call in progress and takes no new one", (*opsclient.Client).DeviceOut),
		a.devicesService("return", "Put a handset back in service", (*opsclient.Client).DeviceReturn),
		a.devicesService("retire", "Retire a handset for good: its agent's credential is revoked, its history kept", (*opsclient.Client).RetireDevice),
		a.devicesHistory())
}

func (a *app) devicesList() *cobra.Command {
	var (
		room    string
		retired bool
	)
	cmd := &cobra.Command{
		Use:   "list [--room ROOM] [--retired]",
		Short: "List handsets with their health",
		Long: `List the handsets, of one room or of all: status, battery, when last heard from, the channels
the gateway can route to them now (ROUTABLE) and what stands in the way of the others (PROBLEMS,
by code; 'devices show' gives the reasons).`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ds, raw, err := c.Devices(a.ctx(), opsclient.DeviceFilter{Room: room, Retired: retired})
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			if len(ds.Devices) == 0 {
				return a.none("devices")
			}
			t := newTable(a.stdout, "ID", "ROOM", "NAME", "NUMBER", "STATUS", "BATTERY", "LAST SEEN", "IN CALL", "ROUTABLE", "PROBLEMS")
			for _, d := range ds.Devices {
				routable, problems := health(d.Health)
				t.row(d.ID, d.Room, d.Name, d.Number, d.Status, battery(d.Battery), a.whenPtr(d.LastSeen),
					inCall(d.Lease), routable, problems)
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "only this room's handsets")
	cmd.Flags().BoolVar(&retired, "retired", false, "retired handsets too")
	return cmd
}

// health is a device's health for two cells: the channels routable now,
// and its problems' codes. "?" when the gateway does not say.
func health(h *opsclient.Health) (routable, problems string) {
	if h == nil {
		return "?", "?"
	}
	routable = list(h.Routable)
	if routable == "" {
		routable = "none"
	}
	codes := make([]string, 0, len(h.Problems))
	for _, p := range h.Problems {
		codes = append(codes, p.Code)
	}
	return routable, list(codes)
}

func battery(b *int) string {
	if b == nil {
		return "-"
	}
	return strconv.Itoa(*b) + "%"
}

func inCall(l *opsclient.Lease) string {
	if l == nil {
		return "no"
	}
	return "yes"
}

func (a *app) devicesShow() *cobra.Command {
	return &cobra.Command{
		Use:   "show DEVICE",
		Short: "Show one handset, its health and its lease",
		Args:  oneArg("device's ID"),
		RunE: func(_ *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			d, raw, err := c.Device(a.ctx(), args[0])
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			return a.showDevice(d)
		},
	}
}

func (a *app) devicesAdd() *cobra.Command {
	var (
		d  opsclient.NewDevice
		hs []string
	)
	cmd := &cobra.Command{
		Use:   "add --room ROOM [--name NAME] [--number N] [--handle CHANNEL=HANDLE]...",
		Short: "Add a handset to a room; its agent's credential is printed once",
		Long: `Add a handset to a room, with its SIM's number (for PSTN) and its handles, one --handle per
app (facetime, whatsapp, zoom, meet, teams, webrtc). The answer holds the credential its device
agent signs in with: it is printed this once, so put it on the handset now.`,
		Example: `  gatewayctl devices add --room AW --name "AW desk 4" --number +447700900555 \
    --handle facetime=+447700900555 --handle whatsapp=+447700900555`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			var err error
			if d.Handles, err = handles(hs); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ans, raw, err := c.AddDevice(a.ctx(), d)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			return a.showDevice(ans)
		},
	}
	cmd.Flags().StringVar(&d.Room, "room", "", "the room's ID (required)")
	cmd.Flags().StringVar(&d.Name, "name", "", "a name the ops room knows it by")
	cmd.Flags().StringVar(&d.Number, "number", "", "its SIM's number")
	cmd.Flags().StringArrayVar(&hs, "handle", nil, "an app's handle as CHANNEL=HANDLE (repeat for each app)")
	_ = cmd.MarkFlagRequired("room")
	return cmd
}

func (a *app) devicesRotate() *cobra.Command {
	var (
		name, number, reason string
		hs                   []string
		noHandles, newCred   bool
	)
	cmd := &cobra.Command{
		Use:   "rotate DEVICE [--name N] [--number N] [--handle CHANNEL=HANDLE]... [--new-credential] [--reason WHY]",
		Short: "Change a handset's name, number or handles, or give its agent a new credential",
		Long: `Change a handset's name, SIM number or handles (the --handle flags given replace all its
handles; --no-handles removes them), or issue its agent a new credential (--new-credential: the old
one stops working, the new one is printed once). A call in progress is not interrupted: the change
may wait for it to end (the answer says "pending").`,
		Example: `  gatewayctl devices rotate AW-1 --number +447700900556 --reason "new SIM"
  gatewayctl devices rotate AW-1 --new-credential --reason "handset reset"`,
		Args: oneArg("device's ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r opsclient.Rotation
			f := cmd.Flags()
			if f.Changed("name") {
				r.Name = &name
			}
			if f.Changed("number") {
				r.Number = &number
			}
			if f.Changed("handle") && noHandles {
				return usagef("--handle and --no-handles together")
			}
			if f.Changed("handle") || noHandles {
				h, err := handles(hs)
				if err != nil {
					return err
				}
				r.Handles = &h
			}
			r.RotateCredential, r.Reason = newCred, reason
			if r.Name == nil && r.Number == nil && r.Handles == nil && !r.RotateCredential {
				return usagef("nothing to change: give --name, --number, --handle, --no-handles or --new-credential")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ans, raw, err := c.RotateDevice(a.ctx(), args[0], r)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			return a.showDevice(ans)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "its new name")
	cmd.Flags().StringVar(&number, "number", "", "its new SIM number (\"\" for none)")
	cmd.Flags().StringArrayVar(&hs, "handle", nil, "an app's handle as CHANNEL=HANDLE (repeat; replaces all its handles)")
	cmd.Flags().BoolVar(&noHandles, "no-handles", false, "remove all its handles")
	cmd.Flags().BoolVar(&newCred, "new-credential", false, "issue its agent a new credential, revoking the old")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the ops record")
	return cmd
}

// clientWithReason is the client for a change the ops record needs a
// reason for: bad usage when reason is empty.
func (a *app) clientWithReason(reason string) (*opsclient.Client, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, usagef("--reason is empty: say why, for the ops record")
	}
	return a.client()
}

func (a *app) devicesService(verb, short string, do func(*opsclient.Client, context.Context, string, string) (opsclient.DeviceAnswer, json.RawMessage, error)) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   verb + " DEVICE --reason WHY",
		Short: short,
		Long:  short + ". The reason goes into the ops record.",
		Args:  oneArg("device's ID"),
		RunE: func(_ *cobra.Command, args []string) error {
			c, err := a.clientWithReason(reason)
			if err != nil {
				return err
			}
			ans, raw, err := do(c, a.ctx(), args[0], reason)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			return a.showDevice(ans)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the ops record (required)")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}

func (a *app) devicesHistory() *cobra.Command {
	return &cobra.Command{
		Use:   "history DEVICE",
		Short: "Every version of a handset: who changed it, when, and why",
		Args:  oneArg("device's ID"),
		RunE: func(_ *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			h, raw, err := c.DeviceHistory(a.ctx(), args[0])
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			if len(h.Versions) == 0 {
				return a.none("versions")
			}
			t := newTable(a.stdout, "VERSION", "AT", "BY", "NAME", "NUMBER", "STATUS", "HANDLES", "REASON")
			for _, v := range h.Versions {
				t.row(strconv.FormatInt(v.Version, 10), a.when(v.At), v.By, v.Name, v.Number, v.Status, kvs(v.Handles), v.Reason)
			}
			return t.flush()
		},
	}
}

// showDevice prints a device's fields, the credential issued with it and
// whether the change waits for a call to end.
func (a *app) showDevice(ans opsclient.DeviceAnswer) error {
	d := ans.Device
	t := newTable(a.stdout)
	t.row("ID", d.ID)
	t.row("Room", d.Room)
	t.row("Name", d.Name)
	t.row("Number", d.Number)
	t.row("Handles", kvs(d.Handles))
	t.row("Status", d.Status)
	t.row("Battery", battery(d.Battery))
	t.row("Apps", list(d.Apps))
	t.row("Last seen", a.whenPtr(d.LastSeen))
	t.row("Last used", a.whenPtr(d.LastUsed))
	t.row("Version", strconv.FormatInt(d.Version, 10))
	if d.Lease != nil {
		t.row("In call", fmt.Sprintf("yes: %s, until %s", d.Lease.Holder, a.when(d.Lease.ExpiresAt)))
	} else {
		t.row("In call", "no")
	}
	if d.Health != nil {
		routable, _ := health(d.Health)
		t.row("Routable", routable)
		for _, p := range d.Health.Problems {
			t.row("Problem", p.Code+": "+p.Reason)
		}
	}
	if ans.Pending {
		t.row("Pending", "yes: the change waits for the call in progress to end")
	}
	if len(ans.Changes) > 0 {
		t.row("Changed", changedKeys(ans.Changes))
	}
	if ans.Credential != nil {
		t.row("Agent token", ans.Credential.Token)
		t.row("Agent secret", ans.Credential.Secret+"   (shown once: put it on the handset now)")
	}
	return t.flush()
}

// changedKeys lists the fields a change changed, with their new values.
func changedKeys(changes map[string]json.RawMessage) string {
	keys := make([]string, 0, len(changes))
	for k := range changes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+compact(changes[k]))
	}
	return strings.Join(parts, " ")
}

// compact is a JSON value on one line: a string without its quotes.
func compact(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}
