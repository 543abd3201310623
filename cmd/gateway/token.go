package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/config"
)

// tokenCommand creates a credential in the configured store and prints its
// secret, which is shown only this once: `gateway token ops "ops desk"`.
// Without -demo it refuses the demo's store, as the gateway does.
func tokenCommand(ctx context.Context, cfg config.Config, demo bool, args []string, out io.Writer) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: gateway token ROLE NAME (ROLE: officer, supervisor, ops)")
	}
	role, err := gateway.ParseRole(args[0])
	if err != nil || role == gateway.RoleAgent {
		return fmt.Errorf("role must be officer, supervisor or ops (device agents get theirs when ops add the device), not %q", args[0])
	}
	name := strings.TrimSpace(args[1])
	if name == "" {
		return fmt.Errorf("a name is required: who holds the credential")
	}
	st, err := openStore(ctx, cfg, newLogger("warning"), "", nil) // it writes no device
	if err != nil {
		return err
	}
	defer st.Close()
	if err := checkDemoMark(ctx, st, demo, storeName(cfg)); err != nil {
		return err
	}
	secret, hash := gateway.NewSecret()
	t := gateway.Token{ID: gateway.NewID("t_"), Role: role, Name: name, Hash: hash}
	if err := st.CreateToken(ctx, t); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s\n", secret)
	return nil
}
