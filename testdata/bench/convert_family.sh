#!/usr/bin/env bash
# Benchmark (not a test): stream a generated multi-GB release-shaped checkpoint of one
# decoder family (default: llama, hidden 2048, 16 layers, ffn 8192, ~2.3 GB bf16) HF →
# Megatron with TP 2 PP 2 and print wall time, MB/s and peak RSS (target: < 128 MB) beside
# `cp -r`. Usage: testdata/bench/convert_family.sh [WORKDIR] [FAMILY] [LAYERS]
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:-$(mktemp -d /tmp/omnitui-fbench.XXXX)}
FAMILY=${2:-llama}
LAYERS=${3:-16}
mkdir -p "$W"
go build -o "$W/omnitui" ./cmd/omnitui
tag="$FAMILY-$LAYERS"
if [ ! -f "$W/hf/config.json" ] || [ "$(cat "$W/hf/.tag" 2>/dev/null)" != "$tag" ]; then
  rm -rf "$W/hf"
  go run ./testdata/gen release -out "$W/hf" -family "$FAMILY" -layers "$LAYERS" -shards 4
  echo "$tag" > "$W/hf/.tag"
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

echo "input: $W/hf ($FAMILY), $(awk -v b="$in_bytes" 'BEGIN{printf "%.2f GB", b/1e9}'), $LAYERS layers"
for run in 1 2; do
  rm -rf "$W/cp"; sync; measure "cp -r (floor)" cp -r "$W/hf" "$W/cp"
  rm -rf "$W/out"; sync; measure "omnitui $FAMILY tp2 pp2" "$W/omnitui" --batch --tp 2 --pp 2 --out "$W/out" "$W/hf"
  rm -rf "$W/out"; sync; measure "omnitui ... --no-fsync" "$W/omnitui" --batch --tp 2 --pp 2 --no-fsync --out "$W/out" "$W/hf"
done
echo "output: $(du -sb "$W/out" | awk '{printf "%.2f GB", $1/1e9}') in $(find "$W/out" -name '*.pt' | wc -l) rank files"
rm -rf "$W/cp"
