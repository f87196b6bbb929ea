"""Prometheus metrics of the operator."""

from prometheus_client import Counter, Gauge, Histogram

RECONCILES = Counter("mlcd_reconciles_total", "Reconciles by kind and action", ["kind", "action"])
ERRORS = Counter("mlcd_reconcile_errors_total", "Reconciles that raised, by kind and reason", ["kind", "reason"])
RUNS_SUBMITTED = Counter("mlcd_runs_submitted_total", "Pipeline runs submitted or adopted", ["backend", "adopted"])
RUNS_FINISHED = Counter("mlcd_runs_finished_total", "Pipeline runs finished, by TrainingRun phase", ["phase"])
QUEUE_DEPTH = Gauge("mlcd_reconcile_queue_depth", "TrainingRuns whose watch event waits for a reconcile")
RUN_SECONDS = Histogram("mlcd_run_duration_seconds", "From submission to a recorded result",
                        buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200))
EVENTS_DROPPED = Counter("mlcd_events_dropped_total", "Events not posted: rate-limited per object, queue full, "
                         "or refused by the API server", ["reason"])
