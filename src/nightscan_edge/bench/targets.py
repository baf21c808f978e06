"""The seed project's targets per input kind and the verdict of one artifact against them.

Seed: audio 50-150 ms, 1-3 MB, 85-90 % accuracy; photo 100-300 ms, 5-8 MB, 88-92 %. The ranges are what
the seed expected a model to land in; for a shipped file what matters is the side that hurts the user,
so latency and size *meet* the target at or below the high end, accuracy at or above the low end.
"""

from __future__ import annotations

from nightscan_edge.bench.result import ArtifactResult, SeedTarget

SEED_TARGETS: dict[str, SeedTarget] = {
    "audio": SeedTarget(latency_ms=(50, 150), size_mb=(1, 3), accuracy_pct=(85, 90)),
    "image": SeedTarget(latency_ms=(100, 300), size_mb=(5, 8), accuracy_pct=(88, 92)),
}


def target_verdict(artifact: ArtifactResult, target: SeedTarget, threads: int = 1) -> dict[str, bool | None]:
    """``{"latency": ok?, "size": ok?, "accuracy": ok?}``; ``None`` where the figure was not measured."""
    stats = artifact.latency_at(threads)
    return {
        "latency": None if stats is None else stats.p50_ms <= target.latency_ms[1],
        "size": None if artifact.size_mb is None else artifact.size_mb <= target.size_mb[1],
        "accuracy": None if artifact.accuracy is None else 100 * artifact.accuracy >= target.accuracy_pct[0],
    }
