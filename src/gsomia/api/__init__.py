"""HTTP: TAXII 2.1, the native JSON API, the event stream and the peer protocol ."""
