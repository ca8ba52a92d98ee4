#!/usr/bin/env bash
# Benchmark (not a test): FP8 → bf16 → Megatron streaming. Generates a multi-GB synthetic
# deepseek_v3 release in block FP8 (F8_E4M3 weights + F32 128×128 scales, an MTP layer;
# default hidden 2048, 12 layers, 32 experts of 1024: about 2.4 GB FP8 in, 4.7 GB bf16 out),
# converts it HF → Megatron (TP 2, PP 2, EP 2) and prints wall time and peak RSS (target:
# < 128 MB) beside `cp -r` of the output (the bytes written: the floor for any converter).
# Usage: testdata/bench/convert_fp8.sh [WORKDIR] [LAYERS]
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:-$(mktemp -d /tmp/omnitui-fp8bench.XXXX)}
LAYERS=${2:-12}
mkdir -p "$W"
go build -o "$W/omnitui" ./cmd/omnitui
tag="deepseek_v3-fp8-$LAYERS"
if [ ! -f "$W/hf/config.json" ] || [ "$(cat "$W/hf/.tag" 2>/dev/null)" != "$tag" ]; then
  rm -rf "$W/hf"
  go run ./testdata/gen release -out "$W/hf" -family deepseek_v3 -layers "$LAYERS" -hidden 2048 -heads 16 -head-dim 128 -ffn 8192 -experts 32 -moe-ffn 1024 -vocab 32000 -shards 4
  echo "$tag" > "$W/hf/.tag"
fi
in_bytes=$(du -sb "$W/hf" | cut -f1)
cat "$W"/hf/*.safetensors > /dev/null   # warm the page cache

measure() { # label, bytes, command...: prints wall seconds, MB/s of bytes, peak RSS
  local label=$1 bytes=$2; shift 2
  /usr/bin/time -f "%e %M" -o "$W/time.txt" "$@" > /dev/null 2> "$W/stderr.txt" || { cat "$W/stderr.txt"; exit 1; }
  read -r secs rss < "$W/time.txt"
  awk -v l="$label" -v s="$secs" -v r="$rss" -v b="$bytes" \
    'BEGIN { printf "%-34s %8.2f s %9.1f MB/s  peak RSS %7.1f MB\n", l, s, (b/1e6)/(s>0?s:1e-9), r/1024 }'
}

echo "input: $W/hf (deepseek_v3 block FP8), $(awk -v b="$in_bytes" 'BEGIN{printf "%.2f GB", b/1e9}'), $LAYERS layers + MTP"
rm -rf "$W/out"; "$W/omnitui" --batch --tp 2 --pp 2 --ep 2 --no-fsync --out "$W/out" "$W/hf" 2>/dev/null
out_bytes=$(du -sb "$W/out" | cut -f1)
echo "output: $(awk -v b="$out_bytes" 'BEGIN{printf "%.2f GB", b/1e9}') bf16 in $(find "$W/out" -name '*.pt' | wc -l) rank files"
for run in 1 2; do
  rm -rf "$W/cp"; sync; measure "cp -r of the output (floor)" "$out_bytes" cp -r "$W/out" "$W/cp"
  rm -rf "$W/out"; sync; measure "omnitui fp8 tp2 pp2 ep2" "$out_bytes" "$W/omnitui" --batch --tp 2 --pp 2 --ep 2 --out "$W/out" "$W/hf"
  rm -rf "$W/out"; sync; measure "omnitui ... --no-fsync" "$out_bytes" "$W/omnitui" --batch --tp 2 --pp 2 --ep 2 --no-fsync --out "$W/out" "$W/hf"
done
rm -rf "$W/cp"
