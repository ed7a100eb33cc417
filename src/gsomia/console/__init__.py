"""The web console: a node's pages for analysts and admins, server-rendered, signed in by
token, with CSRF-checked forms and a live feed."""
