#!/usr/bin/env bash
# The main job on a fresh machine: install, build, make a model (a synthetic
# one in Llama-3 shapes with the real Llama-3 tokenizer files and chat
# template; nothing is downloaded) and serve it over the OpenAI-compatible
# HTTP API on http://127.0.0.1:8080 (PORT=... to change) until Ctrl-C.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh --preset release
MODEL="${MLXS_DEMO_MODEL:-$ROOT/build/models/tiny-llama}"
if [ ! -f "$MODEL/config.json" ]; then
  ./build/release/mlx-serving dev synth-model --preset tiny --arch llama --dtype bf16 --out "$MODEL"
fi
exec ./build/release/mlx-serving serve --model "demo=$MODEL" --host 127.0.0.1 --port "${PORT:-8080}"
