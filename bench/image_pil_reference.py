#!/usr/bin/env python3
"""The PIL side of `mlx-serving bench image`: the same images through the
operations the Hugging Face processors' PIL backend performs (transformers
is not needed: the steps are written out with PIL and numpy as
image_processing_backends.PilBackend and image_transforms do them).

  mlx-serving bench image --save-images /tmp/imgs
  python3 bench/image_pil_reference.py /tmp/imgs [--iterations 20]

Prints one line per (format, processor) with ms/image and images/s, one thread.
"""
import argparse
import math
import os
import time

import numpy as np
from PIL import Image

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def load(path):
    image = Image.open(path)
    image.load()
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.array(image).transpose(2, 0, 1)  # CHW uint8, as process_image does


def resize(chw, height, width, resample):
    pil = Image.fromarray(chw.transpose(1, 2, 0))
    return np.array(pil.resize((width, height), resample=resample)).transpose(2, 0, 1)


def rescale_normalize(chw, mean, std):
    x = (chw.astype(np.float64) * (1 / 255)).astype(np.float32)
    mean = np.array(mean, dtype=np.float32)
    std = np.array(std, dtype=np.float32)
    return ((x.T - mean) / std).T


def clip(chw):
    h, w = chw.shape[1:]
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(336 * long / short)
    nh, nw = (new_long, 336) if w <= h else (336, new_long)
    chw = resize(chw, nh, nw, Image.BICUBIC)
    top, left = (nh - 336) // 2, (nw - 336) // 2
    chw = chw[:, top:top + 336, left:left + 336]
    return rescale_normalize(chw, CLIP_MEAN, CLIP_STD)[None]


def smart_resize(h, w, factor=28, min_pixels=3136, max_pixels=12845056):
    h_bar = round(h / factor) * factor
    w_bar = round(w / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((h * w) / max_pixels)
        h_bar = max(factor, math.floor(h / beta / factor) * factor)
        w_bar = max(factor, math.floor(w / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (h * w))
        h_bar = math.ceil(h * beta / factor) * factor
        w_bar = math.ceil(w * beta / factor) * factor
    return h_bar, w_bar


def qwen(chw, patch=14, merge=2, temporal=2):
    h, w = smart_resize(*chw.shape[1:])
    x = rescale_normalize(resize(chw, h, w, Image.BICUBIC), CLIP_MEAN, CLIP_STD)
    x = np.repeat(x[None, None], temporal, axis=1)
    gh, gw = h // patch, w // patch
    x = x.reshape(1, 1, temporal, 3, gh // merge, merge, patch, gw // merge, merge, patch)
    x = x.transpose(0, 1, 4, 7, 5, 8, 3, 2, 6, 9)
    return x.reshape(gh * gw, 3 * temporal * patch * patch)


def gemma3(chw):
    return rescale_normalize(resize(chw, 896, 896, Image.BILINEAR), [0.5] * 3, [0.5] * 3)[None]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    stages = [("decode only", None), ("llava-1.5 (CLIP 336)", clip),
              ("qwen2.5-vl (smart resize)", qwen), ("gemma3 (SigLIP 896)", gemma3)]
    for fmt, name in (("PNG", "bench.png"), ("JPEG", "bench.jpg")):
        path = os.path.join(args.folder, name)
        for label, fn in stages:
            def once():
                chw = load(path)
                return chw if fn is None else fn(chw)
            out = once()  # warm-up
            t0 = time.perf_counter()
            for _ in range(args.iterations):
                out = once()
            ms = (time.perf_counter() - t0) * 1000 / args.iterations
            shape = "x".join(str(d) for d in out.shape) if fn else "-"
            print(f"  {fmt:<6} {label:<28} {shape:>16} {ms:>10.2f} {1000 / ms:>10.1f}")


if __name__ == "__main__":
    main()
