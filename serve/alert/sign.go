package alert

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers of a webhook post.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex>" (see Sign).
	SignatureHeader = "X-Retain-Signature"
	// EventIDHeader repeats Event.ID, for receivers that dedupe before
	// they parse the body.
	EventIDHeader = "X-Retain-Event-Id"
	// AttemptHeader is the attempt number, 1 for the first.
	AttemptHeader = "X-Retain-Attempt"
)

// DefaultTolerance is how far the timestamp of a signature may be from the
// receiver's clock before Verify refuses it.
const DefaultTolerance = 5 * time.Minute

// MinSecretBytes is the shortest secret accepted.
const MinSecretBytes = 16

// Verification errors, checked with errors.Is.
var (
	ErrNoSignature = errors.New("alert: no valid v1 signature in the header")
	ErrBadHeader   = errors.New("alert: malformed signature header")
	ErrTooOld      = errors.New("alert: signature timestamp outside the tolerance")
	ErrShortSecret = fmt.Errorf("alert: secret shorter than %d bytes", MinSecretBytes)
	errEmptySecret = errors.New("alert: empty secret")
)

const signaturePrefix = "v1="

// signature is hex(HMAC-SHA256(secret, "<t>." + body)).
func signature(secret []byte, t int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(strconv.AppendInt(nil, t, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Sign returns the value of the X-Retain-Signature header for body sent at
// t: "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<unix seconds>." +
// body)>".
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := t.Unix()
	return "t=" + strconv.FormatInt(ts, 10) + "," + signaturePrefix + signature(secret, ts, body)
}

// Verify checks the X-Retain-Signature header of a post whose raw body is
// body, received at now: the header has a timestamp within tolerance of
// now (0 means DefaultTolerance) and a v1 signature of body at that
// timestamp with secret. A header may carry several v1 signatures (for
// instance while the secret is being rotated); one match suffices. The
// comparison takes constant time.
//
// Verify must see the body exactly as received, before any JSON decoding.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secret) == 0 {
		return errEmptySecret
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts int64
	haveTS := false
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: %q", ErrBadHeader, part)
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || haveTS {
				return fmt.Errorf("%w: timestamp %q", ErrBadHeader, v)
			}
			ts, haveTS = n, true
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if !haveTS {
		return fmt.Errorf("%w: no t=", ErrBadHeader)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed at %s, %s from now", ErrTooOld, time.Unix(ts, 0).UTC().Format(time.RFC3339), d.Round(time.Second))
	}
	want, _ := hex.DecodeString(signature(secret, ts, body))
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrNoSignature
}

// CheckSecret checks that a secret is long enough to sign with.
func CheckSecret(secret []byte) error {
	if len(secret) < MinSecretBytes {
		return ErrShortSecret
	}
	return nil
}
