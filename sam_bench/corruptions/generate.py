"""The 15 corruptions made from clean images as Hendrycks and Dietterich's `make_cifar_c.py` makes them, over a block
of images at once, random draws seeded per block of `DRAW_BLOCK` images (`BlockDraws`): docs/evaluation.md says how,
and where the set differs from the official one; each substitute is said at its function."""

from __future__ import annotations

import io
from functools import cache, lru_cache
from typing import Literal

import numpy as np
from PIL import Image
from scipy import ndimage, sparse

from sam_bench.corruptions.catalogue import CORRUPTIONS, check_corruption, check_severity

GENERATOR = "sam-bench-cifar-c/1"  # recorded with every generated set: a change of any draw changes it
DRAW_BLOCK = 500  # images per seeded block of random draws
SIZE = 32


def corrupt(images: np.ndarray, corruption: str, severity: int, seed: int = 0, start: int = 0) -> np.ndarray:
    """`images` (uint8, N x 32 x 32 x 3), test images `start` .. `start + N - 1`, corrupted: uint8 of the same
    shape. Deterministic in (seed, corruption, severity, image index)."""
    check_corruption(corruption)
    severity = check_severity(severity)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (SIZE, SIZE, 3):
        raise ValueError(f"corrupt takes uint8 images of shape N x 32 x 32 x 3, got {images.dtype} {images.shape}")
    out = np.empty_like(images)
    function = FUNCTIONS[corruption]
    first_block, end = start // DRAW_BLOCK, start + len(images)
    for block in range(first_block, (end + DRAW_BLOCK - 1) // DRAW_BLOCK):
        lo, hi = max(start, block * DRAW_BLOCK), min(end, (block + 1) * DRAW_BLOCK)
        rng = np.random.default_rng([seed, CORRUPTIONS.index(corruption), severity, block])
        draws = BlockDraws(rng, lo - block * DRAW_BLOCK, hi - lo)
        out[lo - start : hi - start] = function(images[lo - start : hi - start], severity - 1, draws)
    return out


class BlockDraws:
    """A block's random draws, made for all DRAW_BLOCK images of the block and handed out for the `n` of them
    from `offset` on: every draw's first axis is the image. The pixels of image i are the same whether it is
    corrupted alone, in a chunk, or with its whole block, at the cost of the draws alone."""

    def __init__(self, rng: np.random.Generator, offset: int, n: int):
        self.rng, self.offset, self.n = rng, offset, n

    def _ours(self, draw, size):
        size = (size,) if isinstance(size, int) else tuple(size)
        if size[0] != self.n:
            raise ValueError(f"a block's draws are per image: first axis {size[0]}, expected {self.n}")
        return draw((DRAW_BLOCK, *size[1:]))[self.offset : self.offset + self.n]

    def normal(self, loc=0.0, scale=1.0, size=1):
        return self._ours(lambda full: self.rng.normal(loc, scale, full), size)

    def uniform(self, low=0.0, high=1.0, size=1):
        return self._ours(lambda full: self.rng.uniform(low, high, full), size)

    def random(self, size=1):
        return self._ours(self.rng.random, size)

    def integers(self, low, high, size=1):
        return self._ours(lambda full: self.rng.integers(low, high, full), size)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """Theirs: `np.uint8(np.clip(x, 0, 1) * 255)`, truncating."""
    return (np.clip(x, 0, 1) * 255).astype(np.uint8)


def _float(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float64) / 255.0


def gaussian_noise(images, s, rng):
    c = (0.04, 0.06, 0.08, 0.09, 0.10)[s]
    x = _float(images)
    return _to_uint8(x + rng.normal(scale=c, size=x.shape))


def shot_noise(images, s, rng):
    """Poisson(x c) / c, each image from a generator of its own (numpy's Poisson sampler takes as many draws as
    each rate needs: one stream for the block would tie an image's noise to its neighbours' pixels)."""
    c = (500, 250, 100, 75, 50)[s]
    x = _float(images)
    seeds = rng.integers(0, 2**63, size=len(x))
    counts = np.stack([np.random.default_rng(seed).poisson(image * c) for seed, image in zip(seeds, x)])
    return _to_uint8(counts / c)


def impulse_noise(images, s, rng):
    """scikit-image's `random_noise(mode='s&p')`: each value flipped with probability `amount`, to 1 or 0
    with equal chance."""
    amount = (0.01, 0.02, 0.03, 0.05, 0.07)[s]
    x = _float(images)
    flipped = rng.random(x.shape) <= amount
    salted = rng.random(x.shape) <= 0.5
    return _to_uint8(np.where(flipped, salted.astype(np.float64), x))


def _gaussian(x: np.ndarray, sigma: float, mode: Literal["nearest", "reflect"] = "nearest", truncate: float = 4.0):
    """scikit-image's `gaussian` (multichannel) over the two spatial axes of N x H x W (x C) images."""
    sigmas = (0, sigma, sigma) + ((0,) if x.ndim == 4 else ())
    return ndimage.gaussian_filter(x, sigmas, mode=mode, truncate=truncate)


@cache
def _disk(radius: float, alias_blur: float) -> np.ndarray:
    """Theirs: an aliased disk on a 17 x 17 grid, normalised, smoothed by OpenCV's 3 x 3 Gaussian (border
    reflect-101), trimmed to its non-zero support (the same filter, fewer multiplications)."""
    grid = np.arange(-8, 9)
    xx, yy = np.meshgrid(grid, grid)
    disk = (xx**2 + yy**2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    taps = np.exp(-(np.arange(-1, 2) ** 2) / (2 * alias_blur**2))
    taps /= taps.sum()
    smooth = ndimage.correlate1d(ndimage.correlate1d(disk, taps, axis=0, mode="mirror"), taps, axis=1, mode="mirror")
    rows, cols = np.nonzero(smooth > 0)
    return smooth[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def defocus_blur(images, s, rng):
    radius, alias_blur = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1))[s]
    kernel = _disk(radius, alias_blur)
    # OpenCV's filter2D: a correlation, border reflect-101 (scipy's "mirror"); the kernel is symmetric
    return _to_uint8(ndimage.correlate(_float(images), kernel[None, :, :, None], mode="mirror"))


def glass_blur(images, s, rng):
    """Blur, then every pixel from (31, 31) down to (2, 2), row by row, swapped with a neighbour at offsets
    drawn from {-1, 0} (theirs: `randint(-1, 1)`), `iterations` times, then blur again."""
    sigma, delta, iterations = ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2))[s]
    x = _to_uint8(_gaussian(_float(images), sigma))
    n = len(x)
    every = np.arange(n)
    positions = range(SIZE - delta, delta, -1)
    draws = rng.integers(-delta, delta, size=(n, iterations, len(positions), len(positions), 2))
    for i in range(iterations):
        for a, h in enumerate(positions):
            for b, w in enumerate(positions):
                dx, dy = draws[:, i, a, b, 0], draws[:, i, a, b, 1]
                h2, w2 = h + dy, w + dx
                here, there = x[every, h, w].copy(), x[every, h2, w2]
                x[every, h, w] = there
                x[every, h2, w2] = here
    return _to_uint8(_gaussian(x / 255.0, sigma))


