package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/config"
)

// A store made by -demo holds simulated handsets and credentials whose
// secrets sit in a file beside it: a real gateway must never serve it, and
// the demo must never fill a real one with its handsets. The demo marks its
// store with a token of its own (stored with everything else, so the mark
// travels with the database file and works on PostgreSQL too): revoked from
// the start, with a hash nobody holds the secret of, so it never
// authenticates anything.

// demoMarkID is the ID of the token that marks a store as the demo's.
const demoMarkID = "t_demo_store_mark"

// demoMarkName is the mark's name, as token listings show it.
const demoMarkName = "demo store mark: this store was made by gateway -demo"

// demoDataDir is where the demo keeps its store and tokens unless
// GATEWAY_DATA_DIR says otherwise: beside a real store's ./data, never in it.
var demoDataDir = filepath.Join("data", "demo")

// demoRoleTokens are the names of the demo's credentials for people, which
// also identify a store an older demo made before stores were marked.
var demoRoleTokens = []string{"demo officer", "demo supervisor", "demo ops"}

// errDemoStore is wrapped by the error of a gateway refusing the demo's store.
var errDemoStore = errors.New("the store was made by gateway -demo")

// errRealStore is wrapped by the error of the demo refusing a real store.
var errRealStore = errors.New("the store was not made by gateway -demo")

// isDemoStore reports whether the tokens are a demo store's: the mark, or
// all of an older demo's credentials for people.
func isDemoStore(tokens []gateway.Token) (marked, legacy bool) {
	var names []string
	for _, t := range tokens {
		if t.ID == demoMarkID {
			return true, false
		}
		names = append(names, t.Name)
	}
	for _, n := range demoRoleTokens {
		if !slices.Contains(names, n) {
			return false, false
		}
	}
	return false, true
}

// storeName names the configured store for messages, without a PostgreSQL
// URL's credentials.
func storeName(cfg config.Config) string {
	target := cfg.Store
	switch {
	case strings.HasPrefix(target, "postgres://"), strings.HasPrefix(target, "postgresql://"):
		return "the PostgreSQL store (GATEWAY_STORE)"
	case target == "":
		target = filepath.Join(cfg.DataDir, "gateway.db")
	}
	if abs, err := filepath.Abs(target); err == nil {
		target = abs
	}
	return target
}

// checkDemoMark is run on the store before anything else uses it. Without
// -demo it refuses a store the demo made. With -demo it marks an empty store
// (or one an older demo made) as the demo's, and refuses one holding real
// credentials or devices.
func checkDemoMark(ctx context.Context, st gateway.Store, demo bool, name string) error {
	tokens, err := st.Tokens(ctx)
	if err != nil {
		return fmt.Errorf("read the store's credentials: %w", err)
	}
	marked, legacy := isDemoStore(tokens)
	if !demo {
		if marked || legacy {
			return fmt.Errorf("%s: %w, with simulated handsets and credentials whose secrets are in a file beside it, "+
				"and a real gateway will not serve it: point GATEWAY_DATA_DIR or GATEWAY_STORE at the real store "+
				"(or delete the demo's, if it is in the way)", name, errDemoStore)
		}
		return nil
	}
	if marked {
		return nil
	}
	if !legacy {
		devices, err := st.Devices(ctx, "", true)
		if err != nil {
			return fmt.Errorf("read the store's devices: %w", err)
		}
		if len(tokens) > 0 || len(devices) > 0 {
			return fmt.Errorf("%s: %w and holds %d credentials and %d devices, and the demo will not add its simulated "+
				"handsets to it: run the demo on its own store (unset GATEWAY_DATA_DIR and GATEWAY_STORE for ./%s)",
				name, errRealStore, len(tokens), len(devices), demoDataDir)
		}
	}
	_, hash := gateway.NewSecret() // nobody keeps the secret
	return st.CreateToken(ctx, gateway.Token{ID: demoMarkID, Role: gateway.RoleOps, Name: demoMarkName, Hash: hash, Revoked: true})
}
