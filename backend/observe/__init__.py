"""Operations (api.md "Operations"): JSON logs, Prometheus metrics, readiness."""
