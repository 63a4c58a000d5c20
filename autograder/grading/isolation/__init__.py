"""Kernels and isolation: the sandbox (bubblewrap, mounts, cgroups, uids, slots), the sandboxed
kernel, the runner that plays a notebook's plan in it, and the host check."""
