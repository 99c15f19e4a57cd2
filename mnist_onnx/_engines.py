"""Where a rows command runs, behind one protocol (as httpx's transports): `LocalEngine` -- a Classifier in
this process, with its decoding processes -- or `ray.RayEngine` -- a Ray cluster's actors. The command line
picks one (`--engine`) and never looks inside: each gives a task's rows for a list of paths, in input order,
and says what it ran on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from ._files import iter_files

if TYPE_CHECKING:
    from ._classifier import Classifier
    from ._resume import Done


class Engine(Protocol):
    """`rows(task, paths, ...)`: the rows of *task* ("classify" or "read") for every file under *paths*
    (*skip*: files an output already holds); `ran_on`: for the summary line, once the rows are out."""

    def rows(self, task: str, paths: list[str], *, recursive: bool, pattern: str | None, batch_size: int,
             min_confidence: float, skip: Done | None = None, **options: bool) -> Iterable[Any]: ...

    @property
    def ran_on(self) -> str: ...


class LocalEngine:
    """The rows from *classifier* here, *workers* processes decoding (`Classifier.run_files`)."""

    def __init__(self, classifier: Classifier, workers: int = 1) -> None:
        self.classifier, self.workers = classifier, workers

    def rows(self, task: str, paths: list[str], *, recursive: bool, pattern: str | None, batch_size: int,
             min_confidence: float, skip: Done | None = None, **options: bool) -> Iterable[Any]:
        # with a skip list, the files are listed once here and those already in the output left out
        todo: Iterable[str] = skip.skip(iter_files(paths, pattern, recursive)) if skip is not None else paths
        return self.classifier.run_files(task, todo, recursive=recursive, pattern=pattern, batch_size=batch_size,
                                         workers=self.workers, min_confidence=min_confidence, **options)

    @property
    def ran_on(self) -> str:
        return self.classifier.provider.upper()
