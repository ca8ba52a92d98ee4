#!/usr/bin/env bash
# Benchmark (not a test): the plan of the real-scale sparse fixture (Qwen3-Omni-30B-A3B's
# real headers, data regions are holes) at TP 4 PP 4 EP 8, as JSON (--plan --json) and as
# text (--plan), interleaved run by run so that a loaded machine slows both alike.
# Prints wall seconds, peak RSS and output size per run and the JSON/text wall ratio.
# Targets (issue 11): JSON under 1 s, under 300 MB RSS, under 60 MB of output.
# Usage: testdata/bench/plan_json.sh [WORKDIR] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:-$(mktemp -d /tmp/omnitui-bench.XXXX)}
ROUNDS=${2:-5}
mkdir -p "$W"
go build -o "$W/omnitui" ./cmd/omnitui
if [ ! -f "$W/real/config.json" ]; then go run ./testdata/gen realscale -out "$W/real" >/dev/null; fi
SET=(--tp 4 --pp 4 --ep 8)

run() { # out-file, args...: prints "wall-secs cpu-secs rssKB bytes"
  local out=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$W/time.txt" "$W/omnitui" --batch --plan "$@" "${SET[@]}" "$W/real" > "$out"
  read -r secs user sys rss < "$W/time.txt"
  echo "$secs $(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}') $rss $(stat -c %s "$out")"
}

# wall time suffers from other load on the machine; user+sys CPU time much less so
printf "%-6s %8s %8s %12s %9s   %8s %8s %12s %9s   %s\n" round "json s" "cpu s" "json RSS MB" "json MB" "text s" "cpu s" "text RSS MB" "text KB" "json/text wall"
for r in $(seq 1 "$ROUNDS"); do
  read -r js jc jr jb < <(run "$W/plan.json" --json)
  read -r ts tc tr tb < <(run "$W/plan.txt")
  awk -v r="$r" -v js="$js" -v jc="$jc" -v jr="$jr" -v jb="$jb" -v ts="$ts" -v tc="$tc" -v tr="$tr" -v tb="$tb" \
    'BEGIN { printf "%-6s %8.2f %8.2f %12.1f %9.1f   %8.2f %8.2f %12.1f %9.1f   %.2f\n", r, js, jc, jr/1024, jb/1e6, ts, tc, tr/1024, tb/1e3, js/(ts>0?ts:1e-9) }'
done
uptime
