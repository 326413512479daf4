package serve

import (
	"context"
	"time"

	"retain/datasets"
)

// History is one member's record and events, as the server holds them.
//
// It has the fields of features.History, in the same order and of the same
// types, so a Scorer built on package features converts it without copying:
// (*features.History)(h).
type History struct {
	Member       datasets.Member
	Attendance   []datasets.Attendance
	Transactions []datasets.Transaction
}

// A Scorer scores one member from the member's history. The server holds
// one Scorer at a time (see Server.SetScorer); the model bundle, through
// package features and package model, is the real one.
//
// Score scores the member of h as of asOf. Every event of h is before asOf
// (the server drops the others) and belongs to h.Member, sorted by TS.
// Score must not keep or modify h, must be safe for concurrent use, and
// should return promptly with ctx.Err() once ctx is done. An error is
// reported to the client as INTERNAL (or as DEADLINE_EXCEEDED / CANCELLED
// when it wraps a context error) and logged.
//
// Info describes the model. It is called often and must be cheap; its
// result must not change during the Scorer's life.
type Scorer interface {
	Score(ctx context.Context, h *History, asOf time.Time) (*Score, error)
	Info() ModelInfo
}

// A Checker is a Scorer that can check itself before it goes live, for
// instance by scoring a fixture that the model bundle ships with its
// expected output. SetScorer calls Check, when the Scorer has it, before
// the Scorer replaces the current one; an error keeps the current one.
type Checker interface {
	Check(ctx context.Context) error
}

// A Recommender is a Scorer with a cheaper path for next-class suggestions
// alone: no reasons, no action, no churn probability. RecommendClasses, the
// coach app's frequent call, uses it when the current Scorer has it and
// falls back to Score otherwise. Recommend has Score's contract and must
// return the same NextCourses as Score for the same h and asOf.
type Recommender interface {
	Recommend(ctx context.Context, h *History, asOf time.Time) ([]CourseProbability, error)
}

// A ChurnTester is a Scorer that can tell, more cheaply than by scoring,
// whether a member had already churned at asOf (Score.AlreadyChurned).
// StreamScores uses it to skip churned members before scoring them.
// AlreadyChurned has Score's contract and must agree with
// Score.AlreadyChurned for the same h and asOf.
type ChurnTester interface {
	AlreadyChurned(ctx context.Context, h *History, asOf time.Time) (bool, error)
}

// Score is what a Scorer says about one member.
//
// The server checks every Score before it leaves: ChurnProbability and the
// course probabilities must be in [0, 1] and contributions finite, else the
// call fails with INTERNAL. The risk level is not the Scorer's business:
// the server derives it from ChurnProbability and Options.Risk.
type Score struct {
	// ChurnProbability is the probability, in [0, 1], that the member
	// churns (docs/labels.md).
	ChurnProbability float64
	// Flags are the machine names of the rule flags set for the member,
	// e.g. "coach_callback_90d" (features.Flags.Names).
	Flags []string
	// Tier is the member's engagement tier, e.g. "core".
	Tier string
	// NextCourses are the courses the member is likely to attend next,
	// most likely first; the server keeps the first top_k of the request.
	NextCourses []CourseProbability
	// Reasons explain the score, most important first.
	Reasons []Reason
	// Action is what staff should do; the zero Action means none.
	Action Action
	// AlreadyChurned says that the member had already churned at asOf by
	// the model's label definition (docs/labels.md): such members were
	// not in the training data, and whole-store pulls skip them.
	AlreadyChurned bool
}

// CourseProbability is a course and the probability that it is the
// member's next class.
type CourseProbability struct {
	CourseID    string
	Probability float64
}

// Reason is one thing that pushed a score up or down.
type Reason struct {
	Name         string  // machine name, e.g. "visits_last_8w"
	Description  string  // for people
	Contribution float64 // signed, in the model's units; positive raises the risk
}

// Action is a recommended action for staff.
type Action struct {
	Kind      string // machine name, e.g. "coach_callback"; "" = none
	Stage     string // e.g. "30d" for a staged reminder; "" = not staged
	OfferText string
}

// ModelInfo describes the model behind a Scorer.
type ModelInfo struct {
	// Version identifies the model; it must not be empty. It labels every
	// score and the retain_model_version_info metric.
	Version string
	// TrainedAt is when the model was trained; zero if unknown.
	TrainedAt time.Time
	// Metrics are evaluation metrics by name, e.g. "auc_pr".
	Metrics map[string]float64
	// FeatureNames are the model's input features, in input order.
	FeatureNames []string
}
