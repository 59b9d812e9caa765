"""Fetching files on first use, and the switch that forbids it.

``fetch_file(url, dest)`` streams ``url`` into a temporary file beside ``dest`` (urllib's default
opener: ``http_proxy`` / ``https_proxy`` / ``no_proxy`` from the environment are honoured) with a
progress bar, checks the byte count against ``Content-Length`` and the sha256 against the
publisher's digest (a full hex digest or a prefix, as in torch.hub file names), runs an optional
content check, and only then renames it onto ``dest``. A transfer that is cut short, corrupted or
refused leaves no file at ``dest``, so nothing half-written is ever trusted later.

Offline mode (``GENBENCH_OFFLINE=1``, or ``genbench --offline``, which enters :func:`offline`)
forbids every fetch: :func:`fetch_file` raises ``FetchError`` without opening a connection.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from genbench.errors import GenbenchError
from genbench.io import atomic_path

OFFLINE_ENV = "GENBENCH_OFFLINE"
TIMEOUT_S = 60.0  # per socket operation (connect, each read), not for the whole transfer
CHUNK_BYTES = 1 << 20
_offline_depth = 0  # > 0 inside `offline()`


class FetchError(GenbenchError):
    """A file could not be fetched (offline, network failure, cut-short or corrupted transfer)."""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def is_offline() -> bool:
    """Whether fetching is forbidden: inside :func:`offline`, or ``GENBENCH_OFFLINE`` is 1/true/yes/on."""
    return _offline_depth > 0 or _truthy(os.environ.get(OFFLINE_ENV))


@contextlib.contextmanager
def offline(enabled: bool = True) -> Iterator[None]:
    """Forbid fetching inside the block (``enabled=False``: leave the current setting as it is)."""
    global _offline_depth
    if not enabled:
        yield
        return
    _offline_depth += 1
    try:
        yield
    finally:
        _offline_depth -= 1


def offline_reason() -> str:
    """How offline mode was switched on, for error messages."""
    return "--offline" if _offline_depth > 0 else f"{OFFLINE_ENV}={os.environ.get(OFFLINE_ENV)}"


def digest_matches(digest: str, expected: str | None) -> bool:
    """Whether a hex sha256 ``digest`` starts with ``expected`` (a full digest or a prefix; None: any)."""
    return not expected or digest.startswith(expected.lower())


def _user_agent() -> str:
    from genbench import __version__

    return f"genbench/{__version__}"


def fetch_file(url: str, dest: str | os.PathLike, sha256: str | None = None, *, progress: bool = True,
               check: Callable[[Path], None] | None = None, what: str = "file") -> str:
    """Download ``url`` to ``dest`` atomically and return the file's sha256 (hex).

    ``sha256``: the publisher's digest, full or a prefix (None: not checked). ``check(path)``: raises
    if the downloaded bytes are not usable (run on the temporary file, before the rename).
    ``FetchError`` (one line, naming ``dest``) when offline, on a network error, a transfer shorter
    or longer than its ``Content-Length``, a digest mismatch or a failed check; ``dest`` is then
    left as it was (absent), and the temporary file is removed.
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    if is_offline():
        raise FetchError(f"{what} {dest.name} is not here and genbench is offline ({offline_reason()}): it was not "
                         f"fetched from {url}. Put it at {dest}")
    request = urllib.request.Request(url, headers={"User-Agent": _user_agent()})
    try:
        with atomic_path(dest) as tmp:
            digest, received, expected = hashlib.sha256(), 0, None
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response, open(tmp, "wb") as out:
                length = response.headers.get("Content-Length")
                expected = int(length) if length and length.strip().isdigit() else None
                with tqdm(total=expected, unit="B", unit_scale=True, unit_divisor=1024, desc=f"fetching {dest.name}",
                          disable=not progress, leave=False) as bar:
                    while chunk := response.read(CHUNK_BYTES):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
            if expected is not None and received != expected:
                raise FetchError(f"the transfer of {url} was cut short ({received} of {expected} bytes); nothing was "
                                 f"kept at {dest}. Try again, or download it elsewhere and put it there")
            hexdigest = digest.hexdigest()
            if not digest_matches(hexdigest, sha256):
                raise FetchError(f"{url} is not the expected {what}: sha256 {hexdigest}, expected {sha256}"
                                 f"{'…' if len(sha256) < 64 else ''}; nothing was kept at {dest}")
            if check is not None:
                check(tmp)
    except FetchError:
        raise
    except GenbenchError as exc:  # from `check`
        raise FetchError(f"{url} is not a usable {what} ({exc}); nothing was kept at {dest}") from exc
    except http.client.IncompleteRead as exc:
        raise FetchError(f"the transfer of {url} was cut short ({len(exc.partial)} more bytes, "
                         f"{exc.expected} missing); nothing was kept at {dest}. Try again, or download it "
                         "elsewhere and put it there") from exc
    except Exception as exc:  # network failures come in many types (URLError, OSError, HTTPException, timeouts)
        raise FetchError(f"could not fetch {url} ({exc}); nothing was kept. Offline? Download it elsewhere and put "
                         f"it at {dest}") from exc
    return hexdigest
