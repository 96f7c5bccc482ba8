"""The agreement table of docs/probing.md: ``python -m tests.corpus.report`` (``--details`` lists every miss)."""

from __future__ import annotations

import sys
import time

from tests.corpus.compare import judge_all, tally
from tests.corpus.fetch import cache_dir, corpus
from tests.corpus.reference import REFERENCE_NAMES

KINDS = ("image", "video", "audio", "pdf", "dicom", "nifti", "text")


def main(argv: list[str]) -> None:
    started = time.perf_counter()
    files = corpus()
    fetched = time.perf_counter()
    results = judge_all(files)
    judged = time.perf_counter()
    tallies = tally(results)
    print("| kind | reference | files | read by reference | agree | refused (probe error) | wrong | agreement |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for kind in KINDS:
        t = tallies.get(kind)
        if t is None:
            continue
        o = t.outcomes
        print(f"| {kind} | {REFERENCE_NAMES[kind]} | {t.files} | {t.read} | {o['agree']} | {o['refused']} | "
              f"{o['wrong']} | {t.agreement:.1%} |")  # fmt: skip
    print(f"\n{len(files)} files from {cache_dir()}; corpus ready in {fetched - started:.1f} s, "
          f"probed and compared in {judged - fetched:.1f} s")  # fmt: skip
    if "--details" in argv:
        for result in results:
            if result.outcome in ("refused", "wrong") or result.crash:
                print(f"{result.outcome}: {result.file.name}: {result.detail}")


if __name__ == "__main__":
    main(sys.argv[1:])
