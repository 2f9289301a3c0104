#!/usr/bin/env python3
"""Writes the image decoder fixtures in Tests/Fixtures/images-codec/ (run once, results committed).

Every good fixture `NAME.EXT` gets a sibling `NAME.rgb` holding what Hugging Face's pipeline
sees: PIL's `Image.open(path).convert("RGB").tobytes()`. The Swift tests compare the decoder's
output with those bytes exactly, so no Python runs at test time.

PNGs are mostly written by the small writer below rather than by Pillow, because Pillow cannot
write every color type / bit depth combination, and because the writer cycles through all five
filter types and can interlace, so each file exercises more of the decoder. Pillow still reads
every one of them to produce the expected bytes. Files under corrupt/ are deliberately broken
(with valid CRCs where the point is a different error) and have no .rgb.

Usage: .venv-ref/bin/python Calibration/oracle/make_image_fixtures.py
"""
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "images-codec")
rng = np.random.RandomState(20240611)


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_rows(rows, bpp, first_filter):
    """Filters each raw scanline with type (first_filter + row) % 5."""
    out = bytearray()
    prev = bytes(len(rows[0])) if rows else b""
    for index, row in enumerate(rows):
        ftype = (first_filter + index) % 5
        out.append(ftype)
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][ftype]
            out.append((x - pred) & 0xFF)
        prev = row
    return bytes(out)


def pack_row(samples, depth):
    """Packs integer samples of `depth` bits (1, 2, 4, 8, 16) into bytes, MSB first."""
    if depth == 16:
        return b"".join(struct.pack(">H", int(s)) for s in samples)
    if depth == 8:
        return bytes(int(s) for s in samples)
    out, acc, nbits = bytearray(), 0, 0
    for s in samples:
        acc = (acc << depth) | int(s)
        nbits += depth
        if nbits == 8:
            out.append(acc)
            acc, nbits = 0, 0
    if nbits:
        out.append(acc << (8 - nbits))
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def make_png(samples, depth, color_type, interlace=False, extra_chunks=(), palette=None, trns=None,
             compress=lambda d: zlib.compress(d, 9), idat_split=None):
    """samples: array (h, w, channels) of integer sample values."""
    h, w, channels = samples.shape
    bpp = max(1, channels * depth // 8)
    if interlace:
        raw = b""
        for pass_index, (x0, y0, dx, dy) in enumerate(ADAM7):
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            rows = [pack_row(r.reshape(-1), depth) for r in sub]
            raw += filter_rows(rows, bpp, pass_index)
    else:
        rows = [pack_row(r.reshape(-1), depth) for r in samples]
        raw = filter_rows(rows, bpp, 0)
    data = compress(raw)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, int(interlace)))
    for kind, payload in extra_chunks:
        out += chunk(kind, payload)
    if palette is not None:
        out += chunk(b"PLTE", bytes(palette))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    pieces = [data] if not idat_split else [data[i:i + idat_split] for i in range(0, len(data), idat_split)]
    for piece in pieces:
        out += chunk(b"IDAT", piece)
    return out + chunk(b"IEND", b"")


def write(name, data, expect=True):
    path = os.path.join(ROOT, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    if expect:
        rgb = Image.open(io.BytesIO(data)).convert("RGB")
        with open(os.path.splitext(path)[0] + ".rgb", "wb") as f:
            f.write(rgb.tobytes())


def samples(h, w, channels, depth):
    """Smooth gradients plus noise, covering the full sample range including both extremes."""
    top = (1 << depth) - 1
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 7 + y * 3 + c * 5) % (top + 1) for c in range(channels)], axis=-1)
    noise = rng.randint(0, top + 1, size=(h, w, channels))
    values = np.where(rng.rand(h, w, channels) < 0.3, noise, base)
    values[0, 0, :] = 0
    values[-1, -1, :] = top
    return values.astype(np.int64)


