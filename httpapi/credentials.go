package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
)

// Limits of a credential's fields.
const (
	MaxCredentialName = 64
	MaxIdentityField  = 32
	MaxRooms          = 64
	// MaxCredentialLife is the longest expires_in taken.
	MaxCredentialLife = 5 * 365 * 24 * time.Hour
	// OfficerCredentialLife is how long an officer-app credential issued
	// without expires_in works: one is issued to one officer's phone, and a
	// phone lost unnoticed must not speak for him for ever.
	OfficerCredentialLife = 90 * 24 * time.Hour
)

// credentialBody is the wire form of a credential to issue.
type credentialBody struct {
	Role       string            `json:"role"`
	Name       string            `json:"name"`
	Subject    string            `json:"subject"`
	Officer    *officerIDBody    `json:"officer"`
	Supervisor *supervisorIDBody `json:"supervisor"`
	ExpiresIn  string            `json:"expires_in"`
}

// officerIDBody is the wire form of an officer's identity.
type officerIDBody struct {
	Force   string `json:"force"`
	Collar  string `json:"collar"`
	Warrant string `json:"warrant"`
}

// supervisorIDBody is the wire form of a supervisor's identity.
type supervisorIDBody struct {
	Rank   string   `json:"rank"`
	Number string   `json:"number"`
	Rooms  []string `json:"rooms"`
}

// OfficerView is an officer credential's identity as the API shows it:
// never his warrant number, only whether one is set.
type OfficerView struct {
	Force      string `json:"force"`
	Collar     string `json:"collar"`
	WarrantSet bool   `json:"warrant_set"`
}

// SupervisorView is a supervisor credential's identity as the API shows it.
type SupervisorView struct {
	Rank   string   `json:"rank"`
	Number string   `json:"number"`
	Rooms  []string `json:"rooms"`
}

// CredentialView is a credential as the ops API shows it: never its
// secret, its hash or a warrant number.
type CredentialView struct {
	ID         string          `json:"id"`
	Role       gateway.Role    `json:"role"`
	Name       string          `json:"name"`
	Subject    string          `json:"subject"`
	Officer    *OfficerView    `json:"officer"`
	Supervisor *SupervisorView `json:"supervisor"`
	IssuedAt   *time.Time      `json:"issued_at"`
	ExpiresAt  *time.Time      `json:"expires_at"`
	RevokedAt  *time.Time      `json:"revoked_at"`
}

// NewCredentialView returns the API's view of t.
func NewCredentialView(t gateway.Token) CredentialView {
	v := CredentialView{ID: t.ID, Role: t.Role, Name: t.Name, Subject: t.Subject,
		IssuedAt: timeOrNull(t.IssuedAt), ExpiresAt: timeOrNull(t.ExpiresAt), RevokedAt: timeOrNull(t.RevokedAt)}
	if t.Officer != nil {
		v.Officer = &OfficerView{Force: t.Officer.Force, Collar: t.Officer.Collar, WarrantSet: t.Officer.Warrant != ""}
	}
	if t.Supervisor != nil {
		v.Supervisor = &SupervisorView{Rank: t.Supervisor.Rank, Number: t.Supervisor.Number, Rooms: t.Supervisor.Rooms}
		if v.Supervisor.Rooms == nil {
			v.Supervisor.Rooms = []string{}
		}
	}
	if t.Revoked && v.RevokedAt == nil {
		v.RevokedAt = &time.Time{}
	}
	return v
}

// IssuedCredential answers the issue of a credential: the only time its
// secret is shown.
type IssuedCredential struct {
	Credential CredentialView `json:"credential"`
	Secret     string         `json:"secret"`
}

// CredentialReply answers the revocation of a credential.
type CredentialReply struct {
	Credential CredentialView `json:"credential"`
}

// CredentialsReply answers a listing of credentials.
type CredentialsReply struct {
	Credentials []CredentialView `json:"credentials"`
}

