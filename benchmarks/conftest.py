"""Benchmarks compare genbench with the tool a user would otherwise call, side by side in one run.

Run: ``pytest benchmarks --benchmark-only -o addopts=''``. Each benchmark records its median
under a (group, implementation) key; the terminal summary prints speed-up ratios per group.
"""

from collections import defaultdict

MEDIANS: dict[str, dict[str, float]] = defaultdict(dict)


def record(benchmark, group: str, impl: str) -> None:
    """Remember the median of a finished ``benchmark`` fixture for the ratio summary."""
    MEDIANS[group][impl] = benchmark.stats.stats.median


def pytest_terminal_summary(terminalreporter):
    for group, times in MEDIANS.items():
        if "reference" not in times:
            continue
        terminalreporter.write_line(f"[{group}] speed-up over the reference implementation (median time ratio):")
        for impl, t in sorted(times.items()):
            if impl != "reference":
                terminalreporter.write_line(f"  {impl}: {times['reference'] / t:.1f}x  ({t:.3f} s vs {times['reference']:.3f} s)")
