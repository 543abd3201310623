package main

import (
	"github.com/spf13/cobra"

	"github.com/safeconnection/gateway/internal/opsclient"
)

func (a *app) roomsCommand() *cobra.Command {
	return group(&cobra.Command{
		Use:     "rooms",
		Aliases: []string{"room"},
		Short:   "The ops rooms: their numbers, handles and neighbours",
	}, a.roomsList(), a.roomsShow(), a.roomsSet())
}

func (a *app) roomsList() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the ops rooms",
		Long:  "List the ops rooms: ID, name, published number, supervisor desk number, neighbours and boroughs.",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			rs, raw, err := c.Rooms(a.ctx())
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			if len(rs.Rooms) == 0 {
				return a.none("rooms")
			}
			t := newTable(a.stdout, "ID", "NAME", "NUMBER", "DESK", "NEIGHBOURS", "BOROUGHS")
			for _, r := range rs.Rooms {
				t.row(r.ID, r.Name, r.Number, r.DeskNumber, list(r.Neighbours), list(r.Boroughs))
			}
			return t.flush()
		},
	}
}

func (a *app) roomsShow() *cobra.Command {
	return &cobra.Command{
		Use:   "show ROOM",
		Short: "Show one ops room",
		Args:  oneArg("room's ID"),
		RunE: func(_ *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			r, raw, err := c.Room(a.ctx(), args[0])
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			return a.showRoom(r.Room)
		},
	}
}

func (a *app) roomsSet() *cobra.Command {
	var (
		number, desk, neighbours string
		hs                       []string
	)
	cmd := &cobra.Command{
		Use:   "set ROOM [--number N] [--desk-number N] [--handle CHANNEL=HANDLE]... [--neighbours A,B]",
		Short: "Change a room's published number, desk number, handles or neighbours",
		Long: `Change a room's published number (the one the public calls), its supervisor desk's number,
its handles (--handle whatsapp=+447700900100, once per channel; an empty handle removes it) or its
overflow neighbours, nearest first (--neighbours AE,AS; --neighbours "" for none). Only what is
given changes.`,
		Example: `  gatewayctl rooms set AW --number "020 7946 0104"
  gatewayctl rooms set AW --neighbours AE,AS,AN`,
		Args: oneArg("room's ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p opsclient.RoomPatch
			f := cmd.Flags()
			if f.Changed("number") {
				p.Number = &number
			}
			if f.Changed("desk-number") {
				p.DeskNumber = &desk
			}
			if f.Changed("handle") {
				h, err := handles(hs)
				if err != nil {
					return err
				}
				p.Handles = h
			}
			if f.Changed("neighbours") {
				n := splitList(neighbours)
				p.Neighbours = &n
			}
			if p.Number == nil && p.DeskNumber == nil && p.Handles == nil && p.Neighbours == nil {
				return usagef("nothing to change: give --number, --desk-number, --handle or --neighbours")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			r, raw, err := c.SetRoom(a.ctx(), args[0], p)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			return a.showRoom(r.Room)
		},
	}
	cmd.Flags().StringVar(&number, "number", "", "the published number the public calls")
	cmd.Flags().StringVar(&desk, "desk-number", "", "the supervisor desk's number")
	cmd.Flags().StringArrayVar(&hs, "handle", nil, "a handle as CHANNEL=HANDLE (repeat for each channel)")
	cmd.Flags().StringVar(&neighbours, "neighbours", "", "the overflow rooms, nearest first, comma-separated")
	return cmd
}

// showRoom prints one room's fields.
func (a *app) showRoom(r opsclient.Room) error {
	t := newTable(a.stdout)
	t.row("ID", r.ID)
	t.row("Name", r.Name)
	t.row("Number", r.Number)
	t.row("Desk number", r.DeskNumber)
	t.row("Handles", kvs(r.Handles))
	t.row("Neighbours", list(r.Neighbours))
	t.row("Boroughs", list(r.Boroughs))
	t.row("Updated", a.whenPtr(r.UpdatedAt))
	return t.flush()
}
