#!/usr/bin/env bash
# A real Slurm in the tests: installs Debian's slurmctld, slurmd and munge when missing,
# starts a one-node cluster on localhost (state under a temporary directory), and checks
# split conversions through it on a multi-MB synthetic checkpoint:
#   1. the script printed by --emit slurm, run as printed: byte-identical to one process
#   2. --to-hf as a plain `sbatch --array=1-4` (index from SLURM_ARRAY_TASK_MIN) plus a
#      commit job with --dependency=afterok, and a Megatron reshard the same way:
#      byte-identical
#   3. an array submitted without index 2: the commit fails naming task 2 and printing the
#      resubmission; running that line resubmits only task 2 and the commit completes
#   4. a task with other settings into the same staging directory is refused
# Prints "SKIP: ..." and exits 0 where Slurm cannot be installed or started, unless
# OMNITUI_REQUIRE_SLURM=1 (CI), where that is a failure.
# Usage: testdata/slurm/run.sh [WORKDIR]   (a WORKDIR given is kept for inspection)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export PATH="/usr/local/go/bin:$PATH"

skip() {
  if [ "${OMNITUI_REQUIRE_SLURM:-}" = 1 ]; then echo "FAIL: $*" >&2; exit 1; fi
  echo "SKIP: slurm test: $*"; exit 0
}
fail() { echo "FAIL: $*" >&2; exit 1; }
quiet() { "$@" 2>"$W/last.log" >/dev/null || { cat "$W/last.log" >&2; fail "$*"; }; }

if [ "$(id -u)" != 0 ]; then skip "needs root to run munged and slurmd"; fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
  echo "== installing slurmctld slurmd munge"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null; } \
    || skip "apt-get install slurmctld slurmd munge failed"
fi

KEEP=${1:+yes}
W=${1:-$(mktemp -d /tmp/omnitui-slurm.XXXX)}
mkdir -p "$W"
W=$(cd "$W" && pwd)
CL="$W/cluster"
cleanup() { "$ROOT/testdata/slurm/cluster.sh" stop "$CL" || true; }
trap cleanup EXIT
conf=$("$ROOT/testdata/slurm/cluster.sh" start "$CL") || skip "the one-node cluster did not start (see $CL/*.log)"
eval "$conf"
echo "== slurm up: $SLURM_CONF"

go build -o "$W/omnitui" ./cmd/omnitui
OMNI="$W/omnitui"
rm -rf "$W/hf"
go run ./testdata/gen tiny -out "$W/hf" -hidden 256 -heads 8 -groups 4 -head-dim 32 -layers 4 \
  -experts 8 -moe-ffn 256 -vocab 8192 -shards 3 >/dev/null
echo "input: $(du -sb "$W/hf" | cut -f1) bytes"
SET=(--tp 2 --pp 2 --ep 2)

wait_idle() { # waits until this cluster has no jobs (at most 300 s)
  for _ in $(seq 1 300); do
    if [ -z "$(squeue -h 2>/dev/null)" ]; then return 0; fi
    sleep 1
  done
  squeue; fail "jobs still queued after 300 s"
}
same() { # A B: byte-identical trees
  diff -r "$1" "$2" >/dev/null || { diff -r "$1" "$2" | head; fail "$1 differs from $2"; }
  echo "ok: $1 is byte-identical to $2"
}

cd "$W"
quiet "$OMNI" --batch "${SET[@]}" --out "$W/ref-mca" "$W/hf"
quiet "$OMNI" --batch --to-hf --max-shard-size 2MB --out "$W/ref-hf" "$W/ref-mca"

echo "== 1. --emit slurm, run as printed"
"$OMNI" --batch "${SET[@]}" --tasks 4 --emit slurm --max-parallel 2 --out "$W/mca" "$W/hf" > "$W/submit.sh"
grep -q -- '--array=0-3%2' "$W/submit.sh" || fail "the emitted script has no --array=0-3%2"
grep -q -- '--dependency=afterok:' "$W/submit.sh" || fail "the emitted script has no afterok dependency"
sh "$W/submit.sh"
wait_idle
[ -d "$W/mca" ] || { cat slurm-*.out; fail "the commit job did not publish $W/mca"; }
same "$W/mca" "$W/ref-mca"

