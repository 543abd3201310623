package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/safeconnection/gateway"
)

// verificationSelect reads verifications v with the live lease each holds,
// if any (the latest when, wrongly, there are several); ?1 is the store's
// clock.
const verificationSelect = `SELECT v.id, v.reference, v.state, v.officer, v.lat, v.lon, v.contacts, v.room_id,
	v.device_id, v.channel, v.join_url, v.reason, v.outcome, v.requested_by, v.created_at, v.updated_at,
	v.deadline, v.owner, v.owner_until, v.queued_at, v.origin, v.caller, v.caller_hash,
	c.device_id, c.room_id, c.holder, c.fence, c.claimed_at, c.expires_at
FROM verifications v
LEFT JOIN claims c ON c.id = (SELECT id FROM claims
	WHERE holder = v.id AND released_at IS NULL AND expires_at > ?1
	ORDER BY claimed_at DESC, id DESC LIMIT 1)`

// scanVerification reads one row of verificationSelect, without attempts.
func scanVerification(row interface{ Scan(...any) error }) (gateway.Verification, error) {
	var (
		v                              gateway.Verification
		officer, contacts              string
		outcome                        sql.NullString
		created, updated               int64
		deadline, ownerUntil, queuedAt sql.NullInt64
		lDevice, lRoom, lHolder        sql.NullString
		lFence, lClaimed, lExpires     sql.NullInt64
	)
	err := row.Scan(&v.ID, &v.Reference, &v.State, &officer, &v.Location.Lat, &v.Location.Lon, &contacts, &v.RoomID,
		&v.DeviceID, &v.Channel, &v.JoinURL, &v.Reason, &outcome, &v.RequestedBy, &created, &updated,
		&deadline, &v.Owner, &ownerUntil, &queuedAt, &v.Origin, &v.Caller, &v.CallerHash,
		&lDevice, &lRoom, &lHolder, &lFence, &lClaimed, &lExpires)
	if err != nil {
		return v, err
	}
	if err := decodeVerificationJSON(&v, officer, contacts, outcome); err != nil {
		return v, err
	}
	v.CreatedAt, v.UpdatedAt = time.Unix(0, created).UTC(), time.Unix(0, updated).UTC()
	v.Deadline, v.OwnerUntil, v.QueuedAt = timeOf(deadline), timePtr(ownerUntil), timePtr(queuedAt)
	if lFence.Valid {
		v.Lease = &gateway.Lease{
			DeviceID:  lDevice.String,
			RoomID:    lRoom.String,
			Holder:    lHolder.String,
			Fence:     lFence.Int64,
			ClaimedAt: timeOf(lClaimed),
			ExpiresAt: timeOf(lExpires),
		}
	}
	return v, nil
}

// decodeVerificationJSON sets v's officer, contacts and outcome from their
// stored JSON, replacing what v held.
func decodeVerificationJSON(v *gateway.Verification, officer, contacts string, outcome sql.NullString) error {
	v.Officer, v.Contacts, v.Outcome = gateway.Officer{}, nil, nil
	if err := json.Unmarshal([]byte(officer), &v.Officer); err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(contacts), &v.Contacts); err != nil {
		return err
	}
	if outcome.Valid {
		if err := json.Unmarshal([]byte(outcome.String), &v.Outcome); err != nil {
			return err
		}
	}
	return nil
}

// verificationJSON encodes v's officer, contacts and outcome for their JSON
// columns; outcome is NULL when v has none.
func verificationJSON(v gateway.Verification) (officer, contacts string, outcome sql.NullString, err error) {
	if officer, err = jsonText(v.Officer); err != nil {
		return "", "", outcome, err
	}
	if contacts, err = jsonText(v.Contacts); err != nil {
		return "", "", outcome, err
	}
	if v.Outcome != nil {
		if outcome.String, err = jsonText(v.Outcome); err != nil {
			return "", "", outcome, err
		}
		outcome.Valid = true
	}
	return officer, contacts, outcome, nil
}

// attemptSelect reads attempts.
const attemptSelect = `SELECT id, verification_id, seq, channel, room_id, device_id, provider_ref, join_url,
	started_at, ended_at, tries, result, error FROM attempts`

// scanAttempt reads one row of attemptSelect.
func scanAttempt(row interface{ Scan(...any) error }) (gateway.Attempt, error) {
	var (
		a              gateway.Attempt
		started, ended sql.NullInt64
	)
	err := row.Scan(&a.ID, &a.VerificationID, &a.Seq, &a.Channel, &a.RoomID, &a.DeviceID, &a.ProviderRef, &a.JoinURL,
		&started, &ended, &a.Tries, &a.Result, &a.Error)
	a.StartedAt, a.EndedAt = timeOf(started), timePtr(ended)
	return a, err
}

