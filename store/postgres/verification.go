package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/safeconnection/gateway"
)

// verificationFrom selects verifications v with the live lease their holder
// has on a device, if any, as l.
const verificationFrom = ` FROM verifications v
	LEFT JOIN LATERAL (
		SELECT d.id, d.room_id, d.lease_holder, d.fence, d.lease_claimed_at, d.lease_expires_at
		FROM devices d
		WHERE d.lease_holder = v.id AND d.lease_expires_at > clock_timestamp()
		ORDER BY d.lease_claimed_at DESC LIMIT 1
	) l ON true`

// verificationCols are the columns scanVerification reads.
const verificationCols = `v.id, v.reference, v.state, v.officer, v.lat, v.lon, v.contacts, v.room_id,
	v.device_id, v.channel, v.join_url, v.reason, v.outcome, v.requested_by, v.created_at, v.updated_at,
	v.deadline, v.owner, v.owner_until, v.queued_at, v.origin, v.caller, v.caller_hash,
	l.id, l.room_id, l.lease_holder, l.fence, l.lease_claimed_at, l.lease_expires_at`

// scanVerification reads one row of verificationCols, without attempts.
func scanVerification(row pgx.Row) (gateway.Verification, error) {
	var (
		v                          gateway.Verification
		officer, contacts, outcome []byte
		deadline                   *time.Time
		lDevice, lRoom, lHolder    *string
		lFence                     *int64
		lClaimed, lExpires         *time.Time
	)
	err := row.Scan(&v.ID, &v.Reference, &v.State, &officer, &v.Location.Lat, &v.Location.Lon, &contacts, &v.RoomID,
		&v.DeviceID, &v.Channel, &v.JoinURL, &v.Reason, &outcome, &v.RequestedBy, &v.CreatedAt, &v.UpdatedAt,
		&deadline, &v.Owner, &v.OwnerUntil, &v.QueuedAt, &v.Origin, &v.Caller, &v.CallerHash,
		&lDevice, &lRoom, &lHolder, &lFence, &lClaimed, &lExpires)
	if err != nil {
		return gateway.Verification{}, err
	}
	if err := json.Unmarshal(officer, &v.Officer); err != nil {
		return gateway.Verification{}, err
	}
	if err := json.Unmarshal(contacts, &v.Contacts); err != nil {
		return gateway.Verification{}, err
	}
	if outcome != nil {
		if err := json.Unmarshal(outcome, &v.Outcome); err != nil {
			return gateway.Verification{}, err
		}
		if v.Outcome != nil {
			v.Outcome.At = v.Outcome.At.UTC()
		}
	}
	v.CreatedAt, v.UpdatedAt, v.Deadline = v.CreatedAt.UTC(), v.UpdatedAt.UTC(), timeOf(deadline)
	v.OwnerUntil, v.QueuedAt = utcPtr(v.OwnerUntil), utcPtr(v.QueuedAt)
	if lDevice != nil {
		v.Lease = &gateway.Lease{DeviceID: *lDevice, RoomID: *lRoom, Holder: *lHolder, Fence: *lFence,
			ClaimedAt: timeOf(lClaimed), ExpiresAt: timeOf(lExpires)}
	}
	return v, nil
}

// querier is what both the pool and a transaction offer.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// attemptCols are the columns scanAttempt reads, from attempts a.
const attemptCols = `a.id, a.verification_id, a.seq, a.channel, a.room_id, a.device_id, a.provider_ref,
	a.join_url, a.started_at, a.ended_at, a.tries, a.result, a.error`

// scanAttempt reads one row of attemptCols.
func scanAttempt(row pgx.Row) (gateway.Attempt, error) {
	var a gateway.Attempt
	var started *time.Time
	err := row.Scan(&a.ID, &a.VerificationID, &a.Seq, &a.Channel, &a.RoomID, &a.DeviceID, &a.ProviderRef,
		&a.JoinURL, &started, &a.EndedAt, &a.Tries, &a.Result, &a.Error)
	a.StartedAt, a.EndedAt = timeOf(started), utcPtr(a.EndedAt)
	return a, err
}

