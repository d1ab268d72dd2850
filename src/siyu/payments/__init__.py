"""Payments: collecting money for orders through WeChat Pay (or the local dev provider), exactly once."""
