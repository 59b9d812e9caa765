"""Benchmarks compare genbench with the tool a user would otherwise call, side by side in one run.

Run: ``pytest benchmarks --benchmark-only -o addopts=''``. Each benchmark records its median
under a (group, implementation) key; the terminal summary prints speed-up ratios per group.
"""

from collections import defaultdict

MEDIANS: dict[str, dict[str, float]] = defaultdict(dict)
UNITS: dict[str, str] = {}  # group → unit name, for groups whose times are per unit of work


def record(benchmark, group: str, impl: str, per: float | None = None, unit: str = "") -> None:
    """Remember the median of a finished ``benchmark`` fixture for the ratio summary. With ``per``
    (units of work in one timed call, e.g. images in a batch), the group compares seconds per
    ``unit`` instead of per call, so implementations timed on different batch sizes compare."""
    median = benchmark.stats.stats.median
    if per:
        UNITS[group] = unit
        median /= per
        benchmark.extra_info[f"ms_per_{unit.replace(' ', '_')}"] = 1000 * median
    MEDIANS[group][impl] = median


def pytest_terminal_summary(terminalreporter):
    for group, times in MEDIANS.items():
        if "reference" not in times:
            continue
        terminalreporter.write_line(f"[{group}] speed-up over the reference implementation (median time ratio):")
        for impl, t in sorted(times.items()):
            if impl == "reference":
                continue
            if group in UNITS:
                terminalreporter.write_line(f"  {impl}: {times['reference'] / t:.2f}x  ({1000 * t:.3f} vs "
                                            f"{1000 * times['reference']:.3f} ms per {UNITS[group]})")
            else:
                terminalreporter.write_line(f"  {impl}: {times['reference'] / t:.1f}x  ({t:.3f} s vs {times['reference']:.3f} s)")
