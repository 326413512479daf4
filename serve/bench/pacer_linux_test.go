package bench

import "testing"

// TestFDPacer: on Linux the timerfd pacer is available (TestPacers'
// "default" case would otherwise test the time.Timer one twice).
func TestFDPacer(t *testing.T) {
	p, err := newFDPacer()
	if err != nil {
		t.Fatal(err)
	}
	p.close()
	if _, ok := newPacer().(*fdPacer); !ok {
		t.Fatal("newPacer did not return the timerfd pacer")
	}
}
