"""`mnist-onnx serve`: a drawing page and an HTTP API over one shared Classifier.

The same engine and tasks as `classify` and `read` (`_engine.run_items`: decode -> preprocess -> model -> rows), so the API
gives the same digits and the same error words for the same files. Needs the `serve` extra (FastAPI,
uvicorn, python-multipart); nothing here is imported by the rest of the package.

Uploads stay in memory: the body is read up to a size limit and multipart is parsed in memory with
python-multipart's streaming parser (Starlette's own form parsing would spool files over 1 MB to disk).
Concurrent requests share one model through `_Batcher`: what arrives while the model runs goes into its
next call together.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import re
import threading
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Future
from importlib import resources
from typing import Any, Callable, Optional

import numpy as np
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.exceptions import RequestValidationError
from starlette.requests import ClientDisconnect
from python_multipart.multipart import MultipartParser, parse_options_header

from ._engine import run_items
from ._schema import ClassifySchema, FileResult, ReadSchema
from ._version import __version__
from .errors import MnistOnnxError
from ._defaults import MODEL_BATCH
from ._schema import Reading

MiB = 1 << 20
CLASSIFY, READ = ClassifySchema(), ReadSchema()  # each task's rows as the API answers them


class _Batcher:
    """Merges model calls from concurrent request threads: while the model runs, requests queue up and go
    into its next call together. A request that finds the model idle runs it at once, on its own thread
    (no hand-over to the batching thread: a lone client pays nothing for batching)."""

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], max_batch: int = MODEL_BATCH) -> None:
        self._predict = predict
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._model = threading.Lock()  # held while the model runs, by a request thread or the batcher
        self._thread = threading.Thread(target=self._loop, name="mnist-onnx-batcher", daemon=True)
        self._thread.start()
        self.calls = 0  # model calls made, for the benchmark and tests

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        if self._model.acquire(blocking=False):
            try:
                self.calls += 1
                return self._predict(pixels)
            finally:
                self._model.release()
        done: Future = Future()
        self._queue.put((pixels, done))
        return done.result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            batch, size = [item], len(item[0])
            while size < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(nxt)
                size += len(nxt[0])
            try:
                with self._model:
                    probs = self._predict(np.concatenate([p for p, _ in batch]))
                    self.calls += 1
            except Exception as e:  # noqa: BLE001 -- handed to every waiting request
                for _, done in batch:
                    done.set_exception(e)
                continue
            start = 0
            for pixels, done in batch:
                done.set_result(probs[start : start + len(pixels)])
                start += len(pixels)


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int, timeout: float = 60.0) -> bytes:
    """The request body, or _TooLarge as soon as it passes *limit* bytes (declared or actual); asyncio's
    TimeoutError when it has not all arrived within *timeout* seconds (a body trickled in a byte at a time)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge

    async def collect() -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    return await asyncio.wait_for(collect(), timeout)


class _TooMany(Exception):
    pass