// loadVerifications runs a query of verificationCols and fills in each
// verification's attempts, by Seq.
func loadVerifications(ctx context.Context, q querier, sql string, args ...any) ([]gateway.Verification, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gateway.Verification, error) { return scanVerification(r) })
	if err != nil || len(vs) == 0 {
		return vs, err
	}
	ids := make([]string, len(vs))
	index := make(map[string]int, len(vs))
	for i, v := range vs {
		ids[i], index[v.ID] = v.ID, i
	}
	rows, err = q.Query(ctx, `SELECT `+attemptCols+` FROM attempts a WHERE a.verification_id = ANY ($1::text[])
		ORDER BY a.verification_id, a.seq, a.id`, ids)
	if err != nil {
		return nil, err
	}
	as, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gateway.Attempt, error) { return scanAttempt(r) })
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		i := index[a.VerificationID]
		vs[i].Attempts = append(vs[i].Attempts, a)
	}
	return vs, nil
}

// loadVerification returns one verification with its attempts. ENOTFOUND.
func loadVerification(ctx context.Context, q querier, op, id string) (gateway.Verification, error) {
	vs, err := loadVerifications(ctx, q, `SELECT `+verificationCols+verificationFrom+` WHERE v.id = $1`, id)
	if err != nil {
		return gateway.Verification{}, err
	}
	if len(vs) == 0 {
		return gateway.Verification{}, notFound(op, "verification", id)
	}
	return vs[0], nil
}

// verificationArgs are the JSON columns of v.
func verificationJSON(v gateway.Verification) (officer, contacts string, outcome *string, err error) {
	if officer, err = jsonText(v.Officer); err != nil {
		return
	}
	if contacts, err = jsonText(v.Contacts); err != nil {
		return
	}
	if v.Outcome != nil {
		var o string
		if o, err = jsonText(v.Outcome); err != nil {
			return
		}
		outcome = &o
	}
	return
}

// insertEvent writes ev as the last write of a transaction, with its leaf
// and, for the event that closes a verification, its outbox entries
// (writeOutbox), and returns it with its Seq and At (the database's
// clock). It first takes the
// verification's event lock, a transaction-scoped advisory lock keyed by the
// schema's hash and the verification ID's, held until the commit: so one
// verification's events commit in Seq order, and a reader of its events
// after Seq n can never miss one committed late. Writers of different
// verifications do not wait for each other (nor do stores in other schemas
// of the database); across verifications Seq order need not be commit
// order. A transaction writes one event, so it takes one such lock, last,
// and the locks cannot deadlock.
//
// v is ev's verification as it is read in tx after ev, for the outbox's
// entries of an event that closes it, when the caller has it (a
// transition has just read it); nil, writeOutbox reads it if it writes
// them.
func (s *Store) insertEvent(ctx context.Context, tx pgx.Tx, ev gateway.Event, v *gateway.Verification) (gateway.Event, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, s.eventKey, ev.VerificationID); err != nil {
		return gateway.Event{}, err
	}
	var data *string
	if ev.Data != nil {
		d, err := jsonText(ev.Data)
		if err != nil {
			return gateway.Event{}, err
		}
		data = &d
	}
	var report *string
	if ev.Report != nil {
		d, err := jsonText(ev.Report)
		if err != nil {
			return gateway.Event{}, err
		}
		report = &d
	}
	err := tx.QueryRow(ctx, `INSERT INTO events (verification_id, type, state, attempt_id, message, data, report, at, instance)
		VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, clock_timestamp(), $8) RETURNING seq, at`,
		ev.VerificationID, string(ev.Type), string(ev.State), ev.AttemptID, ev.Message, data, report, ev.Instance).
		Scan(&ev.Seq, &ev.At)
	ev.At = ev.At.UTC()
	if err != nil {
		return ev, err
	}
	if !s.NoLog {
		if err := logEvent(ctx, tx, ev); err != nil {
			return ev, err
		}
	}
	return ev, s.writeOutbox(ctx, tx, ev, v)
}

