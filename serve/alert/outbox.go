package alert

import "time"

// Entry is one event waiting in an Outbox.
type Entry struct {
	// Seq orders the outbox: the Dispatcher tries due entries in Seq
	// order. The Outbox assigns it when the entry is added.
	Seq uint64 `json:"seq"`
	// ID is the event id (Event.ID).
	ID string `json:"id"`
	// Body is the event's JSON, exactly the bytes signed and posted.
	Body []byte `json:"body"`
	// CreatedAt is when the event was created; MaxAge counts from it.
	CreatedAt time.Time `json:"created_at"`
	// Attempts is the number of posts tried so far.
	Attempts int `json:"attempts"`
	// NextAttempt is when the next post is due; zero = now.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// LastError says why the last attempt failed.
	LastError string `json:"last_error,omitempty"`
}

// An Outbox is the durable queue of events to deliver. Package serve's
// store implements it with a bbolt bucket. Its methods must be safe for
// concurrent use; a Dispatcher is its only reader and the only caller of
// Update and Delete.
type Outbox interface {
	// List returns up to max entries with Seq > after, in Seq order.
	List(after uint64, max int) ([]Entry, error)
	// Update replaces the stored entry of e.Seq with e (Attempts,
	// NextAttempt and LastError change; nothing else). An entry that is no
	// longer there is not an error.
	Update(e Entry) error
	// Delete removes the entry of seq; one already gone is not an error.
	Delete(seq uint64) error
	// Len returns the number of entries.
	Len() (int, error)
}
