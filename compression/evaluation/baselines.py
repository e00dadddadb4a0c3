"""The paper's two classical baselines as real codecs: bytes out, a decodable image back.

* `PcaCodec` — a block transform codec whose transform is learned per image by PCA
  (scikit-learn): the image goes to YCbCr (JPEG's full-range BT.601 matrix), chroma is
  subsampled 2×2 (as JPEG's 4:2:0), each plane is cut into b×b blocks, PCA is fitted on each
  plane's blocks, the coefficients are uniformly quantised and the basis, the mean and the
  quantised coefficients are stored — the file is self-contained, so the basis is paid for in
  bytes like everything else. Quality sets the quantiser step (log scale, 128 at 0 … 1 at 100);
  components whose standard deviation is below `keep` × step (they would quantise to almost
  nothing) are dropped, which saves their basis vectors; `components=` fixes the count instead.
* `KMeansCodec` — colour quantisation with `MiniBatchKMeans` (scikit-learn): the palette and the
  per-pixel indices are written as an indexed ("P" mode) PNG, so any viewer opens the file.
  Quality sets the number of colours k (2 at 0 … 256 at 100, log scale); `colors=` fixes it.

scikit-learn runs single-threaded here (`threadpool_limits(1)`): on a small shared machine its
OpenMP/BLAS threads oversubscribe the cores and a 128×128 K-Means fit went from 0.1 s to 2–5 s.

Both implement `compression.base.Codec`, so the evaluator measures them exactly like the others;
neither is registered in `compression.registry` — they are yardsticks, not production choices.
"""
from __future__ import annotations

import io
import lzma
import math
import struct
import zlib

import numpy as np
from PIL import Image
from threadpoolctl import threadpool_limits

from compression.base import Codec, CodecError

# Decoders refuse anything bigger: a hostile header must not make us allocate gigabytes.
MAX_PIXELS = 100_000_000


def _rgb_array(image: Image.Image, codec: Codec) -> np.ndarray:
    if not isinstance(image, Image.Image):
        raise CodecError(f"{codec.label} encodes a PIL image, got {type(image).__name__}.")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        raise CodecError(f"{codec.label} stores RGB only; this image has transparency.")
    arr = np.asarray(image.convert("RGB"))
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise CodecError(f"{codec.label} cannot encode an empty image ({image.width}×{image.height}).")
    return arr


# --- PCA ------------------------------------------------------------------------------------------

_RGB_TO_YCC = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
)
_YCC_TO_RGB = np.linalg.inv(_RGB_TO_YCC)
_YCC_OFFSET = np.array([0.0, 128.0, 128.0])

_PCA_MAGIC = b"PCB1"
# magic, width, height, block, flags, step, chroma step factor
_PCA_HEADER = struct.Struct("<4sIIBBff")
_PLANE_HEADER = struct.Struct("<HB")  # components kept, bytes per coefficient
_FLAG_SUBSAMPLED = 1
_FLAG_LZMA = 2  # else zlib
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
_DTYPES = {1: np.int8, 2: np.int16, 4: np.int32}


