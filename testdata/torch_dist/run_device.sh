#!/usr/bin/env bash
# One prepared run for the device machine (see README.md). Expects the
# megatron-core sources carried in .mcore/<tag>/megatron (made by prep.sh) and
# writes $OUT/<tag>/<fixture>/{torch_dist,legacy,fixture.json} plus logs.
# Each tag gets at most 150 s; the whole run stays well inside 10 minutes.
set -u
OUT=${OUT:-/tmp/torch_dist_out}
PY=${PYTHON:-python3}
cd "$(dirname "$0")/../.."
$PY -c 'import torch, numpy, packaging; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>&1 | tee "$OUT/env.txt"
rc=0
for src in .mcore/*/; do
  tag=$(basename "$src")
  mkdir -p "$OUT/$tag"
  echo "== $tag" | tee -a "$OUT/summary.txt"
  PYTHONPATH="$PWD/$src" timeout 150 $PY testdata/torch_dist/gen.py --out "$OUT/$tag" \
    >"$OUT/$tag/log.txt" 2>&1 || rc=1
  grep -E '^(ok|FAILED)' "$OUT/$tag/log.txt" | tee -a "$OUT/summary.txt"
  tail -5 "$OUT/$tag/log.txt"
done
du -sh "$OUT"/* | tee -a "$OUT/summary.txt"
exit $rc
