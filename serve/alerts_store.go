package serve

// The store's part of the risk alerts (docs/alerts.md): two buckets, made
// by OpenStore when missing, so stores written before them open as they
// are.
//
//	risk_levels   member_id -> riskRecord (JSON): the last risk level
//	              the alerts recorded for the member
//	alert_outbox  seq uint64 (big-endian, the bucket's NextSequence) ->
//	              alert.Entry (JSON): the webhook events not yet
//	              delivered, written in the transaction that records the
//	              rise

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"retain/serve/alert"
)

var (
	bucketRisk   = []byte("risk_levels")
	bucketOutbox = []byte("alert_outbox")
	// alertBuckets are created by OpenStore but not required by
	// checkFormat.
	alertBuckets = [][]byte{bucketRisk, bucketOutbox}
)

// riskRecord is the value of the risk_levels bucket.
type riskRecord struct {
	Level            string    `json:"level"` // alert.LevelLow, ...
	ChurnProbability float64   `json:"churn_probability"`
	ModelVersion     string    `json:"model_version"`
	AsOf             time.Time `json:"as_of"`
}

// RiskLevel returns the last risk level ("low", "medium" or "high") the
// alerts recorded for the member, and false when none was.
func (s *Store) RiskLevel(memberID string) (string, bool, error) {
	var rec riskRecord
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRisk)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(memberID))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &rec)
	})
	if err != nil {
		return "", false, fmt.Errorf("serve: risk level of %q: %w", memberID, err)
	}
	return rec.Level, ok, nil
}

// riskUpdate is a member's new score, for recordRisks.
type riskUpdate struct {
	memberID string
	rec      riskRecord
	score    *Score
}

// recordRisks stores the risk levels of us that differ from the stored
// ones, in one write transaction, and, for each level that rose from a
// recorded one, puts the event that event makes into the outbox in the
// same transaction. A member without a recorded level gets one, without
// an event. It returns the events put in the outbox, the number of
// members recorded for the first time, and the number of levels changed.
func (s *Store) recordRisks(us []riskUpdate, event func(u *riskUpdate, prev string) alert.Event, now time.Time) (events []alert.Event, baseline, changed int, _ error) {
	// Most levels do not change: find the ones that do in a read
	// transaction, which costs no fsync.
	var todo []int
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRisk)
		if b == nil {
			return errors.New("no risk_levels bucket (read-only store?)")
		}
		for i := range us {
			prev, err := getRisk(b, us[i].memberID)
			if err != nil {
				return err
			}
			if prev == nil || prev.Level != us[i].rec.Level {
				todo = append(todo, i)
			}
		}
		return nil
	})
	if err != nil || len(todo) == 0 {
		return nil, 0, 0, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		events, baseline, changed = events[:0], 0, 0
		b, ob := tx.Bucket(bucketRisk), tx.Bucket(bucketOutbox)
		for _, i := range todo {
			u := &us[i]
			prev, err := getRisk(b, u.memberID)
			if err != nil {
				return err
			}
			if prev != nil && prev.Level == u.rec.Level {
				continue
			}
			v, err := json.Marshal(u.rec)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(u.memberID), v); err != nil {
				return err
			}
			if prev == nil {
				baseline++
				continue
			}
			changed++
			if alert.LevelRank(u.rec.Level) <= alert.LevelRank(prev.Level) {
				continue
			}
			ev := event(u, prev.Level)
			body, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			seq, err := ob.NextSequence()
			if err != nil {
				return err
			}
			e := alert.Entry{Seq: seq, ID: ev.ID, Body: body, CreatedAt: now}
			if err := putEntry(ob, e); err != nil {
				return err
			}
			events = append(events, ev)
		}
		return nil
	})
	if err != nil {
		return nil, 0, 0, err
	}
	return events, baseline, changed, nil
}

func getRisk(b *bolt.Bucket, id string) (*riskRecord, error) {
	v := b.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	rec := new(riskRecord)
	if err := json.Unmarshal(v, rec); err != nil {
		return nil, fmt.Errorf("%w: risk level of %q: %v", ErrBadStore, id, err)
	}
	return rec, nil
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func putEntry(b *bolt.Bucket, e alert.Entry) error {
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return b.Put(seqKey(e.Seq), v)
}

// Outbox returns the store's webhook outbox, which the alerts' dispatcher
// reads.
func (s *Store) Outbox() alert.Outbox { return storeOutbox{s} }

// storeOutbox is the alert_outbox bucket as an alert.Outbox.
type storeOutbox struct{ s *Store }

func (o storeOutbox) List(after uint64, max int) ([]alert.Entry, error) {
	var out []alert.Entry
	err := o.s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		if b == nil {
			return nil
		}
		if after == ^uint64(0) {
			return nil
		}
		c := b.Cursor()
		k, v := c.Seek(seqKey(after + 1))
		for ; k != nil && len(out) < max; k, v = c.Next() {
			var e alert.Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("%w: outbox entry %x: %v", ErrBadStore, k, err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("serve: outbox: %w", err)
	}
	return out, nil
}

func (o storeOutbox) Update(e alert.Entry) error {
	err := o.s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		if b.Get(seqKey(e.Seq)) == nil {
			return nil
		}
		return putEntry(b, e)
	})
	if err != nil {
		return fmt.Errorf("serve: outbox: %w", err)
	}
	return nil
}

func (o storeOutbox) Delete(seq uint64) error {
	err := o.s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketOutbox).Delete(seqKey(seq)) })
	if err != nil {
		return fmt.Errorf("serve: outbox: %w", err)
	}
	return nil
}

func (o storeOutbox) Len() (int, error) {
	var n int
	err := o.s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketOutbox); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n, err
}
