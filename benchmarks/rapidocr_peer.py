"""RapidOCR's recogniser alone (no detection, no angle classifier) on whole images: the peer
`benchmarks/read_numbers.py` measures `read` against. Runs in the benchmark's own environment, never ours:

    python -m venv /tmp/ocrvenv && /tmp/ocrvenv/bin/pip install rapidocr onnxruntime
    /tmp/ocrvenv/bin/python benchmarks/rapidocr_peer.py < paths.txt > readings.jsonl

One path per input line; one JSON line out per path: the text's digits (other characters dropped), its
score, and the seconds the recogniser took. The PP-OCR ONNX weights come with the rapidocr wheel.
"""

import json
import logging
import sys
import time

from rapidocr import RapidOCR


def main() -> None:
    logging.disable(logging.INFO)
    engine = RapidOCR(params={"Global.log_level": "error"})
    for line in sys.stdin:
        path = line.rstrip("\n")
        t0 = time.perf_counter()
        try:
            r = engine(path, use_det=False, use_cls=False, use_rec=True)
            text = "".join(r.txts or ())
            score = float(r.scores[0]) if r.scores else 0.0
        except Exception as e:  # noqa: BLE001 -- a peer's failure on one image is a wrong answer, not a crash
            text, score = "", 0.0
            print(f"{path}: {type(e).__name__}: {e}", file=sys.stderr)
        print(json.dumps({"path": path, "number": "".join(c for c in text if c.isdigit()), "text": text,
                          "score": score, "seconds": time.perf_counter() - t0}), flush=True)


if __name__ == "__main__":
    main()
