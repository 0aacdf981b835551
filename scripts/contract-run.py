"""Runs schemathesis with room for hypothesis's source inspection.

hypothesis describes lambdas by parsing the source of the module that defines
them; schemathesis's modules are large, and on CPython 3.11 a parse that reaches
the recursion limit inside a worker thread surfaces as `SystemError: AST
constructor recursion depth mismatch` (python/cpython#106905), an internal error
of the tool rather than a finding about Ordo. A higher limit (with thread stacks
large enough for it) keeps the parse well clear of it.
"""

import sys
import threading

sys.setrecursionlimit(20000)
threading.stack_size(256 * 1024 * 1024)

from schemathesis.cli import schemathesis  # noqa: E402

if __name__ == "__main__":
    sys.argv[0] = "schemathesis"
    sys.exit(schemathesis())