@cache
def _motion_taps(radius: float, sigma: float) -> np.ndarray:
    """ImageMagick's MotionBlurImage weights: a one-sided Gaussian over 2 x floor(radius) + 1 taps, normalised."""
    width = 2 * int(radius) + 1
    taps = np.exp(-(np.arange(width) ** 2) / (2.0 * sigma**2))
    return taps / taps.sum()


def _motion(x: np.ndarray, radius: float, sigma: float, angles: np.ndarray) -> np.ndarray:
    """Motion blur of N x H x W x C images, each along its own angle (degrees): tap i reads the pixel
    i x (cos a, sin a) away, rounded as ImageMagick rounds its offsets, edge pixels repeated outside."""
    taps = _motion_taps(radius, sigma)
    n, height, width_px = x.shape[:3]
    pad = len(taps)
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    order = np.argsort(angles, kind="stable")  # images in order of angle: a tap's offset changes in few places
    padded, radians = padded[order], np.deg2rad(angles[order])
    out = np.zeros(x.shape, np.float64)
    for i, weight in enumerate(taps):
        # ImageMagick: point = width * (sin a, cos a); offset_i = ceil(i * (point.y, point.x) / |point| - 0.5)
        ox = np.ceil(i * np.cos(radians) - 0.5).astype(int)
        oy = np.ceil(i * np.sin(radians) - 0.5).astype(int)
        edges = np.flatnonzero((np.diff(ox) != 0) | (np.diff(oy) != 0)) + 1
        for lo, hi in zip([0, *edges], [*edges, n]):  # a run of images reading this tap at the same offset
            dy, dx = oy[lo], ox[lo]
            out[lo:hi] += weight * padded[lo:hi, pad + dy : pad + dy + height, pad + dx : pad + dx + width_px]
    unsorted = np.empty_like(out)
    unsorted[order] = out
    return unsorted


