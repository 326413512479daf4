package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	retainv1 "retain/proto/retain/v1"
)

// TestScoreUsage checks the refusals that need no server.
func TestScoreUsage(t *testing.T) {
	code, _, stderr := runCLI(t, "score", "M1")
	if code != 2 || !strings.Contains(stderr, "--addr") || !strings.Contains(stderr, "--model BUNDLE --data DIR --out FILE") {
		t.Errorf("without --addr: exit %d: %s", code, stderr)
	}
	if code, _, _ := runCLI(t, "score", "--addr", "127.0.0.1:1", "--insecure"); code != 2 {
		t.Errorf("no ids: exit %d, want 2", code)
	}
	if code, _, _ := runCLI(t, "score", "--addr", "127.0.0.1:1", "--insecure", "--top", "3", "M1"); code != 2 {
		t.Errorf("ids and --top: exit %d, want 2", code)
	}
	if code, _, stderr := runCLI(t, "score", "--addr", "127.0.0.1:1", "--insecure", "--as-of", "yesterday", "M1"); code != 1 || !strings.Contains(stderr, "--as-of") {
		t.Errorf("bad --as-of: exit %d: %s", code, stderr)
	}
	// A date is taken like the batch commands take it; the call then
	// fails on the connection, not on the flag.
	if code, _, stderr := runCLI(t, "score", "--addr", "127.0.0.1:1", "--insecure", "--as-of", "2025-12-29", "M1"); code != 1 || strings.Contains(stderr, "--as-of") {
		t.Errorf("--as-of as a date: exit %d: %s", code, stderr)
	}
}

// TestPrintScore checks the human-readable layout of one score; the
// expected text is written by hand from the fields below.
func TestPrintScore(t *testing.T) {
	at := time.Date(2026, 3, 2, 18, 30, 0, 0, time.UTC) // a Monday
	s := &retainv1.MemberScore{
		MemberId:         "M000042",
		ChurnProbability: 0.8125,
		RiskLevel:        retainv1.RiskLevel_RISK_LEVEL_HIGH,
		Tier:             "casual",
		Flags:            []string{"coach_callback_90d", "renewal_due"},
		Reasons: []*retainv1.Reason{
			{Name: "visits_last_8w", Description: "2 visits, down from 9", Contribution: 0.4},
			{Name: "tenure_weeks", Contribution: -0.05},
		},
		RecommendedAction: &retainv1.Action{Kind: "retention_offer", Stage: "30d", OfferText: "one free month"},
		NextCourses: []*retainv1.CourseSuggestion{
			{CourseId: "C7", Name: "Yoga", Probability: 0.25, NextSessions: []*retainv1.Session{
				{StartsAt: timestamppb.New(at), Club: "north"},
				{StartsAt: timestamppb.New(at.AddDate(0, 0, 7)), Club: "north"},
				{StartsAt: timestamppb.New(at.AddDate(0, 0, 14)), Club: "north"},
			}},
			{CourseId: "C9", Probability: 0.125},
		},
	}
	want := `M000042  churn 0.812  risk HIGH  tier casual
  flags    coach_callback_90d, renewal_due
  reasons  visits_last_8w           +0.400  2 visits, down from 9
           tenure_weeks             -0.050
  action   retention_offer (30d): "one free month"
  next     1. C7 Yoga                      p=0.250  next: Mon 2026-03-02 18:30Z @north, Mon 2026-03-09 18:30Z @north
           2. C9                           p=0.125
`
	var b bytes.Buffer
	printScore(&b, s)
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// No flags, reasons, action or courses: dashes, not empty labels.
	b.Reset()
	printScore(&b, &retainv1.MemberScore{MemberId: "M1", ChurnProbability: 0.1, RiskLevel: retainv1.RiskLevel_RISK_LEVEL_LOW})
	if got, want := b.String(), "M1  churn 0.100  risk LOW  tier -\n  flags    -\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// A member no longer on the books says so under the first line.
	b.Reset()
	printScore(&b, &retainv1.MemberScore{MemberId: "M2", ChurnProbability: 0.9, RiskLevel: retainv1.RiskLevel_RISK_LEVEL_HIGH, AlreadyChurned: true})
	if got, want := b.String(), "M2  churn 0.900  risk HIGH  tier -\n  status   already churned at the as-of time: no longer on the books (docs/labels.md)\n  flags    -\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
