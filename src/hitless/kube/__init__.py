"""A cluster client beside verify: kubeconfig, auth, list+watch against any API server."""
