package serve

import (
	"fmt"
	"time"

	"retain/features"
	"retain/model"
)

// BatchMember is one member for BundleScorer.ScoreBatch: the member's
// example at the as-of time (features.AsOf.Example or
// features.Featurizer.Compute), home club, and the courses attended before
// the as-of time (features.AsOf.Attended).
type BatchMember struct {
	Ex       *features.Example
	HomeClub string
	Attended []features.CourseUse
}

// BatchWorkspace is the scratch memory of ScoreBatch. The zero value is
// ready; one goroutine at a time may use it.
type BatchWorkspace struct {
	batch  model.Batch
	out    model.Output
	ws     model.Workspace
	raw    []float32
	logits []float64
	dist   []float64
	rows   int // rows per member: the member's, then one per occlusion group

	// Forward accumulates the time ScoreBatch spent in the network's
	// forward pass (the rest is building its inputs, the reasons and the
	// course mapping); callers may read and reset it.
	Forward time.Duration
}

// ScoreBatch scores many members at once, as Score does one, into
// out[i] (out must be as long as ms): the same features, network,
// attribution, course mapping and action, with the network run once for
// all members and all their occluded copies. The occluded copies of a
// member differ from it only in the last 8 weeks and the static input, so
// the weeks before are run once per member (model.Params.ForwardPrefix).
// The results equal Score's up to float32 rounding (the tests hold the
// probability within 1e-6).
func (s *BundleScorer) ScoreBatch(ms []BatchMember, ws *BatchWorkspace, out []Score) error {
	if len(out) < len(ms) {
		return fmt.Errorf("serve: ScoreBatch: %d results for %d members", len(out), len(ms))
	}
	if len(ms) == 0 {
		return nil
	}
	if err := s.buildAttribution(ws, ms); err != nil {
		return fmt.Errorf("serve: ScoreBatch: %w", err)
	}
	t0 := time.Now()
	if err := s.forwardAttribution(ws); err != nil {
		return fmt.Errorf("serve: ScoreBatch: %w", err)
	}
	ws.Forward += time.Since(t0)
	for k, m := range ms {
		p, reasons, err := s.memberAttribution(ws, k)
		if err != nil {
			return fmt.Errorf("serve: ScoreBatch: member %s: attribution: %w", m.Ex.MemberID, err)
		}
		ind := &m.Ex.Indicators
		out[k] = Score{
			ChurnProbability: p,
			Flags:            ind.Flags.Names(),
			Tier:             ind.Tier.String(),
			NextCourses:      s.coursesFor(m.Attended, m.HomeClub, ws.dist),
			Reasons:          reasons,
			Action:           s.action(ind, p),
			AlreadyChurned:   s.fz.AlreadyChurned(m.Ex),
		}
	}
	return nil
}

