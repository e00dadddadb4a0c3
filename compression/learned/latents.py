"""Coding the latents with the exact integer prior (numpy and the range coder, no float network):
the two checkerboard passes that encoder and decoder share (`code_latents`), the encoder's side
(`encode_latents`: latents and hyper-latent symbols -> the two coded strings) and the decoder's
(`decode_latents`: the strings -> ŷ). The float transforms around them live in `models.MSCAE`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import entropy_models as em
from .coding import Y_SYMBOL_RANGE, checkerboard
from .tables import CodingTables

# The integer prior runs in bands of this many latent rows (16 pixels each): its int64 working
# arrays then cover a band, not a large photo's whole latent grid.
BAND_ROWS = 16
QUANTISE_CHUNK = 4096  # latent positions the encoder quantises at a time (float64 temporaries)


@dataclass
class Compressed:
    strings: tuple[bytes, bytes]  # (y string, z string)
    shape: tuple[int, int]  # latent spatial shape of z
    estimated_bits: float
    symbols: tuple[np.ndarray, np.ndarray]  # (z, y) integers, as the decoder must recover them


def code_latents(tables: CodingTables, hyper: np.ndarray, code_pass, band_rows: int = None):
    """The two checkerboard passes, shared by encoder and decoder. `code_pass(positions,
    means_fx, idx)` codes (encoder) or decodes (decoder) the symbols of one whole pass (`positions`,
    a (h, w) mask, in raster order) given their integer means (units of 2^-F) and scale indexes,
    and returns them as (n, M) integers. -> (symbols int32, means_fx int16), both (h, w, M).

    The parameter networks run in bands of `band_rows` latent rows, so their int64 temporaries
    cover one band, never the image. The range coder still sees each pass as one sequence (every
    symbol of the lowest scale index first, see `entropy_models.encode_grouped`), so the files do not depend
    on the band size."""
    band_rows = int(band_rows or BAND_ROWS)
    h, w = hyper.shape[:2]
    m = tables.latent_channels
    anchors = checkerboard((h, w))
    symbols = np.zeros((h, w, m), np.int16)  # |symbol| ≤ Y_SYMBOL_RANGE
    means_fx = np.zeros((h, w, m), np.int16)  # |mean| ≤ ACT_MAX
    halo = tables.context.kernel.shape[0] // 2  # rows of anchors a band's context convolution reads
    for positions in (anchors, ~anchors):
        means = np.empty((int(positions.sum()), m), np.int16)
        idx = np.empty((int(positions.sum()), m), np.uint8)
        done = 0  # positions of this pass before the band, in raster order
        for r0 in range(0, h, band_rows):
            r1 = min(h, r0 + band_rows)
            here = positions[r0:r1]
            if positions is anchors:
                context = None  # a zero context: `params_at` leaves its products out
            else:  # the anchors are all known now: the others get their context
                lo, hi = max(0, r0 - halo), min(h, r1 + halo)
                # ŷ in units of 2^-F: |ŷ| < 2^22, so int32 is exact.
                y_hat_fx = symbols[lo:hi].astype(np.int32) * np.int32(1 << tables.mean_bits) + means_fx[lo:hi]
                # Only at this pass's positions (raster order, as `[here]` selects them).
                points = np.argwhere(here) + np.array([r0 - lo, 0])
                context = tables.context_at(y_hat_fx, anchors[lo:hi], points)[:, None]
            band = slice(done, done + int(here.sum()))
            means[band], idx[band] = tables.split(tables.params_at(hyper[r0:r1][here][:, None], context)[:, 0])
            done = band.stop
        symbols[positions] = code_pass(positions, means, idx)
        means_fx[positions] = means
        del means, idx
    return symbols.astype(np.int32), means_fx  # int32: what the symbols digest hashes


def encode_latents(tables: CodingTables, latents: np.ndarray, gain: np.ndarray, z_int: np.ndarray,
                   band_rows: int | None = None) -> Compressed:
    """latents: g_a(x) before the gain (h, w, M) float32; z_int: the hyper-latent symbols of
    latents·gain. -> the two strings, the bits the tables assign them and the symbols."""
    t = tables
    z_rows = np.broadcast_to(np.arange(z_int.shape[-1]), z_int.shape).ravel()
    z_encoder = em.new_encoder()
    z_bits = em.encode_grouped(z_encoder, z_int.ravel(), z_rows, t.z_pmf, t.z_half)
    y_encoder = em.new_encoder()
    scale = np.float64(2.0 ** -t.mean_bits)
    flat = latents.reshape(-1, latents.shape[-1])
    y_bits = 0.0

    def code_pass(positions, means_fx, idx):
        nonlocal y_bits
        sym = np.empty(means_fx.shape, np.int16)  # |symbol| ≤ Y_SYMBOL_RANGE
        where = np.flatnonzero(positions)
        for i in range(0, where.size, QUANTISE_CHUNK):
            part = slice(i, i + QUANTISE_CHUNK)
            # y·gain in float32, the difference in float64: a float32 difference could round
            # across a half, and the files depend on exactly these roundings.
            residual = flat[where[part]] * gain - means_fx[part] * scale
            sym[part] = np.clip(np.rint(residual), -Y_SYMBOL_RANGE, Y_SYMBOL_RANGE)
        y_bits += em.encode_grouped(y_encoder, sym.ravel(), idx.ravel(), t.y_pmf, Y_SYMBOL_RANGE)
        return sym

    symbols, _ = code_latents(t, t.hyper_params(z_int), code_pass, band_rows)
    strings = (em.finish(y_encoder), em.finish(z_encoder))
    return Compressed(strings, z_int.shape[:2], y_bits + z_bits, (z_int, symbols))


def decode_latents(tables: CodingTables, strings: tuple[bytes, bytes], shape: tuple[int, int],
                   band_rows: int | None = None, check=None) -> np.ndarray:
    """The inverse of `encode_latents`: (y string, z string) and z's latent shape -> ŷ (h, w, M)
    float32, before the inverse gain. `check(z_symbols, y_symbols)` may veto the decoded symbols
    (by raising)."""
    t = tables
    y_string, z_string = strings
    z_shape = (*tuple(shape), t.z_pmf.shape[0])
    z_rows = np.broadcast_to(np.arange(z_shape[-1]), z_shape).ravel()
    z_int = em.decode_grouped(em.new_decoder(z_string, "hyper-latent"), z_rows, t.z_pmf, t.z_half,
                              "hyper-latent").reshape(z_shape)
    y_decoder = em.new_decoder(y_string, "latent")

    def code_pass(positions, means_fx, idx):
        return em.decode_grouped(y_decoder, idx.ravel(), t.y_pmf, Y_SYMBOL_RANGE, "latent").reshape(idx.shape)

    symbols, means_fx = code_latents(t, t.hyper_params(z_int), code_pass, band_rows)
    if check is not None:
        check(z_int, symbols)
    # float32 holds symbol + mean·2^-F exactly (fewer than 24 significant bits).
    y_hat = symbols.astype(np.float32)
    del symbols
    y_hat += means_fx * np.float32(2.0 ** -t.mean_bits)
    return y_hat
