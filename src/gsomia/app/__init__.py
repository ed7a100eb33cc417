"""The composition root: reads a node's configuration, opens its keys, store and log
(``boot``), and wires the api and the console into one ASGI app (``asgi``). Only ``gsomia.cli``
sits above it; the api and the console, below it, do not import each other."""