// CreateVerification stores a new verification with its first event (its
// State and VerificationID filled in) and publishes TopicEvents. CreatedAt
// and UpdatedAt default to the database's clock, State to routing. With a
// non-empty idempotency key already used by the same requester, also by a
// concurrent call, it stores nothing and returns the existing verification
// and false, or EIDEMPOTENCY when both have a fingerprint and they differ
// (the unique index on the key makes one concurrent call win; each other
// one compares with the winner's). EINVALID without an ID; ECONFLICT when
// the ID or reference exists.
func (s *Store) CreateVerification(ctx context.Context, v gateway.Verification, idempotencyKey string, ev gateway.Event) (gateway.Verification, bool, error) {
	const op = "postgres.CreateVerification"
	if v.ID == "" {
		return gateway.Verification{}, false, invalid(op, "a verification needs an ID")
	}
	if v.State == "" {
		v.State = gateway.StateRouting
	}
	if v.Origin == "" {
		v.Origin = gateway.OriginOfficer
	}
	var key, hash *string
	if idempotencyKey != "" {
		key = &idempotencyKey
		if v.Fingerprint != "" {
			hash = &v.Fingerprint
		}
	}
	officer, contacts, outcome, err := verificationJSON(v)
	if err != nil {
		return gateway.Verification{}, false, gateway.E(op, gateway.EINTERNAL, err)
	}
	existing := func() (gateway.Verification, bool, error) {
		var id string
		var stored *string
		err := s.pool.QueryRow(ctx, `SELECT id, request_hash FROM verifications WHERE requested_by = $1 AND idempotency_key = $2`,
			v.RequestedBy, idempotencyKey).Scan(&id, &stored)
		if err != nil {
			return gateway.Verification{}, false, err
		}
		if stored != nil {
			if err := gateway.SameRequest(*stored, v.Fingerprint); err != nil {
				return gateway.Verification{}, false, err
			}
		}
		out, err := loadVerification(ctx, s.pool, op, id)
		return out, false, err
	}
	if key != nil {
		out, created, err := existing()
		if err == nil {
			return out, created, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return gateway.Verification{}, false, s.fail(op, err)
		}
	}
	var stored gateway.Event
	err = s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO verifications (id, reference, state, officer, lat, lon, contacts, room_id,
			device_id, channel, join_url, reason, outcome, requested_by, idempotency_key, created_at, updated_at,
			deadline, owner, owner_until, queued_at, request_hash, origin, caller, caller_hash)
			VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13::jsonb, $14, $15,
				coalesce($16, clock_timestamp()), coalesce($17, $16, clock_timestamp()), $18, $19, $20, $21, $22, $23, $24, $25)`,
			v.ID, v.Reference, string(v.State), officer, v.Location.Lat, v.Location.Lon, contacts, v.RoomID,
			v.DeviceID, string(v.Channel), v.JoinURL, v.Reason, outcome, v.RequestedBy, key,
			timePtr(v.CreatedAt), timePtr(v.UpdatedAt), timePtr(v.Deadline), v.Owner, utcPtr(v.OwnerUntil), utcPtr(v.QueuedAt), hash,
			string(v.Origin), v.Caller, v.CallerHash)
		if err != nil {
			return err
		}
		ev.VerificationID, ev.State = v.ID, v.State
		stored, err = s.insertEvent(ctx, tx, ev, nil)
		return err
	})
	switch {
	case key != nil && uniqueViolation(err, "verifications_idempotency"):
		// A concurrent request with the same key won.
		out, created, err := existing()
		return out, created, s.fail(op, err)
	case uniqueViolation(err, "verifications_pkey"):
		return gateway.Verification{}, false, conflict(op, "verification %q exists", v.ID)
	case uniqueViolation(err, "verifications_reference"):
		return gateway.Verification{}, false, conflict(op, "reference %q is in use", v.Reference)
	case err != nil:
		return gateway.Verification{}, false, s.fail(op, err)
	}
	s.publishAfterCommit(ctx, gateway.TopicEvents, v.ID)
	if stored.AttemptID != "" {
		s.publishAfterCommit(ctx, gateway.TopicAttempt+stored.AttemptID, strconv.FormatInt(stored.Seq, 10))
	}
	out, err := loadVerification(ctx, s.pool, op, v.ID)
	return out, true, s.fail(op, err)
}

// Verification returns one verification with its attempts, by Seq.
// ENOTFOUND.
func (s *Store) Verification(ctx context.Context, id string) (gateway.Verification, error) {
	const op = "postgres.Verification"
	v, err := loadVerification(ctx, s.pool, op, id)
	return v, s.fail(op, err)
}

// VerificationByReference finds a verification by its public reference.
// ENOTFOUND.
func (s *Store) VerificationByReference(ctx context.Context, ref string) (gateway.Verification, error) {
	const op = "postgres.VerificationByReference"
	if ref == "" {
		return gateway.Verification{}, notFound(op, "reference", ref)
	}
	vs, err := loadVerifications(ctx, s.pool, `SELECT `+verificationCols+verificationFrom+` WHERE v.reference = $1`, ref)
	if err != nil {
		return gateway.Verification{}, s.fail(op, err)
	}
	if len(vs) == 0 {
		return gateway.Verification{}, notFound(op, "reference", ref)
	}
	return vs[0], nil
}

// Verifications lists verifications with their attempts, oldest first:
// queued ones by QueuedAt, the others by CreatedAt.
func (s *Store) Verifications(ctx context.Context, f gateway.VerificationFilter) ([]gateway.Verification, error) {
	const op = "postgres.Verifications"
	states := make([]string, len(f.States))
	for i, st := range f.States {
		states[i] = string(st)
	}
	var limit *int
	if f.Limit > 0 {
		limit = &f.Limit
	}
	var since *time.Time
	if !f.Since.IsZero() {
		since = &f.Since
	}
	var until *time.Time
	if !f.Until.IsZero() {
		until = &f.Until
	}
	order := "coalesce(v.queued_at, v.created_at), v.created_at, v.id"
	if f.Newest {
		order = "v.created_at DESC, v.id DESC"
	}
	vs, err := loadVerifications(ctx, s.pool, `SELECT `+verificationCols+verificationFrom+`
		WHERE (cardinality($1::text[]) = 0 OR v.state = ANY ($1::text[])) AND ($2 = '' OR v.room_id = $2)
			AND ($4::timestamptz IS NULL OR v.created_at >= $4)
			AND ($5::timestamptz IS NULL OR v.created_at < $5)
			AND ($6 = '' OR v.outcome ->> 'outcome' = $6)
			AND ($7 = '' OR v.channel = $7)
			AND ($8 = '' OR v.origin = $8)
		ORDER BY `+order+`
		LIMIT $3`, states, f.RoomID, limit, since, until, string(f.Outcome), string(f.Channel), string(f.Origin))
	return vs, s.fail(op, err)
}

// Transition applies t in one transaction: it locks the verification, checks
// the state is one of t.From, sets t.To, applies t.Set and writes the result
// with t.Event (its State and VerificationID filled in), after t.Attempt
// with t.AttemptEvent when set; it then publishes
// TopicEvents, and TopicAttempt for an event of an attempt. Set may change
// every field but the ID, CreatedAt, RequestedBy, Attempts and Lease;
// UpdatedAt is the database's clock. ENOTFOUND; ECONFLICT when the state is
// not in t.From.
func (s *Store) Transition(ctx context.Context, id string, t gateway.Transition) (gateway.Verification, gateway.Event, error) {
	const op = "postgres.Transition"
	var ev, aev gateway.Event
	var out gateway.Verification
	err := s.tx(ctx, func(tx pgx.Tx) error {
		vs, err := loadVerifications(ctx, tx, `SELECT `+verificationCols+verificationFrom+` WHERE v.id = $1 FOR UPDATE OF v`, id)
		if err != nil {
			return err
		}
		if len(vs) == 0 {
			return notFound(op, "verification", id)
		}
		v := vs[0]
		if len(t.From) > 0 && !slices.Contains(t.From, v.State) {
			return conflict(op, "verification %s is %s", id, v.State)
		}
		if t.Attempt != nil {
			if t.Attempt.ID == "" || t.Attempt.VerificationID != id {
				return invalid(op, "a transition's attempt needs an ID and must be of verification %s", id)
			}
			if aev, err = s.writeAttempt(ctx, tx, op, *t.Attempt, t.AttemptEvent, v.State); err != nil {
				return err
			}
		}
		if t.To != "" {
			v.State = t.To
		}
		if t.Set != nil {
			t.Set(&v)
		}
		officer, contacts, outcome, err := verificationJSON(v)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE verifications SET reference = $2, state = $3, officer = $4::jsonb, lat = $5,
			lon = $6, contacts = $7::jsonb, room_id = $8, device_id = $9, channel = $10, join_url = $11, reason = $12,
			outcome = $13::jsonb, updated_at = clock_timestamp(), deadline = $14, owner = $15, owner_until = $16,
			queued_at = $17
			WHERE id = $1`,
			id, v.Reference, string(v.State), officer, v.Location.Lat, v.Location.Lon, contacts, v.RoomID,
			v.DeviceID, string(v.Channel), v.JoinURL, v.Reason, outcome, timePtr(v.Deadline), v.Owner,
			utcPtr(v.OwnerUntil), utcPtr(v.QueuedAt))
		if err != nil {
			return err
		}
		if out, err = loadVerification(ctx, tx, op, id); err != nil {
			return err
		}
		ev = t.Event
		ev.VerificationID, ev.State = id, v.State
		ev, err = s.insertEvent(ctx, tx, ev, &out)
		return err
	})
	if err != nil {
		return gateway.Verification{}, gateway.Event{}, s.fail(op, err)
	}
	if t.Attempt != nil {
		s.publishEvent(ctx, aev)
	}
	s.publishEvent(ctx, ev)
	return out, ev, nil
}