// credentialReader reads one credential, revoked or expired too
// (gateway.TokenStore).
type credentialReader interface {
	// Token returns one token. ENOTFOUND.
	Token(ctx context.Context, id string) (gateway.Token, error)
}

// token builds the credential the body asks for, checked against the
// rooms and devices known here.
func (s *Server) credentialOf(ctx context.Context, b credentialBody) (gateway.Token, error) {
	var t gateway.Token
	role, err := gateway.ParseRole(strings.TrimSpace(b.Role))
	if err != nil {
		return t, invalid("role must be officer, supervisor, handler, ops or agent")
	}
	t.Role = role
	if t.Name, err = checkText("name", b.Name, MaxCredentialName); err != nil {
		return t, err
	}
	if b.Officer != nil && role != gateway.RoleOfficer {
		return t, invalid("officer is only for an officer credential")
	}
	if b.Supervisor != nil && !role.Staff() {
		return t, invalid("supervisor is only for a supervisor or 999 call-handler credential")
	}
	if strings.TrimSpace(b.Subject) != "" && role != gateway.RoleAgent {
		return t, invalid("subject is only for an agent credential")
	}
	switch role {
	case gateway.RoleOfficer:
		if b.Officer == nil {
			return t, invalid("officer (collar and warrant) is required for an officer credential")
		}
		o := gateway.OfficerIdentity{}
		if o.Collar, err = checkText("officer.collar", b.Officer.Collar, MaxIdentityField); err != nil {
			return t, err
		}
		if o.Warrant, err = checkText("officer.warrant", b.Officer.Warrant, MaxIdentityField); err != nil {
			return t, err
		}
		if o.Force, err = checkOptionalText("officer.force", b.Officer.Force, MaxCredentialName); err != nil {
			return t, err
		}
		if o.Force == "" {
			o.Force = s.Public.Force
		}
		t.Officer = &o
	case gateway.RoleSupervisor, gateway.RoleHandler:
		if b.Supervisor == nil {
			return t, invalid("supervisor (rank or title, and number) is required for a %s credential", role)
		}
		sv := gateway.SupervisorIdentity{Rooms: []string{}}
		if sv.Rank, err = checkText("supervisor.rank", b.Supervisor.Rank, MaxIdentityField); err != nil {
			return t, err
		}
		if sv.Number, err = checkText("supervisor.number", b.Supervisor.Number, MaxIdentityField); err != nil {
			return t, err
		}
		if len(b.Supervisor.Rooms) > MaxRooms {
			return t, invalid("supervisor.rooms must hold at most %d rooms", MaxRooms)
		}
		for _, id := range b.Supervisor.Rooms {
			id = strings.TrimSpace(id)
			if s.Rooms != nil {
				if _, ok := s.Rooms.Room(id); !ok {
					return t, invalid("supervisor.rooms: no operations room %q", cut(id))
				}
			} else if _, err := checkText("supervisor.rooms", id, MaxRoomID); err != nil {
				return t, err
			}
			sv.Rooms = append(sv.Rooms, id)
		}
		t.Supervisor = &sv
	case gateway.RoleAgent:
		if t.Subject, err = checkText("subject", b.Subject, MaxRoomID); err != nil {
			return t, err
		}
		if _, err := s.Devices.Device(ctx, t.Subject); err != nil {
			if gateway.ErrorCode(err) == gateway.ENOTFOUND {
				return t, invalid("subject: no device %q", cut(t.Subject))
			}
			return t, err
		}
	}
	if strings.TrimSpace(b.ExpiresIn) != "" {
		d, err := time.ParseDuration(strings.TrimSpace(b.ExpiresIn))
		if err != nil || d <= 0 || d > MaxCredentialLife {
			return t, invalid("expires_in must be a positive duration such as \"720h\", at most %s", MaxCredentialLife)
		}
		t.ExpiresAt = s.storeNow(ctx).Add(d).UTC()
	} else if t.Role == gateway.RoleOfficer {
		t.ExpiresAt = s.storeNow(ctx).Add(OfficerCredentialLife).UTC()
	}
	return t, nil
}

