"""Kubernetes: what ``cluster:k8s`` asks of a cluster — a namespace per run, a pod per
instance, images on the nodes, capacity before scheduling, outputs before deletion.

Pure manifest and arithmetic modules (:mod:`.pods`, :mod:`.capacity`, :mod:`.config`)
are separate from the one that talks to the API server (:mod:`.kube`), so the shape of
what a run asks for is tested without a cluster.
"""
