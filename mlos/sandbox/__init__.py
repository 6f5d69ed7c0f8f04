"""Sandboxed plugin processes: resource limits, cgroups, and what a plugin process does to itself.

The core decides the limits of each plugin process (:mod:`mlos.sandbox.limits`), creates a
cgroup for it where the host lets it (:mod:`mlos.sandbox.cgroups`), and starts the process with
a :class:`~mlos.sandbox.confine.Confinement` that the process applies to itself before any
plugin code runs — joining the cgroup, resource limits, CPU affinity, another user,
`no_new_privs` (:mod:`mlos.sandbox.confine`; executables through ``python -m mlos.sandbox``).
When the process ends, :mod:`mlos.sandbox.exits` says how, in words.

This package sits below both the core and the plugin SDK, which both use it.
"""
