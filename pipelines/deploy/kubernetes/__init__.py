"""The kubernetes target: manifests, cluster state and the Argo Rollouts hand-off."""
