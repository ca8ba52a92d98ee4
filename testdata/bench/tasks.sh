#!/usr/bin/env bash
# Benchmark (not a test): one conversion split into N = 1, 2, 4 tasks on this machine.
#   - wall time of all N tasks run at once (xargs -P N) plus the commit, warm page cache,
#     and the largest peak RSS of one task
#   - input bytes the tasks read from disk, measured with cold caches (each task run
#     alone after dropping the page cache; needs root, else reported as n/a) beside what
#     the plan says they read (--plan --tasks N: partition locality)
#   - the plan of --tasks 256 at real scale (Qwen3-Omni-30B-A3B's real headers, 70.5 GB
#     apparent, sparse) with TP 4 PP 8 EP 8: 256 rank files
# Usage: testdata/bench/tasks.sh [WORKDIR] [LAYERS]
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:-$(mktemp -d /tmp/omnitui-bench-tasks.XXXX)}
LAYERS=${2:-16}
mkdir -p "$W"
go build -o "$W/omnitui" ./cmd/omnitui
O="$W/omnitui"
if [ ! -f "$W/hf/config.json" ] || [ "$(cat "$W/hf/.layers" 2>/dev/null)" != "$LAYERS" ]; then
  rm -rf "$W/hf"
  go run ./testdata/gen tiny -out "$W/hf" -hidden 1024 -heads 8 -groups 4 -head-dim 128 \
    -layers "$LAYERS" -experts 32 -moe-ffn 512 -vocab 32768 -shards 8
  echo "$LAYERS" > "$W/hf/.layers"
fi
SET=(--tp 2 --pp 2 --ep 2)
in_bytes=$(du -sb "$W/hf" | cut -f1)
echo "input: $W/hf, $(awk -v b="$in_bytes" 'BEGIN{printf "%.2f GB", b/1e9}'), $LAYERS layers; settings ${SET[*]}; $(nproc) CPUs"
can_drop=0
if [ -w /proc/sys/vm/drop_caches ]; then can_drop=1; fi

cat "$W"/hf/*.safetensors > /dev/null
rm -rf "$W/ref"; sync
/usr/bin/time -f "%e %M" -o "$W/one.txt" "$O" --batch "${SET[@]}" --out "$W/ref" "$W/hf" 2>/dev/null
read -r one_s one_rss < "$W/one.txt"
awk -v s="$one_s" -v r="$one_rss" 'BEGIN { printf "one process (no split): %.2f s, peak RSS %.1f MB\n", s, r/1024 }'

printf "%-6s %9s %12s %14s %14s %12s\n" tasks "wall s" "peak RSS MB" "plan read GB" "disk read GB" identical
for N in 1 2 4; do
  plan_read=$("$O" --batch --plan --json "${SET[@]}" --tasks "$N" "$W/hf" | awk -F': ' '/"bytes_read"/ && !seen++ {gsub(/,/,"",$2); print $2}')
  # cold: each task alone after dropping the page cache; file system inputs (512-byte blocks)
  disk=n/a
  if [ "$can_drop" = 1 ]; then
    total=0
    for i in $(seq 0 $((N - 1))); do
      sync; echo 3 > /proc/sys/vm/drop_caches
      /usr/bin/time -f "%I" -o "$W/io.txt" "$O" --batch "${SET[@]}" --tasks "$N" --task "$i" --no-fsync --out "$W/cold" "$W/hf" 2>/dev/null >/dev/null
      total=$((total + $(tail -1 "$W/io.txt") * 512))
    done
    "$O" --batch --abort "$W/cold" 2>/dev/null
    disk=$(awk -v b="$total" 'BEGIN{printf "%.2f", b/1e9}')
  fi
  # warm: all tasks at once, then the commit
  cat "$W"/hf/*.safetensors > /dev/null
  rm -rf "$W/out"; sync
  start=$(date +%s.%N)
  seq 0 $((N - 1)) | xargs -P "$N" -I{} /usr/bin/time -f "%M" -o "$W/rss-{}.txt" \
    "$O" --batch "${SET[@]}" --tasks "$N" --task {} --out "$W/out" "$W/hf" 2>/dev/null
  "$O" --batch --commit "$W/out" 2>/dev/null
  end=$(date +%s.%N)
  rss=$(for i in $(seq 0 $((N - 1))); do tail -1 "$W/rss-$i.txt"; done | sort -n | tail -1)
  same=yes; diff -r "$W/out" "$W/ref" >/dev/null || same=NO
  awk -v n="$N" -v s="$start" -v e="$end" -v r="$rss" -v p="$plan_read" -v d="$disk" -v ok="$same" \
    'BEGIN { printf "%-6d %9.2f %12.1f %14.2f %14s %12s\n", n, e-s, r/1024, p/1e9, d, ok }'
done

echo "== real scale: --plan --tasks 256 (Qwen3-Omni-30B-A3B headers, TP 4 PP 8 EP 8)"
if [ ! -f "$W/real/config.json" ]; then go run ./testdata/gen realscale -out "$W/real" >/dev/null; fi
/usr/bin/time -f "%e s, peak RSS %M KB" -o "$W/plan-time.txt" \
  "$O" --batch --plan --json --tp 4 --pp 8 --ep 8 --tasks 256 "$W/real" > "$W/plan256.json"
echo "plan: $(cat "$W/plan-time.txt")"
python3 - "$W/plan256.json" <<'PY' 2>/dev/null || head -c 600 "$W/plan256.json"
import json, sys
s = json.load(open(sys.argv[1]))
w = [t["bytes_written"] for t in s["per_task"]]
print(f"plan {s['plan_id']}: {s['files']} files into {s['tasks']} tasks, {s['bytes_written']/1e9:.1f} GB written; "
      f"per task {min(w)/1e9:.2f}..{max(w)/1e9:.2f} GB (mean {sum(w)/len(w)/1e9:.2f}); "
      f"read {s['bytes_read']/1e9:.1f} GB of {s['input_bytes']/1e9:.1f} GB input ({s['bytes_read']/s['input_bytes']:.2f}x)")
PY