def motion_blur(images, s, rng):
    """Substitute for ImageMagick's motion blur (theirs goes through Wand): its kernel reimplemented, applied to
    the uint8 image and rounded back, as ImageMagick returns an 8-bit PNG."""
    radius, sigma = ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5))[s]
    angles = rng.uniform(-45, 45, size=len(images))
    out = _motion(images.astype(np.float64), radius, sigma, angles)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@cache
def _zoom_matrix(factor: float) -> np.ndarray:
    """Theirs `clipped_zoom` along one axis as a 32 x 32 matrix: the central ceil(32 / factor) pixels zoomed
    by scipy's `zoom(order=1)` and the centre 32 kept (order 1 is separable: rows and columns each)."""
    crop = int(np.ceil(SIZE / factor))
    top = (SIZE - crop) // 2
    zoomed = ndimage.zoom(np.eye(crop), (factor, 1), order=1)
    trim = (zoomed.shape[0] - SIZE) // 2
    matrix = np.zeros((SIZE, SIZE))
    matrix[:, top : top + crop] = zoomed[trim : trim + SIZE]
    return matrix


@cache
def _zoom_blur_operator(s: int) -> sparse.csr_matrix:
    """The average of the image and its zooms by 1, 1.01, ..., as one linear map on 1,024 pixels (sparse: an
    output pixel reads the few pixels between it and the centre)."""
    top = (1.06, 1.11, 1.16, 1.21, 1.26)[s]
    factors = np.arange(1, top, 0.01)
    total = np.eye(SIZE * SIZE)
    for factor in factors:
        m = _zoom_matrix(float(factor))
        total = total + np.kron(m, m)
    return sparse.csr_matrix(total / (len(factors) + 1))


def zoom_blur(images, s, rng):
    """The average of the image and its zooms, as one sparse matrix product in float64; values are rounded to
    1e-6 of a grey level before theirs truncation to uint8, so that the last bits of a sum (which an order of
    additions may change) never move a pixel to the next level."""
    n = len(images)
    x = images.astype(np.float64).reshape(n, SIZE * SIZE, 3).transpose(1, 0, 2).reshape(SIZE * SIZE, n * 3)
    out = (_zoom_blur_operator(s) @ x).reshape(SIZE * SIZE, n, 3).transpose(1, 0, 2).reshape(images.shape)
    return np.clip(np.round(out, 6), 0, 255).astype(np.uint8)


def snow(images, s, rng):
    """Theirs, with the snow layer's motion blur by the substitute kernel of `motion_blur`."""
    loc, scale, zoom, threshold, radius, sigma, blend = (
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    )[s]
    x = images.astype(np.float32) / 255.0
    n = len(x)
    layer = rng.normal(loc, scale, size=(n, SIZE, SIZE))
    m = _zoom_matrix(float(zoom))  # theirs `clipped_zoom`: the layer zoomed about its centre, columns then rows
    layer = np.einsum("ij,nj...->ni...", m, np.einsum("kl,nil...->nik...", m, layer))
    layer[layer < threshold] = 0
    layer = (np.clip(layer, 0, 1) * 255).astype(np.uint8)  # theirs: an 8-bit PNG for ImageMagick
    angles = rng.uniform(-135, -45, size=n)
    layer = np.clip(np.rint(_motion(layer[..., None].astype(np.float64), radius, sigma, angles)), 0, 255) / 255.0
    grey = x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114  # OpenCV's RGB2GRAY weights
    x = blend * x + (1 - blend) * np.maximum(x, grey[..., None] * 1.5 + 0.5)
    return _to_uint8(x + layer + layer[:, ::-1, ::-1])


