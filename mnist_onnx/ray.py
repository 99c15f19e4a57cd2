"""Classify on a Ray cluster: the same engine, model contract and rows as the local `classify`.

    import ray, mnist_onnx.ray
    ds = ray.data.read_binary_files("s3://bucket/forms/", include_paths=True)
    mnist_onnx.ray.classify(ds).write_parquet("s3://bucket/digits/")

The model runs in Ray Data actors (`map_batches` with a callable class: one model load per actor). Each
batch goes through `_engine.run_items`, the function the server also uses: one decoding, one
preprocessing, one model contract, so a file gets the same digit, confidence or error words as it would
from `mnist-onnx classify` on one machine.

Needs the `ray` extra: `pip install "mnist-onnx[ray]"`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import re
import tempfile
import warnings
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._engine import run_items
from ._classifier import Classifier, Options, path_list
from ._files import is_uri, iter_files, matches
from ._model import check_probability, resolve_model
from ._defaults import CHUNK, READ_CHUNK
from ._schema import Schema, schema
from ._resume import Done
from .errors import EngineError, ProviderError, UsageError, about, needs_extra

if TYPE_CHECKING:
    import ray.data

__all__ = ["classify", "classify_paths", "read", "read_paths", "Predictor", "Reader", "RayRun", "RayEngine",
           "default_concurrency",
           "COLUMNS", "READ_COLUMNS"]

# Columns of the Dataset `classify` returns (plus `probabilities` when asked for). A row without a digit
# (status `error` or `no-digit`) has digit -1 and confidence NaN: Ray's numpy batches have no nulls.
COLUMNS = ("path", "digit", "confidence", "status", "error", "provider", "node")


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise EngineError(needs_extra("the Ray engine", "ray", "ray")) from None
    return ray


class Predictor:
    """A Ray Data callable class: loads the model once per actor, then runs its task (`classify`; `Reader`:
    `read`) on batch after batch, through the engine's `run_items` and the task's schema (`_schema`): the
    rows a local run gives, as numpy columns.

    A batch holds a `path` column and, when the files were read by Ray (`read_binary_files`), a `bytes`
    column; without `bytes` the actor reads each path itself (a shared filesystem), with the same checks
    as a local run (missing files, folders, FIFOs and devices give error rows).
    """

    task = "classify"

    def __init__(self, model: str | dict[str, Any], options: Options | dict[str, Any],
                 keep_probabilities: bool = False, min_confidence: float | None = None) -> None:
        options = options if isinstance(options, Options) else Options(**options)
        if isinstance(model, str):  # a path every worker can read (a shared filesystem)
            self.classifier = Classifier(model, **dataclasses.asdict(options))
        else:
            # {"ref": ObjectRef of the model's bytes}: through Ray's object store, for workers that cannot
            # see the driver's disk. ONNX Runtime reads the file once; it is removed when the session exists.
            ray = _import_ray()
            with tempfile.TemporaryDirectory(prefix="mnist-onnx-") as folder:
                path = Path(folder) / "model.onnx"
                path.write_bytes(ray.get(model["ref"]))
                self.classifier = Classifier(path, **dataclasses.asdict(options))
        self.keep_probabilities = keep_probabilities
        self.rows = _schema(self.task, keep_probabilities)
        self.min_confidence = self.classifier.threshold(min_confidence, self.task)  # None: the model's own
        self.node = _import_ray().get_runtime_context().get_node_id()  # which node did the work: rows say

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        clf = self.classifier
        options = {"keep_probabilities": self.keep_probabilities} if self.task == "classify" else {}
        task, model = clf.task(self.task, self.min_confidence, **options)
        out = self.rows.to_ray(run_items(_batch_items(batch), task, clf.config, model))
        probabilities = out.pop("probabilities", None)
        n = len(out["path"])
        out["provider"] = np.asarray([clf.provider] * n, dtype=object)
        out["node"] = np.asarray([self.node] * n, dtype=object)
        if probabilities is not None:
            out["probabilities"] = probabilities
        return out


READ_COLUMNS = ("path", "number", "confidence", "status", "error", "digits", "provider", "node")


class Reader(Predictor):
    """The Ray Data callable class behind `read`: `Predictor` with the read task. `digits` is a JSON list of
    {"digit", "confidence", "box"} per row (Ray's numpy batches hold no nested records); a row without a
    number has number "" and confidence NaN."""

    task = "read"

    def __init__(self, model: str | dict[str, Any], options: Options | dict[str, Any],
                 min_confidence: float | None = None) -> None:
        super().__init__(model, options, min_confidence=min_confidence)


def _schema(task: str, keep_probabilities: bool) -> Schema:
    """*task*'s rows as Ray columns; classify with every probability kept when asked for."""
    return schema(task, top_k=10 if keep_probabilities and task == "classify" else 0)


def _batch_items(batch: dict[str, np.ndarray]) -> list[str | tuple[str, bytes]]:
    """A batch's files: (path, bytes) when Ray read them, else the paths for the actor to read."""
    names = [os.fsdecode(p) if isinstance(p, bytes) else str(p) for p in batch["path"]]
    if "bytes" in batch:
        return [(n, bytes(b)) for n, b in zip(names, batch["bytes"])]
    return list(names)


def default_concurrency(provider: str = "auto", num_cpus: float = 1.0) -> int:
    """Actors to start: one per GPU for `cuda`; otherwise as many as the cluster's CPUs allow while one CPU
    stays free. Actors that take every CPU starve Ray Data's read tasks and the run hangs
    (ray-project/ray#44687: `num_cpus=2` and two one-CPU actors on a 2-core machine)."""
    ray = _import_ray()
    resources = ray.cluster_resources()
    if provider == "cuda":
        return max(1, int(resources.get("GPU", 0)))  # classify() refuses a cluster without GPUs
    return max(1, int((resources.get("CPU", 1) - 1) // num_cpus))


def classify(ds: ray.data.Dataset, model: str | Path | None = None, *, options: Options | None = None,
             batch_size: int = CHUNK, concurrency: int | None = None, num_cpus: float = 1.0,
             keep_probabilities: bool = False, ship_model: bool = True, min_confidence: float | None = None,
             check_model: bool = True, **option_values: Any) -> ray.data.Dataset:
    """Add the predictions to a Dataset of image files: rows with `path` (and `bytes`, as
    `ray.data.read_binary_files(..., include_paths=True)` gives) -> rows with `COLUMNS`.

    The actors' Classifiers are made from *options* (a `Classifier`'s `.options`: the same provider,
    preprocessing and normalisation as here), with any `Options` field given by name on top
    (`provider="cuda"`, `scale=...`). The model and options are checked here, on the driver, so a wrong model
    fails at once with the same message as locally, not inside an actor. `provider="cuda"` asks Ray for one
    GPU per actor. *concurrency* defaults to `default_concurrency`. *ship_model* sends the model's bytes
    through Ray's object store (workers need not see this disk; Ray then logs once that the actors'
    constructor arguments live in the object store); False hands the actors its absolute path, for a shared
    filesystem. Lazy, like every Ray Data transform: nothing runs until the Dataset is consumed. Rows keep
    the input order where the Dataset's `context.execution_options.preserve_order` is set (`classify_paths`
    sets it on the Datasets it makes). A digit below *min_confidence* (default: the model's own) has status
    `unsure`. *check_model* False skips the check on the driver, for a caller that has made it already (the
    command line checks the model in a process of its own, so that ONNX Runtime never loads on the driver).
    """
    return _map(ds, Predictor, {"keep_probabilities": keep_probabilities, "min_confidence": min_confidence}, model,
                _options(options, option_values), batch_size, concurrency, num_cpus, ship_model, check_model)


def read(ds: ray.data.Dataset, model: str | Path | None = None, *, options: Options | None = None,
         min_confidence: float | None = None, batch_size: int = READ_CHUNK, concurrency: int | None = None,
         num_cpus: float = 1.0, ship_model: bool = True, check_model: bool = True,
         **option_values: Any) -> ray.data.Dataset:
    """Read the whole number in each image file of a Dataset (rows with `path`, and `bytes` where Ray read
    the files) -> rows with `READ_COLUMNS`: the same readings as `mnist-onnx read`. *model*: None is `read`'s
    default, the sequence reader; a digit model reads by segmentation. Options, checks, actors, model shipping
    and order as for `classify`."""
    if model is None:
        from ._model import default_reader

        model = default_reader()
    if min_confidence is not None:
        check_probability(min_confidence)  # here, on the driver: not once per actor
    return _map(ds, Reader, {"min_confidence": min_confidence}, model, _options(options, option_values),
                batch_size, concurrency, num_cpus, ship_model, check_model)


def _options(options: Options | None, values: dict[str, Any]) -> Options:
    """*options* (default: a default Classifier's) with the named fields replaced; a wrong name is a UsageError."""
    unknown = set(values) - {f.name for f in dataclasses.fields(Options)}
    if unknown:
        raise UsageError(f"unknown option(s) {', '.join(sorted(unknown))}; options are Options' fields")
    return dataclasses.replace(options or Options(), **values)


def _map(ds: ray.data.Dataset, actor: type, actor_kwargs: dict[str, Any], model: str | Path | None,
         options: Options, batch_size: int, concurrency: int | None, num_cpus: float,
         ship_model: bool, check_model: bool = True) -> ray.data.Dataset:
    """The model checked on the driver, then *actor* (a callable class) over *ds* on an actor pool."""
    ray = _import_ray()
    options = dataclasses.replace(options, threads=max(1, int(num_cpus)))  # ONNX Runtime: the CPUs Ray reserved
    if options.provider == "cuda" and not ray.cluster_resources().get("GPU"):
        # actors asking for a GPU on a cluster without one would wait for it forever
        raise about(ProviderError("provider cuda: this Ray cluster has no GPU (ray.cluster_resources() lists none); "
                                  "choose cpu or auto, or join a cluster with GPUs"), "provider")
    path, _ = resolve_model(model)
    if check_model:
        check = Classifier(path, **{**dataclasses.asdict(options), "provider": "cpu"})  # our words, if anything is wrong
        check.close()
    if concurrency is None:
        concurrency = default_concurrency(options.provider, num_cpus)
    # the ObjectRef is held by the Dataset's plan, so the bytes stay as long as an actor may (re)start
    shipped: str | dict[str, Any] = {"ref": ray.put(path.read_bytes())} if ship_model else str(path.resolve())
    return ds.map_batches(
        actor, fn_constructor_kwargs={"model": shipped, "options": options, **actor_kwargs},
        batch_size=batch_size, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=concurrency, max_tasks_in_flight_per_actor=_IN_FLIGHT_PER_ACTOR),
        num_cpus=num_cpus, num_gpus=1 if options.provider == "cuda" else 0)


class RayRun:
    """An iterator of FileResults (or Readings) from a Ray run, which also records what ran them: the `providers` the
    actors used (seen in the rows) and the number of `actors`."""

    def __init__(self, ds: ray.data.Dataset | None, actors: int, rows: Schema, provider: str = "auto") -> None:
        self.providers: set[str] = set()
        self.nodes: dict[str, int] = {}  # rows per node that made them
        self.actors = actors
        self._asked = provider
        self._batches = ds.iter_batches(batch_size=None, batch_format="numpy") if ds is not None else iter(())
        self._rows = rows

    @property
    def ran_on(self) -> str:
        """For the summary line, e.g. `CPU (Ray, 2 actors)`: the providers the actors reported."""
        used = "/".join(sorted(p.upper() for p in self.providers)) or self._asked.upper()
        spread = ""
        if len(self.nodes) > 1:  # the work per node, largest first: did every node take its share?
            total = sum(self.nodes.values())
            spread = f" on {len(self.nodes)} nodes: " + " / ".join(
                f"{n / total:.0%}" for n in sorted(self.nodes.values(), reverse=True))
        return f"{used} (Ray, {self.actors} actor{'' if self.actors == 1 else 's'}{spread})"

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self._results()
        except Exception as e:  # a Ray failure (a task out of retries, a lost node): one line, not a trace
            ray = _import_ray()
            if not isinstance(e, ray.exceptions.RayError):
                raise
            cause = _task_cause(e) if isinstance(e, ray.exceptions.RayTaskError) else ""
            if not cause:
                cause = next((line.strip() for line in str(e).splitlines() if line.strip()), type(e).__name__)
            raise EngineError(f"the Ray run failed: {type(e).__name__}: {cause[:300]}") from None

    def _results(self) -> Iterator[Any]:
        for batch in self._batches:  # whole numpy batches: per-row dicts cost more than classifying
            self.providers.update(str(p) for p in set(batch["provider"].tolist()))
            if "node" in batch:
                for node in batch["node"].tolist():
                    self.nodes[node] = self.nodes.get(node, 0) + 1
            yield from self._rows.from_ray(batch)


_RAISED = re.compile(r"^(?:[\w.]+\.)?(\w+(?:Error|Exception)): (.+)$")


def _task_cause(e: Exception) -> str:
    """What made a Ray task fail, from its remote traceback: an object store's words (`AWS Error ...`) or the
    last `SomeError: message` line that is not Ray's own wrapping -- not the first line (`ray::ReadBinary()`)
    nor Ray's closing advice on retries (#32)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    storage = [line for line in lines if "AWS Error" in line]
    if storage:
        return _storage_problem("a read task", Exception(storage[-1]))
    raised = [m for m in map(_RAISED.match, lines)
              if m and not m.group(1).startswith(("RayTaskError", "RayError")) and "ray::" not in m.group(2)]
    return f"{raised[-1].group(1)}: {raised[-1].group(2)}" if raised else ""


_LISTED_BLOCK = 8192  # paths per block of the listing: ~1 MB of Arrow, a few batches of work each
_BLOCKS_PER_ACTOR = 16  # a listing is cut into at least this many blocks per actor: each actor, on
                        # whichever node, pulls its share as it frees up (two nodes: 35-65 % each)
_READ_AHEAD = 1 << 16  # paths listed ahead to size the blocks (~7 MB at most); a longer listing has blocks enough
_MIN_BLOCK = 16  # paths: smaller blocks cost more in Ray's scheduling than they spread
_ACTORS_START_S = 600  # seconds the actors may take to start (a cold node pulls the model, imports ONNX Runtime)
_IN_FLIGHT_PER_ACTOR = _BLOCKS_PER_ACTOR  # blocks queued at one actor: a listing cut for the actors goes out
                                          # whole and even at the start (speed-blind: a node that is slowed,
                                          # as two nodes sharing 2 cores are, still gets its share)


def _block_size(files: Iterable[str], actors: int, batch_size: int) -> tuple[int, Iterator[str]]:
    """Paths per listing block, and the files (the first ones read ahead to size it). A listing short enough
    to read ahead (`_READ_AHEAD`) is cut into `_BLOCKS_PER_ACTOR` blocks an actor (blocks of 16 to 8,192
    paths); a longer one keeps `_LISTED_BLOCK` (plenty of blocks for every actor)."""
    it = iter(files)
    room = min(_READ_AHEAD, max(1, actors) * _BLOCKS_PER_ACTOR * _LISTED_BLOCK)
    ahead = list(itertools.islice(it, room + 1))
    if len(ahead) > room:
        return max(batch_size, _LISTED_BLOCK), itertools.chain(ahead, it)
    share = -(-len(ahead) // (max(1, actors) * _BLOCKS_PER_ACTOR))
    return max(_MIN_BLOCK, min(share, _LISTED_BLOCK)), iter(ahead)
_PUT_BLOCKS = 4  # blocks the driver puts itself; later ones are built by an actor from compressed paths
_IN_FLIGHT = 16  # blocks sent to that actor and not yet built


def _listed(files: Iterable[str], block: int) -> list[Any]:
    """The listing, streamed into Ray's object store a block of paths at a time: the driver holds one
    block and the references, never every path (a million paths as Python strings in `from_items` took
    ~100 bytes each on the driver).

    The first few blocks the driver puts itself (a small folder starts no extra task). Every page of the
    object store the driver writes stays resident in it, though -- 57 MiB for a million paths -- so later
    blocks travel as zlib-compressed paths in a call's arguments (~60 KB, inside the call's message, not
    the object store) to an actor with no CPU of its own, which builds the Arrow block where the object
    store keeps it (driver peak for a million files: 290 -> 239 MiB)."""
    ray = _import_ray()
    build = None
    refs: list[Any] = []
    chunk: list[bytes] = []

    def flush() -> None:
        nonlocal build
        if len(refs) < _PUT_BLOCKS:
            refs.append(ray.put(_block(chunk)))
            return
        if build is None:  # one actor, so one process, builds them in turn (CPU-less tasks in parallel
            build = ray.remote(num_cpus=0)(_BlockBuilder).remote()  # would each start a worker)
        if len(refs) > _PUT_BLOCKS + _IN_FLIGHT:  # the compressed paths queued for it stay bounded
            ray.wait([refs[-_IN_FLIGHT]], fetch_local=False)
        refs.append(build.build.remote(zlib.compress(b"\0".join(chunk), 1)))

    for f in files:
        chunk.append(os.fsencode(f))  # bytes: a name that is not UTF-8 survives Arrow, as it does our CSV
        if len(chunk) == block:
            flush()
            chunk = []
    if chunk:
        flush()
    if build is not None:  # built: its process goes (the blocks stay, in the object store)
        ray.wait(refs, num_returns=len(refs), fetch_local=False)
        ray.kill(build)
    return refs


def _block(paths: list[bytes]) -> Any:
    import pyarrow as pa

    return pa.table({"path": pa.array(paths, pa.binary())})


class _BlockBuilder:
    """Listing blocks from NUL-separated, compressed paths (no path holds a NUL byte)."""

    def build(self, packed: bytes) -> Any:
        return _block(zlib.decompress(packed).split(b"\0"))


class _Named:
    """Rows of files read from a URI named with its scheme again (`s3://bucket/key`: Ray reports `bucket/key`)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch["path"] = np.asarray([self.prefix + (os.fsdecode(p) if isinstance(p, bytes) else str(p))
                                    for p in batch["path"]], dtype=object)
        return batch


_S3_TIMEOUTS = {"connect_timeout": 5.0, "request_timeout": 15.0}  # an endpoint where nothing listens: seconds
_S3_ATTEMPTS = 2


def _filesystem(uri: str) -> tuple[Any, str, str]:
    """(pyarrow filesystem, path in it, prefix that names its files as URIs) for *uri*. S3 gets short timeouts
    and two attempts (pyarrow's default retries for minutes), its endpoint from $AWS_ENDPOINT_URL_S3 or
    $AWS_ENDPOINT_URL and its region from $AWS_REGION/$AWS_DEFAULT_REGION; `local://` (Ray's node-local
    files) names its rows by their local paths; anything else is pyarrow's `FileSystem.from_uri`."""
    import pyarrow.fs as pfs

    scheme, _, rest = uri.partition("://")
    scheme = scheme.lower()
    if scheme == "local":
        return pfs.LocalFileSystem(), rest, ""
    if scheme in ("s3", "s3a") and "?" not in rest:
        options: dict[str, Any] = dict(_S3_TIMEOUTS, retry_strategy=pfs.AwsStandardS3RetryStrategy(max_attempts=_S3_ATTEMPTS))
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if endpoint:
            options["endpoint_override"] = endpoint
        if region:
            options["region"] = region
        elif not endpoint:
            with contextlib.suppress(Exception):  # AWS itself: the bucket's own region
                options["region"] = pfs.resolve_s3_region(rest.split("/", 1)[0])
        return pfs.S3FileSystem(**options), rest.rstrip("/"), f"{scheme}://"
    fs, path = pfs.FileSystem.from_uri(uri)
    return fs, path.rstrip("/") or path, f"{scheme}://"


def _storage_problem(uri: str, e: Exception) -> str:
    """One line for an object store's failure: what happened, in words, with the store's own code."""
    text = " ".join(str(e).split())
    found = re.search(r"AWS Error (\w+) during (\w+) operation: ?(.*?)(?: \(Request ID.*)?$", text)
    if found:
        code, detail = found.group(1), found.group(3).strip() or "no details"
        if code == "NETWORK_CONNECTION":
            return f"{uri}: cannot reach the object store ({detail[:200]})"
        if code in ("ACCESS_DENIED", "INVALID_ACCESS_KEY_ID", "SIGNATURE_DOES_NOT_MATCH", "UNRECOGNIZED_CLIENT",
                    "EXPIRED_TOKEN", "INVALID_CLIENT_TOKEN_ID"):
            return f"{uri}: the object store refused the credentials ({code}: {detail[:160]})"
        if code in ("NO_SUCH_BUCKET", "RESOURCE_NOT_FOUND"):
            return f"{uri}: no such bucket ({code})"
        return f"{uri}: the object store answered {code} ({detail[:200]})"
    return f"{uri}: {text[:300]}"


def _uri_files(uris: list[str], recursive: bool, pattern: str | None) -> Iterator[tuple[Any, list[str], str]]:
    """For each URI: its filesystem, the files to read (a file as given; a folder's matching files, its
    sub-folders' only with *recursive*, in name order) and the prefix naming them. A missing bucket or
    prefix, refused credentials, an endpoint that does not answer: an EngineError of one line, in seconds."""
    if not uris:
        return
    import pyarrow.fs as pfs

    for uri in uris:
        try:
            fs, path, prefix = _filesystem(uri)
            info = fs.get_file_info(path)
            if info.type == pfs.FileType.NotFound:
                bucket = path.split("/", 1)[0]
                if prefix.startswith("s3") and "/" in path and fs.get_file_info(bucket).type == pfs.FileType.NotFound:
                    raise EngineError(f"{uri}: no such bucket ({bucket})")
                raise EngineError(f"{uri}: nothing there (no such file or prefix)")
            if info.type == pfs.FileType.File:
                yield fs, [info.path], prefix
                continue
            listed = fs.get_file_info(pfs.FileSelector(path, recursive=recursive))
        except EngineError:
            raise
        except Exception as e:  # noqa: BLE001 -- OSError, ArrowInvalid, ValueError (an unknown scheme): one line
            raise EngineError(_storage_problem(uri, e)) from None
        found = sorted(f.path for f in listed if f.type == pfs.FileType.File and matches(f.base_name, pattern))
        yield fs, found, prefix


class _Unseen:
    """A Ray Data batch filter for `--resume` over URIs: drops the rows of files the output already holds
    (Ray lists and reads those files itself; the model never sees them again). A Done is 8 bytes a file."""

    def __init__(self, done: Done) -> None:
        self.done = done

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [os.fsdecode(p) if isinstance(p, bytes) else str(p) for p in batch["path"]]
        keep = np.fromiter((n not in self.done for n in names), bool, len(names))
        return {k: v[keep] for k, v in batch.items()}


def _dataset(paths: Iterable[str | os.PathLike], recursive: bool, pattern: str | None,
             batch_size: int, skip: Done | None = None, actors: int = 1) -> tuple[ray.data.Dataset | None, bool]:
    """The Dataset of files to process, and whether any came from URIs. Local paths (a shared filesystem on
    a cluster) are listed here with the local rules -- the same files, the same order, the same rows for
    folders that cannot be read -- and each actor reads its files from the same paths. URIs are listed here
    too, with the same rules (`-r` descends, *pattern* or the image extensions choose; `_uri_files`), and
    read by Ray Data; their rows keep the scheme (`s3://bucket/key`) and follow the local ones. *skip*
    (`--resume`): files the output already holds, left out of the local listing here and dropped from the
    URIs' rows before the model. The work is cut into blocks for *actors*: a small folder is spread over
    every actor of the cluster, not left to the one that got its only block (#32)."""
    ray = _import_ray()
    paths = list(paths)
    uris = [str(p) for p in paths if is_uri(p)]
    local = [str(p) for p in paths if not is_uri(p)]
    parts = []
    if local:
        files = iter_files(local, recursive=recursive, pattern=pattern)
        files = skip.skip(files) if skip is not None else files
        block, files = _block_size(files, actors, batch_size)
        refs = _listed(files, block)
        if refs:
            parts.append(ray.data.from_arrow_refs(refs))
    for fs, found, prefix in _uri_files(uris, recursive, pattern):
        if not found:
            continue
        blocks = min(len(found), max(1, actors) * _BLOCKS_PER_ACTOR)
        read = ray.data.read_binary_files(found, filesystem=fs, include_paths=True, override_num_blocks=blocks)
        if prefix:
            read = read.map_batches(_Named(prefix), batch_format="numpy", batch_size=None)
        if skip is not None and len(skip):
            read = read.map_batches(_Unseen(skip), batch_format="numpy", batch_size=None)
        parts.append(read)
    if not parts:
        return None, False
    ds = parts[0] if len(parts) == 1 else parts[0].union(*parts[1:])
    ds.context.execution_options.preserve_order = True  # this Dataset's own copy: Ray's global stays as it is
    # every actor up before the first block goes out: else the first actor ready (the driver's node, where
    # the model is warm) takes a small run's blocks while the others still start (#32: 2,000 files, 100/0 %)
    ds.context.wait_for_min_actors_s = _ACTORS_START_S
    # the listing's blocks live where the driver is: sending blocks where they live would favour that node's
    # actor (20,000 files, two nodes: 75/25 %); every block goes to the least busy actor instead. (The
    # setting is deprecated for 2027, when Ray Data is to decide this itself: its warning is not the user's.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.context.execution_options.actor_locality_enabled = False
    return ds, bool(uris)


def classify_paths(paths: Iterable[str | os.PathLike], model: str | Path | None = None, *,
                   options: Options | None = None, recursive: bool = False, pattern: str | None = None,
                   batch_size: int = CHUNK, concurrency: int | None = None, num_cpus: float = 1.0,
                   keep_probabilities: bool = False, min_confidence: float | None = None,
                   skip: Done | None = None, checked: bool = False) -> RayRun:
    """What `mnist-onnx classify --engine ray` runs: FileResults in the local engine's order (see `_dataset`
    for how paths and URIs are listed and read, and *skip*). Uses the Ray this process has started or joined
    (Ray Data starts a local one otherwise); changes no global Ray setting. *checked*: the caller has
    checked the model (see `classify`'s *check_model*)."""
    options = options or Options()
    concurrency = _concurrency(concurrency, options.provider, num_cpus)
    ds, uris = _dataset(path_list(paths), recursive, pattern, batch_size, skip, concurrency)
    if ds is not None:
        ds = classify(ds, model, options=options, batch_size=batch_size, concurrency=concurrency, num_cpus=num_cpus,
                      keep_probabilities=keep_probabilities, ship_model=uris, min_confidence=min_confidence,
                      check_model=not checked)
    return RayRun(ds, concurrency, _schema("classify", keep_probabilities), options.provider)


def read_paths(paths: Iterable[str | os.PathLike], model: str | Path | None = None, *, options: Options | None = None,
               recursive: bool = False, pattern: str | None = None, batch_size: int = READ_CHUNK,
               concurrency: int | None = None, num_cpus: float = 1.0,
               min_confidence: float | None = None, skip: Done | None = None,
               checked: bool = False) -> RayRun:
    """What `mnist-onnx read --engine ray` runs: Readings in the local engine's order."""
    options = options or Options()
    concurrency = _concurrency(concurrency, options.provider, num_cpus)
    ds, uris = _dataset(path_list(paths), recursive, pattern, batch_size, skip, concurrency)
    if ds is not None:
        ds = read(ds, model, options=options, min_confidence=min_confidence, batch_size=batch_size,
                  concurrency=concurrency, num_cpus=num_cpus, ship_model=uris, check_model=not checked)
    return RayRun(ds, concurrency, _schema("read", False), options.provider)


class RayEngine:
    """The engine `--engine ray` picks (`_engines.Engine`): a task's rows from Ray actors
    (`classify_paths`, `read_paths`), in the local engine's order. *model*: a path; *options*: the actors'
    Classifier options; *checked*: the caller has checked the model (see `classify`'s *check_model*)."""

    def __init__(self, model: str | Path, options: Options, *, actors: int | None = None, num_cpus: float = 1.0,
                 checked: bool = False) -> None:
        self.model, self.options, self.actors, self.num_cpus, self.checked = model, options, actors, num_cpus, checked
        self._run: RayRun | None = None

    def rows(self, task: str, paths: list[str], *, recursive: bool, pattern: str | None, batch_size: int,
             min_confidence: float, skip: Done | None = None, **options: bool) -> RayRun:
        run = classify_paths if task == "classify" else read_paths
        self._run = run(paths, self.model, options=self.options, recursive=recursive, pattern=pattern,
                        batch_size=batch_size, concurrency=self.actors, num_cpus=self.num_cpus,
                        min_confidence=min_confidence, skip=skip, checked=self.checked, **options)
        return self._run

    @property
    def ran_on(self) -> str:
        return self._run.ran_on if self._run is not None else f"{self.options.provider.upper()} (Ray)"


def _concurrency(asked: int | None, provider: str, num_cpus: float) -> int:
    """The actors to start: *asked*, if the cluster can hold them (else a UsageError: a pool that can never
    fill would wait forever, and the summary would claim actors that never ran), or the default. Starts a
    local Ray if none was started or joined, as Ray Data would on first use."""
    ray = _import_ray()
    if not ray.is_initialized():
        ray.init()
    if asked is None:
        return default_concurrency(provider, num_cpus)
    resources = _import_ray().cluster_resources()
    if provider == "cuda":
        room, what = int(resources.get("GPU", 0)), f"{int(resources.get('GPU', 0))} GPU(s), one per actor"
    else:
        cpus = resources.get("CPU", 1)
        room, what = int(cpus // num_cpus), f"{cpus:g} CPUs, {num_cpus:g} per actor"
    if asked > room:
        raise about(UsageError(f"concurrency {asked}: this Ray cluster holds at most {room} ({what}); ask for fewer, "
                               "or join a larger cluster"), "concurrency")
    return asked
