"""The Kubernetes REST API over the store (``hitless up --api``): discovery, OpenAPI, watch,
patch and apply, Table output, auth. It knows nothing of how objects are run.

The kind table (what is served) is :mod:`hitless.apiserver.kinds`.
"""