def _plasma_fractal(n: int, rng: np.random.Generator, wibbledecay: float, mapsize: int = SIZE) -> np.ndarray:
    """Theirs (diamond-square after FLHerne/mapgen) for N maps at once, each scaled to [0, 1]."""
    maps = np.zeros((n, mapsize, mapsize))
    step, wibble = mapsize, 100.0

    def wibbled_mean(a):
        return a / 4 + wibble * rng.uniform(-wibble, wibble, a.shape)

    while step >= 2:
        half = step // 2
        corners = maps[:, 0:mapsize:step, 0:mapsize:step]
        square = corners + np.roll(corners, -1, axis=1)
        square = square + np.roll(square, -1, axis=2)
        maps[:, half:mapsize:step, half:mapsize:step] = wibbled_mean(square)
        down_right = maps[:, half:mapsize:step, half:mapsize:step]
        up_left = maps[:, 0:mapsize:step, 0:mapsize:step]
        left = down_right + np.roll(down_right, 1, axis=1) + up_left + np.roll(up_left, -1, axis=2)
        maps[:, 0:mapsize:step, half:mapsize:step] = wibbled_mean(left)
        top = down_right + np.roll(down_right, 1, axis=2) + up_left + np.roll(up_left, -1, axis=1)
        maps[:, half:mapsize:step, 0:mapsize:step] = wibbled_mean(top)
        step //= 2
        wibble /= wibbledecay
    maps -= maps.min(axis=(1, 2), keepdims=True)
    return maps / maps.max(axis=(1, 2), keepdims=True)


@lru_cache(maxsize=1)
def _frost_textures() -> np.ndarray:
    """Substitute for their frost photographs (not available here): five procedural 96 x 96 RGB textures
    (uint8), each a plasma-fractal haze with bright crystal streaks (sparse points smeared along random
    directions by the motion-blur kernel), tinted pale blue. Theirs, scaled by 0.2, are about 100-200 pixels
    a side; a random 32 x 32 crop is taken from either."""
    rng = np.random.default_rng(20_231_101)
    side = 96
    haze = _plasma_fractal(5, rng, wibbledecay=1.8, mapsize=128)[:, :side, :side]
    streaks = np.zeros_like(haze)
    for _ in range(4):
        points = (rng.random(haze.shape) > 0.99).astype(np.float64)[..., None]
        smeared = _motion(points, 6, 3, rng.uniform(0, 360, size=len(points)))[..., 0]
        streaks = np.maximum(streaks, smeared)
    value = np.clip(0.2 + 0.5 * haze + 2.0 * streaks, 0, 1)
    tint = np.array([0.85, 0.93, 1.0])
    return (value[..., None] * tint * 255).astype(np.uint8)


def frost(images, s, rng):
    """Theirs (`c[0] * image + c[1] * frost crop`, in 0-255), with procedural frost textures in place of the
    photographs: the blend and the random texture and crop are theirs, the texture is not."""
    a, b = ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45))[s]
    textures = _frost_textures()
    n = len(images)
    which = rng.integers(0, len(textures), size=n)
    side = textures.shape[1]
    r0, c0 = rng.integers(0, side - SIZE, size=n), rng.integers(0, side - SIZE, size=n)
    grid = np.arange(SIZE)
    crops = textures[which[:, None, None], r0[:, None, None] + grid[None, :, None], c0[:, None, None] + grid]
    return np.clip(a * images.astype(np.float64) + b * crops, 0, 255).astype(np.uint8)


def fog(images, s, rng):
    amount, decay = ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75))[s]
    x = _float(images)
    top = x.max(axis=(1, 2, 3), keepdims=True)
    x = x + amount * _plasma_fractal(len(x), rng, decay)[..., None]
    return _to_uint8(x * top / (top + amount))


def brightness(images, s, rng):
    """Value (HSV) raised by c: hue and saturation kept, so every channel scales by v' / v (v = 0: grey v')."""
    c = (0.05, 0.1, 0.15, 0.2, 0.3)[s]
    x = _float(images)
    v = x.max(axis=3, keepdims=True)
    raised = np.clip(v + c, 0, 1)
    return _to_uint8(np.where(v > 0, x * (raised / np.where(v > 0, v, 1)), raised))


def contrast(images, s, rng):
    c = (0.75, 0.5, 0.4, 0.3, 0.15)[s]
    x = _float(images)
    means = x.mean(axis=(1, 2), keepdims=True)
    return _to_uint8((x - means) * c + means)


