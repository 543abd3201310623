package main

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/safeconnection/gateway/internal/opsclient"
)

func (a *app) credentialsCommand() *cobra.Command {
	return group(&cobra.Command{
		Use:     "credentials",
		Aliases: []string{"credential", "creds"},
		Short:   "Credentials of officers' apps, supervisors, 999 call handlers and ops staff: issue, list, revoke",
	}, a.credentialsIssue(), a.credentialsList(), a.credentialsRevoke())
}

func (a *app) credentialsIssue() *cobra.Command {
	var (
		n       opsclient.NewCredential
		o       opsclient.Officer
		s       opsclient.Supervisor
		rooms   string
		expires time.Duration
	)
	cmd := &cobra.Command{
		Use:   "issue --role ROLE --name NAME [officer's or supervisor's details] [--expires-in D]",
		Short: "Issue a credential; its secret is printed once",
		Long: `Issue a credential for an officer's app (--role officer, with --force, --collar and --warrant),
a supervisor (--role supervisor, with --rank, --number and the --rooms they supervise), a 999 call
handler (--role handler, with --rank for the title, --number and optionally --rooms), who opens and
judges the checks asked for by radio or 999, or ops staff (--role ops). The secret is printed this once; the gateway keeps only its hash. The warrant number
is sent to the gateway and never printed.`,
		Example: `  gatewayctl credentials issue --role officer --name "PC 1234's app" --force MPS --collar "PC 1234" --warrant W-998877
  gatewayctl credentials issue --role supervisor --name "PS 42" --rank PS --number 42 --rooms AW,AE --expires-in 720h
  gatewayctl credentials issue --role handler --name "Call handler 3012" --rank "Call handler" --number 3012`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			if o != (opsclient.Officer{}) {
				if n.Role != "officer" {
					return usagef("--force, --collar and --warrant are an officer's (--role officer)")
				}
				n.Officer = &o
			}
			if f.Changed("rooms") {
				s.Rooms = splitList(rooms)
			}
			if s.Rank != "" || s.Number != "" || len(s.Rooms) > 0 {
				if n.Role != "supervisor" && n.Role != "handler" {
					return usagef("--rank, --number and --rooms are a supervisor's or call handler's (--role supervisor or handler)")
				}
				n.Supervisor = &s
			}
			if f.Changed("expires-in") {
				if expires <= 0 {
					return usagef("--expires-in must be positive")
				}
				n.ExpiresIn = expires.String()
			}
			if strings.TrimSpace(n.Name) == "" {
				return usagef("--name is empty")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ic, raw, err := c.IssueCredential(a.ctx(), n)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			t := a.credentialFields(ic.Credential)
			t.row("Secret", ic.Secret+"   (shown once: the gateway keeps only its hash)")
			return t.flush()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&n.Role, "role", "", "officer, supervisor, handler (a 999 call handler) or ops (required)")
	fl.StringVar(&n.Name, "name", "", "whose it is, as the ops room knows them (required)")
	fl.StringVar(&n.Subject, "subject", "", "who it speaks for, where the role has one")
	fl.StringVar(&o.Force, "force", "", "the officer's force")
	fl.StringVar(&o.Collar, "collar", "", "the officer's collar number")
	fl.StringVar(&o.Warrant, "warrant", "", "the officer's warrant number (sent, never printed)")
	fl.StringVar(&s.Rank, "rank", "", "the supervisor's rank, or the call handler's title")
	fl.StringVar(&s.Number, "number", "", "the supervisor's or call handler's number")
	fl.StringVar(&rooms, "rooms", "", "the rooms the supervisor or call handler acts for, comma-separated")
	fl.DurationVar(&expires, "expires-in", 0, "its life, such as 720h (default: the gateway's)")
	_ = cmd.MarkFlagRequired("role")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func (a *app) credentialsList() *cobra.Command {
	var role string
	cmd := &cobra.Command{
		Use:   "list [--role ROLE]",
		Short: "List credentials, revoked ones too",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			cs, raw, err := c.Credentials(a.ctx(), role)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			if len(cs.Credentials) == 0 {
				return a.none("credentials")
			}
			t := newTable(a.stdout, "ID", "ROLE", "NAME", "HOLDER", "ISSUED", "EXPIRES", "REVOKED")
			for _, v := range cs.Credentials {
				t.row(v.ID, v.Role, v.Name, holder(v), a.whenPtr(v.IssuedAt), a.whenPtr(v.ExpiresAt), a.whenPtr(v.RevokedAt))
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVar(&role, "role", "", "only this role's: officer, supervisor, handler, ops or agent")
	return cmd
}

func (a *app) credentialsRevoke() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke CREDENTIAL",
		Short: "Revoke a credential: it stops working at once",
		Args:  oneArg("credential's ID"),
		RunE: func(_ *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			v, raw, err := c.RevokeCredential(a.ctx(), args[0])
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			return a.credentialFields(v.Credential).flush()
		},
	}
}

// holder is who a credential belongs to: an officer's force and collar
// number, a supervisor's rank, number and rooms, or what it speaks for.
func holder(v opsclient.CredentialView) string {
	var parts []string
	if o := v.Officer; o != nil && (o.Force != "" || o.Collar != "") {
		parts = append(parts, strings.TrimSpace(o.Force+" "+o.Collar))
	}
	if s := v.Supervisor; s != nil && (s.Rank != "" || s.Number != "" || len(s.Rooms) > 0) {
		p := strings.TrimSpace(s.Rank + " " + s.Number)
		if len(s.Rooms) > 0 {
			p = strings.TrimSpace(p + " (" + list(s.Rooms) + ")")
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return v.Subject
	}
	return strings.Join(parts, "; ")
}

// credentialFields starts the table of a credential's fields.
func (a *app) credentialFields(v opsclient.CredentialView) *table {
	t := newTable(a.stdout)
	t.row("ID", v.ID)
	t.row("Role", v.Role)
	t.row("Name", v.Name)
	t.row("Subject", v.Subject)
	t.row("Holder", holder(v))
	t.row("Issued", a.whenPtr(v.IssuedAt))
	t.row("Expires", a.whenPtr(v.ExpiresAt))
	t.row("Revoked", a.whenPtr(v.RevokedAt))
	return t
}