echo "== 2. --to-hf as sbatch --array=1-4 (task = id - SLURM_ARRAY_TASK_MIN) + afterok commit"
arr=$(sbatch --parsable --array=1-4 --wrap "$OMNI --batch --to-hf --max-shard-size 2MB --tasks 4 --out $W/hf-back $W/mca")
sbatch --parsable --dependency=afterok:"${arr%%;*}" --output="$W/commit-hf.log" --wrap "$OMNI --batch --commit $W/hf-back" >/dev/null
wait_idle
[ -d "$W/hf-back" ] || { cat "$W/commit-hf.log"; fail "the --to-hf commit did not publish"; }
same "$W/hf-back" "$W/ref-hf"

echo "== 2b. a Megatron -> Megatron reshard (TP 1 PP 2 EP 4) as a 4-task array + afterok commit"
quiet "$OMNI" --batch --tp 1 --pp 2 --ep 4 --out "$W/ref-rs" "$W/mca"
arr=$(sbatch --parsable --array=0-3 --wrap "$OMNI --batch --tp 1 --pp 2 --ep 4 --tasks 4 --out $W/rs $W/mca")
sbatch --parsable --dependency=afterok:"${arr%%;*}" --output="$W/commit-rs.log" --wrap "$OMNI --batch --commit $W/rs" >/dev/null
wait_idle
[ -d "$W/rs" ] || { cat "$W/commit-rs.log"; fail "the reshard commit did not publish"; }
same "$W/rs" "$W/ref-rs"

echo "== 3. an array without index 2: the commit names it; resubmitting only task 2 completes"
TASK=("$OMNI" --batch "${SET[@]}" --tasks 4 --task-base 0 --out "$W/mca3" "$W/hf")
arr=$(sbatch --parsable --array=0,1,3 --wrap "${TASK[*]}")
sbatch --parsable --dependency=afterok:"${arr%%;*}" --output="$W/commit3.log" --wrap "$OMNI --batch --commit $W/mca3" >/dev/null
wait_idle
[ ! -e "$W/mca3" ] || fail "the commit published $W/mca3 with task 2 missing"
cat "$W/commit3.log"
grep -q 'task 2: missing' "$W/commit3.log" || fail "the commit did not name task 2"
if grep -qE 'task (0|1|3): missing' "$W/commit3.log"; then fail "the commit names tasks that finished"; fi
resubmit=$(grep -E '^  sbatch --array=2 ' "$W/commit3.log" | sed 's/^  //')
[ -n "$resubmit" ] || fail "the commit printed no 'sbatch --array=2' resubmission"
"$OMNI" --batch --status "$W/mca3" > "$W/status3.txt" && fail "--status exits 0 with a task missing"
grep -q '^task 2: missing' "$W/status3.txt" || { cat "$W/status3.txt"; fail "--status does not show task 2 missing"; }
echo "resubmitting: $resubmit"
eval "$resubmit" >/dev/null
wait_idle
"$OMNI" --batch --commit "$W/mca3"
same "$W/mca3" "$W/ref-mca"

echo "== 4. a task with other settings into the same output is refused"
sbatch --wait --array=0 --output="$W/a4-%a.log" --wrap "$OMNI --batch ${SET[*]} --tasks 4 --task-base 0 --out $W/mca4 $W/hf" >/dev/null
if sbatch --wait --array=1 --output="$W/b4-%a.log" --wrap "$OMNI --batch --tp 1 --pp 2 --ep 2 --tasks 4 --task-base 0 --out $W/mca4 $W/hf" >/dev/null; then
  cat "$W/b4-1.log"; fail "a task with --tp 1 into a --tp 2 staging directory succeeded"
fi
cat "$W/b4-1.log"
grep -q 'they differ in' "$W/b4-1.log" && grep -q 'settings' "$W/b4-1.log" || fail "the refusal does not name the settings"
quiet "$OMNI" --batch --abort "$W/mca4"
echo "PASS: slurm split conversions ($W)"
if [ -z "$KEEP" ]; then cleanup; trap - EXIT; cd /; rm -rf "$W"; fi
