package serve

import (
	"fmt"
	"slices"
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
	spec, n := s.b.Spec, s.b.Normalizer
	T, F := s.b.Config.Steps, len(spec.Sequence)
	off := len(spec.Static)
	S := s.in.StaticWidth()
	G := len(s.groups)
	R := 1 + G
	split := max(0, T-attributionWeeks)
	rows := len(ms) * R
	// The static input depends on the window only through the summary
	// columns: a group that occludes none of them has the member's own
	// static input, less its indicators.
	summary := make([]bool, G)
	if s.in.Summary {
		cols := model.SummaryColumns(spec)
		for gi := range s.groups {
			summary[gi] = slices.ContainsFunc(s.groups[gi].seq, func(j int) bool { return slices.Contains(cols, j) })
		}
	}
	bt := &ws.batch
	bt.X = growF32(bt.X, rows*T*F)
	bt.Mask = growF32(bt.Mask, rows*T)
	bt.Static = bt.Static[:0]
	for k, m := range ms {
		ex := m.Ex
		if len(ex.Mask) != T || len(ex.Seq) != T*F || len(ex.Static) != len(spec.Static) {
			return fmt.Errorf("serve: ScoreBatch: member %s: example of %d weeks, %d sequence and %d static values; the bundle needs %d, %d and %d",
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
			return fmt.Errorf("serve: ScoreBatch: static input of %d values, want %d", len(bt.Static)-s0, S)
		}
		// The occluded copies: the member's last weeks with the group's
		// columns at the standardised mean 0, and the static input of
		// the window with the group's raw columns at their means and the
		// group's indicators at 0, exactly as attribute builds them.
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
					if summary[gi] {
						ws.raw[t*F+j] = float32(n.Mean[j])
					}
				}
			}
			sg := len(bt.Static)
			if summary[gi] {
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
		}
	}
	t0 := time.Now()
	if err := s.b.Params.ForwardPrefix(&ws.ws, bt, R, split, &ws.out); err != nil {
		return fmt.Errorf("serve: ScoreBatch: %w", err)
	}
	ws.Forward += time.Since(t0)
	C := s.b.Config.Classes
	for k, m := range ms {
		r0 := k * R
		ws.logits = ws.logits[:0]
		for r := r0; r < r0+R; r++ {
			ws.logits = append(ws.logits, s.b.Calibration.Logit(float64(ws.out.ChurnLogit[r])))
		}
		reasons, err := s.reasons(ws.logits)
		if err != nil {
			return fmt.Errorf("serve: ScoreBatch: member %s: attribution: %w", m.Ex.MemberID, err)
		}
		p := s.b.Calibration.Prob(float64(ws.out.ChurnLogit[r0]))
		ws.dist = model.Softmax(ws.dist, ws.out.ClassLogits[r0*C:(r0+1)*C])
		uses := m.Attended
		ind := &m.Ex.Indicators
		out[k] = Score{
			ChurnProbability: p,
			Flags:            ind.Flags.Names(),
			Tier:             ind.Tier.String(),
			NextCourses: s.mapCourses(func(i int) (courseSeen, bool) {
				for _, u := range uses {
					if int(u.Course) == i {
						return courseSeen{n: int(u.N), last: u.Last}, true
					}
				}
				return courseSeen{}, false
			}, m.HomeClub, ws.dist),
			Reasons:        reasons,
			Action:         s.action(ind, p),
			AlreadyChurned: s.fz.AlreadyChurned(m.Ex),
		}
	}
	return nil
}

// growF32 returns s with length n, reusing its array when it is big
// enough; the contents are not cleared.
func growF32(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
