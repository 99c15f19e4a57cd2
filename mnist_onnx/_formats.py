"""The image formats we read, and the pixel limit: plain values, importable without loading the image pipeline
(listing files needs the extensions, not numpy or Pillow)."""

# Raster formats people's digits arrive in. Pillow is never asked to open anything else: an EPS file would
# go to Ghostscript, a PDF or a font to other parsers.
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM")
EXTENSIONS = ("png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp", "ppm", "pgm", "pbm")
DEFAULT_MAX_PIXELS = 50_000_000  # decompression-bomb guard: a 50 MP phone photo is fine, a 1 GP PNG is not
