package alert

import (
	"crypto/rand"
	"time"
)

// TypeRiskLevelRaised is the Type of the event sent when a member's risk
// level rises.
const TypeRiskLevelRaised = "risk_level_raised"

// Risk levels, as they appear in events.
const (
	LevelLow    = "low"
	LevelMedium = "medium"
	LevelHigh   = "high"
)

// Event is the JSON body of a webhook post. docs/alerts.md documents each
// field; new fields may be added, so receivers must ignore fields they do
// not know.
type Event struct {
	// ID is unique to the event and the same in every attempt to deliver
	// it: receivers dedupe by it.
	ID string `json:"id"`
	// Type is TypeRiskLevelRaised.
	Type string `json:"type"`
	// CreatedAt is when the server created the event (not the attempt).
	CreatedAt time.Time `json:"created_at"`
	// MemberID is the member whose risk rose.
	MemberID string `json:"member_id"`
	// PreviousLevel and NewLevel are "low", "medium" or "high", with
	// NewLevel above PreviousLevel.
	PreviousLevel string `json:"previous_level"`
	NewLevel      string `json:"new_level"`
	// ChurnProbability is the score that put the member at NewLevel.
	ChurnProbability float64 `json:"churn_probability"`
	// Thresholds are the churn probabilities at which the level turns
	// medium and high, as the server was configured.
	Thresholds Thresholds `json:"risk_thresholds"`
	// Reasons are the top reasons of the score, most important first.
	Reasons []Reason `json:"top_reasons"`
	// RecommendedAction is what staff should do, nil for nothing.
	RecommendedAction *Action `json:"recommended_action"`
	// ModelVersion is the model that scored.
	ModelVersion string `json:"model_version"`
	// AsOf is the instant the member was scored as of.
	AsOf time.Time `json:"as_of"`
	// Trigger says what led to the rescoring: "ingest" (new events of
	// the member), "scheduled" (the periodic rescoring of all members)
	// or "admin" (a rescoring asked for by an operator).
	Trigger string `json:"trigger"`
}

// Thresholds are the risk thresholds of the server.
type Thresholds struct {
	Medium float64 `json:"medium"`
	High   float64 `json:"high"`
}

// Reason is one reason of a score.
type Reason struct {
	Name         string  `json:"name"`
	Description  string  `json:"description"`
	Contribution float64 `json:"contribution"`
}

// Action is a recommended action for staff.
type Action struct {
	Kind      string `json:"kind"`
	Stage     string `json:"stage,omitempty"`
	OfferText string `json:"offer_text,omitempty"`
}

// NewEventID returns a new random event id, "evt_" and 26 base32
// characters (130 random bits), unique without coordination.
func NewEventID() string {
	return "evt_" + rand.Text()
}

// LevelRank orders the risk levels: 1 low, 2 medium, 3 high, 0 for
// anything else.
func LevelRank(level string) int {
	switch level {
	case LevelLow:
		return 1
	case LevelMedium:
		return 2
	case LevelHigh:
		return 3
	}
	return 0
}
