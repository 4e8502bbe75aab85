#!/usr/bin/env bash
# The one prepared GPU run of #6 and #9: every CUDA adapter at the `ci` and `default` profiles in
# float32 and bfloat16 parameters (JSON reports: verdicts and headroom), then `adamspec bench`
# at 2^27 parameters (AdamW fp32 for-loop/foreach/fused, bf16 fused) next to the copy roofline,
# then (#19) the oracles' speed (bench/oracle.py, torch_cuda_steps_per_s) and `adamspec bench
# --verify` of the fused AdamW step at 10^9 parameters and at 2^31 + 4097 (past 32-bit indexing):
# every element of θ, m, v judged against the torch double-double oracle on the GPU and the bound.
#
#   bash bench/gpu_check.sh [OUTDIR]          # OUTDIR defaults to $OUT, else ./gpu-results
#   ONLY_VERIFY=1 bash bench/gpu_check.sh     # the #19 part alone (oracle speed, verified steps)
#
# The device machine has its own python and torch but no package index: the script installs this
# checkout without dependencies, and if hypothesis/mpmath/ml_dtypes/rich are missing there it
# installs them from ./wheelhouse (make it here first with bench/gpu_wheelhouse.sh and carry it).
# Runs go 8 at a time (16 cores, one GPU); each is bounded so the whole fits a 10-minute call.
set -u
out="${1:-${OUT:-gpu-results}}"
mkdir -p "$out"
py=python3
command -v "$py" >/dev/null || py=python

if ! "$py" -c "import hypothesis, mpmath, ml_dtypes, rich" 2>/dev/null; then
  if [ -d wheelhouse ]; then
    "$py" -m pip install -q --no-index --find-links wheelhouse hypothesis mpmath ml_dtypes rich >"$out/pip.txt" 2>&1
  fi
fi
"$py" -m pip install -q --no-deps --no-build-isolation --no-index -e . >>"$out/pip.txt" 2>&1 || true
if ! "$py" -c "import adamspec.conformance.runner" 2>/dev/null; then
  # An old setuptools cannot read pyproject.toml: lay out the installed package by symlinks.
  shim="$(mktemp -d)/adamspec"; mkdir -p "$shim"
  for f in adamspec/*; do ln -s "$PWD/$f" "$shim/"; done
  for d in spec reference conformance adapters; do ln -s "$PWD/$d" "$shim/$d"; done
  export PYTHONPATH="$(dirname "$shim")${PYTHONPATH:+:$PYTHONPATH}"
fi
if ! "$py" -c "import adamspec.conformance.runner, torch; assert torch.cuda.is_available()" 2>"$out/import-error.txt"; then
  echo "cannot run: see $out/import-error.txt and $out/pip.txt"; cat "$out/import-error.txt"; exit 3
fi
"$py" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))" | tee "$out/device.txt"

jobs() {  # adapter dtype profile, one per line; the compiled step recompiles per example: ci only
  for profile in ci default; do
    for fam in adam adamw; do
      for path in cuda-forloop cuda-foreach cuda-fused cuda-capturable cuda-compiled; do
        [ "$path" = cuda-compiled ] && [ "$profile" = default ] && continue
        for d in float32 bfloat16; do echo "torch.$fam.$path $d $profile"; done
      done
    done
  done
}

one() {
  a=$1 d=$2 p=$3
  start=$(date +%s)
  timeout "${PER_RUN_S:-400}" "$py" -m adamspec run --adapter "$a" --dtypes "$d" --profile "$p" --seed 0 \
    --format json -o "$out/$a.$d.$p.json" -q 2>"$out/$a.$d.$p.err"
  echo "$a $d $p exit=$? $(( $(date +%s) - start ))s"
}
export -f one
export out py
if [ -z "${ONLY_VERIFY:-}" ]; then
jobs | xargs -P "${PARALLEL:-8}" -L 1 bash -c 'one "$@"' _ | tee "$out/runs.txt"

"$py" - "$out" <<'EOF' | tee "$out/verdicts.txt"
import json, pathlib, sys
rows = []
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    r = json.loads(f.read_text())
    worst = max((c["max_bound_fraction"] or 0 for c in r["clauses"]), default=0)
    failed = [c["id"] for c in r["clauses"] if c["verdict"] in ("fail", "error") and not c["expected_failure"]]
    rows.append(f"{f.stem:<48} {r['verdict']:<15} headroom max|err|/B = {worst:.3f}  failed: {' '.join(failed) or '-'}")
print("\n".join(rows))
EOF

for a in torch.adamw.cuda-forloop torch.adamw.cuda-foreach torch.adamw.cuda-fused; do
  timeout 120 "$py" -m adamspec bench --adapter "$a" --numel $((2**27)) 2>&1 | tee -a "$out/bench.txt"
done
timeout 120 "$py" -m adamspec bench --adapter torch.adamw.cuda-fused --numel $((2**27)) --dtype bfloat16 \
  2>&1 | tee -a "$out/bench.txt"
fi

# #19: the oracles' speed, then verified full-size steps (each bounded to fit a 10-minute call;
# host memory past 2^31 float32 elements: ~60 GB of inputs and outputs).
timeout 300 "$py" bench/oracle.py 2>&1 | tee "$out/oracle.txt"
for n in 1000000000 $((2**31 + 4097)); do
  timeout "${VERIFY_S:-540}" "$py" -m adamspec bench --adapter torch.adamw.cuda-fused --numel "$n" --reps 3 \
    --verify >"$out/verify.$n.txt" 2>"$out/verify.$n.err"
  echo "verify $n exit=$?" | tee -a "$out/verify.txt"
  tail -n 5 "$out/verify.$n.txt" | tee -a "$out/verify.txt"
done
