"""The backtest's parts: data loading, the day loop, Indian delivery costs, metrics, saved runs."""
