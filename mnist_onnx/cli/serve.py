"""`mnist-onnx serve`: the drawing page and HTTP API."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import needs_extra
from ._app import (CenterOpt, DeviceOpt, InkOpt, InvertChoice, InvertOpt, MeanOpt, MinConfidenceOpt, ModelOpt,
                   ProviderChoice, ProviderOpt, StdOpt, announce, app, check_range, fail,
                   make_classifier, note)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    model: ModelOpt = None,
    provider: ProviderOpt = ProviderChoice.auto,
    device_id: DeviceOpt = 0,
    invert: InvertOpt = InvertChoice.auto,
    center: CenterOpt = True,
    mean: MeanOpt = None,
    std: StdOpt = None,
    model_ink: InkOpt = None,
    max_pixels: Annotated[int, typer.Option(help="Reject images with more pixels (decompression-bomb guard).")] = 50_000_000,
    max_upload_mb: Annotated[float, typer.Option(help="Largest request body, MiB (413 beyond).")] = 16.0,
    max_files: Annotated[int, typer.Option(help="Most files in one request (413 beyond).")] = 1000,
    batching: Annotated[bool, typer.Option("--batching/--no-batching", help="Merge concurrent requests into shared model calls.")] = True,
    max_queue: Annotated[int, typer.Option(help="Requests worked on or waiting at once; beyond, 503 with Retry-After.")] = 64,
    max_connections: Annotated[int, typer.Option(help="Open connections at once; beyond, 503. Connections still waiting for their request head may fill 90 % of it: past that the oldest is closed.")] = 1000,
    header_timeout: Annotated[float, typer.Option(help="Seconds a connection has to send a request's headers before it is closed.")] = 10.0,
    body_timeout: Annotated[float, typer.Option(help="Seconds a request body may take to arrive (408 beyond).")] = 60.0,
    min_confidence: MinConfidenceOpt = None,
    read_model: Annotated[str, typer.Option(help="What POST /v1/read reads numbers with: `reader` (the bundled sequence reader), a reader's path, or `segment` (cut into digits for --model).")] = "reader",
) -> None:
    """Serve a drawing page and an HTTP API (POST /v1/classify, POST /v1/read) until Ctrl-C or SIGTERM.
    Listening on loopback (the default), only loopback Host names are answered."""
    check_range("--port", port, 1, 65535, "a port number")
    check_range("--max-upload-mb", max_upload_mb, 0.001, 1 << 20, "a size in MiB")
    check_range("--max-files", max_files, 1, 1 << 20, "a count")
    check_range("--max-queue", max_queue, 1, 1 << 20, "a count")
    check_range("--max-connections", max_connections, 1, 1 << 20, "a count")
    check_range("--header-timeout", header_timeout, 0.1, 3600, "seconds")
    check_range("--body-timeout", body_timeout, 0.1, 86400, "seconds")
    check_range("--min-confidence", min_confidence, 0, 1, "a probability")
    try:
        from .._server import run
    except ImportError as e:
        raise fail(needs_extra("`mnist-onnx serve`", "serve", e.name)) from None
    import socket

    try:  # one clear line for a port in use, before the model loads
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as e:
        raise fail(f"cannot listen on {host}:{port} ({e.strerror})") from None
    import logging

    _return_freed_memory()

    # python-multipart logs a warning for every malformed body a client sends; the client gets its 400, and
    # this command's stderr stays for the server's own news (a command owns its process's logging)
    logging.getLogger("python_multipart").setLevel(logging.ERROR)
    clf = make_classifier(model, provider, device_id, invert, center, mean, std, model_ink, max_pixels=max_pixels)
    reader = None
    if read_model != "segment":
        reader = make_classifier(read_model, provider, device_id, invert, max_pixels=max_pixels, task="read")
        if not reader.reads_lines:
            raise fail(f"--read-model {read_model}: not a sequence reader (for the digit model's segmentation: "
                       "--read-model segment)")
    announce(clf)
    run(clf, host, port, max_upload_mb=max_upload_mb, max_files=max_files, batching=batching, max_queue=max_queue,
        max_connections=max_connections, header_timeout=header_timeout, body_timeout=body_timeout,
        min_confidence=min_confidence, reader=reader, on_ready=lambda url: note(f"serving {url} (model {clf.model_path}, {clf.provider.upper()}); Ctrl-C to stop"))


def _return_freed_memory() -> None:
    """glibc keeps large freed blocks in per-thread arenas once its mmap threshold has grown, so a server whose
    request threads each decoded one big image holds all of that memory afterwards (measured: 20 concurrent
    7000x7000 uploads, 1.6 GB). A fixed threshold gives big blocks back to the system when freed, and two
    arenas stop the growth per thread. This command owns its process; the library never does this."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD: blocks of 1 MiB and more are mmapped, unmapped when freed
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):  # another libc: its own policy stands
        pass
