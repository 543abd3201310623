package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/config"
)

// tokenCommand creates a credential in the configured store and prints its
// secret, which is shown only this once: `gateway token ops "ops desk"`,
// `gateway token -collar "PC 1234" -warrant W998877 officer "PC 1234's
// phone"`, `gateway token -rank PS -number 42 -rooms AW supervisor "PS 42"`.
// An officer's credential needs his collar and warrant number (his force
// defaults to GATEWAY_FORCE_NAME), a supervisor's his rank and number.
// Without -demo it refuses the demo's store, as the gateway does.
func tokenCommand(ctx context.Context, cfg config.Config, demo bool, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	collar := fs.String("collar", "", "an officer's collar number (\"PC 1234\")")
	warrant := fs.String("warrant", "", "an officer's warrant card number")
	force := fs.String("force", "", "an officer's force (default: GATEWAY_FORCE_NAME)")
	rank := fs.String("rank", "", "a supervisor's rank (\"PS\"), or a 999 call handler's title (\"Call handler\")")
	number := fs.String("number", "", "a supervisor's or call handler's number (\"42\")")
	rooms := fs.String("rooms", "", "the room IDs a supervisor or call handler records outcomes for, comma-separated (default: every room)")
	expires := fs.Duration("expires", 0, "how long the credential works (\"720h\"; default: until revoked)")
	usage := "usage: gateway token [-collar C -warrant W [-force F] | -rank R -number N [-rooms A,B]] [-expires D] ROLE NAME (ROLE: officer, supervisor, handler, ops)"
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%v; %s", err, usage)
	}
	if fs.NArg() != 2 {
		return fmt.Errorf("%s", usage)
	}
	t, err := newToken(fs.Arg(0), fs.Arg(1), cfg.ForceName, *collar, *warrant, *force, *rank, *number, *rooms)
	if err != nil {
		return err
	}
	if *expires < 0 {
		return fmt.Errorf("-expires must be positive")
	}
	st, err := openStore(ctx, cfg, newLogger("warning"), "", nil, false) // it writes no device
	if err != nil {
		return err
	}
	defer st.Close()
	if err := checkDemoMark(ctx, st, demo, storeName(cfg)); err != nil {
		return err
	}
	if *expires > 0 {
		t.ExpiresAt = time.Now().Add(*expires).UTC()
		if c, ok := st.(interface {
			Now(context.Context) (time.Time, error)
		}); ok {
			if now, err := c.Now(ctx); err == nil {
				t.ExpiresAt = now.Add(*expires).UTC()
			}
		}
	}
	secret, hash := gateway.NewSecret()
	t.ID, t.Hash = gateway.NewID("t_"), hash
	if err := st.CreateToken(ctx, t); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s\n", secret)
	return nil
}

// newToken checks a credential's role, name and identity flags and
// returns the credential they describe (without ID or hash).
func newToken(roleName, name, defaultForce, collar, warrant, force, rank, number, rooms string) (gateway.Token, error) {
	role, err := gateway.ParseRole(roleName)
	if err != nil || role == gateway.RoleAgent {
		return gateway.Token{}, fmt.Errorf("role must be officer, supervisor, handler (a 999 call handler) or ops (device agents get theirs when ops add the device), not %q", roleName)
	}
	t := gateway.Token{Role: role, Name: strings.TrimSpace(name)}
	if t.Name == "" {
		return t, fmt.Errorf("a name is required: who holds the credential")
	}
	collar, warrant, force = strings.TrimSpace(collar), strings.TrimSpace(warrant), strings.TrimSpace(force)
	rank, number, rooms = strings.TrimSpace(rank), strings.TrimSpace(number), strings.TrimSpace(rooms)
	officerFlags := collar != "" || warrant != "" || force != ""
	supervisorFlags := rank != "" || number != "" || rooms != ""
	switch role {
	case gateway.RoleOfficer:
		if supervisorFlags {
			return t, fmt.Errorf("-rank, -number and -rooms are for a supervisor's or call handler's credential")
		}
		if collar == "" || warrant == "" {
			return t, fmt.Errorf("an officer's credential needs -collar and -warrant: every check asked for with it is in his name")
		}
		if force == "" {
			force = defaultForce
		}
		t.Officer = &gateway.OfficerIdentity{Force: force, Collar: collar, Warrant: warrant}
	case gateway.RoleSupervisor, gateway.RoleHandler:
		if officerFlags {
			return t, fmt.Errorf("-collar, -warrant and -force are for an officer's credential")
		}
		if rank == "" || number == "" {
			return t, fmt.Errorf("a %s's credential needs -rank and -number: every outcome recorded with it is in his name", staffNoun(role))
		}
		sup := &gateway.SupervisorIdentity{Rank: rank, Number: number, Rooms: []string{}}
		for _, r := range strings.Split(rooms, ",") {
			if r = strings.TrimSpace(r); r != "" {
				sup.Rooms = append(sup.Rooms, r)
			}
		}
		t.Supervisor = sup
	default:
		if officerFlags || supervisorFlags {
			return t, fmt.Errorf("identity flags are for officers', supervisors' and call handlers' credentials")
		}
	}
	return t, nil
}

// staffNoun names the holder of a credential of role r as messages do.
func staffNoun(r gateway.Role) string {
	if r == gateway.RoleHandler {
		return "999 call handler"
	}
	return string(r)
}
