package backend

import (
	"errors"
	"net/url"
	"strings"
)

// RedactURL returns err with the query values of any URL it names (from
// the HTTP client's *url.Error, which already hides a password) replaced
// by "[REDACTED]": a backend URL may carry a key (?api_key=…), and a
// transport error's text goes to the client, the spans and the audit
// trail. errors.Is and errors.As still see err. Any other error is
// returned as it is.
func RedactURL(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil || u.RawQuery == "" {
		return err
	}
	q := u.Query()
	for k, vs := range q {
		for i := range vs {
			vs[i] = "[REDACTED]"
		}
		q[k] = vs
	}
	safe := strings.Replace(ue.URL, "?"+u.RawQuery, "?"+q.Encode(), 1)
	msg := strings.ReplaceAll(err.Error(), ue.URL, safe)
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