// publishEvent publishes a committed event: its verification on TopicEvents
// and, for an attempt's event, its Seq on TopicAttempt.
func (s *Store) publishEvent(ctx context.Context, ev gateway.Event) {
	s.publishAfterCommit(ctx, gateway.TopicEvents, ev.VerificationID)
	if ev.AttemptID != "" {
		s.publishAfterCommit(ctx, gateway.TopicAttempt+ev.AttemptID, strconv.FormatInt(ev.Seq, 10))
	}
}

// PutAttempt inserts or updates an attempt by ID and writes ev with it (its
// VerificationID, AttemptID and State filled in), then publishes TopicEvents
// and TopicAttempt. An attempt without a Seq gets the verification's next
// one when inserted and keeps its own when updated. EINVALID without an ID
// or verification; ENOTFOUND for an unknown verification; ECONFLICT when the
// attempt belongs to another verification.
func (s *Store) PutAttempt(ctx context.Context, a gateway.Attempt, ev gateway.Event) (gateway.Event, error) {
	const op = "postgres.PutAttempt"
	if a.ID == "" || a.VerificationID == "" {
		return gateway.Event{}, invalid(op, "an attempt needs an ID and a verification")
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var state string
		err := tx.QueryRow(ctx, `SELECT state FROM verifications WHERE id = $1 FOR UPDATE`, a.VerificationID).Scan(&state)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound(op, "verification", a.VerificationID)
		}
		if err != nil {
			return err
		}
		ev, err = s.writeAttempt(ctx, tx, op, a, ev, gateway.State(state))
		return err
	})
	if err != nil {
		return gateway.Event{}, s.fail(op, err)
	}
	s.publishEvent(ctx, ev)
	return ev, nil
}

