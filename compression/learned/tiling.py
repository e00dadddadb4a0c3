"""Running the float transforms on a photo of any size in bounded memory, with the results the
whole photo in one piece gives: `run_tiled` (tiles with a halo of context: g_s, h_a), `run_rows`
(a stack of convolutions in bands of rows, layer after layer) and `run_strips` (column strips,
each through `run_rows`: g_a). What the sizes below cost and save, measured on Kodak and on 4- and
24-megapixel photos: docs/benchmarks/learned_codec_notes.md.
"""
from __future__ import annotations

import numpy as np

from keras import layers, ops

# g_s runs on tiles of TILE_SIZE pixels with TILE_HALO pixels of context on every side, so memory
# stays flat for any photo size. The halo exceeds both transforms' receptive fields (61 px for
# g_a: four 5×5 stride-2 layers; about ±3 latents = ±48 px for g_s), so tiled results equal
# whole-image ones up to float rounding; multiples of 16 keep every tile on the transforms' stride
# grid. TensorFlow keeps the working memory of the largest tile it has run, so the tile size sets
# most of the coder's memory; the halo makes smaller tiles cost more compute.
TILE_SIZE = 384
TILE_HALO = 64
# h_a runs on tiles of HYPER_TILE latents with HYPER_HALO latents of context (its receptive field
# is under ±8 latents); multiples of 4 keep the tiles on its stride grid.
HYPER_TILE = 128
HYPER_HALO = 16
# g_a runs on strips of ANALYSIS_STRIP columns (TILE_HALO columns of context on either side), each
# in bands of rows, layer after layer: no rows of context are computed twice. Each call of a layer
# reads or writes at most about ANALYSIS_CALL_ELEMENTS float32 values, which bounds TensorFlow's
# kept working memory as the tile size does. g_s is not run this way: its float results change
# with the extent of a call, and its tiles keep the decoded pixels exactly as they are.
ANALYSIS_STRIP = 1024
ANALYSIS_CALL_ELEMENTS = 1 << 21


