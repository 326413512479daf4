package features

// Why a member is not scored at a cutoff (see Featurizer.Status). The
// empty string means the member is on the books and scored.
const (
	// StatusChurned: the member had already churned at the cutoff.
	StatusChurned = "already_churned"
	// StatusOpenEnded: under LabelCancellation, a member with an
	// open-ended contract: still a member, but nothing in the data can
	// cancel the contract, so the model has nothing to predict.
	StatusOpenEnded = "open_ended_contract"
)

// Status says whether the member of ex, an example computed by f (Compute,
// the Builder or AsOf), is on the books at the example's cutoff: "" when
// it is, else StatusChurned or StatusOpenEnded. It is the one definition
// of "active member" that batch scoring, the server's whole-store pulls
// and the report share (docs/labels.md, "On the books"):
//
//   - a member the label does not exclude (docs/labels.md, "already
//     churned at t") is on the books;
//   - so is an excluded member whose fixed-term contract is in force or in
//     its renewal grace window (DaysToContractEnd > -RenewAfterDays): a
//     paying member who stopped coming, the coach-callback case, not a
//     departed one;
//   - under LabelCancellation an open-ended contract is StatusOpenEnded;
//   - every other excluded member has churned.
func (f *Featurizer) Status(ex *Example) string {
	return f.status(&ex.Label, &ex.Indicators)
}

func (f *Featurizer) status(l *Label, in *Indicators) string {
	switch {
	case !l.Excluded:
		return ""
	case f.cfg.Label.Kind == LabelCancellation && in.ContractOpenEnded:
		return StatusOpenEnded
	case !in.ContractOpenEnded && in.DaysToContractEnd > -f.cfg.Label.RenewAfterDays:
		return ""
	}
	return StatusChurned
}

// AlreadyChurned reports whether Status(ex) is StatusChurned. The scoring
// server uses it to leave churned members out of whole-store pulls.
func (f *Featurizer) AlreadyChurned(ex *Example) bool {
	return f.Status(ex) == StatusChurned
}
