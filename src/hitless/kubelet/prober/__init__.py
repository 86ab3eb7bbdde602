"""The kubelet's prober: liveness, readiness and startup probes (pkg/kubelet/prober)."""
