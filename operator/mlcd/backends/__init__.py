"""Where a compiled pipeline runs: KFP's local runner here, a KFP API server in a cluster."""
