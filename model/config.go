package model

import (
	"errors"
	"fmt"
)

// Default values of Config fields left at zero.
const (
	DefaultSteps       = 26
	DefaultHidden      = 64
	DefaultLayers      = 1
	DefaultChurnWeight = 1
	DefaultPosWeight   = 1
)

// ErrConfig is returned, wrapped, for a Config that cannot describe a model.
// It is checked with errors.Is.
var ErrConfig = errors.New("model: bad config")

// Config is the shape of the network and the weighting of its loss.
// A zero field means its default, as stated per field.
type Config struct {
	// Steps is T, the number of weeks in a sequence. Default 26.
	Steps int
	// Inputs is F, the number of features per week. Required (> 0).
	Inputs int
	// Static is S, the number of per-member static features joined to the
	// last hidden state. May be 0.
	Static int
	// Hidden is H, the LSTM state size. Default 64.
	Hidden int
	// Layers is the number of stacked LSTM layers, 1 or 2. Default 1.
	Layers int
	// Classes is C, the number of courses the next-course head chooses
	// from. Required (> 0).
	Classes int
	// ChurnWeight multiplies the churn loss against the next-course loss.
	// Default 1. (Zero means the default; a churn head that is never
	// trained is not a use case.)
	ChurnWeight float64
	// PosWeight multiplies the churn loss of positive (churned) examples,
	// as pos_weight of PyTorch's BCEWithLogitsLoss; the trainer sets it to
	// negatives/positives of the training set to balance the classes.
	// Default 1.
	PosWeight float64
}

// WithDefaults returns c with its zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Steps == 0 {
		c.Steps = DefaultSteps
	}
	if c.Hidden == 0 {
		c.Hidden = DefaultHidden
	}
	if c.Layers == 0 {
		c.Layers = DefaultLayers
	}
	if c.ChurnWeight == 0 {
		c.ChurnWeight = DefaultChurnWeight
	}
	if c.PosWeight == 0 {
		c.PosWeight = DefaultPosWeight
	}
	return c
}

// Validate reports whether c, after defaults, describes a model. The error
// wraps ErrConfig and names the field.
func (c Config) Validate() error {
	c = c.WithDefaults()
	bad := func(field string, v any, why string) error {
		return fmt.Errorf("%w: %s = %v: %s", ErrConfig, field, v, why)
	}
	switch {
	case c.Steps < 1:
		return bad("Steps", c.Steps, "must be positive")
	case c.Inputs < 1:
		return bad("Inputs", c.Inputs, "must be positive")
	case c.Static < 0:
		return bad("Static", c.Static, "must not be negative")
	case c.Hidden < 1:
		return bad("Hidden", c.Hidden, "must be positive")
	case c.Layers != 1 && c.Layers != 2:
		return bad("Layers", c.Layers, "must be 1 or 2")
	case c.Classes < 1:
		return bad("Classes", c.Classes, "must be positive")
	case !(c.ChurnWeight > 0):
		return bad("ChurnWeight", c.ChurnWeight, "must be positive")
	case !(c.PosWeight > 0):
		return bad("PosWeight", c.PosWeight, "must be positive")
	}
	return nil
}

// inputsOf returns the input width of LSTM layer l.
func (c Config) inputsOf(l int) int {
	if l == 0 {
		return c.Inputs
	}
	return c.Hidden
}

// head returns D = H + S, the width of the vector the heads read.
func (c Config) head() int { return c.Hidden + c.Static }

// outputs returns C + 1, the width of the output layer: C class logits and
// the churn logit.
func (c Config) outputs() int { return c.Classes + 1 }
