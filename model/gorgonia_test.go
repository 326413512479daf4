package model

import (
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestGorgoniaRuns checks that the pinned Gorgonia (v0.9.18 with the newest
// go4.org/unsafe/assume-no-moving-gc) loads and runs on this Go toolchain:
// with the old assume-no-moving-gc every binary panics at start on Go 1.26.
// It builds y = W x + b, runs it on a TapeMachine and compares with the value
// worked out by hand: W = [[1 2] [3 4]], x = [1 1], b = [0.5 -0.5] gives
// y = [1+2+0.5, 3+4-0.5] = [3.5, 6.5].
func TestGorgoniaRuns(t *testing.T) {
	g := G.NewGraph()
	w := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 2), G.WithName("W"),
		G.WithValue(tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{1, 2, 3, 4}))))
	x := G.NewVector(g, tensor.Float32, G.WithShape(2), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{1, 1}))))
	b := G.NewVector(g, tensor.Float32, G.WithShape(2), G.WithName("b"),
		G.WithValue(tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{0.5, -0.5}))))
	y := G.Must(G.Add(G.Must(G.Mul(w, x)), b))
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatalf("run graph: %v", err)
	}
	got := y.Value().Data().([]float32)
	want := []float32{3.5, 6.5}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("y[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}
