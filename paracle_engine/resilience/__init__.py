"""Retry, circuit breakers, rate limits and timeouts: the policy around every provider call."""
