"""Helpers of modelop_sdk (see dashboard_utils)."""
