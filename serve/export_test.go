package serve

import (
	"context"
	"time"

	"retain/features"
	"retain/model"
)

// ScorePlain is Score as it was before Score ran the attribution batch
// with a shared prefix (model.Params.ForwardPrefix) and took the
// prediction from its first row: Predict for the probability and the
// next categories, then every attribution row through the plain forward
// pass (attribute). The tests hold Score equal to it.
func (s *BundleScorer) ScorePlain(h *History, asOf time.Time) (*Score, error) {
	ex, err := s.fz.Compute((*features.History)(h), asOf)
	if err != nil {
		return nil, err
	}
	var p model.Prediction
	if err := s.b.Predict(ex, &p); err != nil {
		return nil, err
	}
	reasons, _, err := s.attribute(ex)
	if err != nil {
		return nil, err
	}
	ind := &ex.Indicators
	return &Score{
		ChurnProbability: p.Churn,
		Flags:            ind.Flags.Names(),
		Tier:             ind.Tier.String(),
		NextCourses:      s.nextCourses(h, p.NextCategory),
		Reasons:          reasons,
		Action:           s.action(ind, p.Churn),
		AlreadyChurned:   s.fz.AlreadyChurned(ex),
	}, nil
}

// ScoreUnlessChurned is scoreMany of one member with skipChurned, the
// path of StreamScores' whole-store pull and the alerts' rescoring: the
// member's Score, or true and no Score for a member who had already
// churned.
func (s *BundleScorer) ScoreUnlessChurned(ctx context.Context, h *History, asOf time.Time) (*Score, bool, error) {
	var out [1]manyResult
	if err := s.scoreMany(ctx, []*History{h}, asOf, true, out[:]); err != nil {
		return nil, false, err
	}
	return out[0].Score, out[0].Churned, out[0].Err
}

// GroupLogits returns the names of the occlusion groups and the calibrated
// churn logits of h's attribution batch through the plain forward pass:
// the member's, then one per group.
func (s *BundleScorer) GroupLogits(h *History, asOf time.Time) ([]string, []float64, error) {
	ex, err := s.fz.Compute((*features.History)(h), asOf)
	if err != nil {
		return nil, nil, err
	}
	_, logits, err := s.attribute(ex)
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, len(s.groups))
	for i := range s.groups {
		names[i] = s.groups[i].name
	}
	return names, logits, nil
}

// SetManyChunk makes the batched scoring paths take n members at a time
// until the test ends (call it before starting a server).
func SetManyChunk(t interface{ Cleanup(func()) }, n int) {
	old := manyChunk
	manyChunk = n
	t.Cleanup(func() { manyChunk = old })
}
