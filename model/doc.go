// Package model holds retain's LSTM: a Gorgonia graph over the weekly member
// sequences of package features that predicts each member's next course and
// churn probability, and the model bundle that carries its weights.
//
// It may import datasets and features; it must not import train, serve or cmd.
package model
