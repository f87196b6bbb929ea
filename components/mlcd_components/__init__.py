"""The pipeline steps of mlcd, one container image: ingest, check-data, train, evaluate, gate, register.

Each step module holds plain functions over files and values (testable without KFP);
`kfp_components` wraps them as KFP lightweight components whose bodies only import and call them.
"""
