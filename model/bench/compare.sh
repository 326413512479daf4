#!/usr/bin/env bash
# compare.sh runs the Go benchmarks of package model and the PyTorch
# reference (torch_lstm.py) on the same shape, one after the other, and
# prints them side by side.
#
#   model/bench/compare.sh [-layers 1|2] [-seconds 3] [-wait passive|active]
#
# Shape: batch 64 for training, T 26, F 40, S 20, H 64, C 14; every
# sequence full (mask all ones). "1 core" is Go with 1 worker against torch
# with 1 thread (OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1); "2 cores" is Go
# with 2 workers (GOMAXPROCS 2) against torch with 2 threads (both env
# variables 2). Go inference is one goroutine per call. PyTorch runs with
# oneDNN off (its faster setting here, see torch_lstm.py) and
# OMP_WAIT_POLICY=PASSIVE by default: with the default (active) policy its
# 2-thread runs collapse by 10x or more on a machine that other work shares,
# because OpenMP threads spin while the other core is taken; on an idle
# machine try -wait active as well.
#
# Needs Debian's python3-torch, and for a fair PyTorch number the OpenBLAS
# that shares torch's OpenMP runtime:
#   apt-get install -y python3-torch libopenblas0-openmp
# (without it torch's matrix products run on the reference BLAS).
# The machine should be otherwise idle: the script prints the load average
# before and after, and numbers taken under load are not comparable.
set -euo pipefail

layers=1
seconds=3
wait=passive
while [ $# -gt 0 ]; do
	case "$1" in
	-layers) layers="$2"; shift 2 ;;
	-seconds) seconds="$2"; shift 2 ;;
	-wait) wait="$2"; shift 2 ;;
	*) echo "usage: $0 [-layers 1|2] [-seconds N] [-wait passive|active]" >&2; exit 2 ;;
	esac
done
export OMP_WAIT_POLICY=$wait

cd "$(dirname "$0")/../.."
py=/usr/bin/python3
if ! "$py" -c 'import torch' 2>/dev/null; then
	echo "compare.sh: $py cannot import torch: apt-get install -y python3-torch libopenblas0-openmp" >&2
	exit 1
fi
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo unknown)
echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores"
echo "# libblas.so.3 -> $blas; OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go test -run '^$' -bench "BenchmarkTrainStep/layers=$layers/" -benchtime "${seconds}s" ./model >"$tmp/go.txt"
go test -run '^$' -bench "BenchmarkForward/layers=$layers/" -benchtime "${seconds}s" ./model >>"$tmp/go.txt"
go test -run '^$' -bench "BenchmarkPredictGorgonia/layers=$layers" -benchtime "${seconds}s" ./model >>"$tmp/go.txt"
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$py" model/bench/torch_lstm.py --threads 1 \
	--layers "$layers" --seconds "$seconds" >"$tmp/torch1.txt"
OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 "$py" model/bench/torch_lstm.py --threads 2 \
	--layers "$layers" --seconds "$seconds" >"$tmp/torch2.txt"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# gobench NAME UNIT prints the value the benchmark NAME reported in UNIT.
gobench() {
	awk -v name="$1" -v unit="$2" 'index($1, name) == 1 { for (i = 2; i <= NF; i++) if ($i == unit) print $(i-1) }' "$tmp/go.txt"
}
# gons NAME prints ns/op of benchmark NAME in ms.
goms() {
	gobench "$1" ns/op | awk '{ printf "%.3f", $1 / 1e6 }'
}
# torch FILE KEY prints the value of KEY.
torchv() {
	awk -v key="$2" '$1 == "torch" && $2 == key { print $3 }' "$1"
}

t=BenchmarkTrainStep/layers=$layers
row() { printf '%-44s %12s %12s %12s\n' "$@"; }
echo
row "layers=$layers" "Go gorgonia" "Go native" "PyTorch"
for per in s cpu-s; do
	case $per in
	s) echo "# per second of wall time" ;;
	cpu-s) echo "# per second of CPU time of the process (all threads)" ;;
	esac
	tk=; [ "$per" = cpu-s ] && tk=_cpu
	row "train seq/$per, 1 core (batch 64)" \
		"$(gobench "$t/engine=gorgonia/workers=1-" "seq/$per")" "$(gobench "$t/engine=native/workers=1-" "seq/$per")" \
		"$(torchv "$tmp/torch1.txt" "train_seq_per${tk}_s")"
	row "train seq/$per, 2 cores (batch 64)" \
		"$(gobench "$t/engine=gorgonia/workers=2-" "seq/$per")" "$(gobench "$t/engine=native/workers=2-" "seq/$per")" \
		"$(torchv "$tmp/torch2.txt" "train_seq_per${tk}_s")"
	row "  PyTorch nn.LSTM fwd+bwd only, 1 core" "-" "-" "$(torchv "$tmp/torch1.txt" "lstm_only_seq_per${tk}_s")"
	row "  PyTorch nn.LSTM fwd+bwd only, 2 cores" "-" "-" "$(torchv "$tmp/torch2.txt" "lstm_only_seq_per${tk}_s")"
	row "inference members/$per, batch 256, 1 core" \
		"$(gobench "BenchmarkPredictGorgonia/layers=$layers-" "members/$per")" "$(gobench "BenchmarkForward/layers=$layers/B=256-" "members/$per")" \
		"$(torchv "$tmp/torch1.txt" "infer256_members_per${tk}_s")"
	row "inference members/$per, batch 256, 2 cores" \
		"-" "-" "$(torchv "$tmp/torch2.txt" "infer256_members_per${tk}_s")"
done
row "inference ms, batch 1, 1 core" \
	"-" "$(goms "BenchmarkForward/layers=$layers/B=1-")" "$(torchv "$tmp/torch1.txt" infer1_ms)"
row "inference ms, batch 1, 2 cores" \
	"-" "-" "$(torchv "$tmp/torch2.txt" infer1_ms)"
echo
echo "# Go native inference is model.Params.Forward (plain Go + AVX2/AVX-512 kernels); Go gorgonia"
echo "# inference is Trainer.Predict (a forward-only Gorgonia graph of batch 256)."
