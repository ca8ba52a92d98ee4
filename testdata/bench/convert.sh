#!/usr/bin/env bash
# Benchmark (not a test): convert a generated ~1 GB Qwen3-Omni-shaped checkpoint with
# TP 2, PP 2, EP 2 and print wall time, MB/s and peak RSS beside `cp -r` of the same input,
# both with a warm page cache. Usage: testdata/bench/convert.sh [WORKDIR] [LAYERS]
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:-$(mktemp -d /tmp/omnitui-bench.XXXX)}
LAYERS=${2:-8}
mkdir -p "$W"
go build -o "$W/omnitui" ./cmd/omnitui
if [ ! -f "$W/hf/config.json" ] || [ "$(cat "$W/hf/.layers" 2>/dev/null)" != "$LAYERS" ]; then
  rm -rf "$W/hf"
  go run ./testdata/gen tiny -out "$W/hf" -hidden 1024 -heads 8 -groups 4 -head-dim 128 \
    -layers "$LAYERS" -experts 32 -moe-ffn 512 -vocab 32768 -shards 4
  echo "$LAYERS" > "$W/hf/.layers"
fi
in_bytes=$(du -sb "$W/hf" | cut -f1)
cat "$W"/hf/*.safetensors > /dev/null   # warm the page cache

measure() { # label, command...: prints wall seconds and peak RSS (KiB) of the command
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$W/time.txt" "$@" > /dev/null 2> "$W/stderr.txt" || { cat "$W/stderr.txt"; exit 1; }
  read -r secs rss < "$W/time.txt"
  awk -v l="$label" -v s="$secs" -v r="$rss" -v b="$in_bytes" \
    'BEGIN { printf "%-30s %8.2f s %9.1f MB/s  peak RSS %7.1f MB\n", l, s, (b/1e6)/(s>0?s:1e-9), r/1024 }'
}

echo "input: $W/hf, $(awk -v b="$in_bytes" 'BEGIN{printf "%.2f GB", b/1e9}'), $LAYERS layers"
# omnitui fsyncs every file before renaming the output into place; cp -r does not, so
# `cp -r && sync` is the floor for a durable copy.
for run in 1 2 3; do
  rm -rf "$W/cp"; sync; measure "cp -r (floor)" cp -r "$W/hf" "$W/cp"
  rm -rf "$W/cp"; sync; measure "cp -r && sync (durable floor)" sh -c "cp -r '$W/hf' '$W/cp' && sync"
  rm -rf "$W/out"; sync; measure "omnitui tp2 pp2 ep2" "$W/omnitui" --batch --tp 2 --pp 2 --ep 2 --out "$W/out" "$W/hf"
  rm -rf "$W/out"; sync; measure "omnitui ... --no-fsync" "$W/omnitui" --batch --tp 2 --pp 2 --ep 2 --no-fsync --out "$W/out" "$W/hf"
done
echo "output: $(du -sb "$W/out" | awk '{printf "%.2f GB", $1/1e9}') in $(find "$W/out" -name '*.pt' | wc -l) rank files"
rm -rf "$W/cp"
