package features

// AlreadyChurned reports whether the member of ex, an example computed by
// f (Compute or the Builder), had already churned at the example's cutoff
// by f's label definition: the "already churned at t" column of
// docs/labels.md, the members that training drops. The scoring server
// uses it to leave churned members out of whole-store pulls.
//
// It reads ex.Label.Excluded, which the labelling code sets, so it never
// disagrees with training; it only takes out the one exclusion that is not
// churn: under LabelCancellation a member with an open-ended contract is
// excluded because nothing can cancel the contract, and is still a member.
func (f *Featurizer) AlreadyChurned(ex *Example) bool {
	if !ex.Label.Excluded {
		return false
	}
	return !(f.cfg.Label.Kind == LabelCancellation && ex.Indicators.ContractOpenEnded)
}
