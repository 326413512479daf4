package synth

import (
	"flag"
	"os"
	"testing"
	"time"
)

var demoDir = flag.String("demodir", "", "")

func TestZZDemo(t *testing.T) {
	if *demoDir == "" {
		t.Skip()
	}
	cfg := DefaultConfig()
	t0 := time.Now()
	s, err := WriteDir(cfg, *demoDir, &WriteOptions{Overwrite: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("took %v", time.Since(t0))
	s.WriteText(os.Stdout)
}
