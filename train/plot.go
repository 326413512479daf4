package train

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plot file names written by WritePlots.
const (
	PlotROC         = "roc.png"
	PlotCalibration = "calibration.png"
	PlotGain        = "gain.png"
	PlotLift        = "lift.png"
	PlotLoss        = "loss.png"
)

// maxPlotPoints bounds the points drawn per curve.
const maxPlotPoints = 2000

// WritePlots draws the report's PNG plots into dir and returns their file
// names, also recorded in r.Plots: ROC curves of every churn method
// (roc.png), reliability curves of the probabilistic ones
// (calibration.png), cumulative gains and lift by share of members
// contacted (gain.png, lift.png), and the training and validation loss per
// epoch (loss.png) when the report has a training history; without one, a
// note in r.PlotNotes says so.
func (r *Report) WritePlots(dir string) ([]string, error) {
	r.Plots, r.PlotNotes = nil, nil
	cv := &r.curves
	if len(cv.labels) == 0 {
		r.PlotNotes = append(r.PlotNotes, "No churn examples: no ROC, calibration, gain or lift plot.")
	} else {
		type curve struct {
			name string
			pts  []Point
		}
		var roc, gain, lift []curve
		var rel []curve
		add := func(name string, scores []float64, labels []bool, prob bool) {
			roc = append(roc, curve{name, ROCCurve(scores, labels)})
			g := GainCurve(scores, labels)
			gain = append(gain, curve{name, g})
			var l []Point
			for _, p := range g {
				if p.X >= 0.01 {
					l = append(l, Point{p.X, p.Y / p.X})
				}
			}
			if name != MethodBaseRate { // a constant score: lift 1 everywhere, the dashed line
				lift = append(lift, curve{name, l})
			}
			if prob && name != MethodBaseRate {
				var pts []Point
				for _, b := range Reliability(scores, labels, ECEBins) {
					if b.Count > 0 {
						pts = append(pts, Point{float64(b.MeanProb), float64(b.FracPos)})
					}
				}
				rel = append(rel, curve{name, pts})
			}
		}
		for i, name := range cv.churnMethods {
			add(name, cv.churnScores[i], cv.labels, cv.probabilistic[i])
		}
		if len(cv.oracleScores) > 0 {
			add(MethodOracle, cv.oracleScores, cv.oracleLabels, true)
		}
		draws := []struct {
			file, title, x, y string
			curves            []curve
			diag              bool
			points            bool
			ymax              float64
		}{
			{PlotROC, "Churn ROC (test split)", "false positive rate", "true positive rate", roc, true, false, 1},
			{PlotCalibration, fmt.Sprintf("Churn calibration (%d bins)", ECEBins), "mean predicted probability", "observed churn rate", rel, true, true, 1},
			{PlotGain, "Cumulative gains", "share of members contacted (highest risk first)", "share of churners reached", gain, true, false, 1},
			{PlotLift, "Lift", "share of members contacted (highest risk first)", "lift over random", lift, false, false, 0},
		}
		for _, d := range draws {
			p := plot.New()
			p.Title.Text = d.title
			p.X.Label.Text, p.Y.Label.Text = d.x, d.y
			p.X.Min, p.X.Max = 0, 1
			p.Y.Min = 0
			if d.ymax > 0 {
				p.Y.Max = d.ymax
			}
			p.Add(plotter.NewGrid())
			if d.diag {
				dl, _ := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
				dl.LineStyle.Color = color.Gray{Y: 160}
				dl.LineStyle.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
				p.Add(dl)
			} else {
				hl, _ := plotter.NewLine(plotter.XYs{{X: 0, Y: 1}, {X: 1, Y: 1}})
				hl.LineStyle.Color = color.Gray{Y: 160}
				hl.LineStyle.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
				p.Add(hl)
			}
			p.Legend.Top = d.file != PlotROC && d.file != PlotGain && d.file != PlotCalibration
			p.Legend.Left = false
			for i, c := range d.curves {
				if len(c.pts) == 0 {
					continue
				}
				xys := thin(c.pts)
				l, err := plotter.NewLine(xys)
				if err != nil {
					return nil, fmt.Errorf("train: plot %s: %s: %w", d.file, c.name, err)
				}
				l.LineStyle.Color = methodColor(c.name, i)
				l.LineStyle.Width = vg.Points(1.5)
				p.Add(l)
				if d.points {
					s, err := plotter.NewScatter(xys)
					if err != nil {
						return nil, fmt.Errorf("train: plot %s: %s: %w", d.file, c.name, err)
					}
					s.GlyphStyle.Color = l.LineStyle.Color
					s.GlyphStyle.Shape = draw.CircleGlyph{}
					p.Add(s)
				}
				p.Legend.Add(c.name, l)
			}
			if err := p.Save(6*vg.Inch, 4.5*vg.Inch, filepath.Join(dir, d.file)); err != nil {
				return nil, fmt.Errorf("train: plot %s: %w", d.file, err)
			}
			r.Plots = append(r.Plots, d.file)
		}
	}
	if len(r.History) == 0 {
		if churnRow(r.Churn, MethodModel) == nil {
			r.PlotNotes = append(r.PlotNotes, "No model: no loss plot.")
		} else {
			r.PlotNotes = append(r.PlotNotes, "No training history in the model bundle: no loss plot.")
		}
		return r.Plots, nil
	}
	p := plot.New()
	p.Title.Text = "Training loss"
	p.X.Label.Text, p.Y.Label.Text = "epoch", "loss"
	p.Add(plotter.NewGrid())
	var tr, va plotter.XYs // undefined (NaN) losses are left out
	for _, e := range r.History {
		if v := float64(e.TrainLoss); !math.IsNaN(v) && !math.IsInf(v, 0) {
			tr = append(tr, plotter.XY{X: float64(e.Epoch), Y: v})
		}
		if v := float64(e.ValLoss); !math.IsNaN(v) && !math.IsInf(v, 0) {
			va = append(va, plotter.XY{X: float64(e.Epoch), Y: v})
		}
	}
	p.Legend.Left = false
	p.Legend.Top = true
	for i, s := range []struct {
		name string
		xys  plotter.XYs
	}{{"training", tr}, {"validation", va}} {
		if len(s.xys) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(s.xys)
		if err != nil {
			return nil, fmt.Errorf("train: plot %s: %w", PlotLoss, err)
		}
		l.LineStyle.Color = plotutil.Color(i)
		pts.GlyphStyle.Color = plotutil.Color(i)
		p.Add(l, pts)
		p.Legend.Add(s.name, l, pts)
	}
	if err := p.Save(6*vg.Inch, 4.5*vg.Inch, filepath.Join(dir, PlotLoss)); err != nil {
		return nil, fmt.Errorf("train: plot %s: %w", PlotLoss, err)
	}
	r.Plots = append(r.Plots, PlotLoss)
	return r.Plots, nil
}

// methodColor gives the model and the oracle fixed colours and the others
// the plotutil palette.
func methodColor(method string, i int) color.Color {
	switch method {
	case MethodModel:
		return color.RGBA{R: 200, G: 30, B: 30, A: 255}
	case MethodOracle:
		return color.Black
	}
	return plotutil.Color(i + 1)
}

// thin returns at most about maxPlotPoints of pts, evenly spaced by index,
// keeping the first and the last.
func thin(pts []Point) plotter.XYs {
	step := int(math.Ceil(float64(len(pts)) / maxPlotPoints))
	step = max(step, 1)
	var out plotter.XYs
	for i := 0; i < len(pts); i += step {
		out = append(out, plotter.XY{X: pts[i].X, Y: pts[i].Y})
	}
	if last := pts[len(pts)-1]; (len(pts)-1)%step != 0 {
		out = append(out, plotter.XY{X: last.X, Y: last.Y})
	}
	return out
}