def _bilinear(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, mode: str) -> np.ndarray:
    """N x H x W x C images sampled at per-image coordinates (N x H x W), bilinearly, outside pixels by
    `mode`: "reflect101" (OpenCV's BORDER_REFLECT_101) or "reflect" (scipy's, the edge repeated)."""
    period = 2 * SIZE - 2 if mode == "reflect101" else 2 * SIZE
    mirror = period - (0 if mode == "reflect101" else 1)

    def index(i):
        i = np.mod(i, period)
        return np.where(i < SIZE, i, mirror - i)

    n, channels = len(x), x.shape[-1]
    r0, c0 = np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)
    fr, fc = (rows - r0)[..., None], (cols - c0)[..., None]
    base = (np.arange(n) * SIZE * SIZE)[:, None, None]
    top, bottom = base + index(r0) * SIZE, base + index(r0 + 1) * SIZE
    left, right = index(c0), index(c0 + 1)
    pixels = x.reshape(n * SIZE * SIZE, channels)
    upper = pixels[top + left] * (1 - fc) + pixels[top + right] * fc
    lower = pixels[bottom + left] * (1 - fc) + pixels[bottom + right] * fc
    return upper * (1 - fr) + lower * fr


def elastic_transform(images, s, rng):
    """Theirs: a random affine warp (OpenCV's warpAffine, bilinear, border reflect-101; here in floating point,
    where OpenCV interpolates in fixed point to 1/32 pixel), then a smooth random displacement field sampled by
    scipy's `map_coordinates(order=1, mode='reflect')`."""
    table = ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03))
    alpha, sigma, spread = (SIZE * c for c in table[s])  # theirs, as fractions of the image's side
    x = images.astype(np.float32) / 255.0
    n = len(x)
    centre, half = SIZE // 2, SIZE // 3
    source = np.array([[centre + half] * 2, [centre + half, centre - half], [centre - half] * 2], np.float64)
    target = source + rng.uniform(-spread, spread, size=(n, 3, 2)).astype(np.float32)
    # the affine map (x, y) -> (x', y') through the three point pairs (OpenCV's getAffineTransform), inverted:
    # warpAffine reads each output pixel from the source at the inverse map
    design = np.concatenate([source, np.ones((3, 1))], axis=1)  # 3 x 3
    forward = np.linalg.solve(design[None], target)  # N x 3 x 2: [x y 1] @ forward = [x' y']
    linear, shift = forward[:, :2, :], forward[:, 2, :]
    inverse = np.linalg.inv(np.transpose(linear, (0, 2, 1)))  # N x 2 x 2, maps (x', y') - shift back
    ys, xs = np.meshgrid(np.arange(SIZE), np.arange(SIZE), indexing="ij")
    px, py = xs[None] - shift[:, 0, None, None], ys[None] - shift[:, 1, None, None]
    back_x = inverse[:, 0, 0, None, None] * px + inverse[:, 0, 1, None, None] * py
    back_y = inverse[:, 1, 0, None, None] * px + inverse[:, 1, 1, None, None] * py
    x = _bilinear(x, back_y, back_x, "reflect101")
    dx = _gaussian(rng.uniform(-1, 1, size=(n, SIZE, SIZE)), sigma, mode="reflect", truncate=3) * alpha
    dy = _gaussian(rng.uniform(-1, 1, size=(n, SIZE, SIZE)), sigma, mode="reflect", truncate=3) * alpha
    dx, dy = dx.astype(np.float32), dy.astype(np.float32)
    return _to_uint8(_bilinear(x, ys[None] + dy, xs[None] + dx, "reflect"))


def pixelate(images, s, rng):
    c = (0.95, 0.9, 0.85, 0.75, 0.65)[s]
    small = int(SIZE * c)
    out = np.empty_like(images)
    for i, image in enumerate(images):
        shrunk = Image.fromarray(image).resize((small, small), Image.BOX)
        out[i] = np.asarray(shrunk.resize((SIZE, SIZE), Image.BOX))
    return out


def jpeg_compression(images, s, rng):
    quality = (80, 65, 58, 50, 40)[s]
    out = np.empty_like(images)
    for i, image in enumerate(images):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=quality)
        out[i] = np.asarray(Image.open(buffer).convert("RGB"))
    return out


FUNCTIONS = {name: globals()[name] for name in CORRUPTIONS}  # each corruption's function, by its name
