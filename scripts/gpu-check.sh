#!/usr/bin/env bash
# Runs on the GPU machine from the repository root, after scripts/gpu-bundle.sh
# packed .gpu/ here: the gpu-labelled tests, then the decode benchmarks on
# synthetic models (written there: models do not travel). Results go to $OUT
# as JSON plus a short text table (summary.txt, printed last).
#   GPU_MODELS="llama-3.2-1b llama-3.1-8b"  GPU_BATCHES=1,8,32  GPU_DECODE=64
#                           (an entry PRESET:ARCH picks another architecture, e.g.
#                           qwen3-0.6b:qwen3_moe; GPU_SYNTH_QUANT=fp8 writes the models in FP8,
#                           e.g. GPU_MODELS=qwen3-30b-a3b)
#   GPU_QUANT="int4 int8"   also decode with quantization at load (packed GEMV)
#   GPU_DECODE_ENVS="MLXS_CUDA_DECODE_KERNELS=0 default"   each decode bench once per entry
#   GPU_DECODE_PROMPTS="32 1024 4000"   each decode bench once per prompt length (default 32)
#                           (VAR=value[,VAR=value] or default), for A/B runs in one call;
#                           GPU_PROFILE_ENVS likewise for GPU_PROFILE's op tables
#   GPU_WORKER=1            bench worker on the last model (process split cost)
#   GPU_STRUCTURED=1        bench structured on the last model (MaskBench masks at batch 32;
#                           GPU_STRUCTURED_OVERLAP="on off" also without the overlap mode)
#   GPU_SERVE=1             serve --backend cuda on the last model + bench serve
#                           (GPU_SERVE_TEMPERATURES="0 1" GPU_SERVE_TOP_P=0.9 for sampled requests;
#                           GPU_SERVE_MEMFRAC=0.9 sizes the KV cache from device memory;
#                           GPU_SERVE_IN/GPU_SERVE_OUT token lengths, default 128/128;
#                           GPU_SERVE_NUM requests per concurrency, default 4 x concurrency;
#                           GPU_SERVE_STREAMS the engine's batch, --max-running-streams;
#                           GPU_SERVE_ENVS="MLXS_CUDA_KV_F32=1 default" one server per entry;
#                           GPU_SERVE_RUNS="none:default fp8:MLXS_CUDA_KV_FP8=1" chosen
#                           (quantization, envs) pairs instead; GPU_SERVE_ARGS extra serve flags,
#                           e.g. "--max-batch-tokens 512" or "--kv-cache-dtype fp8" (the
#                           MLXS_CUDA_KV_* env vars override that option, for A/B runs)
#   GPU_PREFILL="2048"      also time the prefill of prompts of these lengths (bench decode,
#                           GPU_PREFILL_BATCHES=1,1,8; GPU_PREFILL_ENVS for A/B runs;
#                           GPU_PREFILL_ARGS extra bench flags, e.g. "--max-batch-tokens 512")
#   GPU_TESTS=0 GPU_DECODE_BENCH=0   skip those stages (e.g. a second call)
#   GPU_TEST_ONLY="backend_cuda_ops_test model_vision_parity_cuda_test"   only these test binaries
#   GPU_KERNEL_BENCH=0      skip bench kernels;  GPU_MODELS=none  no decode models at all
#   GPU_KERNEL_ENVS="MLXS_GEMV_SPLIT=1 default"   bench kernels once per entry
#   GPU_VISION=1            bench vision: TTFT of one image request (tower + prefill) on a
#                           synthetic Gemma 3 VLM with the full-size SigLIP tower around a
#                           gemma3_text decoder of GPU_VISION_PRESET's shapes (llama-3.2-1b)
#   GPU_VISION_ENVS="MLXS_SEGMENT_ATTENTION=tf32 default"   one vision run per entry
#                           (VAR=value[,VAR=value]); GPU_VISION_TIMING=1 adds a per-op table each
#   GPU_VISION_QWEN=1       Qwen2.5-VL-7B shapes (qwen2.5-7b decoder + its ViT, bf16): TTFT of a
#                           1024 x 1024 image (74 x 74 patches after smart resize) + 100 text
#                           tokens, and batch-1 decode of the VLM (M-RoPE) vs the same decoder
#                           written as a text-only model (same seed: the same weights)
#   GPU_NCU_PREFILL=2048    per-kernel device time of one prefill of that length (ncu), then
#                           the counters of one launch of each GPU_NCU_KERNELS regex (prefill_kernel);
#                           GPU_NCU_PREFILL_ENVS / _ARGS as GPU_PREFILL's, GPU_NCU_PREFILL_SKIP
#                           launches skipped first (e.g. the KV-scale calibration's), and
#                           GPU_NCU_KERNEL_SKIP (1) launches of each named kernel
#   GPU_PROFILE_BATCH=256 GPU_PROFILE_PROMPT=1000   GPU_PROFILE's op table at that batch and
#                           prompt length (decode and prompt-chunk steps in separate rows);
#                           GPU_PROFILE_ARGS="--quantization fp8" more bench decode flags
#   GPU_NCU=1 GPU_NCU_BATCHES=1   per-kernel device time of about one decode step (ncu) after
#                           GPU_NCU_PROMPT (32)-token prompts, skipping GPU_NCU_SKIP (1500)
#                           launches, GPU_NCU_COUNT (400) kernels over GPU_NCU_DECODE_TOKENS (8)
#                           steps; GPU_NCU_DECODE_ENVS and _ARGS as below
#   GPU_NCU_DECODE_KERNELS="decode_tc"   counters of one decode-step launch of each regex at
#                           GPU_NCU_DECODE_BATCH (256) after GPU_NCU_DECODE_PROMPT (1000) tokens,
#                           GPU_NCU_DECODE_ENVS="MLXS_CUDA_KV_FP8=1" set; skips
#                           GPU_NCU_DECODE_SKIP (40) launches of it first;
#                           GPU_NCU_DECODE_ARGS="--quantization int4" more bench decode flags
#   GPU_KEEP=1              keep the synthetic models in /tmp for a later call
#   GPU_TP=2                tensor parallelism over 2 GPUs (needs a 2-GPU machine): the
#                           gpu tests named *tp* (NCCL parity, abort mid-step), then bench
#                           decode at --tensor-parallel 2 and 1 on GPU_TP_PRESET (llama-3.1-8b)
#                           at GPU_TP_BATCHES (1,8); GPU_TESTS=0 skips the tests. Bundle
#                           with GPU_BUNDLE_TP=1 bash scripts/gpu-bundle.sh (the carry limit)
#                           GPU_TP_QUANT=fp8 writes that preset pre-quantized (dev synth-model
#                           --quant: GPU_TP_PRESET=llama-3.1-70b is ~71 GB), GPU_TP_DIR=/dev/shm where,
#                           GPU_TP_RANKS="2" the rank counts to bench (default "$GPU_TP 1");
#                           GPU_TP_ENVS="MLXS_TP_P2P=0 default" A/B sides of the TP bench;
#                           GPU_SERVE_TP=2 serves GPU_SERVE's model over 2 ranks
set -uo pipefail
ROOT="$(pwd)"
B="$ROOT/.gpu"
OUT="${OUT:-/tmp/mlxs-gpu-out}"
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$B/lib:${LD_LIBRARY_PATH:-}"
export MLXS_FIXTURES="$B/fixtures"
export NCCL_NVLS_ENABLE=0
# NCCL (tensor parallelism) is the image's: beside its CUDA, else in the Python wheels.
if ! ldconfig -p | grep -q 'libnccl.so.2 '; then
  for d in /usr/local/cuda/lib /usr/local/cuda/lib64 \
      "$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib"))' 2>/dev/null)"; do
    if [ -n "$d" ] && [ -f "$d/libnccl.so.2" ]; then export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$d"; break; fi
  done