// loadVerifications runs verificationSelect with the condition and order in
// rest (its arguments from ?2 on) and fills in each verification's attempts,
// by Seq.
func loadVerifications(ctx context.Context, q querier, now time.Time, rest string, args ...any) ([]gateway.Verification, error) {
	rows, err := q.QueryContext(ctx, verificationSelect+" "+rest, append([]any{now.UnixNano()}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		vs    []gateway.Verification
		ids   []string
		index = map[string]int{}
	)
	for rows.Next() {
		v, err := scanVerification(rows)
		if err != nil {
			return nil, err
		}
		index[v.ID] = len(vs)
		vs = append(vs, v)
		ids = append(ids, v.ID)
	}
	if err := rows.Err(); err != nil || len(vs) == 0 {
		return vs, err
	}
	rows.Close()

	idList, err := jsonText(ids)
	if err != nil {
		return nil, err
	}
	arows, err := q.QueryContext(ctx, attemptSelect+`
		WHERE verification_id IN (SELECT value FROM json_each(?)) ORDER BY verification_id, seq, id`, idList)
	if err != nil {
		return nil, err
	}
	defer arows.Close()
	for arows.Next() {
		a, err := scanAttempt(arows)
		if err != nil {
			return nil, err
		}
		i := index[a.VerificationID]
		vs[i].Attempts = append(vs[i].Attempts, a)
	}
	return vs, arows.Err()
}

// The queries that read one verification.
const (
	// verificationByID reads one verification with its live lease, without
	// attempts; ?1 is the store's clock, ?2 the ID.
	verificationByID = verificationSelect + " WHERE v.id = ?2"
	// attemptsOf reads one verification's attempts, by Seq.
	attemptsOf = attemptSelect + " WHERE verification_id = ? ORDER BY seq, id"
)

// verificationRow reads one verification with its live lease, without its
// attempts. ENOTFOUND.
func verificationRow(ctx context.Context, q querier, now time.Time, id string) (gateway.Verification, error) {
	v, err := scanVerification(q.QueryRowContext(ctx, verificationByID, now.UnixNano(), id))
	if errors.Is(err, sql.ErrNoRows) {
		return gateway.Verification{}, gateway.Errorf(gateway.ENOTFOUND, "no verification %q", id)
	}
	return v, err
}

// attempts reads one verification's attempts, by Seq.
func attempts(ctx context.Context, q querier, id string) ([]gateway.Attempt, error) {
	rows, err := q.QueryContext(ctx, attemptsOf, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []gateway.Attempt
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// loadVerification reads one verification with its attempts. ENOTFOUND.
func loadVerification(ctx context.Context, q querier, now time.Time, id string) (gateway.Verification, error) {
	v, err := verificationRow(ctx, q, now, id)
	if err != nil {
		return v, err
	}
	v.Attempts, err = attempts(ctx, q, id)
	return v, err
}

// verificationValues are the values of the columns a transition may change,
// in the order of verificationSet.
func verificationValues(v gateway.Verification) ([]any, error) {
	officer, contacts, outcome, err := verificationJSON(v)
	if err != nil {
		return nil, err
	}
	return []any{v.Reference, v.State, officer, v.Location.Lat, v.Location.Lon, contacts, v.RoomID,
		v.DeviceID, v.Channel, v.JoinURL, v.Reason, outcome, ns(v.Deadline), v.Owner, nsPtr(v.OwnerUntil),
		nsPtr(v.QueuedAt), v.UpdatedAt.UnixNano()}, nil
}

// verificationSet names the columns of verificationValues.
const verificationSet = `reference = ?, state = ?, officer = ?, lat = ?, lon = ?, contacts = ?, room_id = ?,
	device_id = ?, channel = ?, join_url = ?, reason = ?, outcome = ?, deadline = ?, owner = ?, owner_until = ?,
	queued_at = ?, updated_at = ?`

// updateVerification writes the columns of verificationValues, then the ID.
const updateVerification = "UPDATE verifications SET " + verificationSet + " WHERE id = ?"

// asStored returns v as a read of it would once written: with the ID,
// creation, requester, attempts and lease of read, which a transition does
// not change, its JSON columns decoded from their text and its times in UTC
// to the nanosecond.
func asStored(v, read gateway.Verification) (gateway.Verification, error) {
	officer, contacts, outcome, err := verificationJSON(v)
	if err != nil {
		return v, err
	}
	if err := decodeVerificationJSON(&v, officer, contacts, outcome); err != nil {
		return v, err
	}
	v.ID, v.CreatedAt, v.RequestedBy, v.Attempts, v.Lease = read.ID, read.CreatedAt, read.RequestedBy, read.Attempts, read.Lease
	v.Origin, v.Caller, v.CallerHash = read.Origin, read.Caller, read.CallerHash
	v.UpdatedAt = storedTime(v.UpdatedAt)
	v.Deadline = storedTime(v.Deadline)
	v.OwnerUntil, v.QueuedAt = storedTimePtr(v.OwnerUntil), storedTimePtr(v.QueuedAt)
	return v, nil
}

// storedTime is t as a column written by ns reads back.
func storedTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.Unix(0, t.UnixNano()).UTC()
}

// storedTimePtr is *t as a column written by nsPtr reads back.
func storedTimePtr(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	st := storedTime(*t)
	return &st
}

// insertEventQuery writes an event and returns its Seq.
// Unless the store keeps no log (the last parameter false), the event
// takes the next place in the log for its leaf.
const insertEventQuery = `INSERT INTO events (verification_id, type, state, attempt_id, message, data, report, at, instance, leaf)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, CASE WHEN ? THEN (SELECT COALESCE(MAX(idx), -1) + 1 FROM log_leaves) END)
	RETURNING seq, leaf`

// insertEvent writes ev at now and returns it with its Seq and At.
func insertEvent(ctx context.Context, tx tx, ev gateway.Event, now time.Time) (gateway.Event, error) {
	return insertEventOf(ctx, tx, ev, now, nil, nil)
}

// insertEventOf is insertEvent given v, ev's verification as a read of
// it would return it once ev is written, for the outbox's entries of an
// event that closes it (writeOutbox), nil: read it if they are written;
// and the draft of ev's leaf, made before the write (nil: none).
func insertEventOf(ctx context.Context, tx tx, ev gateway.Event, now time.Time, v *gateway.Verification, draft *leafDraft) (gateway.Event, error) {
	var data any
	if ev.Data != nil {
		d, err := jsonText(ev.Data)
		if err != nil {
			return ev, err
		}
		data = d
	}
	var report any
	if ev.Report != nil {
		d, err := jsonText(ev.Report)
		if err != nil {
			return ev, err
		}
		report = d
	}
	ev.At = now
	var leaf sql.NullInt64
	err := tx.QueryRowContext(ctx, insertEventQuery,
		ev.VerificationID, ev.Type, ev.State, ev.AttemptID, ev.Message, data, report, now.UnixNano(), ev.Instance, !tx.nolog).Scan(&ev.Seq, &leaf)
	if err != nil {
		return ev, err
	}
	if err := logEvent(ctx, tx, ev, leaf, draft); err != nil {
		return ev, err
	}
	return ev, writeOutbox(ctx, tx, ev, v, now)
}

// publishEvent announces a committed event: its verification on TopicEvents
// and, for an event of an attempt, its Seq on TopicAttempt.
func (s *Store) publishEvent(ctx context.Context, ev gateway.Event) {
	s.notify(ctx, gateway.TopicEvents, ev.VerificationID)
	if ev.AttemptID != "" {
		s.notify(ctx, gateway.TopicAttempt+ev.AttemptID, strconv.FormatInt(ev.Seq, 10))
	}
}

// stateOf reads a verification's state.
const stateOf = "SELECT state FROM verifications WHERE id = ?"

// verificationState reads a verification's state. ENOTFOUND.
func verificationState(ctx context.Context, tx tx, id string) (gateway.State, error) {
	var st gateway.State
	err := tx.QueryRowContext(ctx, stateOf, id).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", gateway.Errorf(gateway.ENOTFOUND, "no verification %q", id)
	}
	return st, err
}

// The statements of CreateVerification.
const (
	// idempotent finds the verification a requester made with a key, and
	// the fingerprint of its request.
	idempotent = "SELECT id, request_hash FROM verifications WHERE requested_by = ? AND idempotency_key = ?"
	// taken finds a verification with the ID or the (non-empty) reference.
	taken = "SELECT id FROM verifications WHERE id = ? OR (reference = ? AND reference != '')"
	// insertVerification writes the columns of verificationValues, then the
	// ID, requester, idempotency key, request's fingerprint, creation,
	// origin and caller.
	insertVerification = `INSERT INTO verifications (reference, state, officer, lat, lon, contacts, room_id,
		device_id, channel, join_url, reason, outcome, deadline, owner, owner_until, queued_at, updated_at,
		id, requested_by, idempotency_key, request_hash, created_at, origin, caller, caller_hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// CreateVerification stores a new verification with its first event (its
// VerificationID and State filled in) and publishes TopicEvents. CreatedAt
// defaults to the store's clock, UpdatedAt to CreatedAt, State to routing.
// With a non-empty idempotency key already used by the same requester it
// stores nothing and returns the existing verification and false, or
// EIDEMPOTENCY when both have a fingerprint and they differ; the one writer
// makes the check and the insert atomic. EINVALID without an ID; ECONFLICT
// when the ID or the (non-empty) reference exists.
func (s *Store) CreateVerification(ctx context.Context, v gateway.Verification, idempotencyKey string, ev gateway.Event) (gateway.Verification, bool, error) {
	const op = "sqlite.CreateVerification"
	if v.ID == "" {
		return gateway.Verification{}, false, fail(op, gateway.Errorf(gateway.EINVALID, "a verification needs an ID"))
	}
	if v.State == "" {
		v.State = gateway.StateRouting
	}
	if v.Origin == "" {
		v.Origin = gateway.OriginOfficer
	}
	var (
		out     gateway.Verification
		created bool
		stored  gateway.Event
	)
	ev.VerificationID, ev.State = v.ID, v.State
	draft := s.draftLeaf(ev)
	err := s.write(ctx, func(tx tx, now time.Time) error {
		if idempotencyKey != "" {
			var id string
			var hash sql.NullString
			err := tx.QueryRowContext(ctx, idempotent, v.RequestedBy, idempotencyKey).Scan(&id, &hash)
			if err == nil {
				if err := gateway.SameRequest(hash.String, v.Fingerprint); err != nil {
					return err
				}
				out, err = loadVerification(ctx, tx, now, id)
				return err
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		var existing string
		err := tx.QueryRowContext(ctx, taken, v.ID, v.Reference).Scan(&existing)
		switch {
		case err == nil && existing == v.ID:
			return gateway.Errorf(gateway.ECONFLICT, "verification %s exists", v.ID)
		case err == nil:
			return gateway.Errorf(gateway.ECONFLICT, "reference %s is in use", v.Reference)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if v.CreatedAt.IsZero() {
			v.CreatedAt = now
		}
		if v.UpdatedAt.IsZero() {
			v.UpdatedAt = v.CreatedAt
		}
		vals, err := verificationValues(v)
		if err != nil {
			return err
		}
		var key, hash any
		if idempotencyKey != "" {
			key = idempotencyKey
			if v.Fingerprint != "" {
				hash = v.Fingerprint
			}
		}
		if _, err := tx.ExecContext(ctx, insertVerification, append(vals, v.ID, v.RequestedBy, key, hash, v.CreatedAt.UnixNano(),
			v.Origin, v.Caller, v.CallerHash)...); err != nil {
			return err
		}
		if stored, err = insertEventOf(ctx, tx, ev, now, nil, draft); err != nil {
			return err
		}
		created = true
		out, err = loadVerification(ctx, tx, now, v.ID)
		return err
	})
	if err != nil {
		return gateway.Verification{}, false, fail(op, err)
	}
	if created {
		s.publishEvent(ctx, stored)
	}
	return out, created, nil
}

// Verification returns one verification with its attempts (by Seq) and the
// live lease it holds. ENOTFOUND.
func (s *Store) Verification(ctx context.Context, id string) (gateway.Verification, error) {
	var v gateway.Verification
	err := s.read(ctx, func(tx tx, now time.Time) (err error) {
		v, err = loadVerification(ctx, tx, now, id)
		return err
	})
	return v, fail("sqlite.Verification", err)
}

// VerificationByReference finds one by its public reference, exactly as
// stored. ENOTFOUND.
func (s *Store) VerificationByReference(ctx context.Context, ref string) (gateway.Verification, error) {
	const op = "sqlite.VerificationByReference"
	var vs []gateway.Verification
	err := s.read(ctx, func(tx tx, now time.Time) (err error) {
		vs, err = loadVerifications(ctx, tx, now, "WHERE v.reference = ?2 AND v.reference != ''", ref)
		return err
	})
	if err != nil {
		return gateway.Verification{}, fail(op, err)
	}
	if len(vs) == 0 {
		return gateway.Verification{}, fail(op, gateway.Errorf(gateway.ENOTFOUND, "no verification with reference %q", ref))
	}
	return vs[0], nil
}

// Verifications lists verifications with their attempts, oldest first:
// queued ones by QueuedAt, the others (and ties) by CreatedAt; newest
// first by CreatedAt when f.Newest.
func (s *Store) Verifications(ctx context.Context, f gateway.VerificationFilter) ([]gateway.Verification, error) {
	const op = "sqlite.Verifications"
	states, err := jsonText(f.States)
	if err != nil {
		return nil, fail(op, err)
	}
	limit := -1 // none
	if f.Limit > 0 {
		limit = f.Limit
	}
	var vs []gateway.Verification
	err = s.read(ctx, func(tx tx, now time.Time) (err error) {
		order := "COALESCE(v.queued_at, v.created_at), v.created_at, v.id"
		if f.Newest {
			order = "v.created_at DESC, v.id DESC"
		}
		until := int64(1<<63 - 1)
		if !f.Until.IsZero() {
			until = f.Until.UnixNano()
		}
		vs, err = loadVerifications(ctx, tx, now, `
			WHERE (?2 = 'null' OR ?2 = '[]' OR v.state IN (SELECT value FROM json_each(?2)))
				AND (?3 = '' OR v.room_id = ?3)
				AND v.created_at >= ?5 AND v.created_at < ?6
				AND (?7 = '' OR json_extract(v.outcome, '$.outcome') = ?7)
				AND (?8 = '' OR v.channel = ?8)
				AND (?9 = '' OR v.origin = ?9)
			ORDER BY `+order+`
			LIMIT ?4`, states, f.RoomID, limit, sinceNanos(f.Since), until, string(f.Outcome), string(f.Channel), string(f.Origin))
		return err
	})
	return vs, fail(op, err)
}

// Transition applies t in one transaction: it checks the state is one of
// t.From, sets t.To, applies t.Set and writes the result with t.Event (its
// VerificationID and State filled in), then publishes TopicEvents (and
// TopicAttempt for an event of an attempt). t.Attempt, when set, is written
// after the state check with t.AttemptEvent. Set runs inside the
// transaction; it may change every field but the ID, CreatedAt,
// RequestedBy, Attempts and Lease. UpdatedAt is the store's clock.
// ENOTFOUND; ECONFLICT when the state is not in t.From.
func (s *Store) Transition(ctx context.Context, id string, t gateway.Transition) (gateway.Verification, gateway.Event, error) {
	const op = "sqlite.Transition"
	var (
		out     gateway.Verification
		ev, aev gateway.Event
	)
	ev = t.Event
	ev.VerificationID = id
	draft := s.draftLeaf(ev)
	var adraft *leafDraft
	if t.Attempt != nil {
		aev = t.AttemptEvent
		aev.VerificationID, aev.AttemptID = t.Attempt.VerificationID, t.Attempt.ID
		adraft = s.draftLeaf(aev)
	}
	err := s.write(ctx, func(tx tx, now time.Time) error {
		// The state is checked on the row alone; the attempts are read only
		// for a transition that goes ahead.
		read, err := verificationRow(ctx, tx, now, id)
		if err != nil {
			return err
		}
		if len(t.From) > 0 && !slices.Contains(t.From, read.State) {
			return gateway.Errorf(gateway.ECONFLICT, "verification %s is %s, not %v", id, read.State, t.From)
		}
		if t.Attempt != nil {
			if t.Attempt.ID == "" || t.Attempt.VerificationID != id {
				return gateway.Errorf(gateway.EINVALID, "a transition's attempt needs an ID and must be of verification %s", id)
			}
			if aev, err = writeAttempt(ctx, tx, now, *t.Attempt, t.AttemptEvent, read.State, adraft); err != nil {
				return err
			}
		}
		if read.Attempts, err = attempts(ctx, tx, id); err != nil {
			return err
		}
		v := read
		v.Attempts = slices.Clone(read.Attempts) // Set may write to them; the result keeps those read
		if read.Lease != nil {
			l := *read.Lease
			v.Lease = &l
		}
		if t.To != "" {
			v.State = t.To
		}
		if t.Set != nil {
			t.Set(&v)
		}
		v.UpdatedAt = now
		vals, err := verificationValues(v)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, updateVerification, append(vals, id)...); err != nil {
			if isUnique(err) {
				return gateway.Errorf(gateway.ECONFLICT, "reference %s is in use", v.Reference)
			}
			return err
		}
		// Nothing else changes in the transaction: the result is what was
		// read with what was written, as a read would return it; the
		// event's outbox entries are built from it.
		if out, err = asStored(v, read); err != nil {
			return err
		}
		ev = t.Event
		ev.VerificationID, ev.State = id, v.State
		ev, err = insertEventOf(ctx, tx, ev, now, &out, draft)
		return err
	})
	if err != nil {
		return gateway.Verification{}, gateway.Event{}, fail(op, err)
	}
	if t.Attempt != nil {
		s.publishEvent(ctx, aev)
	}
	s.publishEvent(ctx, ev)
	return out, ev, nil
}

// The statements of PutAttempt.
const (
	// attemptOwner reads an attempt's verification and Seq.
	attemptOwner = "SELECT verification_id, seq FROM attempts WHERE id = ?"
	// nextAttemptSeq is a verification's next attempt Seq.
	nextAttemptSeq = "SELECT COALESCE(MAX(seq), 0) + 1 FROM attempts WHERE verification_id = ?"
	// putAttempt inserts or updates an attempt by ID.
	putAttempt = `INSERT INTO attempts (id, verification_id, seq, channel, room_id, device_id,
			provider_ref, join_url, started_at, ended_at, tries, result, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, channel = excluded.channel, room_id = excluded.room_id,
			device_id = excluded.device_id, provider_ref = excluded.provider_ref, join_url = excluded.join_url,
			started_at = excluded.started_at, ended_at = excluded.ended_at, tries = excluded.tries,
			result = excluded.result, error = excluded.error`
	// attemptByID reads one attempt.
	attemptByID = attemptSelect + " WHERE id = ?"
	// attemptByRef reads the latest attempt started with a provider
	// reference on a channel.
	attemptByRef = attemptSelect + `
		WHERE channel = ? AND provider_ref = ? AND provider_ref != ''
		ORDER BY started_at DESC, rowid DESC LIMIT 1`
)

// PutAttempt inserts or updates an attempt by ID and writes ev with it (its
// VerificationID and AttemptID filled in, its State when empty), then
// publishes TopicEvents and TopicAttempt. An attempt without a Seq gets the
// verification's next one when inserted and keeps its own when updated.
// EINVALID without an ID or verification; ENOTFOUND for an unknown
// verification; ECONFLICT when the attempt belongs to another verification.
func (s *Store) PutAttempt(ctx context.Context, a gateway.Attempt, ev gateway.Event) (gateway.Event, error) {
	const op = "sqlite.PutAttempt"
	if a.ID == "" || a.VerificationID == "" {
		return gateway.Event{}, fail(op, gateway.Errorf(gateway.EINVALID, "an attempt needs an ID and a verification"))
	}
	dev := ev
	dev.VerificationID, dev.AttemptID = a.VerificationID, a.ID
	draft := s.draftLeaf(dev)
	err := s.write(ctx, func(tx tx, now time.Time) error {
		state, err := verificationState(ctx, tx, a.VerificationID)
		if err != nil {
			return err
		}
		ev, err = writeAttempt(ctx, tx, now, a, ev, state, draft)
		return err
	})
	if err != nil {
		return gateway.Event{}, fail(op, err)
	}
	s.publishEvent(ctx, ev)
	return ev, nil
}

// writeAttempt inserts or updates an attempt by ID inside a write
// transaction and writes ev with it (VerificationID and AttemptID filled
// in, State when empty); state is the verification's current state, and
// draft the draft of ev's leaf (nil: none).
func writeAttempt(ctx context.Context, tx tx, now time.Time, a gateway.Attempt, ev gateway.Event, state gateway.State, draft *leafDraft) (gateway.Event, error) {
	var (
		owner string
		seq   int
	)
	err := tx.QueryRowContext(ctx, attemptOwner, a.ID).Scan(&owner, &seq)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if a.Seq == 0 {
			if err := tx.QueryRowContext(ctx, nextAttemptSeq, a.VerificationID).Scan(&a.Seq); err != nil {
				return ev, err
			}
		}
	case err != nil:
		return ev, err
	case owner != a.VerificationID:
		return ev, gateway.Errorf(gateway.ECONFLICT, "attempt %s belongs to another verification", a.ID)
	case a.Seq == 0:
		a.Seq = seq
	}
	if _, err := tx.ExecContext(ctx, putAttempt,
		a.ID, a.VerificationID, a.Seq, a.Channel, a.RoomID, a.DeviceID, a.ProviderRef, a.JoinURL,
		ns(a.StartedAt), nsPtr(a.EndedAt), a.Tries, a.Result, a.Error); err != nil {
		return ev, err
	}
	ev.VerificationID, ev.AttemptID = a.VerificationID, a.ID
	if ev.State == "" {
		ev.State = state
	}
	return insertEventOf(ctx, tx, ev, now, nil, draft)
}

// Attempt returns one attempt by its ID. ENOTFOUND.
func (s *Store) Attempt(ctx context.Context, id string) (gateway.Attempt, error) {
	a, err := scanAttempt(s.reads().QueryRowContext(ctx, attemptByID, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = gateway.Errorf(gateway.ENOTFOUND, "no attempt %q", id)
	}
	return a, fail("sqlite.Attempt", err)
}

// AttemptByProviderRef finds the attempt a provider reference belongs to,
// the latest started if several claim it. ENOTFOUND.
func (s *Store) AttemptByProviderRef(ctx context.Context, channel gateway.Channel, ref string) (gateway.Attempt, error) {
	a, err := scanAttempt(s.reads().QueryRowContext(ctx, attemptByRef, channel, ref))
	if errors.Is(err, sql.ErrNoRows) {
		err = gateway.Errorf(gateway.ENOTFOUND, "no %s attempt with provider reference %q", channel, ref)
	}
	return a, fail("sqlite.AttemptByProviderRef", err)
}

// AppendEvent writes an event and returns it with its Seq and At (the
// store's clock); an event without a State gets the verification's current
// one. It publishes TopicEvents, and TopicAttempt for an event with an
// AttemptID. EINVALID without a verification ID; ENOTFOUND for an unknown
// verification.
func (s *Store) AppendEvent(ctx context.Context, ev gateway.Event) (gateway.Event, error) {
	const op = "sqlite.AppendEvent"
	if ev.VerificationID == "" {
		return gateway.Event{}, fail(op, gateway.Errorf(gateway.EINVALID, "an event needs a verification"))
	}
	draft := s.draftLeaf(ev)
	err := s.write(ctx, func(tx tx, now time.Time) error {
		state, err := verificationState(ctx, tx, ev.VerificationID)
		if err != nil {
			return err
		}
		if ev.State == "" {
			ev.State = state
		}
		ev, err = insertEventOf(ctx, tx, ev, now, nil, draft)
		return err
	})
	if err != nil {
		return gateway.Event{}, fail(op, err)
	}
	s.publishEvent(ctx, ev)
	return ev, nil
}

// The queries of Events. Each has its own statement so that the planner can
// use an index: verificationEvents searches events_verification, allEvents
// the primary key.
const (
	eventCols          = "seq, verification_id, type, state, attempt_id, message, data, report, at, instance"
	verificationEvents = "SELECT " + eventCols + " FROM events WHERE verification_id = ? AND seq > ? ORDER BY seq LIMIT ?"
	allEvents          = "SELECT " + eventCols + " FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
	// messageEvent searches events_message.
	messageEvent = "SELECT " + eventCols + " FROM events WHERE type = 'note' AND json_extract(data, '$." + gateway.DataMessage + "') = ? ORDER BY seq LIMIT 1"
)

// Events returns events with Seq > after, oldest first; an empty
// verification ID returns every verification's; limit 0 is no limit.
func (s *Store) Events(ctx context.Context, verificationID string, after int64, limit int) ([]gateway.Event, error) {
	const op = "sqlite.Events"
	if limit <= 0 {
		limit = -1 // none
	}
	var (
		rows *sql.Rows
		err  error
	)
	if verificationID == "" {
		rows, err = s.reads().QueryContext(ctx, allEvents, after, limit)
	} else {
		rows, err = s.reads().QueryContext(ctx, verificationEvents, verificationID, after, limit)
	}
	if err != nil {
		return nil, fail(op, err)
	}
	defer rows.Close()
	var out []gateway.Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, fail(op, err)
		}
		out = append(out, ev)
	}
	return out, fail(op, rows.Err())
}

// MessageEvent returns the note that recorded sending message messageID,
// the earliest if several. ENOTFOUND, whose message does not hold the ID (a
// WhatsApp message ID encodes the recipient's number).
func (s *Store) MessageEvent(ctx context.Context, messageID string) (gateway.Event, error) {
	const op = "sqlite.MessageEvent"
	var ev gateway.Event
	err := sql.ErrNoRows
	if messageID != "" {
		ev, err = scanEvent(s.reads().QueryRowContext(ctx, messageEvent, messageID))
	}
	if errors.Is(err, sql.ErrNoRows) {
		return gateway.Event{}, fail(op, gateway.Errorf(gateway.ENOTFOUND, "no note of sending that message"))
	}
	return ev, fail(op, err)
}

// scanEvent reads a row of eventCols.
func scanEvent(row interface{ Scan(...any) error }) (gateway.Event, error) {
	var (
		ev           gateway.Event
		data, report sql.NullString
		at           int64
	)
	if err := row.Scan(&ev.Seq, &ev.VerificationID, &ev.Type, &ev.State, &ev.AttemptID, &ev.Message, &data,
		&report, &at, &ev.Instance); err != nil {
		return ev, err
	}
	ev.At = time.Unix(0, at).UTC()
	if data.Valid {
		if err := json.Unmarshal([]byte(data.String), &ev.Data); err != nil {
			return ev, err
		}
	}
	if report.Valid {
		ev.Report = new(gateway.Report)
		if err := json.Unmarshal([]byte(report.String), ev.Report); err != nil {
			return ev, err
		}
		ev.Report.At = ev.At
	}
	return ev, nil
}

// Own makes instance the owner of a verification for ttl from the store's
// clock: when it has no owner, is owned by instance already (a renewal), or
// its owner's hold has lapsed. ECONFLICT when another instance holds it;
// ENOTFOUND; EINVALID without an instance or with a ttl that is not
// positive.
func (s *Store) Own(ctx context.Context, id, instance string, ttl time.Duration) (gateway.Verification, error) {
	const op = "sqlite.Own"
	if instance == "" || ttl <= 0 {
		return gateway.Verification{}, fail(op, gateway.Errorf(gateway.EINVALID, "ownership needs an instance and a positive TTL"))
	}
	var v gateway.Verification
	err := s.write(ctx, func(tx tx, now time.Time) error {
		var err error
		if v, err = verificationRow(ctx, tx, now, id); err != nil {
			return err
		}
		if v.Owner != "" && v.Owner != instance && v.OwnerUntil != nil && v.OwnerUntil.After(now) {
			return gateway.Errorf(gateway.ECONFLICT, "verification %s is owned by %s until %s",
				id, v.Owner, v.OwnerUntil.Format(time.RFC3339Nano))
		}
		until := now.Add(ttl)
		v.Owner, v.OwnerUntil = instance, &until
		if _, err = tx.ExecContext(ctx, ownVerification, instance, until.UnixNano(), id); err != nil {
			return err
		}
		v.Attempts, err = attempts(ctx, tx, id)
		return err
	})
	if err != nil {
		return gateway.Verification{}, fail(op, err)
	}
	return v, nil
}

// ownVerification records an owner and the end of its hold.
const ownVerification = "UPDATE verifications SET owner = ?, owner_until = ? WHERE id = ?"

// Orphans lists verifications that have no owner or whose owner's hold has
// lapsed, oldest first: those in routing, queued or dialling, and those
// connected whose call still holds its device (a live lease).
func (s *Store) Orphans(ctx context.Context) ([]gateway.Verification, error) {
	var vs []gateway.Verification
	err := s.read(ctx, func(tx tx, now time.Time) (err error) {
		vs, err = loadVerifications(ctx, tx, now, `
			WHERE (v.state IN ('routing', 'queued', 'dialling')
					OR (v.state = 'connected' AND EXISTS (SELECT 1 FROM claims c
						WHERE c.holder = v.id AND c.released_at IS NULL AND c.expires_at > ?1)))
				AND (v.owner = '' OR v.owner_until IS NULL OR v.owner_until <= ?1)
			ORDER BY v.created_at, v.id`)
		return err
	})
	return vs, fail("sqlite.Orphans", err)
}

// sinceNanos is a filter's Since as stored times are: Unix nanoseconds, 0
// for the zero time (any).
func sinceNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// VerificationByKey returns the verification a requester made with an
// idempotency key. ENOTFOUND.
func (s *Store) VerificationByKey(ctx context.Context, requestedBy, key string) (gateway.Verification, error) {
	const op = "sqlite.VerificationByKey"
	var vs []gateway.Verification
	err := s.read(ctx, func(tx tx, now time.Time) (err error) {
		vs, err = loadVerifications(ctx, tx, now, "WHERE v.requested_by = ?2 AND v.idempotency_key = ?3", requestedBy, key)
		return err
	})
	if err != nil {
		return gateway.Verification{}, fail(op, err)
	}
	if len(vs) == 0 || key == "" {
		return gateway.Verification{}, fail(op, gateway.Errorf(gateway.ENOTFOUND, "no verification made with this key"))
	}
	return vs[0], nil
}
