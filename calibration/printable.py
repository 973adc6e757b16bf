"""PNG and PDF bytes of a grayscale image at an exact physical size (no dependency beyond OpenCV).

A printed board is only useful at the size the software expects, so both files carry the
resolution: the PNG a ``pHYs`` chunk (pixels per metre), the PDF a page whose size in points is
the image's size at ``dpi``. Print either at 100% ("actual size").
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np

__all__ = ["png_bytes", "pdf_bytes"]

_INCH_M = 0.0254


def _gray(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"image has shape {image.shape} and dtype {image.dtype}, expected (H, W) uint8")
    return np.ascontiguousarray(image)


def png_bytes(image: np.ndarray, *, dpi: float) -> bytes:
    """A PNG of ``image`` ((H, W) uint8) whose ``pHYs`` chunk says ``dpi``."""
    if not dpi > 0:
        raise ValueError(f"dpi is {dpi}, expected > 0")
    ok, encoded = cv2.imencode(".png", _gray(image))
    if not ok:
        raise ValueError("OpenCV could not encode the image as PNG")
    data = encoded.tobytes()
    pixels_per_metre = int(round(dpi / _INCH_M))
    body = struct.pack(">IIB", pixels_per_metre, pixels_per_metre, 1)  # unit 1: metre
    chunk = struct.pack(">I", len(body)) + b"pHYs" + body + struct.pack(">I", zlib.crc32(b"pHYs" + body))
    header_end = 8 + 4 + 4 + 13 + 4  # signature, then the IHDR chunk (length, type, 13 bytes, CRC)
    return data[:header_end] + chunk + data[header_end:]


def pdf_bytes(image: np.ndarray, *, dpi: float, title: str = "rigkit board") -> bytes:
    """A one-page PDF showing ``image`` ((H, W) uint8) at ``dpi``: the page is the image's size."""
    if not dpi > 0:
        raise ValueError(f"dpi is {dpi}, expected > 0")
    image = _gray(image)
    height, width = image.shape
    width_pt, height_pt = width / dpi * 72.0, height / dpi * 72.0
    pixels = zlib.compress(image.tobytes(), 9)
    content = f"q {width_pt:.4f} 0 0 {height_pt:.4f} 0 0 cm /Im0 Do Q\n".encode()
    safe_title = title.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width_pt:.4f} {height_pt:.4f}] "
         "/Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>").encode(),
        (f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /DeviceGray "
         f"/BitsPerComponent 8 /Interpolate false /Filter /FlateDecode /Length {len(pixels)} >>\n"
         "stream\n").encode() + pixels + b"\nendstream",
        f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"endstream",
        f"<< /Title ({safe_title}) /Producer (rigkit) >>".encode(),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)