fi
[ -f "$B/fixtures/maskbench.tar.gz" ] && tar -C "$B/fixtures" -xzf "$B/fixtures/maskbench.tar.gz"
for f in "$B"/bin/*.gz "$B"/bin/tests/*.gz; do
  [ -f "$f" ] && gunzip -f "$f" && chmod +x "${f%.gz}"
done
SUMMARY="$OUT/summary.txt"
# Nsight Compute (the GPU_NCU* stages), and the counters those stages print
# for the kernels they name.
NCU="$(ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
NCU_SECTIONS=(--section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats
              --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section SchedulerStats)
: > "$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }
# ARR: the variables of an A/B entry ("VAR=value[,VAR=value]"; none for
# "default" or empty), for `env "${ARR[@]}" …`.
envs_of() {
  ARR=()
  [ -z "$1" ] || [ "$1" = default ] || IFS=, read -ra ARR <<< "$1"
}

say "== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader | tee -a "$SUMMARY"
status=0
say "== tests"
for t in "$B"/bin/tests/*; do
  [ "${GPU_TESTS:-1}" = 1 ] || break
  name="$(basename "$t")"
  # With GPU_TP the tensor-parallel tests run in their own section below.
  if [ -n "${GPU_TP:-}" ] && [[ "$name" == *tp* ]]; then continue; fi
  if [ -n "${GPU_TEST_ONLY:-}" ] && [[ " $GPU_TEST_ONLY " != *" $name "* ]]; then continue; fi
  if timeout "${GPU_TEST_TIMEOUT:-180}" "$t" > "$OUT/$name.log" 2>&1; then
    say "PASS $name ($(grep -c '^\[       OK \]' "$OUT/$name.log") tests)"
  else
    status=1
    say "FAIL $name"
    grep -E "Failure|FAILED|Expected|Which is|actual|error" "$OUT/$name.log" | head -40 | tee -a "$SUMMARY"
  fi
done
cat "$OUT"/*.log > "$OUT/tests.log" 2>/dev/null; rm -f "$OUT"/*_test.log

if [ -n "${GPU_TP:-}" ]; then
  say "== tensor parallelism over $GPU_TP GPUs"
  for t in "$B"/bin/tests/*tp*; do
    [ "${GPU_TESTS:-1}" = 1 ] || break
    [ -x "$t" ] || continue
    name="$(basename "$t")"
    if timeout "${GPU_TEST_TIMEOUT:-300}" "$t" > "$OUT/$name.txt" 2>&1; then
      say "PASS $name ($(grep -c '^\[       OK \]' "$OUT/$name.txt") tests, $(grep -c '^\[  SKIPPED' "$OUT/$name.txt") skipped)"
    else
      status=1
      say "FAIL $name"
      grep -E "Failure|FAILED|Expected|Which is|actual|error" "$OUT/$name.txt" | head -40 | tee -a "$SUMMARY"
    fi
    grep -E "^\[tp cuda" "$OUT/$name.txt" | tee -a "$SUMMARY"
  done
  tpreset="${GPU_TP_PRESET:-llama-3.1-8b}"
  tquant="${GPU_TP_QUANT:-none}"
  tdir="${GPU_TP_DIR:-/tmp/mlxs-models}/$tpreset-$tquant"
  if [ ! -f "$tdir/config.json" ]; then
    s0=$(date +%s)
    "$B/bin/mlx-serving" dev synth-model --preset "$tpreset" --dtype bf16 --quant "$tquant" \
        --tokenizer none --out "$tdir" 2>&1 | tail -1 | tee -a "$SUMMARY"
    say "(written in $(( $(date +%s) - s0 )) s: $(du -sh "$tdir" | cut -f1))"
  fi
  say "-- bench allreduce over $GPU_TP GPUs"
  "$B/bin/mlx-serving" bench allreduce --ranks "$GPU_TP" --rows 1,8,32,64 --cols "${GPU_TP_COLS:-4096}" \
      --json "$OUT/allreduce.json" 2>&1 | tee -a "$SUMMARY"
  rc="${PIPESTATUS[0]}"
  [ "$rc" = 0 ] || { status=1; say "(bench allreduce failed: exit $rc)"; }
  ti=0
  for envs in ${GPU_TP_ENVS:-default}; do
    envs_of "$envs"
    for n in ${GPU_TP_RANKS:-$GPU_TP 1}; do
      # One rank has no collectives: the A/B variables change nothing there.
      [ "$n" = 1 ] && [ "$ti" -gt 0 ] && continue
      say "-- bench decode $tpreset, --tensor-parallel $n [$envs]"
      env "${ARR[@]}" "$B/bin/mlx-serving" bench decode --backend cuda --tensor-parallel "$n" --model "$tdir" \
          --batch "${GPU_TP_BATCHES:-1,8}" --prompt-len 32 --decode-tokens "${GPU_DECODE:-64}" \
          --repeats 3 --quiet --json "$OUT/decode-$tpreset-$tquant-tp$n-$ti.json" 2>&1 | tee -a "$SUMMARY"
      rc="${PIPESTATUS[0]}"
      [ "$rc" = 0 ] || { status=1; say "(bench decode failed: exit $rc)"; }
    done
    ti=$((ti + 1))
  done
  [ "${GPU_KEEP:-0}" = 1 ] || rm -rf "$tdir"
fi

say "== kernel benchmarks"
ki=0
for envs in ${GPU_KERNEL_ENVS:-default}; do
  [ "${GPU_KERNEL_BENCH:-1}" = 1 ] || break
  envs_of "$envs"
  ki=$((ki + 1))
  say "-- bench kernels [$envs]"
  env "${ARR[@]}" "$B/bin/mlx-serving" bench kernels --backend cuda --reps 50 \
      --json "$OUT/kernels-$ki.json" 2>&1 | tee -a "$SUMMARY" || status=1
done

say "== decode benchmarks"
MODELS="${GPU_MODELS:-llama-3.2-1b llama-3.1-8b}"
[ "$MODELS" = none ] && MODELS=""
TOK=()
if [ -f "$B/tokenizers/llama3/tokenizer.json.gz" ]; then
  mkdir -p /tmp/mlxs-tok && cp "$B/tokenizers/llama3/tokenizer_config.json" /tmp/mlxs-tok/
  gunzip -c "$B/tokenizers/llama3/tokenizer.json.gz" > /tmp/mlxs-tok/tokenizer.json
  TOK=(--tokenizer llama3 --tokenizer-dir /tmp/mlxs-tok)
fi
last=""
for entry in $MODELS; do
  # PRESET or PRESET:ARCH (e.g. qwen3-0.6b:qwen3_moe, the preset's MoE variant).
  preset="${entry//:/-}"
  ARCH=()
  if [[ "$entry" == *:* ]]; then ARCH=(--arch "${entry#*:}"); fi
  # GPU_SYNTH_QUANT=fp8|mlx-q4|mlx-q8 writes the weights quantized (a
  # Qwen3-30B-A3B fits the machine's disk only so: 31 GB in FP8).
  if [ -n "${GPU_SYNTH_QUANT:-}" ]; then ARCH+=(--quant "$GPU_SYNTH_QUANT"); fi
  dir="/tmp/mlxs-models/$preset-bf16${GPU_SYNTH_QUANT:+-$GPU_SYNTH_QUANT}"
  if [ -n "$last" ] && [ "${GPU_KEEP:-0}" != 1 ]; then rm -rf "$last"; fi
  last="$dir"
  if [ ! -f "$dir/config.json" ]; then
    "$B/bin/mlx-serving" dev synth-model --preset "${entry%%:*}" "${ARCH[@]}" --dtype bf16 "${TOK[@]}" --out "$dir" 2>&1 | tail -1 | tee -a "$SUMMARY"
  fi
  # Prefill of GPU_PREFILL-token prompts (batches GPU_PREFILL_BATCHES; the
  # first run of a process pays GEMM plan and setup costs, so 1,1 times a
  # warm second), once per GPU_PREFILL_ENVS entry as GPU_DECODE_ENVS.
  for plen in ${GPU_PREFILL:-}; do
    for envs in ${GPU_PREFILL_ENVS:-default}; do
      envs_of "$envs"
      say "-- prefill, $preset, $plen-token prompts, $envs"
      env "${ARR[@]}" "$B/bin/mlx-serving" bench decode --backend cuda --model "$dir" \
          --batch "${GPU_PREFILL_BATCHES:-1,1,8}" --prompt-len "$plen" --decode-tokens 16 \
          --repeats 1 --quiet ${GPU_PREFILL_ARGS:-} 2>&1 | tee -a "$SUMMARY" || status=1
    done
  done
  if [ -n "${GPU_NCU_PREFILL:-}" ]; then
    # Where one GPU_NCU_PREFILL-token prefill's device time goes, kernel by
    # kernel (GEMM tuning off: its candidate runs would count), then the
    # counters of one prefill attention launch.
    envs_of "${GPU_NCU_PREFILL_ENVS:-}"
    say "-- kernels of one $GPU_NCU_PREFILL-token prefill, $preset ${GPU_NCU_PREFILL_ENVS:-} ${GPU_NCU_PREFILL_ARGS:-}"
    env "${ARR[@]}" MLXS_GEMM_AUTOTUNE=0 "$NCU" --clock-control none --metrics gpu__time_duration.sum --csv \
        --launch-skip "${GPU_NCU_PREFILL_SKIP:-0}" --launch-count "${GPU_NCU_COUNT:-700}" \
        "$B/bin/mlx-serving" bench decode --backend cuda --model "$dir" --batch 1 \
        --prompt-len "$GPU_NCU_PREFILL" --decode-tokens 1 --repeats 1 --warmup 0 --quiet \
        ${GPU_NCU_PREFILL_ARGS:-} > "$OUT/ncu-prefill-$preset.csv" 2>&1
    python3 "$ROOT/scripts/ncu_kernel_table.py" "$OUT/ncu-prefill-$preset.csv" | tee -a "$SUMMARY"
    for kern in ${GPU_NCU_KERNELS:-prefill_kernel}; do
      say "-- counters of $kern, $preset"
      env "${ARR[@]}" "$NCU" --clock-control none --kernel-name "regex:$kern" \
          --launch-skip "${GPU_NCU_KERNEL_SKIP:-1}" --launch-count 1 "${NCU_SECTIONS[@]}" \
          "$B/bin/mlx-serving" bench decode --backend cuda --model "$dir" --batch 1 \
          --prompt-len "$GPU_NCU_PREFILL" --decode-tokens 1 --repeats 1 --warmup 0 --quiet \
          ${GPU_NCU_PREFILL_ARGS:-} > "$OUT/ncu-$kern-$preset.txt" 2>&1
      grep -v "^==PROF==" "$OUT/ncu-$kern-$preset.txt" | tail -120 | tee -a "$SUMMARY"
    done
  fi
  # GPU_DECODE_BENCH=0 skips the decode runs only: the profiling stages
  # below still run when asked for.
  if [ "${GPU_DECODE_BENCH:-1}" = 1 ]; then
  for envs in ${GPU_DECODE_ENVS:-default}; do
    tag=""
    envs_of "$envs"
    if [ "$envs" != default ]; then
      tag="-${envs//[^A-Za-z0-9_]/-}"
      say "-- $preset with $envs"
    fi
    for prompt in ${GPU_DECODE_PROMPTS:-32}; do
      ptag=""
      if [ "$prompt" != 32 ]; then ptag="-p$prompt"; say "-- $preset, $prompt-token prompts, $envs"; fi
      env "${ARR[@]}" "$B/bin/mlx-serving" bench decode --backend cuda --model "$dir" \
          --batch "${GPU_BATCHES:-1,8,32}" --prompt-len "$prompt" --decode-tokens "${GPU_DECODE:-64}" \
          --repeats 3 --quiet --json "$OUT/decode-$preset$tag$ptag.json" 2>&1 | tee -a "$SUMMARY" || status=1
    done
    for q in ${GPU_QUANT:-}; do
      say "-- $preset quantized at load: $q ${envs}"
      env "${ARR[@]}" "$B/bin/mlx-serving" bench decode --backend cuda --model "$dir" \
          --quantization "$q" --batch "${GPU_QUANT_BATCHES:-1,8}" --prompt-len 32 \
          --decode-tokens "${GPU_DECODE:-64}" --repeats 3 --quiet \
          --json "$OUT/decode-$preset-$q$tag.json" 2>&1 | tee -a "$SUMMARY" || status=1
    done
  done
  fi
  if [ "${GPU_PROFILE:-0}" = 1 ]; then
    # Where a decode step's time goes, op by op (graphs off while timing;
    # once per GPU_PROFILE_ENVS entry, as GPU_DECODE_ENVS).
    for envs in ${GPU_PROFILE_ENVS:-default}; do
      envs_of "$envs"
      say "-- op timing, $preset, batch ${GPU_PROFILE_BATCH:-1}, ${GPU_PROFILE_PROMPT:-32}-token prompts, $envs"
      env "${ARR[@]}" MLXS_CUDA_OP_TIMING=1 "$B/bin/mlx-serving" bench decode --backend cuda \
          --model "$dir" --batch "${GPU_PROFILE_BATCH:-1}" --prompt-len "${GPU_PROFILE_PROMPT:-32}" \
          --decode-tokens 16 --repeats 1 --warmup "${GPU_PROFILE_WARMUP:-2}" \
          --quiet ${GPU_PROFILE_ARGS:-} 2>&1 | grep "op timing" | tee -a "$SUMMARY"
    done
  fi
  if [ "${GPU_NCU:-0}" = 1 ]; then
    # Per-kernel device time of about one decode step (Nsight Compute).
    envs_of "${GPU_NCU_DECODE_ENVS:-}"
    for b in ${GPU_NCU_BATCHES:-1}; do
      say "-- kernels of one decode step, $preset, batch $b, ${GPU_NCU_PROMPT:-32}-token prompts"
      env "${ARR[@]}" "$NCU" --metrics gpu__time_duration.sum --csv --launch-skip "${GPU_NCU_SKIP:-1500}" \
          --launch-count "${GPU_NCU_COUNT:-400}" \
          "$B/bin/mlx-serving" bench decode --backend cuda --model "$dir" --batch "$b" \
          --prompt-len "${GPU_NCU_PROMPT:-32}" --decode-tokens "${GPU_NCU_DECODE_TOKENS:-8}" --repeats 1 \
          --warmup 2 --quiet ${GPU_NCU_DECODE_ARGS:-} > "$OUT/ncu-$preset-b$b.csv" 2>&1
      python3 "$ROOT/scripts/ncu_kernel_table.py" "$OUT/ncu-$preset-b$b.csv" | tee -a "$SUMMARY"
    done
  fi
  if [ -n "${GPU_NCU_DECODE_KERNELS:-}" ]; then
    # The counters of one decode-step launch of each regex, at batch
    # GPU_NCU_DECODE_BATCH after GPU_NCU_DECODE_PROMPT-token prompts, with
    # GPU_NCU_DECODE_ENVS (VAR=value[,VAR=value]) set.
    envs_of "${GPU_NCU_DECODE_ENVS:-}"
    for kern in $GPU_NCU_DECODE_KERNELS; do
      say "-- decode counters of $kern, $preset, batch ${GPU_NCU_DECODE_BATCH:-256}, ${GPU_NCU_DECODE_ENVS:-}"
      env "${ARR[@]}" "$NCU" --clock-control none --kernel-name "regex:$kern" \
          --launch-skip "${GPU_NCU_DECODE_SKIP:-40}" --launch-count 1 \
          "${NCU_SECTIONS[@]}" \
          "$B/bin/mlx-serving" bench decode --backend cuda --model "$dir" \
          --batch "${GPU_NCU_DECODE_BATCH:-256}" --prompt-len "${GPU_NCU_DECODE_PROMPT:-1000}" \
          --decode-tokens 4 --repeats 1 --warmup 0 --quiet ${GPU_NCU_DECODE_ARGS:-} \
          > "$OUT/ncu-decode-$kern-$preset.txt" 2>&1
      grep -v "^==PROF==" "$OUT/ncu-decode-$kern-$preset.txt" | tail -150 | tee -a "$SUMMARY"
    done
  fi
done

if [ "${GPU_WORKER:-0}" = 1 ] && [ -n "$last" ]; then
  say "== worker overhead on the GPU ($(basename "$last"))"
  "$B/bin/mlx-serving" bench worker --backend cuda --model "$last" --streams "${GPU_WORKER_STREAMS:-16}" \
      --output-len "${GPU_WORKER_LEN:-64}" --repeats 3 --quiet --json "$OUT/worker.json" 2>&1 \
      | tee -a "$SUMMARY" || status=1
fi

if [ "${GPU_STRUCTURED:-0}" = 1 ] && [ -n "$last" ]; then
  # GPU_STRUCTURED_OVERLAP="on off" also runs with the engine's overlap mode off.
  for ov in ${GPU_STRUCTURED_OVERLAP:-on}; do
    flag=()
    [ "$ov" = off ] && flag=(--no-overlap)
    for b in ${GPU_STRUCTURED_BATCHES:-32}; do
      say "== structured output cost on the GPU ($(basename "$last"), batch $b, overlap $ov)"
      "$B/bin/mlx-serving" bench structured --backend cuda --model "$last" --batch "$b" \
          --requests "$((b * 4))" --output-len "${GPU_STRUCTURED_LEN:-128}" --repeats 3 --quiet \
          --kv-memory-mb "${GPU_SERVE_KV_MB:-8192}" --fixtures "$B/fixtures/maskbench" \
          "${flag[@]}" --json "$OUT/structured-b$b-$ov.json" 2>&1 | tee -a "$SUMMARY" || status=1
    done
  done
fi

# The sum over labels of counter $2 on the server at port $1, 0 if none.
metric_total() {
  (curl -s "http://127.0.0.1:$1/metrics" || true) |
      awk -v m="$2" '$1 ~ "^"m"([{]|$)" { s += $2 } END { printf "%d", s }'
}
# A worker's device busy or idle microseconds (engine metrics).
device_us() { metric_total "$1" "mlxs_engine_device_$2_microseconds_total"; }
# Sequences the engine preempted so far (a KV cache too small for the run).
preemptions() { metric_total "$1" mlxs_engine_preemptions_total; }
if [ "${GPU_SERVE:-0}" = 1 ] && [ -n "$last" ]; then
  # The runs: every GPU_SERVE_QUANT x GPU_SERVE_ENVS pair, or the pairs
  # GPU_SERVE_RUNS lists ("quant:envs ...", e.g. "none:default fp8:MLXS_CUDA_KV_FP8=1").
  RUNS="${GPU_SERVE_RUNS:-}"
  if [ -z "$RUNS" ]; then
    for q in ${GPU_SERVE_QUANT:-none}; do
      for envs in ${GPU_SERVE_ENVS:-default}; do RUNS="$RUNS $q:$envs"; done
    done
  fi
  for run in $RUNS; do
    q="${run%%:*}"
    envs="${run#*:}"
    envs_of "$envs"
    tag=""
    [ "$envs" = default ] || tag="-${envs//[^A-Za-z0-9_]/-}"
    say "== serve --backend cuda ($(basename "$last"), quantization $q, $envs)"
    log="$OUT/serve-$q$tag.log"
    env "${ARR[@]}" "$B/bin/mlx-serving" --log-level warn serve --backend cuda --model "demo=$last" --port 0 \
        --quantization "$q" --kv-memory-mb "${GPU_SERVE_KV_MB:-8192}" \
        ${GPU_SERVE_STREAMS:+--max-running-streams "$GPU_SERVE_STREAMS"} \
        ${GPU_SERVE_TP:+--tensor-parallel "$GPU_SERVE_TP"} \
        ${GPU_SERVE_MEMFRAC:+--gpu-memory-fraction "$GPU_SERVE_MEMFRAC"} ${GPU_SERVE_ARGS:-} > "$log" 2>&1 &
    pid=$!
    port=""
    for _ in $(seq 1 600); do
      port="$(grep -oE 'on http://[^:]+:[0-9]+' "$log" | head -1 | sed -E 's/.*:([0-9]+)$/\1/')"
      [ -n "$port" ] && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if [ -z "$port" ]; then
      say "serve did not start"; tail -20 "$log" | tee -a "$SUMMARY"; status=1
    else
      # The KV cache this serve sized (blocks of 16 tokens).
      (curl -s "http://127.0.0.1:$port/metrics" || true) | grep -E "^mlxs_kv_blocks_total" \
          | tee -a "$SUMMARY"
      # Each model's memory as the dashboard shows it (weights, KV cache, device).
      (curl -s "http://127.0.0.1:$port/metrics" || true) | grep -E "^mlxs_model_memory_bytes" \
          | tee -a "$SUMMARY"
      (curl -s "http://127.0.0.1:$port/v1/status" || true) > "$OUT/status-$q$tag.json"
      for temp in ${GPU_SERVE_TEMPERATURES:-0}; do
        for c in ${GPU_SERVE_CONCURRENCY:-1 16 64}; do
          say "-- concurrency $c, temperature $temp"
          busy0="$(device_us "$port" busy)"; idle0="$(device_us "$port" idle)"
          pre0="$(preemptions "$port")"
          "$B/bin/mlx-serving" bench serve --url "http://127.0.0.1:$port" --model demo \
              --concurrency "$c" --num-prompts "${GPU_SERVE_NUM:-$((c * ${GPU_SERVE_PROMPTS_PER:-4}))}" \
              --input-len "${GPU_SERVE_IN:-128}" --output-len "${GPU_SERVE_OUT:-128}" --ignore-eos --temperature "$temp" --top-p "${GPU_SERVE_TOP_P:-1}" \
              --json "$OUT/serve-$q$tag-t$temp-c$c.json" 2>/dev/null | tee -a "$SUMMARY" || status=1
          # The GPU's idle share of the steps over the run (engine metrics:
          # CUDA events from each step's first work to its logits).
          busy1="$(device_us "$port" busy)"; idle1="$(device_us "$port" idle)"
          awk -v b="$((busy1 - busy0))" -v i="$((idle1 - idle0))" 'BEGIN { if (b + i > 0)
              printf "  GPU idle between steps: %.1f%% of step time (busy %.1f s, idle %.2f s)\n",
                     100 * i / (b + i), b / 1e6, i / 1e6 }' | tee -a "$SUMMARY"
          say "  preempted sequences: $(( $(preemptions "$port") - pre0 ))"
        done
      done
    fi
    kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  done
fi
if [ "${GPU_VISION:-0}" = 1 ]; then
  vpreset="${GPU_VISION_PRESET:-llama-3.2-1b}"
  vdir="/tmp/mlxs-models/$vpreset-gemma3-siglip"
  say "== vision TTFT ($vpreset decoder as gemma3_text + SigLIP-so400m tower, bf16)"
  if [ ! -f "$vdir/config.json" ]; then
    "$B/bin/mlx-serving" dev synth-model --preset "$vpreset" --arch gemma3_text --vision gemma3-siglip \
        --tokenizer none --dtype bf16 --out "$vdir" 2>&1 | tail -1 | tee -a "$SUMMARY"
  fi
  for be in ${GPU_VISION_BACKENDS:-cuda}; do
    # One run per GPU_VISION_ENVS entry ("default" or VAR=value[,VAR=value]);
    # with GPU_VISION_TIMING=1 each is first run once more under
    # MLXS_CUDA_OP_TIMING=1 for the per-op table (every op synced; the table
    # sums the warm-up requests too, and their first calls' setup).
    for envs in ${GPU_VISION_ENVS:-default}; do
      tag="${envs//[^A-Za-z0-9_]/-}"
      envs_of "$envs"
      say "-- $be $envs"
      if [ "${GPU_VISION_TIMING:-0}" = 1 ]; then
        env "${ARR[@]}" MLXS_CUDA_OP_TIMING=1 "$B/bin/mlx-serving" bench vision --backend "$be" \
            --model "$vdir" --repeats "${GPU_VISION_REPEATS:-5}" 2>&1 | grep "op timing" \
            | tee -a "$SUMMARY" || status=1
      fi
      env "${ARR[@]}" "$B/bin/mlx-serving" bench vision --backend "$be" --model "$vdir" \
          --repeats "${GPU_VISION_REPEATS:-5}" --json "$OUT/vision-$be-$tag.json" \
          2>"$OUT/vision-$be-$tag.err" | tee -a "$SUMMARY" || status=1
    done
  done
fi
if [ "${GPU_VISION_QWEN:-0}" = 1 ]; then
  qdir=/tmp/mlxs-models/qwen2.5-vl-7b
  tdir=/tmp/mlxs-models/qwen2.5-7b
  say "== Qwen2.5-VL-7B shapes (bf16): image TTFT and decode vs the text-only model"
  [ -f "$qdir/config.json" ] || "$B/bin/mlx-serving" dev synth-model --preset qwen2.5-7b \
      --arch qwen2 --vision qwen2.5-vl --tokenizer none --dtype bf16 --out "$qdir" 2>&1 | tail -1
  "$B/bin/mlx-serving" bench vision --backend cuda --model "$qdir" --grid 74 --text-tokens 100 \
      --repeats "${GPU_VISION_REPEATS:-5}" --json "$OUT/vision-qwen2.5-vl-7b.json" \
      2>"$OUT/vision-qwen2.5-vl-7b.err" | tee -a "$SUMMARY" || status=1
  "$B/bin/mlx-serving" bench decode --backend cuda --model "$qdir" --batch 1 --prompt-len 32 \
      --decode-tokens 64 --repeats 3 --json "$OUT/decode-qwen2.5-vl-7b.json" \
      2>"$OUT/decode-qwen2.5-vl-7b.err" | tee -a "$SUMMARY" || status=1
  rm -rf "$qdir"  # the disk holds one 16 GB model at a time with room to spare
  [ -f "$tdir/config.json" ] || "$B/bin/mlx-serving" dev synth-model --preset qwen2.5-7b \
      --tokenizer none --dtype bf16 --out "$tdir" 2>&1 | tail -1
  "$B/bin/mlx-serving" bench decode --backend cuda --model "$tdir" --batch 1 --prompt-len 32 \
      --decode-tokens 64 --repeats 3 --json "$OUT/decode-qwen2.5-7b.json" \
      2>"$OUT/decode-qwen2.5-7b.err" | tee -a "$SUMMARY" || status=1
fi
[ "${GPU_KEEP:-0}" = 1 ] || rm -rf /tmp/mlxs-models
exit $status
