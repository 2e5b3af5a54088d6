"""Worker entry point: ``python -m orderbook_lab.bench._worker '<json args>'``.

Runs one contender of one bench in this fresh interpreter and prints one
JSON object on stdout (see ``_runner``)."""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    args = json.loads(argv[1])
    bench = args["bench"]
    if bench == "book":
        from .book import measure

        answer = measure(args["contender"], args["stream"], args["timing"])
    elif bench == "book-memory":
        from .book import measure_memory

        answer = measure_memory(args["contender"], args["kind"])
    elif bench == "codec":
        from .codec import measure

        answer = measure(args["contender"], args["stream"], args["timing"])
    elif bench == "codec-serial":
        from .serialization import measure

        answer = measure(args["contender"], args["stream"], args["timing"])
    elif bench == "pipeline":
        from .pipeline import measure

        answer = measure(args["contender"], args["stream"], args["timing"])
    elif bench == "ipc":
        from .ipc import measure

        answer = measure(args["contender"], args["stream"], args["timing"])
    else:
        raise SystemExit(f"unknown bench {bench!r}")
    sys.stdout.write(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
