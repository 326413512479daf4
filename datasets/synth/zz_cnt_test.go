package synth
import ("testing";"fmt")
func TestZZCnt(t *testing.T){
	if *calibN == 0 { t.Skip() }
	cfg := DefaultConfig(); cfg.Members = 2000
	Generate(cfg, Discard)
	fmt.Println("steps", StepCount.Load(), "settled-before", SettledSteps.Load())
}
