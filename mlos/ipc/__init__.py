"""The IPC transport of the MLOS server: the owner-only Unix socket and the MLOS service on it.

The framing, channels and servicer dispatch it runs on live in :mod:`mlos.wire`, shared with
the clients and the plugin host.
"""
