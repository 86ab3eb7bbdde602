"""A standalone fuzz target for long runs: bytes -> the loader and every rule of ``hitless check``.

The property is the one tests/fuzz/ holds Hypothesis to: whatever the input, the loader returns
(its problems as messages) and ``hitless check`` exits 0, 1 or 2 with every output format
well-formed. Any exception is a finding: atheris stops and writes the input as ``crash-<sha1>``,
which belongs in tests/fixtures/hostile/ once fixed.

    pip install atheris   # a manylinux wheel exists for CPython 3.11
    python fuzz/fuzz_check.py fuzz/corpus -max_total_time=3600 -rss_limit_mb=2048 -timeout=10

``fuzz/corpus`` is seeded from examples/ and tests/fixtures (``--seed-corpus`` writes it). The
``-timeout`` flag turns a hang (an input that takes more than 10 s) into a finding too, and
``-rss_limit_mb`` a memory blow-up. Without atheris, ``--random N`` runs N random mutations of the
corpus (the same mutations as tests/fuzz/strategies.py) and prints the figures.
"""

from __future__ import annotations

import io
import random
import sys
import time
import xml.dom.minidom
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def check_one(data: bytes) -> None:
    from hitless.api.sources import read_stdin
    from hitless.check.formats import FORMATS
    from hitless.check.runner import run_check

    stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    assert read_stdin(stdin).name == "STDIN"
    report = run_check(["-"], stdin=io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    assert report.exit_code in (0, 1, 2), report.exit_code
    for name, render in FORMATS.items():
        out = render(report)
        if name == "junit":
            xml.dom.minidom.parseString(out.encode())


def seed_corpus(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    files = [*ROOT.glob("examples/**/*.yaml"), *ROOT.glob("tests/fixtures/**/*.yaml")]
    for i, path in enumerate(sorted(files)):
        (directory / f"seed-{i:03d}.yaml").write_bytes(path.read_bytes())


def random_run(count: int, corpus: Path) -> int:
    sys.path.insert(0, str(ROOT))
    from tests.fuzz.strategies import TOKENS

    seeds = [p.read_bytes().decode("utf-8", "replace") for p in sorted(corpus.glob("*"))]
    rng = random.Random(0)
    failures = 0
    start = time.perf_counter()
    for _ in range(count):
        text = rng.choice(seeds)
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(text) + 1)
            text = text[:pos] + rng.choice(TOKENS) + text[pos:]
        try:
            check_one(text.encode("utf-8", "surrogatepass"))
        except Exception as exc:  # the finding itself
            failures += 1
            print(f"finding: {type(exc).__name__}: {exc}\n{text[:500]!r}", file=sys.stderr)
    print(f"{count} inputs in {time.perf_counter() - start:.1f} s: {failures} exception(s)")
    return 1 if failures else 0


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["--seed-corpus"]:
        seed_corpus(Path(args[1] if len(args) > 1 else ROOT / "fuzz" / "corpus"))
        return 0
    if args[:1] == ["--random"]:
        corpus = ROOT / "fuzz" / "corpus"
        if not corpus.exists():
            seed_corpus(corpus)
        return random_run(int(args[1]), corpus)
    import atheris  # type: ignore[import-not-found]

    with atheris.instrument_imports():
        import hitless.api
        import hitless.check.runner  # noqa: F401
    atheris.Setup(sys.argv, check_one)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
