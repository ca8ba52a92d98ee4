#!/usr/bin/env bash
# Extract megatron/ of each megatron-core tag from a Megatron-LM git mirror into
# .mcore/<tag>/ (ignored by git; ~18 MB for three tags), ready to be carried to
# the device machine. usage: prep.sh <Megatron-LM git dir> [tags...]
set -eu
git_dir=$1; shift
tags=${*:-core_v0.15.0 core_v0.16.0 core_v0.19.0}
cd "$(dirname "$0")/../.."
for t in $tags; do
  rm -rf ".mcore/$t"; mkdir -p ".mcore/$t"
  paths=megatron/core
  git --git-dir "$git_dir" cat-file -e "$t:megatron/__init__.py" 2>/dev/null && paths="$paths megatron/__init__.py"
  git --git-dir "$git_dir" archive "$t" $paths | tar -x -C ".mcore/$t"
  [ -f ".mcore/$t/megatron/__init__.py" ] || touch ".mcore/$t/megatron/__init__.py"
  echo "$t: $(du -sh ".mcore/$t" | cut -f1)"
done
