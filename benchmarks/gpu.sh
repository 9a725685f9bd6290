#!/bin/sh
# The GPU check (`make bench-gpu`): the throughput, posterior, fit and exact-normaliser
# benchmarks in their quick form with --platform gpu, each under a time limit so that the
# whole run takes at most 8 minutes, results written beside the CPU ones as
# benchmarks/results/<name>.gpu.json (tagged with the device). Usage: sh benchmarks/gpu.sh PYTHON
set -u
PY=${1:-python}
cd "$(dirname "$0")" || exit 1
if ! "$PY" -c 'import jax, sys; sys.exit(0 if jax.devices("gpu") else 1)' >/dev/null 2>&1; then
    echo "bench-gpu: JAX sees no GPU here (jax.devices('gpu') failed); nothing was run" >&2
    exit 2
fi
"$PY" -c 'import jax; print("bench-gpu on", jax.devices("gpu"))'
status=0
for spec in "gibbs_throughput 150" "posterior_overhead 120" "fit_overhead 90" "exact_normalizers 90"; do
    set -- $spec
    echo "== $1 (limit $2 s)"
    timeout "$2" "$PY" "$1.py" --platform gpu || { echo "bench-gpu: $1 failed or ran past $2 s" >&2; status=1; }
done
exit $status
