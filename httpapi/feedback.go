package httpapi

import (
	"context"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/safeconnection/gateway"
)

// Data keys of the event that records her feedback: DataFeedback is
// FeedbackMisconduct or FeedbackGiven, DataTreated how she was treated.
// Her words are in no event.
const (
	DataFeedback       = "feedback"
	DataTreated        = "treated"
	FeedbackMisconduct = "misconduct"
	FeedbackGiven      = "given"
)

// routeFeedback mounts her feedback on the receipt, when the store keeps
// it and the public's pages are served.
func (s *Server) routeFeedback(mux *routeMux) {
	if s.Feedback == nil || s.Public.Rooms == nil {
		return
	}
	mux.HandleFunc("GET /receipt/{reference}/feedback", s.limited(s.feedbackForm))
	mux.HandleFunc("POST /receipt/{reference}/feedback", s.limited(s.feedbackPost))
}

// FeedbackForm is what she sends: the fields of the form.
type FeedbackForm struct {
	Treated    string `json:"treated"`    // well, poorly or badly
	Explained  string `json:"explained"`  // yes, no, or empty
	Misconduct bool   `json:"misconduct"` // she reports misconduct
	Report     string `json:"report"`     // anything she wants to say; optional
}

// check returns the feedback the form gives for verification id.
// EINVALID.
func (f FeedbackForm) check(id string) (gateway.Feedback, error) {
	out := gateway.Feedback{VerificationID: id, Treated: f.Treated, Explained: f.Explained, Misconduct: f.Misconduct,
		Report: strings.TrimSpace(f.Report)}
	switch out.Treated {
	case gateway.FeedbackWell, gateway.FeedbackPoorly, gateway.FeedbackBadly:
	case "":
		return out, invalid("treated: say how you were treated")
	default:
		return out, invalid("treated must be well, poorly or badly")
	}
	switch out.Explained {
	case "yes", "no", "":
	default:
		return out, invalid("explained must be yes or no")
	}
	if !utf8.ValidString(out.Report) || strings.ContainsRune(out.Report, 0) {
		return out, invalid("report: text only")
	}
	if n := utf8.RuneCountInString(out.Report); n > gateway.MaxFeedbackReport {
		return out, invalid("report: at most %d characters (this is %d)", gateway.MaxFeedbackReport, n)
	}
	return out, nil
}

// feedbackFor finds the ended verification of the reference typed, for
// her feedback. ENOTFOUND as the receipt answers it; ECONFLICT while the
// check is not over.
func (s *Server) feedbackFor(ctx context.Context, typed string) (gateway.Verification, error) {
	ref := gateway.NormalizeReference(typed)
	none := gateway.Errorf(gateway.ENOTFOUND, "no receipt has the reference %q", echoReference(typed))
	if ref == "" || s.Public.Receipts == nil {
		return gateway.Verification{}, none
	}
	v, err := s.Public.Receipts.VerificationByReference(ctx, ref)
	if gateway.ErrorCode(err) == gateway.ENOTFOUND {
		return v, none
	}
	if err == nil && !v.State.Terminal() {
		err = gateway.Errorf(gateway.ECONFLICT, "this check is not over yet: tell us how it went once it is")
	}
	return v, err
}

// GET /receipt/{reference}/feedback: the form.
func (s *Server) feedbackForm(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	ref := r.PathValue("reference")
	v, err := s.feedbackFor(r.Context(), ref)
	if err != nil {
		s.feedbackFail(w, r, ref, err)
		return
	}
	s.page(w, r, http.StatusOK, "feedback.html", map[string]any{"Reference": v.Reference})
}

// POST /receipt/{reference}/feedback: her feedback, once; JSON (a
// FeedbackForm) or the form.
func (s *Server) feedbackPost(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	ref := r.PathValue("reference")
	var form FeedbackForm
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		data, err := readLimited(r.Body, s.maxBody())
		if err == nil {
			err = unmarshalStrict(data, &form)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, s.maxBody())
		if err := r.ParseForm(); err != nil {
			s.feedbackFail(w, r, ref, invalid("the form could not be read"))
			return
		}
		form = FeedbackForm{Treated: r.PostFormValue("treated"), Explained: r.PostFormValue("explained"),
			Misconduct: r.PostFormValue("misconduct") == "yes", Report: r.PostFormValue("report")}
	}
	v, err := s.feedbackFor(r.Context(), ref)
	if err != nil {
		s.feedbackFail(w, r, ref, err)
		return
	}
	f, err := form.check(v.ID)
	if err != nil {
		if !wantsJSON(r) && gateway.ErrorCode(err) == gateway.EINVALID {
			s.page(w, r, http.StatusBadRequest, "feedback.html", map[string]any{"Reference": v.Reference, "Error": gateway.ErrorMessage(err), "Form": form})
			return
		}
		s.feedbackFail(w, r, ref, err)
		return
	}
	ev := gateway.Event{VerificationID: v.ID, Type: gateway.EventNote, Message: "feedback from the public: treated " + f.Treated,
		Data: map[string]string{DataFeedback: FeedbackGiven, DataTreated: f.Treated}}
	if f.Misconduct {
		ev.Message += "; misconduct reported"
		ev.Data[DataFeedback] = FeedbackMisconduct
	}
	if _, err := s.Feedback.AddFeedback(r.Context(), f, ev); err != nil {
		if gateway.ErrorCode(err) == gateway.ECONFLICT {
			err = gateway.Errorf(gateway.ECONFLICT, "feedback on this check has been given already: it is taken once")
		}
		s.feedbackFail(w, r, ref, err)
		return
	}
	if wantsJSON(r) {
		s.writeJSON(w, r, http.StatusCreated, map[string]any{"reference": v.Reference, "misconduct": f.Misconduct})
		return
	}
	s.page(w, r, http.StatusCreated, "feedback-done.html", map[string]any{"Reference": v.Reference, "Misconduct": f.Misconduct})
}

// feedbackFail answers a feedback that cannot be taken: JSON, or a page
// that says why.
func (s *Server) feedbackFail(w http.ResponseWriter, r *http.Request, typed string, err error) {
	code := gateway.ErrorCode(err)
	if wantsJSON(r) || (code != gateway.ENOTFOUND && code != gateway.ECONFLICT && code != gateway.EINVALID) {
		s.writeError(w, r, err)
		return
	}
	status := map[string]int{gateway.ENOTFOUND: http.StatusNotFound, gateway.ECONFLICT: http.StatusConflict}[code]
	if status == 0 {
		status = http.StatusBadRequest
	}
	s.page(w, r, status, "feedback-none.html", map[string]any{"Reference": echoReference(typed), "Message": gateway.ErrorMessage(err)})
}

func init() {
	pageTitles["feedback.html"] = "title.feedback"
	pageTitles["feedback-done.html"] = "title.feedback-done"
	pageTitles["feedback-none.html"] = "title.feedback-none"
}
