"""A local Fyers-API-v3-compatible server with a simulated NSE market (see README.md).

`python -m fyers_sandbox --port 8765 [--seed N] [--state FILE] [--no-market-hours] [--demo]`;
`fyers_sandbox.testing.start_sandbox()` for tests.
"""
from fyers_sandbox.app import create_app
from fyers_sandbox.core import FYERS_RATE_LIMITS, SandboxOptions

__all__ = ["FYERS_RATE_LIMITS", "SandboxOptions", "create_app"]
