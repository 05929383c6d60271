"""Thin Azure Functions blueprints: they parse and answer; pipeline_core decides."""