def _parse_multipart(body: bytes, boundary: bytes, max_parts: int = 1 << 30) -> list[tuple[str, str, bytes]]:
    """(field name, file name, content) of every part, parsed in memory. Runs on a worker thread, never on
    the event loop; past *max_parts* parts it stops at once (_TooMany), not after the whole body."""
    parts: list[tuple[str, str, bytes]] = []
    headers: dict[bytes, bytes] = {}
    field, value = bytearray(), bytearray()
    data = bytearray()

    def on_header_field(b: bytes, start: int, end: int) -> None:
        field.extend(b[start:end])

    def on_header_value(b: bytes, start: int, end: int) -> None:
        value.extend(b[start:end])

    def on_header_end() -> None:
        headers[bytes(field).lower()] = bytes(value)
        field.clear()
        value.clear()

    def on_part_data(b: bytes, start: int, end: int) -> None:
        data.extend(b[start:end])

    def on_part_end() -> None:
        if len(parts) >= max_parts:
            raise _TooMany
        disposition = headers.get(b"content-disposition", b"")
        _, options = parse_options_header(disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = _filename(disposition, options)
        parts.append((name, filename, bytes(data)))
        headers.clear()
        data.clear()

    parser = MultipartParser(boundary, {
        "on_header_field": on_header_field, "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_part_data": on_part_data, "on_part_end": on_part_end,
    })
    parser.write(body)
    parser.finalize()
    return parts


_EXTENDED = re.compile(rb"""filename\*\s*=\s*"?([^";]+)"?""", re.IGNORECASE)


def _filename(disposition: bytes, options: dict[bytes, bytes]) -> str:
    """The part's file name: RFC 2231's `filename*=UTF-8''...` where given (non-ASCII names; the parser
    drops it), else `filename`."""
    extended = _EXTENDED.search(disposition)
    if extended:
        charset, _, rest = extended.group(1).decode("latin-1").partition("'")
        _, _, quoted = rest.partition("'")
        try:
            return urllib.parse.unquote(quoted, encoding=charset or "utf-8", errors="replace")
        except LookupError:  # an unknown charset
            return urllib.parse.unquote(quoted, errors="replace")
    return options.get(b"filename", b"").decode("utf-8", "replace")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(classifier, *, max_upload_mb: float = 16, max_files: int = 1000, batching: bool = True,
               on_ready: Callable[[], None] | None = None, allowed_hosts: Sequence[str] | None = None,
               max_queue: int = 64, body_timeout: float = 60.0, min_confidence: float | None = None,
               reader=None) -> FastAPI:
    """The FastAPI application: `GET /` (drawing page), `GET /healthz`, `POST /v1/classify`, `POST /v1/read`,
    `/openapi.json`. *on_ready* runs once the server listens. *allowed_hosts*: the Host headers answered
    (None: any); `run` passes the loopback names when it listens on loopback. *max_queue*: requests to
    `/v1/*` being worked on or waiting at once; past it, 503 with `Retry-After` at once instead of a queue that
    makes every client wait (p99 of 16 concurrent 256-photo requests was ~48 s). *min_confidence*: the
    default threshold for `unsure` on `/v1/classify` (None: the model's own); a request may give its own.
    *reader*: the Classifier `/v1/read` reads with (the sequence reader); None: the segmentation over
    *classifier*."""
    limit = int(max_upload_mb * MiB)
    default_threshold = classifier.threshold(min_confidence)
    max_parts = max_files + 16  # the files, and a few other form fields a client may add
    # Decoding is where memory goes (a 7000x7000 image is ~100-200 MB while it is reduced): as many requests
    # decode at once as there are cores, the others wait their turn, so the server's memory follows the
    # cores, not the number of clients (20 concurrent 7000x7000 16-bit uploads: see tests/test_serve.py)
    cores = max(1, os.cpu_count() or 1)
    decoding = threading.BoundedSemaphore(cores)
    # Reading a number costs more than classifying a digit; reads hold at most all but one of those slots, so
    # `/v1/read` work (however many clients send it) never makes a one-digit `/v1/classify` wait (#29).
    reading = threading.BoundedSemaphore(max(1, cores - 1))

    def guarded(work: Callable[..., Any], *args: Any) -> Any:
        with decoding:
            return work(*args)

    def read_with(items: list, model: Any, threshold: float | None) -> list[Reading]:
        if reader is not None:
            return reader.read_items(items, threshold)
        task, _ = classifier.task("read", threshold)  # the segmentation, over the shared (batched) model
        return run_items(items, task, classifier.config, model)

    def guarded_read(*args: Any) -> Any:
        with reading:
            return guarded(read_with, *args)
    batcher = _Batcher(classifier.predict_pixels) if batching else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if on_ready is not None:
            on_ready()
        yield
        if batcher is not None:
            batcher.close()

    # No /docs or /redoc: FastAPI's pages load Swagger UI and ReDoc from a CDN, and the page promises no
    # external resource. The API is described at /openapi.json (and in docs/http-api.md).
    app = FastAPI(title="mnist-onnx", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Read handwritten digits and numbers with an ONNX model: draw on `/`, or post images.")
    if allowed_hosts is not None:  # a DNS-rebinding page asks with its own Host: refused (400)
        app.add_middleware(_HostCheck, allowed_hosts=list(allowed_hosts))

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError) -> JSONResponse:
        """A query parameter that does not parse (`?min_confidence=abc`): the documented 400 {"error": ...},
        not FastAPI's 422 {"detail": ...} (#29)."""
        problem = exc.errors()[0] if exc.errors() else {}
        name = str((problem.get("loc") or ("parameter",))[-1])
        given = problem.get("input")
        if name == "min_confidence":
            return _error(400, f"min_confidence {given!r}: must be a probability from 0 to 1")
        return _error(400, f"{name} {given!r}: {problem.get('msg', 'invalid')}")
    in_flight = 0  # requests to /v1/* admitted and not yet answered (one event loop: a plain counter)

    @app.middleware("http")
    async def bounded_queue(request: Request, call_next: Callable) -> Any:
        nonlocal in_flight
        if not request.url.path.startswith("/v1/"):
            return await call_next(request)  # the page and /healthz are never queued behind work
        if in_flight >= max_queue:
            response = _error(503, f"busy: {in_flight} requests in progress; try again shortly")
            response.headers["Retry-After"] = "1"
            return response
        in_flight += 1
        try:
            return await call_next(request)
        finally:
            in_flight -= 1
    app.state.batcher = batcher
    page = resources.files("mnist_onnx").joinpath("static/index.html").read_text(encoding="utf-8")

    @app.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return page

    @app.api_route("/healthz", methods=["GET", "HEAD"])
    def healthz() -> dict[str, str]:
        """Liveness, and which model and provider answer."""
        return {"status": "ok", "model": str(classifier.model_path), "provider": classifier.provider}

    responses: dict[int | str, dict[str, Any]] = {
        200: {"description": "one result per image, in upload order"},
        400: {"description": "malformed multipart, or no file in the field `files`"},
        413: {"description": "body too large, or too many files"},
        415: {"description": "neither multipart/form-data nor an image/* body"},
    }

    async def uploads(request: Request) -> list[tuple[str, bytes]] | JSONResponse:
        """The request's files as (name, bytes), or the JSON error response to send instead."""
        ctype, options = parse_options_header(request.headers.get("content-type", ""))
        ctype_s = ctype.decode("latin-1").lower()
        if ctype_s != "multipart/form-data" and not ctype_s.startswith("image/") and ctype_s != "application/octet-stream":
            return _error(415, f"unsupported content type {ctype_s or '(none)'!r}: send multipart/form-data "
                               "with files in the field 'files', or one image/* body")
        try:
            body = await _read_body(request, limit, body_timeout)
        except _TooLarge:
            return _error(413, f"request body too large (limit {max_upload_mb:g} MiB)")
        except ClientDisconnect:  # the client left mid-upload: nobody to answer, nothing to log
            return _error(400, "the client disconnected before the body was complete")
        except asyncio.TimeoutError:
            return _error(408, f"the request body did not arrive within {body_timeout:g} s")
        if ctype_s == "multipart/form-data":
            boundary = options.get(b"boundary")
            if not boundary:
                return _error(400, "multipart/form-data without a boundary")
            try:
                parts = await run_in_threadpool(_parse_multipart, body, boundary, max_parts)
            except _TooMany:
                return _error(413, f"too many files (over {max_files} per request)")
            except Exception as e:  # noqa: BLE001 -- python-multipart raises several kinds
                return _error(400, f"malformed multipart body ({type(e).__name__})")
            items = [(filename or "upload", content) for name, filename, content in parts if name == "files"]
            if not items:
                return _error(400, "no file in the form field 'files'")
        else:
            items = [(request.query_params.get("filename") or "upload", body)]
        if len(items) > max_files:
            return _error(413, f"too many files ({len(items)} > {max_files} per request)")
        return items

    @app.post("/v1/classify", responses=responses)
    async def classify(request: Request, pixels: bool = False, min_confidence: float | None = None) -> JSONResponse:
        """Classify images: a multipart form with one or more files in the field `files`, or one raw
        `image/*` body (name it with `?filename=`). `?pixels=true` adds the 28x28 input the model saw.

        A digit read with less than `min_confidence` (default: the server's, from `--min-confidence` or the
        model) has `status` `unsure`, its digit still given. A bad file gets its own result (`digit: null`,
        `status` `error` or `no-digit`, the same `error` words as `mnist-onnx classify`); the request still
        succeeds."""
        threshold = default_threshold if min_confidence is None else min_confidence
        if not 0 <= threshold <= 1:
            return _error(400, f"min_confidence {min_confidence}: must be a probability from 0 to 1")
        items = await uploads(request)
        if isinstance(items, JSONResponse):
            return items
        try:
            results = await run_in_threadpool(guarded, _classify, classifier, batcher, items, pixels, threshold)
        except MnistOnnxError as e:  # the model misbehaves: a JSON error, as every other answer
            return _error(500, str(e))
        return JSONResponse({"results": [CLASSIFY.api(r, pixels) for r in results]})

    @app.post("/v1/read", responses=responses)
    async def read(request: Request, min_confidence: Optional[float] = None) -> JSONResponse:
        """Read the whole handwritten number in each image, sent as for `/v1/classify`: per image its
        `number` (a digit string, leading zeros kept), `confidence`, `status` (`ok`, `unsure`, `no-digit`,
        `error`), `error`, and `digits`: each digit with its confidence and `box` [left, top, right,
        bottom] in the image's own pixels. The same readings as `mnist-onnx read`. `min_confidence`:
        default the reader's own."""
        if min_confidence is not None and not 0 <= min_confidence <= 1:
            return _error(400, f"min_confidence {min_confidence}: must be a probability from 0 to 1")
        items = await uploads(request)
        if isinstance(items, JSONResponse):
            return items
        model = batcher or classifier.predict_pixels
        try:
            results = await run_in_threadpool(guarded_read, items, model, min_confidence)
        except MnistOnnxError as e:
            return _error(500, str(e))
        return JSONResponse({"results": [READ.api(r) for r in results]})

    return app


def _classify(classifier, batcher: _Batcher | None, items: list[tuple[str, bytes]],
              want_pixels: bool, min_confidence: float) -> list[FileResult]:
    task, own = classifier.task("classify", min_confidence, keep_probabilities=True, keep_pixels=want_pixels)
    return run_items(items, task, classifier.config, batcher or own)  # without batching: each thread runs the model


LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


class _HostCheck:
    """Answer only requests whose Host header names one of *allowed_hosts* (port aside; `[::1]:8000` too);
    any other gets 400 with a JSON error like every other refusal."""

    def __init__(self, app: Any, allowed_hosts: Sequence[str]) -> None:
        self.app, self.allowed = app, set(allowed_hosts)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        host = raw[: raw.index("]") + 1] if raw.startswith("[") and "]" in raw else raw.split(":")[0]
        if host in self.allowed:
            await self.app(scope, receive, send)
            return
        response = _error(400, f"Host {raw!r} is not served here: this server answers "
                               f"{', '.join(sorted(self.allowed))} (serve --host to listen elsewhere)")
        await response(scope, receive, send)


def allowed_hosts_for(host: str) -> list[str] | None:
    """The Host headers to answer when listening on *host*: its own name and loopback's when it is a
    loopback address (a page elsewhere that rebinds its DNS name to 127.0.0.1 is refused); any when the
    user chose to listen on a network address."""
    if host in LOOPBACK or host.startswith("127."):
        return [*LOOPBACK, host, f"[{host}]"]
    return None


def _timed_protocol(header_timeout: float, max_waiting: int) -> type:
    """uvicorn's HTTP/1.1 protocol with a deadline for each request's headers, and a cap on connections that
    have not sent one.

    A connection that has not sent a whole request head within *header_timeout* seconds of opening (or of
    its last response) is closed: uvicorn has no such timer, so half-sent requests (slowloris) would hold a
    descriptor each for ever. And at most *max_waiting* connections (`run`: 90 % of --max-connections) may
    wait for their head at once: past
    that, each new connection closes the one that has waited longest. Thousands of slow connections then
    cost a bounded number of descriptors and never push the server past `--max-connections` (where uvicorn
    answers 503): a new client, who sends a head at once, is served, while the slowest connections make room."""
    from collections import OrderedDict

    from uvicorn.protocols.http.h11_impl import H11Protocol

    waiting: OrderedDict[Any, None] = OrderedDict()  # connections without a request head, oldest first

    class TimedH11(H11Protocol):
        def connection_made(self, transport: Any) -> None:  # noqa: D401
            super().connection_made(transport)
            self._arm()

        def _arm(self) -> None:
            self._cycle_armed = self.cycle
            self._head_timer = self.loop.call_later(header_timeout, self._head_too_slow)
            waiting[self] = None
            while len(waiting) > max_waiting:
                oldest, _ = waiting.popitem(last=False)
                oldest._head_timer.cancel()
                if not oldest.transport.is_closing():
                    oldest.transport.close()

        def _head_arrived(self) -> None:
            self._head_timer.cancel()
            waiting.pop(self, None)

        def _head_too_slow(self) -> None:
            waiting.pop(self, None)
            if self.cycle is self._cycle_armed and not self.transport.is_closing():
                self.transport.close()  # no new request head in time

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.cycle is not self._cycle_armed:  # a request head arrived: its deadline is met
                self._head_arrived()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._head_arrived()
            self._arm()  # the next request on this connection gets its own deadline

        def connection_lost(self, exc: Exception | None) -> None:
            self._head_arrived()
            super().connection_lost(exc)

    return TimedH11


def run(classifier, host: str, port: int, *, max_upload_mb: float, max_files: int, batching: bool,
        on_ready: Callable[[str], None], allowed_hosts: Sequence[str] | None = None, max_queue: int = 64,
        max_connections: int = 1000, header_timeout: float = 10.0, body_timeout: float = 60.0,
        min_confidence: float | None = None, reader=None) -> None:
    """Serve until Ctrl-C or SIGTERM (uvicorn's graceful shutdown, at most a few seconds)."""
    import uvicorn

    shown = f"[{host}]" if ":" in host else host
    hosts = allowed_hosts if allowed_hosts is not None else allowed_hosts_for(host)
    app = create_app(classifier, reader=reader, max_upload_mb=max_upload_mb, max_files=max_files, batching=batching,
                     on_ready=lambda: on_ready(f"http://{shown}:{port}/"), allowed_hosts=hosts, max_queue=max_queue,
                     body_timeout=body_timeout, min_confidence=min_confidence)
    # limit_concurrency: past this many open connections uvicorn answers 503 at once, so descriptors and
    # memory stay bounded; timeout_keep_alive closes idle connections.
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3,
                            access_log=False, limit_concurrency=max_connections, timeout_keep_alive=5,
                            http=_timed_protocol(header_timeout, max(1, max_connections * 9 // 10)))
    uvicorn.Server(config).run()
