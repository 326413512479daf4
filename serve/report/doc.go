// Package report builds the retention report of one club and month: a
// single self-contained HTML page (inline CSS, inline JS, charts as inline
// SVG, no network) for club managers, written by 'retain report' and served
// live by 'retain serve' at /dashboard.
//
// The page is rendered from a plain data struct, Input, by Render. Build
// fills an Input from member histories and a ScoreFunc, so the source of
// the churn scores (the model bundle's scorer today, a batch scorer later)
// is the caller's choice. ReadDir reads the histories of a dataset
// directory.
//
// What the page shows: members on the books by risk level and tier; the
// monthly renewal rate and active share against their thresholds with the
// failing months flagged (features.ComputeKPIs); churn by month of year;
// the coach-callback list (coach_callback_90d); the renewal-reminder queue
// by stage (renewal_reminder_60d/30d/15d/7d); the members most at risk with
// their reasons and recommended actions; the model's version and metrics.
// Every table sorts by a click on its header and downloads as CSV.
//
// Output is deterministic: the same Input renders the same bytes.
package report
