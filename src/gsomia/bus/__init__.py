"""The node's messaging seam: events every worker of a node hears, work exactly one takes.

``gsomia.bus.ports`` is the port; ``gsomia.bus.local`` the in-process implementation (the
embedded default: one process, no server to start); ``gsomia.bus.jetstream`` the NATS
JetStream one (several workers, on one machine or several). Only the composition root
(``gsomia.app.buses``) names an implementation.
"""
