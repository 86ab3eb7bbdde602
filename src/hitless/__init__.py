"""hitless: Kubernetes' zero-downtime machinery, run and proven on one Linux machine."""

__version__ = "0.1.0"

# The Kubernetes minor version whose behaviour hitless reproduces; probes and hooks send it in
# their User-Agent (kube-probe/1.34) as the kubelet does.
KUBERNETES_VERSION = "1.34"
