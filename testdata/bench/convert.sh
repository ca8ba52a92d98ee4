#!/usr/bin/env bash
# Benchmark (not a test): convert a generated ~1 GB Qwen3-Omni-shaped checkpoint with
# TP 2, PP 2, EP 2 and print wall time, MB/s and peak RSS beside `cp -r` of the same input,
# both with a warm page cache, and per round the ratios of each interleaved pair
# (omnitui / `cp -r && sync`, omnitui --no-fsync / `cp -r`): on a shared machine the ratios
# of neighbouring runs say more than the times. BASE=/path/to/omnitui adds an older binary
# to each round, for before/after pairs. Usage: testdata/bench/convert.sh [WORKDIR] [LAYERS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:-$(mktemp -d /tmp/omnitui-bench.XXXX)}
LAYERS=${2:-8}
ROUNDS=${3:-3}
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
  last=$secs
  awk -v l="$label" -v s="$secs" -v r="$rss" -v b="$in_bytes" \
    'BEGIN { printf "%-30s %8.2f s %9.1f MB/s  peak RSS %7.1f MB\n", l, s, (b/1e6)/(s>0?s:1e-9), r/1024 }'
}

echo "input: $W/hf, $(awk -v b="$in_bytes" 'BEGIN{printf "%.2f GB", b/1e9}'), $LAYERS layers"
# omnitui fsyncs every file before renaming the output into place; cp -r does not, so
# `cp -r && sync` is the floor for a durable copy.
ratio() { awk -v a="$1" -v b="$2" -v l="$3" 'BEGIN { printf "  ratio %-40s %5.2f\n", l, a/(b>0?b:1e-9) }'; }
for run in $(seq 1 "$ROUNDS"); do
  rm -rf "$W/cp"; sync; measure "cp -r (floor)" cp -r "$W/hf" "$W/cp"; cp_s=$last
  rm -rf "$W/out"; sync; measure "omnitui ... --no-fsync" "$W/omnitui" --batch --tp 2 --pp 2 --ep 2 --no-fsync --out "$W/out" "$W/hf"; nf_s=$last
  rm -rf "$W/cp"; sync; measure "cp -r && sync (durable floor)" sh -c "cp -r '$W/hf' '$W/cp' && sync"; cps_s=$last
  rm -rf "$W/out"; sync; measure "omnitui tp2 pp2 ep2" "$W/omnitui" --batch --tp 2 --pp 2 --ep 2 --out "$W/out" "$W/hf"; om_s=$last
  ratio "$om_s" "$cps_s" "omnitui / (cp -r && sync)"
  ratio "$nf_s" "$cp_s" "omnitui --no-fsync / cp -r"
  if [ -n "${BASE:-}" ]; then
    rm -rf "$W/out"; sync; measure "BASE tp2 pp2 ep2" "$BASE" --batch --tp 2 --pp 2 --ep 2 --out "$W/out" "$W/hf"
    ratio "$om_s" "$last" "omnitui / BASE"
  fi
done
echo "output: $(du -sb "$W/out" | awk '{printf "%.2f GB", $1/1e9}') in $(find "$W/out" -name '*.pt' | wc -l) rank files"
# the reverse direction and reshards, interleaved with their floors: --to-hf of the rank
# files against `cp -r && sync` of them, a reshard to TP 1 EP 4 against the direct conversion
# of the HF input to the same settings
rm -rf "$W/mca"; "$W/omnitui" --batch --tp 2 --pp 2 --ep 2 --out "$W/mca" "$W/hf" 2> /dev/null
cat "$W"/mca/iter_*/*/*.pt > /dev/null
for run in $(seq 1 "$ROUNDS"); do
  rm -rf "$W/cp"; sync; measure "cp -r mca && sync" sh -c "cp -r '$W/mca' '$W/cp' && sync"; cps_s=$last
  rm -rf "$W/back"; sync; measure "omnitui --to-hf" "$W/omnitui" --batch --to-hf --out "$W/back" "$W/mca"; th_s=$last
  rm -rf "$W/cp"; sync; measure "cp -r mca" cp -r "$W/mca" "$W/cp"; cp_s=$last
  rm -rf "$W/back"; sync; measure "omnitui --to-hf --no-fsync" "$W/omnitui" --batch --to-hf --no-fsync --out "$W/back" "$W/mca"; thn_s=$last
  rm -rf "$W/out"; sync; measure "direct hf -> tp1 pp2 ep4" "$W/omnitui" --batch --tp 1 --pp 2 --ep 4 --out "$W/out" "$W/hf"; dir_s=$last
  rm -rf "$W/re"; sync; measure "reshard mca -> tp1 pp2 ep4" "$W/omnitui" --batch --tp 1 --ep 4 --out "$W/re" "$W/mca"; re_s=$last
  ratio "$th_s" "$cps_s" "--to-hf / (cp -r mca && sync)"
  ratio "$thn_s" "$cp_s" "--to-hf --no-fsync / cp -r mca"
  ratio "$re_s" "$dir_s" "reshard / direct conversion"
done
rm -rf "$W/back" "$W/re" "$W/mca"
rm -rf "$W/cp"