// writeAttempt inserts or updates an attempt by ID inside a transaction
// that holds the verification's row lock, and writes ev with it
// (VerificationID and AttemptID filled in, State when empty); state is the
// verification's current state.
func (s *Store) writeAttempt(ctx context.Context, tx pgx.Tx, op string, a gateway.Attempt, ev gateway.Event, state gateway.State) (gateway.Event, error) {
	var owner string
	err := tx.QueryRow(ctx, `INSERT INTO attempts AS a (id, verification_id, seq, channel, room_id, device_id,
		provider_ref, join_url, started_at, ended_at, tries, result, error)
		VALUES ($1, $2, CASE WHEN $3::int > 0 THEN $3::int
		ELSE (SELECT coalesce(max(seq), 0) + 1 FROM attempts WHERE verification_id = $2) END,
		$4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (id) DO UPDATE SET seq = CASE WHEN $3::int > 0 THEN $3::int ELSE a.seq END,
		channel = EXCLUDED.channel, room_id = EXCLUDED.room_id, device_id = EXCLUDED.device_id,
		provider_ref = EXCLUDED.provider_ref, join_url = EXCLUDED.join_url, started_at = EXCLUDED.started_at,
		ended_at = EXCLUDED.ended_at, tries = EXCLUDED.tries, result = EXCLUDED.result, error = EXCLUDED.error
		RETURNING a.verification_id`,
		a.ID, a.VerificationID, a.Seq, string(a.Channel), a.RoomID, a.DeviceID, a.ProviderRef, a.JoinURL,
		timePtr(a.StartedAt), utcPtr(a.EndedAt), a.Tries, string(a.Result), a.Error).Scan(&owner)
	if err != nil {
		return ev, err
	}
	if owner != a.VerificationID {
		return ev, conflict(op, "attempt %q belongs to another verification", a.ID)
	}
	ev.VerificationID, ev.AttemptID = a.VerificationID, a.ID
	if ev.State == "" {
		ev.State = state
	}
	return s.insertEvent(ctx, tx, ev, nil)
}

