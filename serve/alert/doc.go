// Package alert delivers retain's webhook events: signed JSON posts to one
// receiver URL, taken from a durable outbox, retried with capped
// exponential backoff and jitter, and written to a dead-letter file when
// they cannot be delivered.
//
// The package knows nothing of scoring or of the store. Package serve
// decides when a member's risk level rose, writes the Event into its
// outbox (a bbolt bucket, in the same transaction that records the new
// level) and runs a Dispatcher over that outbox; anything that implements
// Outbox will do.
//
// Signatures follow Stripe's scheme: the header
//
//	X-Retain-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>
//
// signs the raw body and the time of the attempt, so a receiver can check
// both that the body is ours and that it is not a replay of an old post.
// Verify is the receiver's side, in Go; docs/alerts.md shows it in other
// languages.
//
// Delivery is at least once: an event leaves the outbox only after a 2xx
// answer, so a crash between the answer and the removal posts it again
// after a restart, with the same event id. Receivers dedupe by Event.ID.
package alert