// POST /v1/credentials: ops staff issue a credential to one holder; the
// secret is shown once.
func (s *Server) createCredential(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	ops, err := s.opsStore()
	if err != nil {
		return err
	}
	var b credentialBody
	if err := s.decodeBody(w, r, &b); err != nil {
		return err
	}
	ctx := r.Context()
	t, err := s.credentialOf(ctx, b)
	if err != nil {
		return err
	}
	secret, hash := gateway.NewSecret()
	t.ID, t.Hash = gateway.NewID("t_"), hash
	if err := s.Tokens.CreateToken(ctx, t); err != nil {
		return err
	}
	stored, err := s.storedToken(ctx, t)
	if err != nil {
		return err
	}
	view := NewCredentialView(stored)
	ev := opsEvent(tok, gateway.OpsTokenIssue, "")
	ev.After, _ = json.Marshal(view)
	if _, err := ops.AppendOpsEvent(ctx, ev); err != nil {
		if rerr := s.Tokens.RevokeToken(context.WithoutCancel(ctx), t.ID); rerr != nil {
			s.logger().WithError(rerr).WithField("credential", t.ID).Error("credential issued without its ops record not revoked")
		}
		return err
	}
	s.logger().WithFields(logrus.Fields{"credential": t.ID, "role": t.Role, "token": tok.ID}).Info("credential issued")
	s.writeJSON(w, r, http.StatusCreated, IssuedCredential{Credential: view, Secret: secret})
	return nil
}

// storedToken reads t back as stored (with its issue time), or returns t
// when the store cannot read one token.
func (s *Server) storedToken(ctx context.Context, t gateway.Token) (gateway.Token, error) {
	cr, ok := s.Tokens.(credentialReader)
	if !ok {
		return t, nil
	}
	return cr.Token(ctx, t.ID)
}

// GET /v1/credentials?role=
func (s *Server) listCredentials(w http.ResponseWriter, r *http.Request, _ gateway.Token) error {
	var role gateway.Role
	if q := r.URL.Query().Get("role"); q != "" {
		var err error
		if role, err = gateway.ParseRole(q); err != nil {
			return invalid("role must be officer, supervisor, handler, ops or agent")
		}
	}
	ts, err := s.Tokens.Tokens(r.Context())
	if err != nil {
		return err
	}
	out := CredentialsReply{Credentials: []CredentialView{}}
	for _, t := range ts {
		if role == "" || t.Role == role {
			out.Credentials = append(out.Credentials, NewCredentialView(t))
		}
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// POST /v1/credentials/{id}/revoke: the credential stops working at once,
// on every instance (each asks the store on every request).
func (s *Server) revokeCredential(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	ops, err := s.opsStore()
	if err != nil {
		return err
	}
	cr, ok := s.Tokens.(credentialReader)
	if !ok {
		return gateway.Errorf(gateway.EUNAVAILABLE, "credentials cannot be read one by one here")
	}
	ctx, id := r.Context(), r.PathValue("id")
	before, err := cr.Token(ctx, id)
	if err != nil {
		return err
	}
	if err := s.Tokens.RevokeToken(ctx, id); err != nil {
		return err
	}
	after, err := cr.Token(ctx, id)
	if err != nil {
		return err
	}
	view := NewCredentialView(after)
	ev := opsEvent(tok, gateway.OpsTokenRevoke, "")
	ev.Before, _ = json.Marshal(NewCredentialView(before))
	ev.After, _ = json.Marshal(view)
	if _, err := ops.AppendOpsEvent(ctx, ev); err != nil {
		return err
	}
	s.logger().WithFields(logrus.Fields{"credential": id, "token": tok.ID}).Info("credential revoked")
	s.writeJSON(w, r, http.StatusOK, CredentialReply{Credential: view})
	return nil
}
