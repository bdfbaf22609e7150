#!/usr/bin/env bash
# The main job on a fresh machine: install, build, make a model (a synthetic
# one in Llama-3 shapes with the real Llama-3 tokenizer files; nothing is
# downloaded) and stream a generation from it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh --preset release
MODEL="${MLXS_DEMO_MODEL:-$ROOT/build/models/tiny-llama}"
if [ ! -f "$MODEL/config.json" ]; then
  ./build/release/mlx-serving dev synth-model --preset tiny --arch llama --dtype bf16 --out "$MODEL"
fi
./build/release/mlx-serving generate --model "$MODEL" --prompt "The capital of France is" --max-tokens 32
