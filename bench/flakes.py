"""The flake hunt: run tests again and again under load and count how each one ends.

    python bench/flakes.py -r 20 --burn 2 tests/test_acks.py "tests/test_fanout.py::test_x[postgresql]"

Each round is a fresh `pytest` process (as CI starts it: real nats-server, PostgreSQL, SQLite), with
`--burn N` busy-looping processes beside it the whole time so that every race a loaded CI machine can hit
gets its chance. Prints, per test, passed/failed counts and the first lines of each distinct failure; a
round with a failure keeps its JUnit report, every test's captured output in it, in test-artifacts/.
"""

import argparse
import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from pathlib import Path

KEPT = Path("test-artifacts")


def _burn() -> None:
    while True:
        pass


def _round(targets: list[str], workers: str, report: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
    command += ["-o", "junit_logging=all"]  # a failure's captured output (logs, phases) stays in the report
    command += ["-n", workers] if workers != "0" else []
    return subprocess.run([*command, *targets], capture_output=True, text=True)


def _outcomes(report: Path) -> list[tuple[str, str, str]]:
    """(test, passed|failed|error|skipped, the failure's first line) for each test case in a JUnit file."""
    out = []
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        found = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
        kind = "passed" if found is None else {"failure": "failed"}.get(found.tag, found.tag)
        first = (found.get("message") or "").splitlines()[0][:160] if found is not None else ""
        out.append((name, kind, first))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("targets", nargs="+", help="test files or node ids")
    parser.add_argument("-r", "--rounds", type=int, default=20)
    parser.add_argument("--burn", type=int, default=2, help="busy-looping processes beside the tests")
    parser.add_argument("-n", "--workers", default="0", help="xdist workers per round (0: none)")
    parser.add_argument("--smoke", action="store_true", help="one round, one burner (tests/test_bench.py)")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.burn = 1, 1
    burners = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(args.burn)]
    for burner in burners:
        burner.start()
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    failures: dict[str, Counter[str]] = defaultdict(Counter)
    began = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for n in range(args.rounds):
                report = Path(scratch) / f"round-{n}.xml"
                done = _round(args.targets, args.workers, report)
                if not report.exists():
                    sys.exit(
                        f"round {n}: pytest wrote no report:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
                    )
                for name, kind, first in _outcomes(report):
                    counts[name][kind] += 1
                    if first:
                        failures[name][first] += 1
                if any(first for _, _, first in _outcomes(report)):
                    KEPT.mkdir(parents=True, exist_ok=True)
                    shutil.copy(report, KEPT / f"flakes-round-{n + 1}.xml")  # with every output of the round
                bad = sum(c["failed"] + c["error"] for c in counts.values())
                print(
                    f"round {n + 1}/{args.rounds}: {time.monotonic() - began:6.0f} s, failures so far {bad}"
                )
    finally:
        for burner in burners:
            burner.kill()
    print(f"\n{args.rounds} rounds, {args.burn} CPU burners beside them")
    for name in sorted(counts):
        c = counts[name]
        print(f"{c['passed']:3d} passed {c['failed']:3d} failed {c['error']:3d} errors  {name}")
        for first, times in failures[name].most_common():
            print(f"      {times}x {first}")


if __name__ == "__main__":
    main()