def _to_blocks(plane: np.ndarray, b: int) -> np.ndarray:
    h, w = plane.shape
    ph, pw = -(-h // b) * b, -(-w // b) * b
    # Edge padding: the padded pixels cost almost nothing and are cropped on decode.
    plane = np.pad(plane, ((0, ph - h), (0, pw - w)), mode="edge")
    return plane.reshape(ph // b, b, pw // b, b).transpose(0, 2, 1, 3).reshape(-1, b * b)


def _from_blocks(blocks: np.ndarray, b: int, h: int, w: int) -> np.ndarray:
    ph, pw = -(-h // b) * b, -(-w // b) * b
    plane = blocks.reshape(ph // b, pw // b, b, b).transpose(0, 2, 1, 3).reshape(ph, pw)
    return plane[:h, :w]


def _subsample(plane: np.ndarray) -> np.ndarray:
    h, w = plane.shape
    plane = np.pad(plane, ((0, h % 2), (0, w % 2)), mode="edge")
    return (plane[0::2, 0::2] + plane[1::2, 0::2] + plane[0::2, 1::2] + plane[1::2, 1::2]) / 4.0


def _upsample(plane: np.ndarray, h: int, w: int) -> np.ndarray:
    ch, cw = plane.shape
    # Bilinear on the 2× grid (sample centres aligned), the way JPEG decoders do "fancy upsampling".
    img = Image.fromarray(plane.astype(np.float32), "F").resize((cw * 2, ch * 2), Image.BILINEAR)
    return np.asarray(img, dtype=np.float64)[:h, :w]


def _smallest_int_dtype(q: np.ndarray) -> int:
    lo, hi = (int(q.min()), int(q.max())) if q.size else (0, 0)
    for nbytes in (1, 2, 4):
        info = np.iinfo(_DTYPES[nbytes])
        if info.min <= lo and hi <= info.max:
            return nbytes
    raise CodecError("PCA coefficients out of range; use a larger quantiser step (lower quality).")


class PcaCodec(Codec):
    name = "pca"
    label = "PCA (block transform)"
    media_type = "application/x-pca-blocks"
    extension = "pcab"
    quality_range = (0, 100)
    default_quality = 50

    def __init__(self, *, block: int | None = None, subsample_chroma: bool = True,
                 chroma_step: float = 1.0, keep: float = 0.5):
        # block=None: 8×8 blocks, or 4×4 on images under 64 px a side (a 64-dim basis per
        # plane would outweigh a thumbnail's coefficients).
        self.block, self.subsample_chroma = block, subsample_chroma
        self.chroma_step, self.keep = float(chroma_step), float(keep)

    @staticmethod
    def step_for(quality: float) -> float:
        return float(128.0 ** (1.0 - quality / 100.0))

    def _block_for(self, width: int, height: int, block: int | None) -> int:
        b = block or self.block or (8 if min(width, height) >= 64 else 4)
        if not isinstance(b, int) or not 2 <= b <= 32:
            raise CodecError(f"PCA block size {b!r} is not supported; use 2–32.")
        return b

    def encode(self, image, *, quality=None, fast=False, components: int | None = None,
               step: float | None = None, block: int | None = None) -> bytes:
        with threadpool_limits(limits=1):
            return self._encode(image, quality=quality, components=components, step=step, block=block)

    def _encode(self, image, *, quality, components, step, block) -> bytes:
        from sklearn.decomposition import PCA

        arr = _rgb_array(image, self).astype(np.float64)
        h, w = arr.shape[:2]
        b = self._block_for(w, h, block)
        if step is None:
            step = self.step_for(self.checked_quality(quality))
        step = float(step)
        if not math.isfinite(step) or step <= 0:
            raise CodecError(f"PCA quantiser step {step!r} must be a positive number.")
        if components is not None and (not isinstance(components, int) or components < 1):
            raise CodecError(f"PCA components {components!r} must be a positive integer.")

        ycc = arr @ _RGB_TO_YCC.T + _YCC_OFFSET
        planes = [ycc[..., 0], ycc[..., 1], ycc[..., 2]]
        if self.subsample_chroma:
            planes[1:] = [_subsample(p) for p in planes[1:]]

        plane_headers, body = [], []
        for index, plane in enumerate(planes):
            plane_step = step * (self.chroma_step if index else 1.0)
            blocks = _to_blocks(plane, b)
            d = blocks.shape[1]
            n_fit = min(d, blocks.shape[0])
            pca = PCA(n_components=n_fit, svd_solver="covariance_eigh").fit(blocks)
            if components is not None:
                k = min(components, n_fit)
            else:
                k = int(np.sum(np.sqrt(pca.explained_variance_) >= self.keep * plane_step))
            mean = pca.mean_.astype(np.float16)
            basis = pca.components_[:k].astype(np.float16)
            # Project with the pseudo-inverse of the *stored* (float16) basis, so the decoder's
            # reconstruction is the least-squares fit it can actually make.
            centred = blocks - mean.astype(np.float64)
            coeffs = centred @ np.linalg.pinv(basis.astype(np.float64)) if k else np.zeros((len(blocks), 0))
            q = np.rint(coeffs / plane_step).astype(np.int64)
            nbytes = _smallest_int_dtype(q)
            plane_headers.append(_PLANE_HEADER.pack(k, nbytes))
            # Component-major: each component's coefficients sit together, which lzma likes.
            body += [mean.tobytes(), basis.tobytes(), np.ascontiguousarray(q.T).astype(_DTYPES[nbytes]).tobytes()]

        raw = b"".join(body)
        packed_lzma = lzma.compress(raw, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
        # zlib only wins on thumbnails (a few hundred bytes); on photos it just costs time.
        packed_zlib = zlib.compress(raw, 9) if len(raw) < 65536 else None
        use_lzma = packed_zlib is None or len(packed_lzma) < len(packed_zlib)
        flags = (_FLAG_SUBSAMPLED if self.subsample_chroma else 0) | (_FLAG_LZMA if use_lzma else 0)
        header = _PCA_HEADER.pack(_PCA_MAGIC, w, h, b, flags, step, self.chroma_step)
        return header + b"".join(plane_headers) + (packed_lzma if use_lzma else packed_zlib)

    @staticmethod
    def info(data: bytes) -> dict:
        """The parameters a file was made with: block, step and components kept per plane."""
        header, planes, _ = _parse_pca(data)
        _, w, h, b, flags, step, _ = header
        return {"block": b, "step": round(step, 4), "components": [k for k, _ in planes],
                "chroma": "4:2:0" if flags & _FLAG_SUBSAMPLED else "4:4:4"}

    def decode(self, data: bytes) -> Image.Image:
        header, planes, payload = _parse_pca(data)
        _, w, h, b, flags, step, chroma_step = header
        d = b * b
        shapes = [(h, w)] + [((h + 1) // 2, (w + 1) // 2) if flags & _FLAG_SUBSAMPLED else (h, w)] * 2
        n_blocks = [(-(-ph // b)) * (-(-pw // b)) for ph, pw in shapes]
        expected = sum(2 * d + 2 * k * d + nb * k * nbytes for (k, nbytes), nb in zip(planes, n_blocks))
        try:
            if flags & _FLAG_LZMA:
                dec = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
                raw = dec.decompress(payload, max_length=expected + 1)
            else:
                raw = zlib.decompressobj().decompress(payload, expected + 1)
        except (lzma.LZMAError, zlib.error) as exc:
            raise CodecError(f"PCA file is corrupt: {exc}") from None
        if len(raw) != expected:
            raise CodecError(f"PCA file is corrupt: payload has {len(raw)} bytes, expected {expected}.")

        out, pos = [], 0
        for index, ((k, nbytes), nb, (ph, pw)) in enumerate(zip(planes, n_blocks, shapes)):
            mean = np.frombuffer(raw, np.float16, d, pos).astype(np.float64)
            pos += 2 * d
            basis = np.frombuffer(raw, np.float16, k * d, pos).astype(np.float64).reshape(k, d)
            pos += 2 * k * d
            q = np.frombuffer(raw, _DTYPES[nbytes], nb * k, pos).astype(np.float64).reshape(k, nb).T
            pos += nb * k * nbytes
            plane_step = step * (chroma_step if index else 1.0)
            blocks = (q * plane_step) @ basis + mean
            out.append(_from_blocks(blocks, b, ph, pw))
        if not np.all([np.all(np.isfinite(p)) for p in out]):
            raise CodecError("PCA file is corrupt: non-finite values.")
        if flags & _FLAG_SUBSAMPLED:
            out[1:] = [_upsample(p, h, w) for p in out[1:]]
        ycc = np.stack(out, axis=-1)
        rgb = (ycc - _YCC_OFFSET) @ _YCC_TO_RGB.T
        return Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB")


def _parse_pca(data: bytes):
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CodecError(f"PCA decoder takes bytes, got {type(data).__name__}.")
    data = bytes(data)
    if len(data) < _PCA_HEADER.size + 3 * _PLANE_HEADER.size or data[:4] != _PCA_MAGIC:
        raise CodecError("Not a PCA block file (bad magic or truncated header).")
    header = _PCA_HEADER.unpack_from(data)
    _, w, h, b, flags, step, chroma_step = header
    if not (0 < w and 0 < h and w * h <= MAX_PIXELS and 2 <= b <= 32):
        raise CodecError(f"PCA file has an unsupported geometry: {w}×{h}, block {b}.")
    if not (math.isfinite(step) and step > 0 and math.isfinite(chroma_step) and chroma_step > 0):
        raise CodecError(f"PCA file has an invalid quantiser step {step!r}.")
    planes, pos = [], _PCA_HEADER.size
    for _ in range(3):
        k, nbytes = _PLANE_HEADER.unpack_from(data, pos)
        pos += _PLANE_HEADER.size
        if nbytes not in _DTYPES or k > b * b:
            raise CodecError(f"PCA file is corrupt: {k} components of {nbytes} bytes.")
        planes.append((k, nbytes))
    return header, planes, data[pos:]


# --- K-Means --------------------------------------------------------------------------------------


class KMeansCodec(Codec):
    name = "kmeans"
    label = "K-Means colour quantisation"
    media_type = "image/png"
    extension = "png"
    quality_range = (0, 100)
    default_quality = 50

    def __init__(self, *, sample: int = 20_000, seed: int = 0):
        # The palette is fitted on a random sample of pixels (fast, and k-means on 20k points
        # finds the same palette as on 400k within noise); every pixel is then assigned.
        self.sample, self.seed = int(sample), int(seed)

    @staticmethod
    def colors_for(quality: float) -> int:
        return int(min(256, max(2, round(2.0 ** (1.0 + 7.0 * quality / 100.0)))))

    def encode(self, image, *, quality=None, fast=False, colors: int | None = None) -> bytes:
        with threadpool_limits(limits=1):
            return self._encode(image, quality=quality, colors=colors)

    def _encode(self, image, *, quality, colors) -> bytes:
        from sklearn.cluster import MiniBatchKMeans
        from sklearn.metrics import pairwise_distances_argmin

        arr = _rgb_array(image, self)
        h, w = arr.shape[:2]
        k = self.colors_for(self.checked_quality(quality)) if colors is None else colors
        if not isinstance(k, (int, np.integer)) or not 1 <= k <= 256:
            raise CodecError(f"K-Means colours {k!r} must be an integer 1–256 (a PNG palette).")
        pixels = arr.reshape(-1, 3)
        distinct = np.unique(pixels, axis=0)
        if len(distinct) <= k:
            # Fewer colours than clusters: the exact palette is the optimum, no fitting needed.
            palette = distinct.astype(np.uint8)
            labels = pairwise_distances_argmin(pixels.astype(np.float32), palette.astype(np.float32))
        else:
            rng = np.random.default_rng(self.seed)
            n = min(self.sample, len(pixels))
            sample = pixels[rng.choice(len(pixels), n, replace=False)].astype(np.float32)
            km = MiniBatchKMeans(n_clusters=int(k), random_state=self.seed, batch_size=2048,
                                 n_init=3, max_iter=100).fit(sample)
            palette = np.clip(np.rint(km.cluster_centers_), 0, 255).astype(np.uint8)
            labels = km.predict(pixels.astype(np.float32))
            # Drop palette entries no pixel uses: a shorter palette can mean fewer bits per index.
            used, labels = np.unique(labels, return_inverse=True)
            palette = palette[used]
        indexed = Image.fromarray(labels.reshape(h, w).astype(np.uint8), "P")
        indexed.putpalette(palette.astype(np.uint8).reshape(-1).tobytes(), rawmode="RGB")
        buf = io.BytesIO()
        indexed.save(buf, format="PNG", optimize=True)
        return buf.getvalue()

    @staticmethod
    def info(data: bytes) -> dict:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
            return {"colors": len(im.getpalette() or []) // 3}

    def decode(self, data: bytes) -> Image.Image:
        try:
            with Image.open(io.BytesIO(bytes(data)), formats=["PNG"]) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise CodecError(f"K-Means PNG is too large: {im.width}×{im.height}.")
                im.load()
                return im.convert("RGB")
        except CodecError:
            raise
        except Exception as exc:
            raise CodecError(f"Could not decode K-Means PNG: {exc}") from None


BASELINES = {"pca": PcaCodec, "kmeans": KMeansCodec}
