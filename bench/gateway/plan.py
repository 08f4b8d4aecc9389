"""How long and how often each scenario runs: the full run and the quick (CI) one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    reps: int  # each cell is repeated, the targets' order alternating
    s1_calls: int  # one at a time, per cell (bounded by s1_seconds too)
    s1_seconds: float
    s2_seconds: float
    s2_connections: int
    s3_rates: tuple[int, ...]  # new streams per second
    s3_seconds: float
    s3_reps: int
    stream_tokens: int
    stream_gap_ms: float
    s5_streams: int
    s5_rounds: int  # rounds of open-then-storm; the second shows whether memory came back
    s7_calls: int
    s7_seconds: float
    litellm: bool
    warmup_calls: int = 300


FULL = Plan(
    name="full",
    reps=3,
    s1_calls=3000,
    s1_seconds=4.0,
    s2_seconds=6.0,
    s2_connections=50,
    s3_rates=(25, 50, 100, 150, 200, 300),
    s3_seconds=4.0,
    s3_reps=2,
    stream_tokens=20,
    stream_gap_ms=10.0,
    s5_streams=1000,
    s5_rounds=2,
    s7_calls=2000,
    s7_seconds=3.0,
    litellm=True,
)

QUICK = Plan(
    name="quick",
    reps=4,
    s1_calls=1000,
    s1_seconds=1.0,
    s2_seconds=3.0,
    s2_connections=50,
    s3_rates=(50,),
    s3_seconds=3.0,
    s3_reps=1,
    stream_tokens=20,
    stream_gap_ms=10.0,
    s5_streams=200,
    s5_rounds=1,
    s7_calls=500,
    s7_seconds=1.0,
    litellm=False,
    warmup_calls=200,
)

# The goals of the issue (per core, one worker, same run).
GOAL_ADDED_P50_VS_NGINX = 3.0
GOAL_ADDED_P99_VS_NGINX = 5.0
GOAL_ADDED_VS_LITELLM = 0.1
GOAL_RPS_VS_LITELLM = 8.0
GOAL_RPS = 1500.0
GOAL_STREAMS_PER_SECOND = 300
GOAL_ADDED_TTFB_P50_MS = 1.0
GOAL_ADDED_TTFB_P99_MS = 3.0
GOAL_ADDED_GAP_P99_MS = 2.0
GOAL_KIB_PER_STREAM = 50.0
GOAL_STORM_CLOSE_MS = 100.0

# A rung of the stream ladder is sustained when every stream completed and the gateway added
# at most this much to the direct TTFB p99.
SUSTAINED_ADDED_TTFB_P99_MS = 5.0
# Ratios against nginx divide by at least this: nginx adds tens of microseconds, and a floor
# within noise of zero must not make a ratio meaningless.
NGINX_FLOOR_MS = 0.03
# The quick mode's rule (CI) counts nginx as adding at least this much: a regression guard
# that a busy machine must not trip, not the goal (which the full run reports).
QUICK_NGINX_FLOOR_MS = 0.1
QUICK_MAX_RATIO = 10.0
QUICK_BUSY_PRESSURE = 25.0
# The new stream ladder rung the TTFB goal is read at.
TTFB_GOAL_RATE = 50