def photo(h, w):
    """An 8-bit RGB picture with smooth areas, edges and noise, for the JPEG and Pillow PNG cases."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(x / 5.0) * np.cos(y / 7.0)
    g = np.clip(x * 255.0 / max(w - 1, 1), 0, 255)
    b = np.where((x // 6 + y // 5) % 2 == 0, 220.0, 30.0)
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 12, size=(h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def png_fixtures():
    depths = {0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]}
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
    for color_type, allowed in depths.items():
        for depth in allowed:
            for interlace, (h, w) in ((False, (7, 13)), (True, (17, 33))):
                name = f"png/ct{color_type}-d{depth}{'-adam7' if interlace else ''}.png"
                palette = None
                values = samples(h, w, channels[color_type], depth)
                if color_type == 3:
                    entries = 1 << depth
                    palette = rng.randint(0, 256, size=entries * 3).tolist()
                write(name, make_png(values, depth, color_type, interlace, palette=palette))
    # Tiny interlaced images leave some Adam7 passes empty (no scanlines, no filter bytes).
    for h, w in ((1, 1), (2, 3), (5, 2)):
        write(f"png/ct2-d8-adam7-{w}x{h}.png", make_png(samples(h, w, 3, 8), 8, 2, True))
    # Transparency in every form PIL's convert("RGB") drops, plus ancillary chunks to skip.
    pal = rng.randint(0, 256, size=16 * 3).tolist()
    write("png/ct3-d4-trns.png", make_png(samples(7, 13, 1, 4), 4, 3, palette=pal, trns=bytes(range(0, 160, 10))))
    write("png/ct0-d8-trns.png", make_png(samples(7, 13, 1, 8), 8, 0, trns=struct.pack(">H", 77)))
    write("png/ct0-d16-trns.png", make_png(samples(7, 13, 1, 16), 16, 0, trns=struct.pack(">H", 300)))
    write("png/ct2-d16-trns.png", make_png(samples(7, 13, 3, 16), 16, 2, trns=struct.pack(">HHH", 1, 2, 3)))
    write("png/ct2-d8-ancillary.png", make_png(
        samples(7, 13, 3, 8), 8, 2,
        extra_chunks=[(b"tEXt", b"Comment\0fixture"), (b"gAMA", struct.pack(">I", 45455)), (b"prVt", b"\x01\x02")]))
    # A palette shorter than 2^depth whose indices all stay in range.
    short = samples(7, 13, 1, 8) % 5
    write("png/ct3-d8-short-palette.png", make_png(short, 8, 3, palette=rng.randint(0, 256, size=15).tolist()))
    # Every deflate block type and a split IDAT stream.
    raw_values = samples(17, 33, 3, 8)

    def stored(data):
        return zlib.compress(data, 0)

    def fixed(data):
        c = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_FIXED)
        return c.compress(data) + c.flush()

    def huffman_only(data):
        c = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_HUFFMAN_ONLY)
        return c.compress(data) + c.flush()

    def rle(data):
        c = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
        return c.compress(data) + c.flush()

    def multi_block(data):
        # Full flushes in the middle start new blocks: stored, then dynamic, then fixed.
        c = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY)
        third = len(data) // 3
        out = c.compress(data[:third]) + c.flush(zlib.Z_FULL_FLUSH)
        out += c.compress(data[third:2 * third]) + c.flush(zlib.Z_FULL_FLUSH)
        return out + c.compress(data[2 * third:]) + c.flush()

    for label, compress in (("stored", stored), ("fixed", fixed), ("huffman-only", huffman_only),
                            ("rle", rle), ("multi-block", multi_block)):
        write(f"png/deflate-{label}.png", make_png(raw_values, 8, 2, compress=compress))
    write("png/idat-split.png", make_png(raw_values, 8, 2, idat_split=37))
    # Long matches across a repetitive image (distance codes far back, length 258).
    stripes = np.tile(samples(1, 33, 3, 8), (17, 1, 1))
    write("png/repetitive.png", make_png(stripes, 8, 2))
    # Files written by Pillow itself (its own filter choices and zlib settings).
    pic = photo(17, 33)
    for mode, name in (("RGB", "pillow-rgb"), ("RGBA", "pillow-rgba"), ("L", "pillow-l"), ("LA", "pillow-la")):
        image = Image.fromarray(pic).convert(mode)
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        write(f"png/{name}.png", buffer.getvalue())
    buffer = io.BytesIO()
    Image.fromarray(pic).quantize(12).save(buffer, "PNG", transparency=3)
    write("png/pillow-p-trns.png", buffer.getvalue())
    buffer = io.BytesIO()
    Image.fromarray(pic).convert("1").save(buffer, "PNG")
    write("png/pillow-1.png", buffer.getvalue())


def ppm_fixtures():
    for magic, channels in ((b"P5", 1), (b"P6", 3)):
        for maxval in (1, 3, 100, 255, 1000, 65535):
            values = rng.randint(0, maxval + 1, size=(7, 13, channels))
            values[0, 0, :] = maxval
            values[0, 1, :] = 0
            fmt = ">H" if maxval > 255 else ">B"
            data = b"".join(struct.pack(fmt, int(v)) for v in values.reshape(-1))
            header = magic + b"\n13 7\n%d\n" % maxval
            write(f"ppm/{magic.decode()}-max{maxval}.{'pgm' if channels == 1 else 'ppm'}", header + data)
    # Comments, odd whitespace and trailing bytes after the pixel data.
    values = rng.randint(0, 256, size=7 * 13 * 3).astype(np.uint8).tobytes()
    header = b"P6 # made by make_image_fixtures.py\n#another comment\r\n\t13\x0b\x0c7 # height\n255\r"
    write("ppm/P6-comments.ppm", header + values + b"trailing")


def jpeg_fixtures():
    pic = photo(17, 33)
    cases = [
        ("q75-420", dict(quality=75, subsampling="4:2:0")),
        ("q95-444", dict(quality=95, subsampling="4:4:4")),
        ("q90-422", dict(quality=90, subsampling="4:2:2")),
        ("q75-420-restart", dict(quality=75, subsampling="4:2:0", restart_marker_blocks=2)),
        ("q85-444-restart-rows", dict(quality=85, subsampling="4:4:4", restart_marker_rows=1)),
        ("q80-420-optimized", dict(quality=80, subsampling="4:2:0", optimize=True)),
        ("q90-rgb", dict(quality=90, subsampling="4:4:4", keep_rgb=True)),
    ]
    for name, options in cases:
        buffer = io.BytesIO()
        Image.fromarray(pic).save(buffer, "JPEG", **options)
        write(f"jpeg/{name}.jpg", buffer.getvalue())
    for size, name in (((33, 17), "q75-420-33x17"), ((64, 48), "q75-420-64x48"), ((1, 1), "q75-420-1x1"),
                       ((2, 9), "q75-420-2x9"), ((5, 3), "q75-422-5x3")):
        buffer = io.BytesIO()
        Image.fromarray(photo(size[1], size[0])).save(
            buffer, "JPEG", quality=75, subsampling="4:2:2" if "422" in name else "4:2:0")
        write(f"jpeg/{name}.jpg", buffer.getvalue())
    buffer = io.BytesIO()
    Image.fromarray(pic).convert("L").save(buffer, "JPEG", quality=80)
    write("jpeg/gray-q80.jpg", buffer.getvalue())
    buffer = io.BytesIO()
    Image.fromarray(pic).save(buffer, "JPEG", quality=75, progressive=True)
    write("jpeg/progressive.jpg", buffer.getvalue(), expect=False)
    buffer = io.BytesIO()
    Image.fromarray(pic).convert("CMYK").save(buffer, "JPEG", quality=75)
    write("jpeg/cmyk.jpg", buffer.getvalue(), expect=False)


def corrupt_fixtures():
    values = samples(7, 13, 3, 8)
    good = make_png(values, 8, 2)
    write("corrupt/good.png", good)
    # Bad CRC: flip one bit of the IDAT data but keep the stored CRC.
    idat = good.index(b"IDAT")
    bad = bytearray(good)
    bad[idat + 6] ^= 0x01
    write("corrupt/bad-crc.png", bytes(bad), expect=False)
    raw = zlib.compress(filter_rows([pack_row(r.reshape(-1), 8) for r in values], 3, 0), 9)

    def with_stream(stream):
        return make_png(values, 8, 2, compress=lambda _: stream)

    write("corrupt/truncated-idat.png", with_stream(raw[: len(raw) // 2]), expect=False)
    write("corrupt/bad-zlib-header.png", with_stream(b"\x79\x9c" + raw[2:]), expect=False)
    write("corrupt/bad-adler.png", with_stream(raw[:-1] + bytes([raw[-1] ^ 0xFF])), expect=False)
    write("corrupt/unknown-critical.png", make_png(values, 8, 2, extra_chunks=[(b"CRIT", b"x")]), expect=False)
    without_ihdr = good[:8] + good[8 + 25:]
    write("corrupt/missing-ihdr.png", without_ihdr, expect=False)

    def with_ihdr(w, h, depth=8, color_type=2):
        return good[:8] + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)) + good[33:]

    write("corrupt/zero-width.png", with_ihdr(0, 5), expect=False)
    write("corrupt/huge.png", with_ihdr(100000, 100000), expect=False)
    write("corrupt/bit-depth-3.png", with_ihdr(13, 7, depth=3), expect=False)
    write("corrupt/truncated-file.png", good[: len(good) - 20], expect=False)
    write("corrupt/not-image.bin", b"\x7fELF\x02\x01\x01\x00" + bytes(24), expect=False)
    ppm = open(os.path.join(ROOT, "ppm/P6-max255.ppm"), "rb").read()
    write("corrupt/truncated.ppm", ppm[:-10], expect=False)
    jpeg = open(os.path.join(ROOT, "jpeg/q75-420.jpg"), "rb").read()
    write("corrupt/truncated.jpg", jpeg[: len(jpeg) * 2 // 3], expect=False)


if __name__ == "__main__":
    png_fixtures()
    ppm_fixtures()
    jpeg_fixtures()
    corrupt_fixtures()
