"""mlcd.reconcile."""