// Attempt returns one attempt by its ID. ENOTFOUND.
func (s *Store) Attempt(ctx context.Context, id string) (gateway.Attempt, error) {
	const op = "postgres.Attempt"
	a, err := scanAttempt(s.pool.QueryRow(ctx, `SELECT `+attemptCols+` FROM attempts a WHERE a.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return gateway.Attempt{}, notFound(op, "attempt", id)
	}
	return a, s.fail(op, err)
}

// AttemptByProviderRef finds the attempt a provider reference belongs to.
// ENOTFOUND.
func (s *Store) AttemptByProviderRef(ctx context.Context, channel gateway.Channel, ref string) (gateway.Attempt, error) {
	const op = "postgres.AttemptByProviderRef"
	if ref == "" {
		return gateway.Attempt{}, notFound(op, "provider reference", ref)
	}
	a, err := scanAttempt(s.pool.QueryRow(ctx, `SELECT `+attemptCols+` FROM attempts a
		WHERE a.channel = $1 AND a.provider_ref = $2 ORDER BY a.started_at DESC NULLS LAST LIMIT 1`, string(channel), ref))
	if errors.Is(err, pgx.ErrNoRows) {
		return gateway.Attempt{}, notFound(op, "provider reference", ref)
	}
	return a, s.fail(op, err)
}

// AppendEvent writes an event and returns it with its Seq and At; an event
// without a State gets the verification's current one. It publishes
// TopicEvents, and TopicAttempt for an event with an AttemptID. EINVALID
// without a verification ID; ENOTFOUND for an unknown verification.
func (s *Store) AppendEvent(ctx context.Context, ev gateway.Event) (gateway.Event, error) {
	const op = "postgres.AppendEvent"
	if ev.VerificationID == "" {
		return gateway.Event{}, invalid(op, "an event needs a verification")
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var state string
		err := tx.QueryRow(ctx, `SELECT state FROM verifications WHERE id = $1 FOR SHARE`, ev.VerificationID).Scan(&state)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound(op, "verification", ev.VerificationID)
		}
		if err != nil {
			return err
		}
		if ev.State == "" {
			ev.State = gateway.State(state)
		}
		ev, err = s.insertEvent(ctx, tx, ev, nil)
		return err
	})
	if err != nil {
		return gateway.Event{}, s.fail(op, err)
	}
	s.publishEvent(ctx, ev)
	return ev, nil
}

// Events returns events with Seq > after, oldest first; an empty
// verification ID returns every verification's; limit 0 is no limit.
func (s *Store) Events(ctx context.Context, verificationID string, after int64, limit int) ([]gateway.Event, error) {
	const op = "postgres.Events"
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	rows, err := s.pool.Query(ctx, `SELECT `+eventCols+`
		FROM events WHERE ($1 = '' OR verification_id = $1) AND seq > $2 ORDER BY seq LIMIT $3`,
		verificationID, after, lim)
	if err != nil {
		return nil, s.fail(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gateway.Event, error) { return scanEvent(r) })
	return out, s.fail(op, err)
}

// MessageEvent returns the note that recorded sending message messageID,
// the earliest if several. ENOTFOUND, whose message does not hold the ID (a
// WhatsApp message ID encodes the recipient's number).
func (s *Store) MessageEvent(ctx context.Context, messageID string) (gateway.Event, error) {
	const op = "postgres.MessageEvent"
	if messageID == "" {
		return gateway.Event{}, &gateway.Error{Op: op, Code: gateway.ENOTFOUND, Message: "no note of sending that message"}
	}
	ev, err := scanEvent(s.pool.QueryRow(ctx, `SELECT `+eventCols+`
		FROM events WHERE type = 'note' AND data ->> '`+gateway.DataMessage+`' = $1 ORDER BY seq LIMIT 1`, messageID))
	if errors.Is(err, pgx.ErrNoRows) {
		return gateway.Event{}, &gateway.Error{Op: op, Code: gateway.ENOTFOUND, Message: "no note of sending that message"}
	}
	return ev, s.fail(op, err)
}

// eventCols are the columns scanEvent reads.
const eventCols = "seq, verification_id, type, state, attempt_id, message, data, report, at, instance"

// scanEvent reads a row of eventCols.
func scanEvent(row pgx.Row) (gateway.Event, error) {
	var ev gateway.Event
	var data, report []byte
	if err := row.Scan(&ev.Seq, &ev.VerificationID, &ev.Type, &ev.State, &ev.AttemptID, &ev.Message, &data,
		&report, &ev.At, &ev.Instance); err != nil {
		return ev, err
	}
	ev.At = ev.At.UTC()
	if data != nil {
		if err := json.Unmarshal(data, &ev.Data); err != nil {
			return ev, err
		}
	}
	if report != nil {
		ev.Report = new(gateway.Report)
		if err := json.Unmarshal(report, ev.Report); err != nil {
			return ev, err
		}
		ev.Report.At = ev.At
	}
	return ev, nil
}

// Own makes instance the owner of a verification for ttl, by the database's
// clock: when it has no owner, is owned by instance already (a renewal), or
// its owner's hold has lapsed. ECONFLICT when another instance holds it;
// ENOTFOUND; EINVALID without an instance or with a ttl that is not
// positive.
func (s *Store) Own(ctx context.Context, id, instance string, ttl time.Duration) (gateway.Verification, error) {
	const op = "postgres.Own"
	if instance == "" || ttl <= 0 {
		return gateway.Verification{}, invalid(op, "ownership needs an instance and a positive TTL")
	}
	tag, err := s.pool.Exec(ctx, `UPDATE verifications
		SET owner = $2, owner_until = clock_timestamp() + $3::bigint * interval '1 microsecond'
		WHERE id = $1 AND (owner = '' OR owner = $2 OR owner_until IS NULL OR owner_until <= clock_timestamp())`,
		id, instance, micros(ttl))
	if err != nil {
		return gateway.Verification{}, s.fail(op, err)
	}
	v, err := loadVerification(ctx, s.pool, op, id)
	if err != nil {
		return gateway.Verification{}, s.fail(op, err)
	}
	if tag.RowsAffected() == 0 {
		return gateway.Verification{}, conflict(op, "verification %s is owned by %s", id, v.Owner)
	}
	return v, nil
}

// Orphans lists verifications in routing, queued, dialling or connected that
// have no owner or whose owner's hold has lapsed, oldest first.
func (s *Store) Orphans(ctx context.Context) ([]gateway.Verification, error) {
	const op = "postgres.Orphans"
	vs, err := loadVerifications(ctx, s.pool, `SELECT `+verificationCols+verificationFrom+`
		WHERE (v.state IN ('routing', 'queued', 'dialling')
		       OR (v.state = 'connected' AND EXISTS (SELECT 1 FROM devices d
		           WHERE d.lease_holder = v.id AND d.lease_expires_at > clock_timestamp())))
		  AND (v.owner = '' OR v.owner_until IS NULL OR v.owner_until <= clock_timestamp())
		ORDER BY v.created_at, v.id`)
	return vs, s.fail(op, err)
}

// VerificationByKey returns the verification a requester made with an
// idempotency key. ENOTFOUND.
func (s *Store) VerificationByKey(ctx context.Context, requestedBy, key string) (gateway.Verification, error) {
	const op = "postgres.VerificationByKey"
	if key == "" {
		return gateway.Verification{}, notFound(op, "idempotency key", key)
	}
	vs, err := loadVerifications(ctx, s.pool, `SELECT `+verificationCols+verificationFrom+
		` WHERE v.requested_by = $1 AND v.idempotency_key = $2`, requestedBy, key)
	if err != nil {
		return gateway.Verification{}, s.fail(op, err)
	}
	if len(vs) == 0 {
		return gateway.Verification{}, notFound(op, "verification with idempotency key", "")
	}
	return vs[0], nil
}
