"""The error genbench raises for bad user input (an unknown name, an unreadable file, a bad option).

``GenbenchError`` subclasses ``ValueError``, so ``except ValueError`` keeps catching it. The
command line prints these (and ``ValueError`` / ``FileNotFoundError``) as one ``genbench: error:``
line with exit code 2; any other exception is a bug and propagates with its traceback.
"""

from __future__ import annotations


class GenbenchError(ValueError):
    """Bad input from the user: the message says what was wrong and, where a file is involved, names it."""