def run_tiled(fn, x: np.ndarray, *, scale: tuple[int, int], tile: int, halo: int) -> np.ndarray:
    """Apply a fully convolutional `fn` ((1, h, w, C) -> (1, h·a/b, w·a/b, C')) with
    scale = (a, b) to x (H, W, C) tile by tile: each tile of `tile` input pixels is computed
    with `halo` pixels of context around it and only its own part of the output is kept."""
    a, b = scale
    h, w = x.shape[:2]
    if h <= tile + 2 * halo and w <= tile + 2 * halo:
        return ops.convert_to_numpy(fn(x[None]))[0]
    out = None
    for r0 in range(0, h, tile):
        for c0 in range(0, w, tile):
            r1, c1 = min(h, r0 + tile), min(w, c0 + tile)
            wr0, wc0 = max(0, r0 - halo), max(0, c0 - halo)
            window = ops.convert_to_numpy(fn(x[None, wr0 : min(h, r1 + halo), wc0 : min(w, c1 + halo)]))[0]
            if out is None:
                out = np.empty((h * a // b, w * a // b, window.shape[-1]), window.dtype)
            part = window[(r0 - wr0) * a // b : (r1 - wr0) * a // b, (c0 - wc0) * a // b : (c1 - wc0) * a // b]
            out[r0 * a // b : r1 * a // b, c0 * a // b : c1 * a // b] = part
    return out


def _stream_conv(conv, pointwise, chunks, n: int, budget: int):
    """One stage of `run_rows`: `conv` (a Keras Conv2D, 'same' padding, stride s) then the
    `pointwise` layers, over input rows that arrive in order as `chunks` ((r, W, C) arrays, n rows
    in all) -> yields its output rows in order, in bands.

    TensorFlow's SAME padding of a stride-s, k-tap convolution over a length that is a multiple of
    s pads (k − s) // 2 = pt zeros before and the rest after, so output row i reads input rows
    s·i − pt … s·i − pt + k − 1. A band of outputs [o0, o1) is computed from the input rows
    [s0, s1) that it reads, s0 and s1 rounded to multiples of s: the band's own SAME padding then
    falls exactly where the image's does (at its first and last rows), and elsewhere every output
    kept reads only real rows, the same ones as in the whole image. The outputs computed past
    either end of the band (at most ⌈(k − s)/s⌉ rows) are dropped."""
    (k, _), (s, _) = conv.kernel_size, conv.strides
    if conv.padding != "same" or n % s or k < s:
        raise ValueError(f"run_rows: unsupported layer {conv.name}")
    pt, n_out = (k - s) // 2, n // s
    buf, buf_start, avail, done = None, 0, 0, 0
    for chunk in _with_end(chunks):
        if chunk is not None:
            buf = chunk if buf is None else np.concatenate([buf, chunk])
            avail += len(chunk)
        width = buf.shape[1]
        rows_per_call = max(1, budget // max(s * width * buf.shape[2], width // s * conv.filters))
        while done < n_out:
            ready = n_out if avail == n else min(n_out, max(0, (avail - k + pt) // s + 1))
            if ready - done < rows_per_call and not (avail == n and ready > done):
                break
            o1 = min(ready, done + rows_per_call)
            s0 = max(0, s * done - pt) // s * s
            s1 = min(n, -(-(s * (o1 - 1) - pt + k) // s) * s)
            out = conv(buf[None, s0 - buf_start : s1 - buf_start], training=False)
            out = out[:, done - s0 // s : o1 - s0 // s]
            for layer in pointwise:
                out = layer(out, training=False)
            yield ops.convert_to_numpy(out)[0]
            done = o1
            keep = max(0, s * done - pt) // s * s  # the next band's first input row
            buf, buf_start = buf[keep - buf_start :], keep


def _with_end(iterator):
    yield from iterator
    yield None


def run_rows(stack, x: np.ndarray, prepare, budget: int | None = None) -> np.ndarray:
    """A stack of 'same' Conv2D layers, each followed by pointwise layers (GDN), applied to x
    (H, W, C) in full-width bands of rows, layer after layer, each layer's input rows kept only
    until its bands no longer read them (see `_stream_conv`). Every output is computed from the
    same input values as in one piece; unlike tiles no context is computed twice. `prepare` maps
    rows of x to the first layer's input (elementwise)."""
    budget = int(budget or ANALYSIS_CALL_ELEMENTS)
    stages = []
    for layer in stack:
        if isinstance(layer, layers.Conv2D):
            stages.append((layer, []))
        elif stages:
            stages[-1][1].append(layer)
        else:
            raise ValueError(f"run_rows: {layer.name} before the first convolution")
    first = max(1, budget // max(1, x.shape[1] * x.shape[2]))
    chunks = (prepare(x[r : r + first]) for r in range(0, x.shape[0], first))
    n = x.shape[0]
    for conv, pointwise in stages:
        chunks, n = _stream_conv(conv, pointwise, chunks, n, budget), n // conv.strides[0]
    out, r = None, 0
    for chunk in chunks:
        if out is None:
            out = np.empty((n, *chunk.shape[1:]), chunk.dtype)
        out[r : r + len(chunk)], r = chunk, r + len(chunk)
    return out


def run_strips(stack, x: np.ndarray, prepare, stride: int) -> np.ndarray:
    """`run_rows(stack, ...)` on strips of ANALYSIS_STRIP columns of x, full height, each with
    TILE_HALO columns (more than g_a's receptive field) of context on either side, so each strip's
    own outputs are the whole image's. `stride`: the stack's downsampling (16 for g_a); the strips
    are multiples of it."""
    h, w = x.shape[:2]
    out = None
    for c0 in range(0, w, ANALYSIS_STRIP):
        c1 = min(w, c0 + ANALYSIS_STRIP)
        wc0, wc1 = max(0, c0 - TILE_HALO), min(w, c1 + TILE_HALO)
        part = run_rows(stack, x[:, wc0:wc1], prepare)
        if out is None:
            out = np.empty((h // stride, w // stride, part.shape[-1]), part.dtype)
        out[:, c0 // stride : c1 // stride] = part[:, (c0 - wc0) // stride : (c1 - wc0) // stride]
    return out