// buildAttribution fills ws's batch with the attribution rows of ms: per
// member, the member's own row, then one occluded copy per occlusion
// group (see Score). Only the Ex of each member is read.
func (s *BundleScorer) buildAttribution(ws *BatchWorkspace, ms []BatchMember) error {
	spec, n := s.b.Spec, s.b.Normalizer
	T, F := s.b.Config.Steps, len(spec.Sequence)
	off := len(spec.Static)
	S := s.in.StaticWidth()
	R := 1 + len(s.groups)
	split := max(0, T-attributionWeeks)
	rows := len(ms) * R
	bt := &ws.batch
	bt.X = growF32(bt.X, rows*T*F)
	bt.Mask = growF32(bt.Mask, rows*T)
	bt.Static = bt.Static[:0]
	ws.rows = R
	for k, m := range ms {
		ex := m.Ex
		if len(ex.Mask) != T || len(ex.Seq) != T*F || len(ex.Static) != len(spec.Static) {
			return fmt.Errorf("member %s: example of %d weeks, %d sequence and %d static values; the bundle needs %d, %d and %d",
				ex.MemberID, len(ex.Mask), len(ex.Seq), len(ex.Static), T, T*F, len(spec.Static))
		}
		r0 := k * R
		x0 := bt.X[r0*T*F : (r0+1)*T*F]
		copy(x0, ex.Seq)
		for t, mk := range ex.Mask {
			if mk != 0 {
				s.in.Row(x0[t*F : (t+1)*F])
			}
		}
		for r := r0; r < r0+R; r++ {
			copy(bt.Mask[r*T:(r+1)*T], ex.Mask)
		}
		s0 := len(bt.Static)
		bt.Static = s.in.Static(bt.Static, ex.Static, &ex.Indicators, ex.Seq)
		if len(bt.Static)-s0 != S {
			return fmt.Errorf("static input of %d values, want %d", len(bt.Static)-s0, S)
		}
		// The occluded copies: the member's last weeks with the group's
		// columns at the standardised mean 0, and the static input of
		// the window with the group's raw columns at their means, the
		// group's indicators at 0 and its static features at their
		// training means, exactly as attribute builds them.
		ws.raw = append(ws.raw[:0], ex.Seq...)
		for gi := range s.groups {
			g := &s.groups[gi]
			r := r0 + 1 + gi
			xr := bt.X[r*T*F : (r+1)*T*F]
			copy(xr[split*F:], x0[split*F:])
			for t := split; t < T; t++ {
				if ex.Mask[t] == 0 {
					continue
				}
				for _, j := range g.seq {
					xr[t*F+j] = 0
					if g.summary {
						ws.raw[t*F+j] = float32(n.Mean[j])
					}
				}
			}
			sg := len(bt.Static)
			if g.summary {
				bt.Static = s.in.Static(bt.Static, ex.Static, &ex.Indicators, ws.raw)
				for t := split; t < T; t++ { // restore the raw window
					for _, j := range g.seq {
						ws.raw[t*F+j] = ex.Seq[t*F+j]
					}
				}
			} else {
				bt.Static = append(bt.Static, bt.Static[s0:s0+S]...)
			}
			for _, j := range g.ind {
				bt.Static[sg+off+j] = 0
			}
			for k, j := range g.static {
				bt.Static[sg+j] = g.staticMean[k]
			}
		}
	}
	return nil
}

// forwardAttribution runs the network on the batch of buildAttribution.
// The occluded copies of a member differ from it only in the last 8
// weeks and the static input, so the weeks before are run once per
// member (model.Params.ForwardPrefix).
func (s *BundleScorer) forwardAttribution(ws *BatchWorkspace) error {
	split := max(0, s.b.Config.Steps-attributionWeeks)
	return s.b.Params.ForwardPrefix(&ws.ws, &ws.batch, ws.rows, split, &ws.out)
}

// memberAttribution returns the calibrated churn probability and the
// reasons of member k of the batch forwardAttribution ran, and leaves its
// next-category distribution in ws.dist.
func (s *BundleScorer) memberAttribution(ws *BatchWorkspace, k int) (float64, []Reason, error) {
	R, C := ws.rows, s.b.Config.Classes
	r0 := k * R
	ws.logits = ws.logits[:0]
	for r := r0; r < r0+R; r++ {
		ws.logits = append(ws.logits, s.b.Calibration.Logit(float64(ws.out.ChurnLogit[r])))
	}
	reasons, err := s.reasons(ws.logits)
	if err != nil {
		return 0, nil, err
	}
	S := s.b.Config.Static
	s.b.NextBlend.Apply(ws.out.ClassLogits[r0*C:(r0+1)*C], ws.batch.Static[r0*S:(r0+1)*S])
	ws.dist = model.Softmax(ws.dist, ws.out.ClassLogits[r0*C:(r0+1)*C])
	return s.b.Calibration.Prob(float64(ws.out.ChurnLogit[r0])), reasons, nil
}

// growF32 returns s with length n, reusing its array when it is big
// enough; the contents are not cleared.
func growF32(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
