// Package playbook holds the rules that turn a member's score into the
// action staff should take: a coach callback, a staged renewal reminder, a
// retention offer. The rules live in a playbook file (YAML, or JSON, which
// the YAML parser also reads) that operators edit without a new release;
// docs/playbook.md documents the format, and Default is the embedded
// playbook that `retain serve` uses when it is given none.
//
// A playbook is a list of rules, evaluated in order; the first whose
// conditions all hold gives the action. Conditions test the member's rule
// flags (package features), churn probability and risk level, customer
// tier, trailing 12-month spend (directly or through named spend bands, in
// major units of the playbook's currency), days to the contract's end and
// days since the last visit. An action has a kind, a stage and an offer
// text; stage and text may hold {{.Field}} placeholders (the member's
// tier, spend band, the offer of the member's tier or band, ...).
//
// Parse checks everything it can before a playbook goes live, so that
// Evaluate cannot fail: unknown fields, unknown flag, tier, risk and band
// names, overlapping, unsorted or gapped spend bands, empty ranges, rules
// that can never match or never be reached, and placeholders other than
// the documented fields are errors that name the file, the line and the
// field.
package playbook
