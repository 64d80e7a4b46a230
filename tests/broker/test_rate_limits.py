"""The client-side limiter keeps a burst under the sandbox's (Fyers') rate limits.

A burst of 300 calls at Fyers' real 200/min takes over a minute, so the burst runs against
limits scaled in time (the same two moving windows, 4 s instead of 60 s) on both sides;
a shorter burst checks the real per-second limit as is."""
from __future__ import annotations

from broker import FyersBroker
from fyers_sandbox.testing import start_sandbox

SCALED_SANDBOX_LIMITS = ((50, 1), (150, 4))
SCALED_CLIENT_LIMITS = ((45, 1), (135, 4))


def test_a_burst_of_300_reads_from_two_brokers_gets_no_429(config):
    with start_sandbox(rate_limits=SCALED_SANDBOX_LIMITS) as sandbox:
        settings = config.with_overrides(fyers_sandbox_url=sandbox.url)
        access, _ = sandbox.login()
        # attempts=1: a 429 would raise instead of being hidden by a retry
        brokers = [FyersBroker(settings, access, rate_limits=SCALED_CLIENT_LIMITS, attempts=1)
                   for _ in range(2)]  # the limiter is shared by every broker in the process
        for i in range(300):
            brokers[i % 2].profile()
        stats = sandbox.admin("stats", method="GET")
    assert stats["requests"]["/api/v3/profile"] == 300
    assert "429" not in stats["statuses"]
    assert sum(broker.call_count for broker in brokers) == 300


def test_a_burst_at_the_real_limits_gets_no_429(broker, market):
    for _ in range(25):  # more than two seconds' worth at 10/s
        broker.funds()
    assert "429" not in market.admin("stats", method="GET")["statuses"]
