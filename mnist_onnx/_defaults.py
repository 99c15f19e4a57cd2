"""Defaults shared by the library, the command line, the server and Ray, in one place and importable without
loading numpy (the command line builds its --help from them)."""

# Images per chunk: the library's streaming default (and Ray's, and read's), and classify's on the command
# line (larger: one process, a long run). Images per model call at most.
CHUNK = 256
CLI_CHUNK = 1024
MODEL_BATCH = 4096
# Images per chunk for `read`: every candidate digit of a chunk is held until its model call, up to ~1.6 MB an
# image (image.segment.MAX_CANDIDATES), so a chunk of hostile images stays near 100 MB (#29).
READ_CHUNK = 64

# Numbers read by segmentation with a lower confidence (the product of their digits') are `unsure` (benchmarks/read_numbers.py:
# on numbers-dev 82 % of the rows stay ok, and 78 % of those are right against 72.5 % of all).
DEFAULT_MIN_CONFIDENCE = 0.9
